"""
Tests for L{cocaine.chrono.service} and the C{chrono} plugin, on a
L{Clock}.
"""

import random

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import ConfigError
from cocaine.errors import (
    CATEGORY_DISPATCH, INVALID_ARGUMENT, UNCAUGHT_ERROR, InvalidArgument,
    TimerNotFound)
from cocaine.plugins import loadPlugins
from cocaine.protocol.chrono import CHRONO, CHRONO_VERSION
from cocaine.chrono.service import ChronoService
from cocaine.testing import FakeUpstream, ServiceHarness, memoryContext

class _Upstream(FakeUpstream):
    """
    Records C{close} as a real upstream sends it.
    """

    def close(self):
        if not self.closed:
            self.sent.append(("close",))
            FakeUpstream.close(self)


_STREAM = {0: ["write", None], 1: ["error", {}], 2: ["close", {}]}
_VALUE = {0: ["value", {}], 1: ["error", {}]}


class ProtocolTests(SynchronousTestCase):

    def test_graph(self):
        """
        0.12's ids and graphs: two streaming methods, two answered once.
        """
        self.assertEqual(CHRONO_VERSION, 1)
        self.assertEqual(CHRONO.graph(), {
            0: ["notify_after", {}, _STREAM],
            1: ["notify_every", {}, _STREAM],
            2: ["cancel", {}, _VALUE],
            3: ["restart", {}, _VALUE]})


class ServiceTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.service = ChronoService(self.clock, random.Random(7))

    def test_notifyAfter(self):
        """
        The id is written when the timer fires, then the stream closes.
        """
        upstream = _Upstream()
        self.service.notifyAfter(upstream, 1.5)
        [id] = self.service.timers
        self.clock.advance(1.4)
        self.assertEqual(upstream.sent, [])
        self.clock.advance(0.1)
        self.assertEqual(upstream.sent, [("write", id), ("close",)])
        self.assertEqual(self.service.timers, {})
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_sendId(self):
        """
        With C{send_id} the id is written at once too.
        """
        upstream = _Upstream()
        self.service.notifyAfter(upstream, 1, True)
        [id] = self.service.timers
        self.assertEqual(upstream.sent, [("write", id)])
        self.assertTrue(0 <= id < 2 ** 31)
        self.clock.advance(1)
        self.assertEqual(upstream.sent, [("write", id), ("write", id),
                                         ("close",)])

    def test_notifyEvery(self):
        """
        One write per tick, until cancelled; cancel closes the stream.
        """
        upstream = _Upstream()
        self.service.notifyEvery(upstream, 2)
        [id] = self.service.timers
        for _ in range(3):
            self.clock.advance(2)
        self.assertEqual(upstream.sent, [("write", id)] * 3)
        self.assertIsNone(self.service.cancel(id))
        self.assertEqual(upstream.sent[-1], ("close",))
        self.clock.advance(10)
        self.assertEqual(len(upstream.sent), 4)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_cancelUnknown(self):
        """
        Cancelling an unknown id answers nothing special (as 0.12).
        """
        self.assertIsNone(self.service.cancel(12345))

    def test_restart(self):
        """
        Restart arms the timer again for its interval from now.
        """
        upstream = _Upstream()
        self.service.notifyEvery(upstream, 3)
        [id] = self.service.timers
        self.clock.advance(2)
        self.service.restart(id)
        self.clock.advance(2)
        self.assertEqual(upstream.sent, [])
        self.clock.advance(1)
        self.assertEqual(upstream.sent, [("write", id)])

    def test_restartAfter(self):
        """
        A C{notify_after} timer's interval is 0: restarted, it fires at
        once (as in 0.12).
        """
        upstream = _Upstream()
        self.service.notifyAfter(upstream, 60)
        [id] = self.service.timers
        self.service.restart(id)
        self.clock.advance(0)
        self.assertEqual(upstream.sent, [("write", id), ("close",)])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_restartUnknown(self):
        """
        Restarting an unknown id is an error naming it.
        """
        with self.assertRaises(TimerNotFound) as caught:
            self.service.restart(99)
        self.assertIn("99", caught.exception.message)

    def test_clientGone(self):
        """
        A client whose stream ends (it went away) loses its timers.
        """
        upstream = _Upstream()
        self.service.notifyEvery(upstream, 1)
        self.service.notifyAfter(_Upstream(), 1)
        upstream.close()
        self.assertEqual(len(self.service.timers), 1)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_badArguments(self):
        """
        A time that is not a number of seconds >= 0, or a send_id that is
        not a boolean, is named.
        """
        for args, name in [(("1",), "time"), ((-1,), "time"),
                           ((float("nan"),), "time"), ((True,), "time"),
                           ((1, 1), "send_id")]:
            with self.assertRaises(InvalidArgument) as caught:
                self.service.notifyAfter(_Upstream(), *args)
            self.assertIn(name, caught.exception.message)
        self.assertEqual(self.service.timers, {})

    def test_stop(self):
        """
        Stopping the service closes every stream.
        """
        upstream = _Upstream()
        self.service.startService()
        self.service.notifyEvery(upstream, 1)
        self.service.stopService()
        self.assertEqual(upstream.sent, [("close",)])
        self.assertEqual(self.clock.getDelayedCalls(), [])


