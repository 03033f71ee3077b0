"""
Tests for L{cocaine.runtime} and L{cocaine.context}.
"""

import dataclasses
import gc
import io
import os
import sys

from twisted.internet.defer import Deferred
from twisted.internet.error import ReactorNotRunning
from twisted.logger import Logger
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import ConfigError, parse
from cocaine.context import Context
from cocaine.errors import StartupError
from cocaine.interfaces import IServicePlugin
from cocaine.locator.registry import DuplicateService, Registry
from cocaine.metrics.registry import Metrics
from cocaine.locator.service import GROUP_TAGS, GROUPS_COLLECTION
from cocaine.plugins import Plugins, loadPlugins
from cocaine.protocol.framing import packValue
from cocaine.runtime import (
    CocaineService, StoragesService, buildRuntime, nodeUuid)
from cocaine.storage.memory import MemoryStorage
from cocaine.testing import FakeReactor, RecordingService
from zope.interface import implementer

class StoragesServiceTests(SynchronousTestCase):
    """
    L{StoragesService} starts and stops the backends that are services.
    """

    def test_lifecycle(self):
        """
        Backends providing C{IService} are started and stopped; plain ones
        are left alone.
        """
        events = []
        backend = RecordingService("pg", events)
        service = StoragesService({"core": MemoryStorage(), "pg": backend})
        self.successResultOf(service.startService())
        self.assertTrue(backend.running)
        self.successResultOf(service.stopService())
        self.assertEqual(events, [("start", "pg"), ("stop", "pg")])


def keepCollectorCallbacks(testCase):
    """
    Put C{gc.callbacks} back as it is now when C{testCase} ends: a node a
    test starts and does not stop leaves its pause timer there
    (L{cocaine.metrics.collector.GCPauses}).
    """
    callbacks = list(gc.callbacks)

    def restore():
        gc.callbacks[:] = callbacks
    testCase.addCleanup(restore)


