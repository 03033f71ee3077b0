"""
Tests for L{cocaine.ordered}.
"""

from twisted.internet.defer import Deferred, fail
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import StartupError
from cocaine.ordered import OrderedMultiService
from cocaine.testing import RecordingService


class OrderedMultiServiceTests(SynchronousTestCase):
    """
    L{OrderedMultiService} starts children one after another and stops
    them in reverse.
    """

    def setUp(self):
        self.events = []
        self.parent = OrderedMultiService()

    def add(self, name, **kwargs):
        child = RecordingService(name, self.events, **kwargs)
        child.setServiceParent(self.parent)
        return child

    def test_startWaitsForEachChild(self):
        """
        A child is started only after the Deferred of the one before it
        fired; the start Deferred fires after the last one.
        """
        first, second = Deferred(), Deferred()
        self.add("a", startResult=first)
        self.add("b", startResult=second)
        self.add("c")
        started = self.parent.startService()
        self.assertTrue(self.parent.running)
        self.assertEqual(self.events, [("start", "a")])
        self.assertNoResult(started)
        first.callback(None)
        self.assertEqual(self.events, [("start", "a"), ("start", "b")])
        self.assertNoResult(started)
        second.callback(None)
        self.assertEqual(self.events, [("start", "a"), ("start", "b"),
                                       ("start", "c")])
        self.assertIsNone(self.successResultOf(started))

    def test_synchronousChildren(self):
        """
        Children that start at once are all started in order at once.
        """
        for name in "abc":
            self.add(name)
        self.successResultOf(self.parent.startService())
        self.assertEqual(self.events, [("start", n) for n in "abc"])

    def test_stopReverseWaiting(self):
        """
        Children stop in reverse order, each after the one after it has
        finished stopping.
        """
        stopA, stopC = Deferred(), Deferred()
        self.add("a", stopResult=stopA)
        self.add("b")
        self.add("c", stopResult=stopC)
        self.successResultOf(self.parent.startService())
        del self.events[:]
        stopped = self.parent.stopService()
        self.assertFalse(self.parent.running)
        self.assertEqual(self.events, [("stop", "c")])
        stopC.callback(None)
        self.assertEqual(self.events, [("stop", "c"), ("stop", "b"),
                                       ("stop", "a")])
        self.assertNoResult(stopped)
        stopA.callback(None)
        self.assertIsNone(self.successResultOf(stopped))

    def test_stopSkipsChildrenNotRunning(self):
        """
        A child that is not running is not stopped again.
        """
        self.add("a")
        b = self.add("b")
        self.successResultOf(self.parent.startService())
        b.stopService()
        del self.events[:]
        self.successResultOf(self.parent.stopService())
        self.assertEqual(self.events, [("stop", "a")])

    def test_failedStartStopsStartedInReverse(self):
        """
        When a child fails to start, the start Deferred fails at once with
        the child's failure, later children are never started, and the
        ones already started are stopped in reverse, each waited for;
        L{OrderedMultiService.rollback} fires when that is done.
        """
        failing, stopB = Deferred(), Deferred()
        self.add("a")
        self.add("b", stopResult=stopB)
        self.add("c", startResult=failing)
        self.add("d")
        started = self.parent.startService()
        self.assertNoResult(started)
        failing.errback(StartupError("c: broken"))
        failure = self.failureResultOf(started, StartupError)
        self.assertEqual(str(failure.value), "c: broken")
        self.assertEqual(self.events, [("start", "a"), ("start", "b"),
                                       ("start", "c"), ("stop", "b")])
        self.assertNoResult(self.parent.rollback)
        stopB.callback(None)
        self.assertEqual(self.events[-1], ("stop", "a"))
        self.assertIsNone(self.successResultOf(self.parent.rollback))

    def test_synchronousStartFailure(self):
        """
        A child whose C{startService} raises is handled the same way.
        """
        self.add("a")
        self.add("b", startResult=ValueError("no"))
        self.add("c")
        started = self.parent.startService()
        self.failureResultOf(started, ValueError)
        self.successResultOf(self.parent.rollback)
        self.assertEqual(self.events, [("start", "a"), ("start", "b"),
                                       ("stop", "a")])

    def test_rollbackStopFailureLogged(self):
        """
        A child that fails to stop during the roll-back is logged; the
        others are still stopped and the start failure is kept.
        """
        self.add("a")
        self.add("b", stopResult=ZeroDivisionError())
        self.add("c", startResult=fail(StartupError("c")))
        self.failureResultOf(self.parent.startService(), StartupError)
        self.successResultOf(self.parent.rollback)
        self.assertEqual(self.events[-2:], [("stop", "b"), ("stop", "a")])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_stopFailureLogged(self):
        """
        A child that fails to stop is logged and the others still stop.
        """
        self.add("a")
        self.add("b", stopResult=fail(ZeroDivisionError()))
        self.add("c")
        self.successResultOf(self.parent.startService())
        del self.events[:]
        self.successResultOf(self.parent.stopService())
        self.assertEqual(self.events, [("stop", "c"), ("stop", "b"),
                                       ("stop", "a")])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

