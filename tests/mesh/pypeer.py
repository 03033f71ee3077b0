# -*- test-case-name: tests.mesh.test_interop -*-
"""
The Python side of the interop tests, run in the test's network namespace:
C{python -m tests.mesh.pypeer ROLE}. Prints one JSON line per event, as the
cote helpers of C{tests/mesh/cote/} do.

Roles: C{requester} (asks C{add} and C{fail}, exits), C{survivor} (asks
C{hang}, reports how it fails, then asks C{add} until a responder answers,
exits), C{responder} (serves
C{add} and C{fail} until killed), C{publisher} (publishes C{news} every
100 ms until killed), C{subscriber} (prints the first C{news}, exits),
C{reporter} (asks C{add} once, prints its iid and connections, then stays,
reporting to monitors every C{COTE_STATUS_INTERVAL} ms), C{monitor}
(prints C{ready}, then the table once a reported connection names a
known component, exits).
Environment: C{COTE_KEY}, C{COTE_NAMESPACE}, C{COTE_SECRET},
C{COTE_SIGNING_KEY} (ours: signed hellos),
C{COTE_MULTICAST}, C{COTE_DISCOVERY_PORT}, C{COTE_GIVE_UP},
C{COTE_STATUS_INTERVAL}.
"""

import json
import os
import sys

from twisted.internet import defer, task

from cocaine.mesh import (
    DiscoveryOptions,
    MeshError,
    Monitor,
    Publisher,
    RemoteError,
    Requester,
    RequestTimeout,
    Responder,
    Subscriber,
    run,
)


def out(**obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def options():
    return dict(
        key=os.environ.get("COTE_KEY"),
        namespace=os.environ.get("COTE_NAMESPACE"),
        discovery=DiscoveryOptions(
            port=int(os.environ.get("COTE_DISCOVERY_PORT", "12345")),
            helloInterval=0.2, checkInterval=1.0, nodeTimeout=2.0,
            secret=os.environ.get("COTE_SECRET"),
            signingKey=os.environ.get("COTE_SIGNING_KEY"),
            multicast=os.environ.get("COTE_MULTICAST")),
    )


async def requester(reactor):
    req = Requester("py-requester",
                    timeout=float(os.environ.get("COTE_GIVE_UP", "20")),
                    **options())
    req.startService()
    try:
        try:
            result = await req.send({"type": "add", "a": 2, "b": 3})
        except RequestTimeout:
            out(event="gave-up")
            return
        out(event="result", type="add", result=result)
        try:
            result = await req.send({"type": "fail"})
            out(event="result", type="fail", result=result)
        except RemoteError as e:
            out(event="error", type="fail", error=e.error)
    finally:
        await req.stopService()


async def survivor(reactor):
    req = Requester("py-survivor", timeout=30, **options())
    req.startService()
    try:
        try:
            await req.send({"type": "hang"})
        except MeshError as e:
            out(event="error", type="hang", code=e.code)
        out(event="result", type="add",
            result=await req.send({"type": "add", "a": 2, "b": 3}))
    finally:
        await req.stopService()


async def responder(reactor):
    rep = Responder("py-responder", **options())

    async def add(request):
        return request["a"] + request["b"]

    def fail(request):
        raise MeshError("python says no", "ENOPE")

    rep.on("add", add)
    rep.on("fail", fail)
    rep.startService()
    out(event="ready", port=rep.advertisement["port"])
    await defer.Deferred()


async def publisher(reactor):
    pub = Publisher("py-publisher", broadcasts=["news"], **options())
    pub.startService()
    out(event="ready")
    n = 0
    while True:
        pub.publish("news", {"n": n, "from": "python"})
        n += 1
        await task.deferLater(reactor, 0.1)


async def subscriber(reactor):
    sub = Subscriber("py-subscriber", subscribesTo=["news"], **options())
    done = defer.Deferred()
    sub.on("news", lambda data, topic:
           done.called or done.callback((topic, data)))
    sub.startService()
    topic, data = await done
    out(event="publication", topic=topic, data=data)
    await sub.stopService()


async def reporter(reactor):
    req = Requester("py-reporter", timeout=20,
                    statusInterval=float(os.environ.get("COTE_STATUS_INTERVAL",
                                                        "5000")) / 1000,
                    **options())
    req.startService()
    result = await req.send({"type": "add", "a": 2, "b": 3})
    out(event="result", type="add", result=result, iid=req.discovery.iid,
        nodes=[link.peer.iid for link in req.connectedLinks()])
    await defer.Deferred()


async def monitor(reactor):
    mon = Monitor("py-monitor", **options())
    done = defer.Deferred()

    def status(iid, status):
        names = {r["iid"]: r["name"] for r in mon.snapshot()}
        if not done.called and iid in names and status["nodes"] and all(
                n in names for n in status["nodes"]):
            done.callback(None)

    mon.observe(status)
    mon.startService()
    out(event="ready", port=mon.advertisement["port"])
    await done
    fields = ("name", "axon_type", "connectedTo")
    out(event="table", rows=[{k: r[k] for k in fields}
                             for r in mon.snapshot()])
    await mon.stopService()


if __name__ == "__main__":
    role = sys.argv[1]
    run({"requester": requester, "survivor": survivor,
         "responder": responder, "publisher": publisher,
         "subscriber": subscriber, "reporter": reporter,
         "monitor": monitor}[role])
