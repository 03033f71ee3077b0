# -*- test-case-name: tests.integration.test_bench -*-
"""
The join figure both L{bench.cluster} and L{bench.coordination} measure:
node A runs, node B is started again and again, and A is asked every
10 ms whether it sees B yet.
"""

import time

from twisted.internet import task
from twisted.internet.threads import deferToThread


async def _until(reactor, condition, timeout, step, failure):
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise RuntimeError(failure)
        await task.deferLater(reactor, step)


async def measureJoins(reactor, a, b, joins, joined, left):
    """
    Start C{a}, then C{joins} times: start C{b} (in a thread), poll
    C{joined(locator)} on A's locator until it holds, stop C{b}, poll
    C{left(locator)} until A let it go. A is stopped at the end.

    @param a: the node that stays (a L{tests.integration.node.Node}).
    @param b: the node that joins and leaves.
    @param joined: an async callable of A's locator: whether A sees B.
    @param left: an async callable of A's locator: whether A dropped B.
    @return: C{{"spawn": [seconds...], "listening": [seconds...]}}: from
        B's process spawned, and from B's locator listening, to A seeing
        it.
    """
    from cocaine.client import Locator
    a.start()
    locator = Locator(reactor, [("127.0.0.1", a.port)], timeout=5)
    results = {"spawn": [], "listening": []}
    try:
        for _ in range(joins):
            marks = {}

            def start():
                marks["spawn"] = time.monotonic()
                b.start()
                marks["listening"] = time.monotonic()
            started = deferToThread(start)
            await _until(reactor, lambda: joined(locator), 30, 0.01,
                         "A never saw B join")
            seen = time.monotonic()
            await started
            results["spawn"].append(seen - marks["spawn"])
            results["listening"].append(max(0.0, seen - marks["listening"]))
            await deferToThread(b.stop)
            await _until(reactor, lambda: left(locator), 10, 0.02,
                         "A kept B")
    finally:
        await locator.disconnect()
        a.stop()
    return results
