# -*- test-case-name: tests.driver.test_service -*-
"""
Tests for L{cocaine.driver.service}: an app's drivers built from its
manifest into an ordered tree, started in manifest order with a failure
that names app and driver and stops the ones before it, stopped in
reverse; on a L{Clock}, a L{FakeEngine} and a driver plugin of the test's.
"""

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from cocaine.driver.base import DriverContext
from cocaine.driver.service import DriverService, buildDrivers, drivers
from cocaine.errors import DriverError
from cocaine.ordered import OrderedMultiService
from cocaine.plugins import Plugins
from cocaine.testing import FakeEngine


class RecordingDriver:
    """
    A driver whose C{start} and C{stop} results the test sets, recording
    the calls in C{events}.
    """

    def __init__(self, context, name, args, events):
        self.context = context
        self.name = name
        self.args = args
        self.events = events
        self.startResult = None
        self.stopResult = None

    def _result(self, value):
        if isinstance(value, Exception):
            raise value
        return value

    def start(self):
        self.events.append(("start", self.name))
        return self._result(self.startResult)

    def stop(self):
        self.events.append(("stop", self.name))
        return self._result(self.stopResult)


class RecordingPlugin:
    """
    A driver plugin of type C{fake}; C{failure} is raised by
    C{makeDriver} when set.
    """

    name = "fake"

    def __init__(self):
        self.events = []
        self.built = {}
        self.failure = None

    def makeDriver(self, context, name, args):
        if self.failure is not None:
            raise self.failure
        driver = self.built[name] = RecordingDriver(context, name, args,
                                                    self.events)
        return driver


class BuildTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.engine = FakeEngine()
        self.plugin = RecordingPlugin()
        self.plugins = Plugins(drivers={"fake": self.plugin})

    def test_tree(self):
        """
        One L{DriverService} per driver, in manifest order, under an
        L{OrderedMultiService} named C{drivers}; each has the driver the
        plugin built, its name and its type.
        """
        specs = {"tick": {"type": "fake", "interval": 5},
                 "nightly": {"type": "fake"},
                 "alpha": {"type": "fake"}}
        tree = buildDrivers(self.clock, "app", self.engine, specs,
                            self.plugins)
        self.assertIsInstance(tree, OrderedMultiService)
        self.assertEqual(tree.name, "drivers")
        self.assertEqual([child.name for child in tree],
                         ["tick", "nightly", "alpha"])
        for child in tree:
            self.assertIsInstance(child, DriverService)
            self.assertEqual((child.app, child.kind), ("app", "fake"))
            self.assertIs(child.driver, self.plugin.built[child.name])
        self.assertEqual(drivers(tree), self.plugin.built)
        self.assertFalse(tree.running)
        self.assertEqual(self.plugin.events, [])

    def test_context(self):
        """
        Drivers share one L{DriverContext}: the reactor, the app, its
        engine and the engine's directory.
        """
        self.engine.directory = "/apps/app"
        tree = buildDrivers(self.clock, "app", self.engine,
                            {"a": {"type": "fake"}, "b": {"type": "fake"}},
                            self.plugins)
        a, b = (self.plugin.built[name].context for name in ("a", "b"))
        self.assertIs(a, b)
        self.assertIsInstance(a, DriverContext)
        self.assertIs(a.reactor, self.clock)
        self.assertIs(a.engine, self.engine)
        self.assertEqual((a.app, a.directory), ("app", "/apps/app"))
        self.assertEqual(len(list(tree)), 2)

    def test_noDirectory(self):
        """
        An engine without a directory gives drivers none.
        """
        buildDrivers(self.clock, "app", self.engine, {"a": {"type": "fake"}},
                     self.plugins)
        self.assertIsNone(self.plugin.built["a"].context.directory)

    def test_argsCopied(self):
        """
        A driver is given a copy of its spec: what it changes stays out
        of the manifest.
        """
        spec = {"type": "fake", "interval": 5}
        buildDrivers(self.clock, "app", self.engine, {"a": spec},
                     self.plugins)
        args = self.plugin.built["a"].args
        self.assertEqual(args, spec)
        args["interval"] = 7
        self.assertEqual(spec["interval"], 5)

    def test_empty(self):
        tree = buildDrivers(self.clock, "app", self.engine, {}, self.plugins)
        self.assertEqual(list(tree), [])
        self.assertEqual(drivers(tree), {})

    def test_cannotBeBuilt(self):
        """
        A plugin that cannot build a driver is a L{DriverError} naming
        the app, the driver and its type, with the plugin's reason: a
        L{DriverError}'s message, anything else's text.
        """
        self.plugin.failure = DriverError("drivers.a.interval: too short")
        error = self.assertRaises(
            DriverError, buildDrivers, self.clock, "app", self.engine,
            {"a": {"type": "fake"}}, self.plugins)
        self.assertEqual(error.message, "app 'app': driver 'a' (fake) cannot "
                         "be built: drivers.a.interval: too short")
        self.plugin.failure = ValueError("bad value")
        error = self.assertRaises(
            DriverError, buildDrivers, self.clock, "app", self.engine,
            {"a": {"type": "fake"}}, self.plugins)
        self.assertEqual(error.message, "app 'app': driver 'a' (fake) cannot "
                         "be built: bad value")

    def test_unknownType(self):
        """
        A type no plugin has (a manifest not checked first) cannot be
        built either.
        """
        error = self.assertRaises(
            DriverError, buildDrivers, self.clock, "app", self.engine,
            {"a": {"type": "teleport"}}, self.plugins)
        self.assertIn("app 'app': driver 'a' (teleport) cannot be built",
                      error.message)


