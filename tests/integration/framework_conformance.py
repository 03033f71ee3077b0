"""
The conformance calls of tests/integration/test_conformance_012.py, made
with the real Cocaine 0.12 Python framework (cocaine 0.12.14.5,
msgpack<1.0, tornado 4). Run by the framework's own interpreter:

    framework_conformance.py extra PORT APP ARCHIVE
    framework_conformance.py routing PORT
    framework_conformance.py errors PORT APP EVENT...

Prints one JSON object per line, C{{"step": ..., ...}}: C{value} (or
C{chunks}) when a call succeeded, C{error} and C{reason} when it failed,
C{silent} when nothing came within the wait. The test decides what is
right. Never imports anything of ours.
"""

import sys

# first: it makes tornado 4 importable
from framework_calls import TIMEOUT, attempt as call, report, run
from framework_report import readAll
import msgpack
from tornado import gen
from cocaine.detail.api import API
from cocaine.exceptions import ServiceError
from cocaine.services import Locator, Service

#: How long "nothing comes" is waited for.
QUIET = 1.0
EXTRA = "an extra argument"


@gen.coroutine
def quiet(step, channel):
    """
    Report what arrives on C{channel} within L{QUIET} seconds, or
    C{silent}.
    """
    try:
        result = yield channel.rx.get(timeout=QUIET)
        report(step, value=result)
    except gen.TimeoutError:
        report(step, silent=True)
    except ServiceError as e:
        report(step, error=[e.category, e.code], reason=e.reason)


@gen.coroutine
def control(step, service, size, *args):
    """
    A pool-control stream (app C{control} or node C{control}): C{size}
    written with an extra argument, closed, the answer reported.
    """
    try:
        channel = yield service.control(*args)
        yield channel.tx.write(size, EXTRA)
        yield channel.tx.close(EXTRA)
        report(step, value=(yield channel.rx.get(timeout=TIMEOUT)))
    except ServiceError as e:
        report(step, error=[e.category, e.code], reason=e.reason)


@gen.coroutine
def extra(port, app, archive):
    """
    Point 1: every call with one argument more than declared.
    """
    locator = Locator(endpoints=[["127.0.0.1", port]])
    uid = "conformance:extra"
    # what the 0.12 HTTP proxy and cocaine-tool routing send
    try:
        channel = yield locator.routing(uid, True)
        table = yield channel.rx.get(timeout=TIMEOUT)
        report("routing", value=table)
        yield channel.tx.discard()
    except ServiceError as e:
        report("routing", error=[e.category, e.code], reason=e.reason)
    yield call("resolve", locator, "resolve", "storage", "seed", EXTRA)
    yield call("cluster", locator, "cluster", EXTRA)
    yield call("uuid", locator, "uuid", EXTRA)
    yield call("refresh", locator, "refresh", ["nosuchgroup"], EXTRA)
    try:
        # the framework's own connect() (to the service) hides the
        # locator's: call the method by name, as __getattr__ would
        channel = yield locator._invoke(b"connect", "conformance-peer",
                                        EXTRA)
        report("connect", value=(yield channel.rx.get(timeout=TIMEOUT)))
    except ServiceError as e:
        report("connect", error=[e.category, e.code], reason=e.reason)
    try:
        channel = yield locator.publish(
            "conformance-external", [["127.0.0.1", 1]], [1, {}], EXTRA)
        report("publish", value=(yield channel.rx.get(timeout=TIMEOUT)))
        yield call("resolve published", locator, "resolve",
                   "conformance-external")
        yield channel.tx.discard(EXTRA)
        yield call("resolve discarded", locator, "resolve",
                   "conformance-external")
    except ServiceError as e:
        report("publish", error=[e.category, e.code], reason=e.reason)

    storage = Service("storage", locator=locator)
    yield call("write", storage, "write", "conformance", "key", b"\x00v",
                ["t"], EXTRA)
    yield call("read", storage, "read", "conformance", "key", EXTRA)
    yield call("find", storage, "find", "conformance", ["t"], EXTRA)
    yield call("remove", storage, "remove", "conformance", "key", EXTRA)

    logging = Service("logging", locator=locator)
    yield call("verbosity", logging, "verbosity", EXTRA)
    yield call("set_verbosity", logging, "set_verbosity", 1, EXTRA)
    yield logging.emit(2, "conformance", "emitted with an extra argument",
                       [], EXTRA)

    # deploy APP as cocaine-tool does, then start it with an extra argument
    with open(archive, "rb") as f:
        package = msgpack.packb(f.read())
    yield call("upload", storage, "write", "apps", app, package, ["app"])
    yield call("manifest", storage, "write", "manifests", app,
                msgpack.packb({"slave": "run"}), ["app"])
    yield call("profile", storage, "write", "profiles", "conformance",
                msgpack.packb({"pool-limit": 2,
                               "isolate": {"type": "legacy_process"}}),
                ["profile"])
    node = Service("node", locator=locator)
    yield call("start_app", node, "start_app", app, "conformance", EXTRA)
    yield call("list", node, "list", EXTRA)
    yield call("info", node, "info", app, 1, EXTRA)

    service = Service(app, locator=locator)
    yield call("app info", service, "info", EXTRA)
    yield control("app control", service, 1, EXTRA)
    yield call("app info pinned", service, "info")
    yield control("node control", node, -1, app, EXTRA)

    # an app stream's write with an extra argument: the chunk is delivered
    try:
        channel = yield service.enqueue("echo")
        yield channel.tx.write(b"first", EXTRA)
        yield channel.tx.write(b"second")
        yield channel.tx.close(EXTRA)
        report("enqueue write", chunks=(yield readAll(channel, TIMEOUT)))
    except ServiceError as e:
        report("enqueue write", error=[e.category, e.code], reason=e.reason)

    yield call("pause_app", node, "pause_app", app, EXTRA)
    yield call("list after pause", node, "list")


