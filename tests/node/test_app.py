"""
Tests for L{cocaine.node.app}: one running app as one ordered service,
and its machine.
"""

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.manifest import parseManifest, parseProfile
from cocaine.errors import DriverError
from cocaine.node.app import App
from cocaine.node.deploy import Source
from cocaine.ordered import OrderedMultiService
from cocaine.testing import RecordingService


class _Engine:
    """
    The engine's part the app's tree uses, recording calls in C{events}.
    """

    def __init__(self, events):
        self.events = events
        self.drained = succeed(None)
        self.stopped = succeed(None)
        self.monitor = None

    def start(self):
        self.events.append(("start", "engine"))

    def drain(self, timeout):
        self.events.append(("drain", timeout))
        return self.drained

    def stop(self):
        self.events.append(("stop", "engine"))
        return self.stopped

    def info(self):
        return {"state": "running"}


class _Listener(RecordingService):

    def stopAccepting(self):
        self.events.append(("stopAccepting", self.name))
        return succeed(None)


class _Monitor:

    def __init__(self, events):
        self.events = events

    def close(self):
        self.events.append(("close", "monitor"))


class _Driver:

    def __init__(self, name):
        self.name = name

    def info(self):
        return {"type": "manual", "name": self.name}


class _DriverService(RecordingService):

    def __init__(self, name, events, **kw):
        RecordingService.__init__(self, name, events, **kw)
        self.driver = _Driver(name)


class AppTests(SynchronousTestCase):
    """
    Start top down, stop bottom up, each step waiting for the one before.
    """

    def setUp(self):
        self.events = []
        self.engine = _Engine(self.events)
        self.drivers = OrderedMultiService()
        self.drivers.setName("drivers")
        self.tick = _DriverService("tick", self.events)
        self.tick.setServiceParent(self.drivers)
        source = Source("echo", parseManifest({"slave": "w"}, "echo"),
                        parseProfile({}, "p"), "/apps/echo", True, "p")
        self.app = App(source, self.engine,
                       _Listener("echo", self.events), self.drivers,
                       lambda: self.events.append(("build", "monitor"))
                       or _Monitor(self.events), drainTimeout=7)

    def test_tree(self):
        self.assertEqual([child.name for child in self.app],
                         ["monitor", "engine", "echo", "drain", "drivers"])

    def test_start(self):
        self.assertEqual(self.app.state, "new")
        self.successResultOf(self.app.startService())
        self.assertEqual(self.events, [
            ("build", "monitor"), ("start", "engine"), ("start", "echo"),
            ("start", "tick")])
        self.assertEqual(self.app.state, "running")
        self.assertIsInstance(self.engine.monitor, _Monitor)

    def test_stop(self):
        """
        No new jobs, no new clients, the sessions finish within the drain
        timeout, then the connections, the engine and the monitor go.
        """
        self.app.startService()
        del self.events[:]
        stopped = self.app.stopService()
        self.successResultOf(stopped)
        self.assertEqual(self.events, [
            ("stop", "tick"), ("stopAccepting", "echo"), ("drain", 7),
            ("stop", "echo"), ("stop", "engine"), ("close", "monitor")])
        self.assertEqual(self.app.state, "stopped")
        self.successResultOf(self.app.whenStopped())

    def test_stoppingUntilDrained(self):
        """
        While the sessions drain the app is C{stopping}; C{whenStopped}
        fires once every step stopped.
        """
        self.app.startService()
        self.engine.drained = Deferred()
        stopped = self.app.stopService()
        waiting = self.app.whenStopped()
        self.assertEqual(self.app.state, "stopping")
        self.assertNoResult(stopped)
        self.assertNoResult(waiting)
        self.assertNoResult(self.app.stopService())
        self.engine.drained.callback(None)
        self.successResultOf(stopped)
        self.successResultOf(waiting)
        self.assertEqual(self.app.state, "stopped")

    def test_failedStartRollsBackFirst(self):
        """
        A step that cannot start stops the started ones in reverse; the
        start fails, and the app is C{stopped}, only after that.
        """
        self.tick.startResult = DriverError("driver 'tick' cannot start")
        self.engine.stopped = Deferred()
        started = self.app.startService()
        self.assertNoResult(started)
        self.assertEqual(self.app.state, "starting")
        self.engine.stopped.callback(None)
        self.failureResultOf(started, DriverError)
        self.assertEqual(self.app.state, "stopped")
        self.assertEqual(self.events, [
            ("build", "monitor"), ("start", "engine"), ("start", "echo"),
            ("start", "tick"),
            ("stopAccepting", "echo"), ("drain", 7), ("stop", "echo"),
            ("stop", "engine"), ("close", "monitor")])
        self.successResultOf(self.app.whenStopped())

    def test_stopWhileStarting(self):
        """
        A stop asked for while a step is starting happens once the start
        is over.
        """
        self.tick.startResult = Deferred()
        started = self.app.startService()
        stopped = self.app.stopService()
        self.assertNoResult(stopped)
        self.assertEqual(self.app.state, "stopAfterStart")
        self.tick.startResult.callback(None)
        self.successResultOf(started)
        self.successResultOf(stopped)
        self.assertEqual(self.app.state, "stopped")

    def test_stopWhileStartingThatFails(self):
        """
        ... and when the start fails, the stop is done with it.
        """
        self.tick.startResult = Deferred()
        started = self.app.startService()
        stopped = self.app.stopService()
        self.tick.startResult.errback(DriverError("no"))
        self.failureResultOf(started, DriverError)
        self.successResultOf(stopped)
        self.assertEqual(self.app.state, "stopped")

    def test_stopBeforeStart(self):
        self.successResultOf(self.app.stopService())
        self.successResultOf(self.app.whenStopped())
        self.assertEqual(self.events, [])

    def test_info(self):
        """
        The engine's info with the drivers'.
        """
        self.assertEqual(self.app.info(), {
            "state": "running",
            "drivers": {"tick": {"type": "manual", "name": "tick"}}})