class ServiceTests(SynchronousTestCase):

    def setUp(self):
        self.plugin = RecordingPlugin()
        self.tree = buildDrivers(
            Clock(), "app", FakeEngine(),
            {"first": {"type": "fake"}, "second": {"type": "fake"},
             "third": {"type": "fake"}},
            Plugins(drivers={"fake": self.plugin}))
        self.first, self.second, self.third = (
            self.plugin.built[name] for name in ("first", "second", "third"))
        self.logged = []
        globalLogPublisher.addObserver(self.logged.append)
        self.addCleanup(globalLogPublisher.removeObserver,
                        self.logged.append)

    def test_startInOrderStopInReverse(self):
        """
        The drivers start in manifest order and stop in reverse.
        """
        self.assertIsNone(self.successResultOf(self.tree.startService()))
        self.assertTrue(all(child.running for child in self.tree))
        self.successResultOf(self.tree.stopService())
        self.assertEqual(self.plugin.events, [
            ("start", "first"), ("start", "second"), ("start", "third"),
            ("stop", "third"), ("stop", "second"), ("stop", "first")])
        self.assertFalse(any(child.running for child in self.tree))

    def test_waitsForAStart(self):
        """
        A driver whose start is asynchronous is waited for before the
        next one starts.
        """
        started = self.first.startResult = Deferred()
        d = self.tree.startService()
        self.assertEqual(self.plugin.events, [("start", "first")])
        self.assertNoResult(d)
        started.callback(None)
        self.successResultOf(d)
        self.assertEqual(self.plugin.events, [
            ("start", "first"), ("start", "second"), ("start", "third")])

    def test_cannotStart(self):
        """
        A driver that cannot start fails the tree's start with a
        L{DriverError} naming the app, the driver and its type with the
        reason; it is not running, and the ones started before it are
        stopped again, the later ones never started.
        """
        self.second.startResult = DriverError("port 5 is taken")
        failure = self.failureResultOf(self.tree.startService(), DriverError)
        self.assertEqual(failure.value.message, "app 'app': driver 'second' "
                         "(fake) cannot start: port 5 is taken")
        self.successResultOf(self.tree.rollback)
        self.assertEqual(self.plugin.events, [
            ("start", "first"), ("start", "second"), ("stop", "first")])
        self.assertEqual([child.running for child in self.tree],
                         [0, 0, 0])
        self.assertFalse(self.tree.running)

    def test_cannotStartLater(self):
        """
        An asynchronous failure of any exception is one too, with the
        exception's text as the reason.
        """
        self.first.startResult = fail(OSError("no such device"))
        failure = self.failureResultOf(self.tree.startService(), DriverError)
        self.assertEqual(failure.value.message, "app 'app': driver 'first' "
                         "(fake) cannot start: no such device")
        [child, _, _] = list(self.tree)
        self.assertFalse(child.running)

    def test_stopWaits(self):
        """
        Stopping waits for a driver's asynchronous stop.
        """
        self.successResultOf(self.tree.startService())
        stopped = self.third.stopResult = Deferred()
        d = self.tree.stopService()
        self.assertNoResult(d)
        self.assertEqual(self.plugin.events[-1], ("stop", "third"))
        stopped.callback(None)
        self.successResultOf(d)
        self.assertEqual(self.plugin.events[-1], ("stop", "first"))

    def test_stopFailureLogged(self):
        """
        A driver that does not stop cleanly is logged, naming app and
        driver, and does not keep the others from stopping: the stop
        succeeds.
        """
        self.successResultOf(self.tree.startService())
        self.second.stopResult = RuntimeError("socket already gone")
        self.third.stopResult = succeed(None)
        self.assertIsNone(self.successResultOf(self.tree.stopService()))
        self.assertEqual(self.plugin.events[-3:], [
            ("stop", "third"), ("stop", "second"), ("stop", "first")])
        [event] = [e for e in self.logged if "log_failure" in e]
        self.assertEqual((event["app"], event["driver"]), ("app", "second"))
        self.assertIn("did not stop cleanly", event["log_format"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