class RuntimeTests(SynchronousTestCase):
    """
    L{buildRuntime} builds a node's tree; starting it on a memory reactor
    publishes the built-in services.
    """

    def setUp(self):
        keepCollectorCallbacks(self)
        self.root = os.path.abspath(self.mktemp())
        self.reactor = FakeReactor()
        # start-up failures go to the real stderr (twistd redirects
        # sys.stderr into the log)
        self.stderr = io.StringIO()
        self.patch(sys, "__stderr__", self.stderr)
        self.patch(sys, "stderr", self.stderr)

    def config(self, **sections):
        value = {
            "paths": {"data": os.path.join(self.root, "data"),
                      "spool": os.path.join(self.root, "spool"),
                      "runtime": os.path.join(self.root, "run")},
            "storages": {"core": {"type": "memory"}},
            "services": {"logging": {"type": "logging"},
                         "storage": {"type": "storage"}},
        }
        value.update(sections)
        return parse(value)

    def test_nodeAfterOtherServices(self):
        """
        The node service (apps) starts after every other service, wherever
        it is in the config.
        """
        root = buildRuntime(self.reactor, self.config(services={
            "node": {"type": "node"},
            "store": {"type": "storage"},
            "log": {"type": "logging"}}))
        self.assertEqual([child.name for child in root],
                         ["storages", "auth", "log", "locator", "store", "node"])

    def test_frontsAfterTheNode(self):
        """
        A service plugin that returns a plain C{IService} (a front on a
        protocol of its own) joins the tree after the node under its name,
        unpublished; the context carries the node's metrics registry.
        """
        events = []

        @implementer(IPlugin, IServicePlugin)
        class Front:
            name = "front"

            def validate(self, path, args, config):
                pass

            def makeService(self, context, name, args):
                self.context = context
                return RecordingService("unnamed", events)

        front = Front()
        found = loadPlugins()
        plugins = Plugins(storages=found.storages, services=dict(
            found.services, front=front))
        root = buildRuntime(self.reactor, self.config(services={
            "web": {"type": "front"}, "node": {"type": "node"},
            "log": {"type": "logging"}}), plugins)
        self.assertEqual([child.name for child in root],
                         ["storages", "auth", "log", "locator", "node", "web"])
        self.assertIsInstance(front.context.metrics, Metrics)
        self.successResultOf(root.startService())
        self.assertEqual(events, [("start", "web")])
        self.assertIsNone(root.context.registry.lookup("web"))
        self.successResultOf(root.stopService())

    def test_order(self):
        """
        The tree is storages, auth, logging, locator, then the other
        services.
        """
        root = buildRuntime(self.reactor, self.config())
        self.assertIsInstance(root, CocaineService)
        self.assertEqual([child.name for child in root],
                         ["storages", "auth", "logging", "locator",
                          "storage"])

    def test_namesReservedBeforeListening(self):
        """
        The node's own names are reserved when the tree is built, before
        anything listens: C{locator.publish} cannot take one during
        start-up (which made the node exit with DuplicateService).
        """
        root = buildRuntime(self.reactor, self.config(services={
            "node": {"type": "node"},
            "store": {"type": "storage"},
            "log": {"type": "logging"}}))
        registry = root.context.registry
        self.assertEqual(registry.names(), [])
        for name in ("locator", "node", "store", "log"):
            self.assertTrue(registry.reserved(name), name)
            self.assertRaises(DuplicateService, registry.publishForeign,
                              name, [["h", 1]], 1, {})

    def test_orderWithMoreServices(self):
        """
        Logging services come before the locator wherever they are in the
        config; the rest follow it in config order.
        """
        root = buildRuntime(self.reactor, self.config(services={
            "store2": {"type": "storage"},
            "log": {"type": "logging"},
            "store1": {"type": "storage"}}))
        self.assertEqual([child.name for child in root],
                         ["storages", "auth", "log", "locator", "store2", "store1"])

    def test_nothingListensUntilStart(self):
        """
        Building binds nothing.
        """
        buildRuntime(self.reactor, self.config())
        self.assertEqual(self.reactor.tcpServers, [])

    def test_start(self):
        """
        Starting publishes the locator on its port and logging and storage
        on OS ports, all on loopback.
        """
        root = buildRuntime(self.reactor, self.config())
        self.successResultOf(root.startService())
        registry = root.context.registry
        self.assertEqual(registry.names(), ["locator", "logging", "storage"])
        self.assertEqual(registry.lookup("locator")[0],
                         [["127.0.0.1", 10053]])
        self.assertEqual([(s[0], s[3]) for s in self.reactor.tcpServers],
                         [(0, "127.0.0.1"), (10053, "127.0.0.1"),
                          (0, "127.0.0.1")])
        self.assertEqual(root.context.locator.resolve("storage"),
                         registry.lookup("storage"))
        self.assertEqual(self.stderr.getvalue(), "")

    def test_storageServiceUsesCore(self):
        """
        The storage service serves the C{core} backend.
        """
        root = buildRuntime(self.reactor, self.config())
        storage = root.getServiceNamed("storage").impl
        storage.write("c", "k", b"v", [])
        self.assertEqual(root.context.storage("core").read("c", "k"), b"v")

    def test_locatorGroupsFromCore(self):
        """
        The locator reads routing groups from the C{core} storage when it
        starts.
        """
        root = buildRuntime(self.reactor, self.config())
        root.context.storage("core").write(
            GROUPS_COLLECTION, "g", packValue({"storage": 1}), GROUP_TAGS)
        self.successResultOf(root.startService())
        self.assertEqual(root.context.locator.resolve("g", "seed"),
                         root.context.registry.lookup("storage"))

    def test_stop(self):
        """
        Stopping withdraws everything and stops every child.
        """
        root = buildRuntime(self.reactor, self.config())
        self.successResultOf(root.startService())
        self.successResultOf(root.stopService())
        self.assertEqual(root.context.registry.names(), [])
        self.assertEqual([child.running for child in root], [0, 0, 0, 0, 0])
        self.assertTrue(all(p.stopped for p in self.reactor.ports))

    def test_uuid(self):
        """
        The node's uuid is kept in the data directory.
        """
        root = buildRuntime(self.reactor, self.config())
        with open(os.path.join(self.root, "data", "uuid")) as f:
            self.assertEqual(f.read().strip(), root.context.uuid)
        again = buildRuntime(self.reactor, self.config())
        self.assertEqual(again.context.uuid, root.context.uuid)
        self.assertEqual(root.context.locator.getUuid(), (root.context.uuid,))

    def test_explicitPlugins(self):
        """
        The plugins may be given instead of found.
        """
        storages = loadPlugins().storages
        root = buildRuntime(self.reactor, self.config(services={}),
                            Plugins(storages={"memory": storages["memory"]}))
        self.assertEqual([child.name for child in root],
                         ["storages", "auth", "locator"])

    def test_unknownPlugin(self):
        """
        A config naming an unknown plugin fails to build.
        """
        self.assertRaises(ConfigError, buildRuntime, self.reactor,
                          self.config(services={"x": {"type": "nope"}}))

    def test_refusalNamesFile(self):
        """
        A refusal while building a config read from a file (a plugin's
        args, an unknown plugin) keeps its key and names the file, as
        L{cocaine.config.load} names its own; one from no file names none.
        """
        path = os.path.join(self.root, "cocaine.json")
        config = dataclasses.replace(self.config(services={"storage": {
            "type": "storage", "args": {"backend": "x"}}}), source=path)
        error = self.assertRaises(ConfigError, buildRuntime, self.reactor,
                                  config)
        self.assertEqual(str(error), 'services.storage.args.backend: no '
                         'storage named "x" (in {})'.format(path))
        unknown = dataclasses.replace(self.config(services={"x": {
            "type": "nope"}}), source=path)
        error = self.assertRaises(ConfigError, buildRuntime, self.reactor,
                                  unknown)
        self.assertEqual(error.path, "services.x.type")
        self.assertTrue(str(error).endswith(" (in {})".format(path)))
        error = self.assertRaises(ConfigError, buildRuntime, self.reactor,
                                  self.config(services={"x": {
                                      "type": "nope"}}))
        self.assertNotIn("(in ", str(error))

    def test_logFileCannotOpen(self):
        """
        A log file that cannot be opened ends start-up with one line naming
        its key, its path and the config file, not as an unexpected
        failure with a traceback.
        """
        path = os.path.join(self.root, "cocaine.json")
        os.makedirs(self.root)
        blocked = os.path.join(path, "node.log")
        with open(path, "w"):
            pass
        config = dataclasses.replace(self.config(logging={"sinks": [
            {"type": "twistd"}, {"type": "file", "path": blocked}]}),
            source=path)
        root = buildRuntime(self.reactor, config)
        self.successResultOf(root.startService())
        line = self.stderr.getvalue()
        self.assertTrue(line.startswith(
            "cocaine: could not start: logging.sinks[1].path: cannot open "
            "{}: ".format(blocked)), line)
        self.assertTrue(line.endswith(" (in {})\n".format(path)), line)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_secretFileNamesConfig(self):
        """
        A secret file that cannot be used: its key, its path and the
        config file that names it.
        """
        path = os.path.join(self.root, "cocaine.json")
        secret = os.path.join(self.root, "missing.key")
        config = dataclasses.replace(self.config(authentications={
            "core": {"type": "token", "args": {"secret-file": secret}}}),
            source=path)
        error = self.assertRaises(ConfigError, buildRuntime, self.reactor,
                                  config)
        self.assertEqual(error.path, "authentications.core.args.secret-file")
        self.assertIn(secret, str(error))
        self.assertTrue(str(error).endswith(" (in {})".format(path)),
                        str(error))

    def test_locatorPortTaken(self):
        """
        When the locator's port is taken, start-up says why in one line on
        standard error, stops what had started and exits with status 1.
        """
        self.reactor.taken = {10053}
        from cocaine.runtime import _exitNow
        root = buildRuntime(self.reactor, self.config())
        self.successResultOf(root.startService())
        self.assertEqual(self.stderr.getvalue(),
                         "cocaine: could not start: locator: cannot listen "
                         "on 127.0.0.1:10053: the address is already in "
                         "use\n")
        self.assertFalse(root.running)
        self.successResultOf(root.rollback)
        self.assertEqual(root.context.registry.names(), [])
        self.assertEqual([child.running for child in root], [0, 0, 0, 0, 0])
        # twistd starts the tree before the reactor runs: it is stopped as
        # soon as it does, and the process exits with 1 after shutdown
        self.assertFalse(self.reactor.hasStopped)
        self.reactor.run()
        self.assertEqual(self.reactor.triggers["after"]["shutdown"],
                         [(_exitNow, (1,), {})])

    def test_unexpectedStartFailure(self):
        """
        A start failure that is not a L{StartupError} is logged with its
        traceback and reported with its type.
        """
        root = buildRuntime(self.reactor, self.config())
        RecordingService("broken", [], startResult=ZeroDivisionError(
            "boom")).setServiceParent(root)
        self.successResultOf(root.startService())
        self.assertEqual(self.stderr.getvalue(), "cocaine: could not start: "
                         "ZeroDivisionError: boom\n")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_lateStartFailure(self):
        """
        A child that fails after C{startService} returned is reported the
        same way, what had started is stopped, and the reactor is stopped
        with a non-zero exit arranged for after shutdown; the node is never
        said to be running.
        """
        from cocaine.runtime import _exitNow
        events = []
        root = buildRuntime(self.reactor, self.config())
        root.log = Logger(observer=events.append)
        starting = Deferred()
        RecordingService("slow", [], startResult=starting).setServiceParent(
            root)
        self.reactor.running = True
        started = root.startService()
        self.assertNoResult(started)
        self.assertEqual(root.context.registry.names(),
                         ["locator", "logging", "storage"])
        starting.errback(StartupError("slow: backend unreachable"))
        self.assertEqual(self.stderr.getvalue(), "cocaine: could not start: "
                         "slow: backend unreachable\n")
        self.assertTrue(self.reactor.hasStopped)
        self.assertEqual(self.reactor.triggers["after"]["shutdown"],
                         [(_exitNow, (1,), {})])
        self.successResultOf(root.rollback)
        self.assertEqual(root.context.registry.names(), [])
        self.assertNotIn("running", " ".join(
            e["log_format"] for e in events))

    def test_startFailureWhileStopping(self):
        """
        A start that fails once the reactor is stopping (a SIGTERM came
        while the node started) does not stop it a second time, which
        would raise C{ReactorNotRunning} into the start's Deferred; the
        process still exits with 1 after shutdown.
        """
        from cocaine.runtime import _exitNow

        class StoppingReactor(FakeReactor):
            def stop(self):
                if self.hasStopped:
                    raise ReactorNotRunning("Can't stop reactor that isn't "
                                            "running.")
                FakeReactor.stop(self)
        reactor = StoppingReactor()
        root = buildRuntime(reactor, self.config())
        starting = Deferred()
        RecordingService("slow", [], startResult=starting).setServiceParent(
            root)
        reactor.running = True
        started = root.startService()
        reactor.stop()
        reactor.running = True  # still, while the services stop
        starting.errback(StartupError("slow: backend unreachable"))
        self.assertEqual(self.stderr.getvalue(), "cocaine: could not start: "
                         "slow: backend unreachable\n")
        self.assertIsNone(self.successResultOf(started))
        self.assertEqual(reactor.triggers["after"]["shutdown"],
                         [(_exitNow, (1,), {})])

    def test_runningLogged(self):
        """
        A node that started says so once.
        """
        events = []
        root = buildRuntime(self.reactor, self.config())
        root.log = Logger(observer=events.append)
        self.successResultOf(root.startService())
        [event] = events
        self.assertIn("running", event["log_format"])
        self.assertEqual(event["uuid"], root.context.uuid)