@gen.coroutine
def routing(port):
    """
    Point 3: the locator's graph is 0.12's, and C{discard} on a routing
    stream is accepted and detaches it.
    """
    locator = Locator(endpoints=[["127.0.0.1", port]])
    channel = yield locator.resolve("locator")
    endpoints, version, graph = yield channel.rx.get(timeout=TIMEOUT)
    report("graph", routing=graph[5], publish=graph[4],
           framework=API.Locator[5], same=(graph == API.Locator))

    storage = Service("storage", locator=locator)
    group = msgpack.packb({"alpha": 1})
    yield call("group", storage, "write", "groups", "g", group,
                ["group", "active"])
    yield call("refresh", locator, "refresh", ["g"])

    first = yield locator.routing("conformance:first")
    report("first table", value=(yield first.rx.get(timeout=TIMEOUT)))
    yield first.tx.discard()
    yield quiet("after discard", first)

    second = yield locator.routing("conformance:second", True)
    report("second table", value=(yield second.rx.get(timeout=TIMEOUT)))

    group = msgpack.packb({"alpha": 1, "beta": 2})
    yield call("group changed", storage, "write", "groups", "g", group,
                ["group", "active"])
    yield call("refresh again", locator, "refresh", ["g"])
    yield quiet("second update", second)
    yield quiet("first after refresh", first)
    yield call("uuid", locator, "uuid")
    yield second.tx.discard()
    yield quiet("second after discard", second)


@gen.coroutine
def errors(port, app, events):
    """
    Point 4: each event's worker answers with an error, some malformed;
    what the framework gets for each, then whether the app still serves.
    """
    locator = Locator(endpoints=[["127.0.0.1", port]])
    service = Service(app, locator=locator)
    for event in events:
        try:
            channel = yield service.enqueue(event)
            yield channel.tx.close()
            report(event, chunks=(yield readAll(channel, TIMEOUT)))
        except ServiceError as e:
            report(event, error=[e.category, e.code], reason=e.reason)
    try:
        channel = yield service.enqueue("ping")
        yield channel.tx.close()
        report("ping after", chunks=(yield readAll(channel, TIMEOUT)))
    except ServiceError as e:
        report("ping after", error=[e.category, e.code], reason=e.reason)
    node = Service("node", locator=locator)
    yield call("info after", node, "info", app)


def main():
    part, port = sys.argv[1], int(sys.argv[2])
    if part == "extra":
        start = lambda: extra(port, sys.argv[3], sys.argv[4])  # noqa: E731
    elif part == "routing":
        start = lambda: routing(port)  # noqa: E731
    else:
        start = lambda: errors(port, sys.argv[3], sys.argv[4:])  # noqa: E731
    run(start, timeout=90)


if __name__ == "__main__":
    main()