class WireTests(SynchronousTestCase):
    """
    Through the declared protocol.
    """

    def setUp(self):
        self.clock = Clock()
        self.service = ChronoService(self.clock, random.Random(3))
        self.harness = ServiceHarness(self.service, "chrono")

    def test_streams(self):
        """
        Writes and close on the stream; cancel and restart answer C{[]}.
        """
        after = self.harness.open("notify_after", 0.5, True)
        every = self.harness.open("notify_every", 1)
        [(_, [id])] = after.received()
        [every_id] = set(self.service.timers) - {id}
        self.clock.advance(1)
        self.assertEqual(after.received(), [("write", [id]), ("write", [id]),
                                            ("close", [])])
        self.assertEqual(every.received(), [("write", [every_id])])
        self.assertEqual(self.harness.call("restart", every_id),
                         [("value", [])])
        self.assertEqual(self.harness.call("cancel", every_id),
                         [("value", [])])
        self.assertEqual(every.received()[-1], ("close", []))

    def test_errors(self):
        """
        An unknown id for restart is an uncaught error; bad arguments are
        invalid ones.
        """
        [(kind, (code, message))] = self.harness.call("restart", 5)
        self.assertEqual((kind, code), ("error",
                                        [CATEGORY_DISPATCH, UNCAUGHT_ERROR]))
        self.assertIn("5", message)
        channel = self.harness.open("notify_after", "soon")
        [(kind, (code, message))] = channel.received()
        self.assertEqual(code, [CATEGORY_DISPATCH, INVALID_ARGUMENT])
        self.assertIn("time", message)

    def test_disconnect(self):
        """
        A client that disconnects leaves no timer behind.
        """
        self.harness.open("notify_every", 1)
        self.harness.open("notify_after", 5, True)
        self.harness.close()
        self.assertEqual(self.service.timers, {})
        self.assertEqual(self.clock.getDelayedCalls(), [])


class PluginTests(SynchronousTestCase):

    def test_plugin(self):
        """
        No args; the service runs on the context's reactor.
        """
        plugin = loadPlugins().services["chrono"]
        plugin.validate("services.c.args", {}, None)
        with self.assertRaises(ConfigError) as caught:
            plugin.validate("services.c.args", {"tick": 1}, None)
        self.assertIn("services.c.args.tick", str(caught.exception))
        context = memoryContext()
        service = plugin.makeService(context, "chrono", {})
        upstream = _Upstream()
        service.notifyAfter(upstream, 2)
        context.reactor.advance(2)
        self.assertEqual(upstream.sent[-1], ("close",))