class HeapTests(SynchronousTestCase):
    """
    The node and Python's garbage collector (L{cocaine.heap}).
    """

    def setUp(self):
        keepCollectorCallbacks(self)
        self.root = os.path.abspath(self.mktemp())
        self.reactor = FakeReactor()
        self.settled = []
        import cocaine.runtime
        self.patch(cocaine.runtime, "settle",
                   lambda: self.settled.append(True) or 7)

    def build(self):
        return buildRuntime(self.reactor, parse({
            "paths": {"data": os.path.join(self.root, "data"),
                      "spool": os.path.join(self.root, "spool"),
                      "runtime": os.path.join(self.root, "run")},
            "storages": {"core": {"type": "memory"}},
            "services": {"logging": {"type": "logging"}}}))

    def test_settledWhenAsked(self):
        """
        The daemon's node (C{settleHeap}) freezes start-up's objects once
        it has started.
        """
        root = self.build()
        root.settleHeap = True
        self.successResultOf(root.startService())
        self.assertEqual(self.settled, [True])

    def test_notByDefault(self):
        """
        A node inside another program leaves that program's collector
        alone.
        """
        root = self.build()
        self.successResultOf(root.startService())
        self.assertEqual(self.settled, [])

    def test_pausesTimedWhileRunning(self):
        """
        The collector's pauses are in the node's metrics while it runs.
        """
        root = self.build()
        self.assertNotIn(root.gcPauses._phase, gc.callbacks)
        self.successResultOf(root.startService())
        self.assertIn(root.gcPauses._phase, gc.callbacks)
        names = [family.name for family in
                 root.context.metrics.registry.collect()]
        self.assertIn("cocaine_node_gc_pause_seconds", names)
        self.successResultOf(root.stopService())
        self.assertNotIn(root.gcPauses._phase, gc.callbacks)

    def test_badSetting(self):
        """
        A C{COCAINE_GC_FREEZE} that is neither 0 nor 1 stops the node
        before anything starts, naming it.
        """
        self.patch(os, "environ", dict(os.environ, COCAINE_GC_FREEZE="on"))
        error = self.assertRaises(ConfigError, self.build)
        self.assertIn("COCAINE_GC_FREEZE='on'", str(error))

    def test_badSettingNotOfFile(self):
        """
        The setting is the environment's, not the config file's: the
        refusal names no file.
        """
        self.patch(os, "environ", dict(os.environ, COCAINE_GC_FREEZE="on"))
        config = dataclasses.replace(parse({}), source="/etc/c.json")
        error = self.assertRaises(ConfigError, buildRuntime, self.reactor,
                                  config)
        self.assertEqual(str(error), "COCAINE_GC_FREEZE='on': must be 0 "
                         "or 1")


