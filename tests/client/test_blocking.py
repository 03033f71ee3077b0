"""
Tests for L{cocaine.client.blocking}'s channel: what it asks of the
reactor's thread, with a fake reactor and channel, and how it closes
what is open at exit (the facade against a real node is in
L{tests.client.test_service}).
"""

import gc
import sys
import weakref

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from cocaine.client import blocking
from cocaine.client.blocking import BlockingChannel


class _Reactor:
    """
    Records what is handed to the reactor's thread.
    """

    running = True

    def __init__(self):
        self.calls = []

    def callFromThread(self, f, *args):
        self.calls.append((f, args))


class _Channel:
    done = False

    def __init__(self):
        self.abandoned = 0

    def abandon(self):
        self.abandoned += 1


class BlockingChannelTests(SynchronousTestCase):

    def setUp(self):
        self.reactor = _Reactor()
        self.channel = _Channel()

    def test_abandon(self):
        """
        L{BlockingChannel.abandon} abandons the channel in the reactor's
        thread, and waits for it.
        """
        called = []

        def blockingCallFromThread(reactor, f, *args):
            called.append(reactor)
            return f(*args)
        self.patch(blocking, "blockingCallFromThread",
                   blockingCallFromThread)
        BlockingChannel(self.reactor, self.channel).abandon()
        self.assertEqual((called, self.channel.abandoned), ([self.reactor], 1))

    def test_abandonedWhenDropped(self):
        """
        A channel the program lets go of before its end is abandoned in
        the reactor's thread: the rest of an endless stream is not kept.
        """
        BlockingChannel(self.reactor, self.channel)
        self.assertEqual(self.reactor.calls, [(self.channel.abandon, ())])

    def test_endedNotAbandoned(self):
        """
        Nothing is asked of the reactor for a channel that has ended, or
        once the reactor has stopped.
        """
        self.channel.done = True
        BlockingChannel(self.reactor, self.channel)
        self.channel.done = False
        self.reactor.running = False
        BlockingChannel(self.reactor, self.channel)
        self.assertEqual(self.reactor.calls, [])

    def test_interpreterExiting(self):
        """
        Nothing is asked of the reactor once the interpreter is exiting
        (C{weakref.finalize}'s exit hook has run): the channel goes with
        the process.
        """
        self.patch(weakref.finalize, "_shutdown", True)
        BlockingChannel(self.reactor, self.channel)
        self.assertEqual(self.reactor.calls, [])

    def test_faultReported(self):
        """
        A reactor that fails to take the call is a fault Python reports
        (C{sys.unraisablehook}), not one swallowed.
        """
        def refuse(f, *args):
            raise RuntimeError("the waker is closed")
        self.reactor.callFromThread = refuse
        reported = []
        self.patch(sys, "unraisablehook", reported.append)
        BlockingChannel(self.reactor, self.channel)
        self.assertEqual([type(r.exc_value) for r in reported],
                         [RuntimeError])
        self.assertEqual(self.channel.abandoned, 0)

    def test_collected(self):
        """
        A channel dropped in a reference cycle is abandoned when the
        collector frees it.
        """
        channel = BlockingChannel(self.reactor, self.channel)
        channel.cycle = channel
        del channel
        gc.collect()
        self.assertEqual(self.reactor.calls, [(self.channel.abandon, ())])


class _ThreadReactor(_Reactor):
    """
    Runs what is handed to the reactor's thread at once.
    """

    def callFromThread(self, f, *args):
        f(*args)


class _Service:
    """
    A L{BlockingService} as L{blocking._closeAll} uses it.
    """

    def __init__(self, reactor, disconnect):
        self._reactor = reactor
        self._disconnect = disconnect


class CloseAllTests(SynchronousTestCase):
    """
    L{blocking._closeAll}, run at interpreter exit: it never raises and
    never waits past its budget, and what goes wrong is logged, not
    swallowed.
    """

    def setUp(self):
        self.reactor = _ThreadReactor()

    def closeAll(self, *disconnects, budget=3.0):
        self.patch(blocking, "_open", [
            _Service(self.reactor, disconnect) for disconnect in disconnects])
        return blocking._closeAll(budget)

    def test_closed(self):
        """
        Every service is closed; nothing is logged.
        """
        closed = []
        self.assertIsNone(self.closeAll(lambda: succeed(closed.append(1)),
                                        lambda: succeed(closed.append(2))))
        self.assertEqual(closed, [1, 2])

    def test_faultLogged(self):
        """
        A disconnect that fails is logged, not raised and not swallowed.
        """
        self.assertIsNone(self.closeAll(
            lambda: succeed(None), lambda: fail(RuntimeError("closing"))))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_raisingLogged(self):
        """
        A disconnect that raises at once is logged too.
        """
        def disconnect():
            raise RuntimeError("closing")
        self.assertIsNone(self.closeAll(disconnect))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_reactorRefusesLogged(self):
        """
        A reactor that fails to take the call is logged, not raised.
        """
        def refuse(f, *args):
            raise RuntimeError("the waker is closed")
        self.reactor.callFromThread = refuse
        self.assertIsNone(self.closeAll(lambda: succeed(None)))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_budget(self):
        """
        A disconnect that does not end within the budget is given up
        (with a warning): the exit does not wait for it.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.assertIsNone(self.closeAll(Deferred, budget=0.01))
        self.assertEqual(
            [(e["log_level"], e["count"], e["budget"]) for e in events
             if e.get("log_namespace") == "cocaine.client.blocking"],
            [(LogLevel.warn, 1, 0.01)])
