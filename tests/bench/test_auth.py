"""
Tests for L{bench.auth}'s load: the window of calls it keeps in flight.
"""

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from bench.auth import inflight


class InflightTests(SynchronousTestCase):
    """
    L{inflight} keeps a window of calls open until the count is answered.
    """

    def test_window(self):
        """
        No more than C{window} calls are open at once, every call is made
        once, and the rate is returned once the last is answered.
        """
        clock = Clock()
        state = {"open": 0, "most": 0, "made": 0}

        def answer(d):
            state["open"] -= 1
            d.callback(b"x")

        def call():
            state["made"] += 1
            state["open"] += 1
            state["most"] = max(state["most"], state["open"])
            d = Deferred()
            clock.callLater(0.001, answer, d)
            return d

        result = Deferred.fromCoroutine(inflight(call, 50, 8))
        self.assertNoResult(result)
        for _ in range(10):
            clock.advance(0.001)
        rate = self.successResultOf(result)
        self.assertEqual((state["made"], state["most"], state["open"]),
                         (50, 8, 0))
        self.assertGreater(rate, 0)

    def test_failure(self):
        """
        A failed call fails the run with a L{RuntimeError} naming it.
        """
        calls = iter([succeed(b"x"), succeed(b"x")])

        def call():
            try:
                return next(calls)
            except StopIteration:
                d = Deferred()
                d.errback(ValueError("no such key"))
                return d

        failure = self.failureResultOf(
            Deferred.fromCoroutine(inflight(call, 4, 2)), RuntimeError)
        self.assertIn("2 of 4 calls failed", str(failure.value))
        self.assertIn("ValueError: no such key", str(failure.value))
