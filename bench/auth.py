# -*- test-case-name: tests.bench.test_auth -*-
"""
The cost of authentication per call: C{storage.read} calls/s on a node
with auth off and on a node with token auth and storage ACLs, in one run.

    python -m bench.auth [--quick] [--requests N] [--runs R]

Both nodes are real (twistd cocaine, files storage, a 16-byte value). On
the node with auth, the caller is uid 5, owner of the collection, so every
call is identified (once per connection: the header is the same) and
checked against the cached collection ACL. Sequential calls and 64 in
flight on one connection; median of the runs. Bounded: at most
C{runs * requests * 2} calls per node.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

from twisted.internet import defer

from tests.integration.node import Node

SECRET = b"bench-secret-0123456789abcdef012"


async def sequential(call, count):
    began = time.perf_counter()
    for _ in range(count):
        await call()
    return count / (time.perf_counter() - began)


async def inflight(call, count, window):
    """
    Keep C{window} calls in flight until C{count} have answered
    (L{bench.compare.stats.keepInFlight}: each answer sends the next
    call). Until 2026-12-05 this waited on a C{DeferredList} of every
    pending call after each answer, 77 us of this process's CPU a call:
    it capped every in-flight figure of this benchmark and of
    L{bench.services} near 13,000 calls/s, whatever the service.

    @return: calls/s.
    @raise RuntimeError: a call failed, naming the first failure.
    """
    from bench.compare.stats import keepInFlight
    found = await keepInFlight(call, count, window)
    if found["errors"]:
        raise RuntimeError("{} of {} calls failed; the first: {}".format(
            found["errors"], count, found["first_error"]))
    return found["rate"]


async def measure(reactor, port, token, requests, runs):
    from cocaine.client import Locator, Service
    locator = Locator(reactor, [("127.0.0.1", port)], token=token or "")
    if not token:
        locator.authorization = None
    storage = Service("storage", locator)
    await storage.write("bench", "k", b"0123456789abcdef", [])

    def call():
        return storage.read("bench", "k")
    await sequential(call, min(requests, 500))  # warm-up
    results = {"sequential": [], "inflight": []}
    for _ in range(runs):
        results["sequential"].append(await sequential(call, requests))
        results["inflight"].append(await inflight(call, requests, 64))
    await storage.disconnect()
    await locator.disconnect()
    return {k: statistics.median(v) for k, v in results.items()}


def startNodes(base):
    secret = os.path.join(base, "secret")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(SECRET)
    services = {"logging": {"type": "logging"},
                "storage": {"type": "storage"}}
    off = Node(os.path.join(base, "off"), {
        "network": {"locator": 0}, "services": services}).start()
    on = Node(os.path.join(base, "on"), {
        "network": {"locator": 0}, "services": services,
        "authentications": {"core": {"type": "token", "args": {
            "secret-file": secret}}}}).start()
    return off, on


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.auth")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    requests = args.requests or (1000 if args.quick else 5000)
    runs = args.runs or (1 if args.quick else 3)
    from cocaine.auth.token import issue
    token = issue(SECRET, uids=[5], expiry=int(time.time()) + 3600)
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as base:
        off, on = startNodes(base)
        try:
            async def both(reactor):
                return (await measure(reactor, off.port, None, requests,
                                      runs),
                        await measure(reactor, on.port, token, requests,
                                      runs))
            results = []
            from twisted.internet import reactor
            d = defer.Deferred.fromCoroutine(both(reactor))
            d.addBoth(lambda r: (results.append(r), reactor.stop()))
            reactor.run()
        finally:
            off.stop()
            on.stop()
    result = results[0]
    if not isinstance(result, tuple):
        result.raiseException()
    offResult, onResult = result
    from bench.rpc import machine
    print("machine: " + machine())
    print("command: python -m bench.auth" + (" " + " ".join(argv)
                                             if argv else ""))
    print("storage.read, {} calls x {} runs (median), auth off vs token "
          "auth + storage ACLs".format(requests, runs))
    print("{:<12} {:>12} {:>12} {:>8}".format("workload", "off calls/s",
                                            "on calls/s", "on/off"))
    for key in ("sequential", "inflight"):
        print("{:<12} {:>12.0f} {:>12.0f} {:>8.2f}".format(
            key, offResult[key], onResult[key],
            onResult[key] / offResult[key]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