class NodeUuidTests(SynchronousTestCase):
    """
    L{nodeUuid} keeps one uuid per data directory.
    """

    def setUp(self):
        self.data = os.path.join(os.path.abspath(self.mktemp()), "data")

    def config(self, **extra):
        return parse(dict({"paths": {"data": self.data}}, **extra))

    def test_fromConfig(self):
        """
        A configured uuid is used and nothing is written.
        """
        self.assertEqual(nodeUuid(self.config(uuid="node-7")), "node-7")
        self.assertFalse(os.path.exists(self.data))

    def test_persisted(self):
        """
        Without one, a new uuid is written to the data directory (created
        when missing) and the same one returned next time.
        """
        first = nodeUuid(self.config())
        self.assertEqual(len(first), 36)
        with open(os.path.join(self.data, "uuid")) as f:
            self.assertEqual(f.read(), first + "\n")
        self.assertEqual(nodeUuid(self.config()), first)
        self.assertEqual(os.listdir(self.data), ["uuid"])

    def test_emptyFile(self):
        """
        An empty uuid file is replaced by a new uuid.
        """
        os.makedirs(self.data)
        open(os.path.join(self.data, "uuid"), "w").close()
        value = nodeUuid(self.config())
        self.assertEqual(len(value), 36)
        self.assertEqual(nodeUuid(self.config()), value)

    def test_unusableDirectory(self):
        """
        A data directory that cannot be made (a file stands in its way) or
        a uuid that cannot be read (a directory in its place) is a
        refusal of C{paths.data}, naming the directory, not an C{OSError}.
        """
        os.makedirs(os.path.dirname(self.data))
        open(self.data, "w").close()
        error = self.assertRaises(ConfigError, nodeUuid, self.config())
        self.assertEqual(error.path, "paths.data")
        self.assertTrue(error.reason.startswith(
            "cannot keep the node's uuid in {}: ".format(self.data)),
            error.reason)
        os.remove(self.data)
        os.makedirs(os.path.join(self.data, "uuid"))
        error = self.assertRaises(ConfigError, nodeUuid, self.config())
        self.assertEqual(error.path, "paths.data")
        self.assertIn(self.data, error.reason)


class ContextTests(SynchronousTestCase):
    """
    L{Context} gives plugins the node's parts.
    """

    def test_context(self):
        """
        Storages are looked up by name; data paths are under the data
        directory.
        """
        config = parse({"paths": {"data": "/srv/data"}})
        registry = Registry()
        context = Context("reactor", config, registry)
        context.storages["core"] = backend = MemoryStorage()
        self.assertIs(context.storage("core"), backend)
        self.assertRaises(KeyError, context.storage, "other")
        self.assertEqual(context.dataPath("storage", "x"),
                         "/srv/data/storage/x")
        self.assertEqual(context.dataPath(), "/srv/data")
        self.assertIs(context.registry, registry)
        self.assertEqual(context.reactor, "reactor")
