"""
Tests for L{cocaine.runtime} and L{cocaine.context}.
"""

import errno
import io
import os
import sys

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail
from twisted.internet.error import CannotListenError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import ConfigError, Network, parse
from cocaine.context import Context
from cocaine.locator.registry import Registry
from cocaine.locator.service import GROUP_TAGS, GROUPS_COLLECTION
from cocaine.log.service import LoggingService
from cocaine.protocol.framing import packValue
from cocaine.protocol.services import LOGGING, STORAGE
from cocaine.rpc.server import ServerFactory
from cocaine.runtime import (
    CocaineService, OrderedMultiService, ServiceHost, StartupError,
    StoragesService, buildRuntime, loadPlugins, nodeUuid)
from cocaine.storage.memory import MemoryStorage
from cocaine.storage.service import StorageService


class FakeChild(Service):
    """
    A child service that records its calls in a shared list and returns
    whatever the test put in C{startResults} / C{stopResults}.
    """

    def __init__(self, name, events, startResult=None, stopResult=None):
        self.setName(name)
        self.events = events
        self.startResult = startResult
        self.stopResult = stopResult

    def startService(self):
        Service.startService(self)
        self.events.append(("start", self.name))
        if isinstance(self.startResult, Exception):
            raise self.startResult
        return self.startResult

    def stopService(self):
        Service.stopService(self)
        self.events.append(("stop", self.name))
        if isinstance(self.stopResult, Exception):
            raise self.stopResult
        return self.stopResult


class OrderedMultiServiceTests(SynchronousTestCase):
    """
    L{OrderedMultiService} starts children one after another and stops
    them in reverse.
    """

    def setUp(self):
        self.events = []
        self.parent = OrderedMultiService()

    def add(self, name, **kwargs):
        child = FakeChild(name, self.events, **kwargs)
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


class _RecordingPort:
    def __init__(self, port):
        self.port = port
        self.stopped = False

    def getHost(self):
        from twisted.internet.address import IPv4Address
        return IPv4Address("TCP", "127.0.0.1", self.port)

    def stopListening(self):
        self.stopped = True


class _Reactor(MemoryReactorClock):
    """
    A memory reactor where some ports are taken and listening ports
    record that they were stopped.
    """

    def __init__(self, taken=(), socketErrno=errno.EADDRINUSE):
        MemoryReactorClock.__init__(self)
        self.taken = set(taken)
        self.socketErrno = socketErrno
        self.ports = []

    def listenTCP(self, port, factory, backlog=50, interface=""):
        if port in self.taken:
            raise CannotListenError(interface, port, OSError(
                self.socketErrno, os.strerror(self.socketErrno)))
        MemoryReactorClock.listenTCP(self, port, factory, backlog, interface)
        listening = _RecordingPort(port)
        self.ports.append(listening)
        return listening


class ServiceHostTests(SynchronousTestCase):
    """
    L{ServiceHost} listens, publishes while running, and withdraws.
    """

    def setUp(self):
        self.reactor = _Reactor()
        self.registry = Registry()
        self.impl = StorageService(MemoryStorage())

    def host(self, network=Network(), port=None, impl=None, name="storage"):
        return ServiceHost(self.reactor, name, impl or self.impl,
                           self.registry, network, port=port)

    def test_osPort(self):
        """
        Without a fixed port or range, the OS picks the port (0) on the
        bind address; the service is published with the advertised address,
        the impl's version and graph.
        """
        host = self.host()
        self.successResultOf(host.startService())
        [(port, factory, _, interface)] = self.reactor.tcpServers
        self.assertEqual((port, interface), (0, "127.0.0.1"))
        self.assertIsInstance(factory, ServerFactory)
        self.assertIs(factory.service.impl, self.impl)
        self.assertEqual(factory.maxBuffer, Network().maxMessage)
        self.assertEqual(self.registry.lookup("storage"),
                         ([["127.0.0.1", 0]], 1, STORAGE.graph()))
        self.assertEqual(host.endpoint, ("127.0.0.1", 0))

    def test_fixedPort(self):
        """
        A fixed port is used as given.
        """
        self.successResultOf(self.host(port=10053).startService())
        self.assertEqual(self.reactor.tcpServers[0][0], 10053)
        self.assertEqual(self.registry.lookup("storage")[0],
                         [["127.0.0.1", 10053]])

    def test_portRange(self):
        """
        With a range, the first free port of it is used.
        """
        self.reactor.taken = {7000, 7001}
        self.successResultOf(self.host(Network(ports=(7000, 7010)))
                             .startService())
        self.assertEqual([s[0] for s in self.reactor.tcpServers], [7002])
        self.assertEqual(self.registry.lookup("storage")[0],
                         [["127.0.0.1", 7002]])

    def test_portRangeExhausted(self):
        """
        When every port of the range is taken, start fails with
        L{StartupError} naming the service, the range and the address.
        """
        self.reactor.taken = {7000, 7001}
        failure = self.failureResultOf(
            self.host(Network(ports=(7000, 7001))).startService(),
            StartupError)
        self.assertEqual(str(failure.value),
                         "storage: no free port in 7000-7001 on 127.0.0.1")
        self.assertEqual(self.registry.names(), [])

    def test_portTaken(self):
        """
        A taken fixed port fails with L{StartupError} naming the service,
        the address, the port and why; nothing is published and the impl
        is stopped again.
        """
        self.reactor.taken = {10053}
        impl = LoggingService(self.reactor, [], handleSignals=False)
        failure = self.failureResultOf(
            self.host(port=10053, impl=impl, name="locator").startService(),
            StartupError)
        message = str(failure.value)
        self.assertEqual(message, "locator: cannot listen on "
                         "127.0.0.1:10053: the address is already in use")
        for part in ("locator", "127.0.0.1", "10053", "already in use"):
            self.assertIn(part, message)
        self.assertEqual(self.registry.names(), [])
        self.assertFalse(impl.running)

    def test_osPortFails(self):
        """
        When even an OS-assigned port cannot be had, the reason is given.
        """
        self.reactor.taken = {0}
        self.reactor.socketErrno = errno.EADDRNOTAVAIL
        failure = self.failureResultOf(
            self.host(Network(bind="10.9.9.9")).startService(), StartupError)
        self.assertEqual(str(failure.value), "storage: cannot listen on "
                         "10.9.9.9:0: " + os.strerror(errno.EADDRNOTAVAIL))

    def test_nameTaken(self):
        """
        When the name is already published, start fails, the port is
        closed again and the other entry stays.
        """
        self.registry.publish("storage", [["10.0.0.1", 1]], 1, {})
        self.failureResultOf(self.host().startService(), Exception)
        self.assertTrue(self.reactor.ports[0].stopped)
        self.assertEqual(self.registry.lookup("storage")[0],
                         [["10.0.0.1", 1]])

    def test_advertisedAddress(self):
        """
        A wildcard bind is advertised as loopback; an explicit advertise
        address wins.
        """
        self.successResultOf(self.host(Network(bind="0.0.0.0"))
                             .startService())
        self.assertEqual(self.reactor.tcpServers[0][3], "0.0.0.0")
        self.assertEqual(self.registry.lookup("storage")[0],
                         [["127.0.0.1", 0]])
        self.successResultOf(self.host(Network(advertise="10.0.0.5"),
                                       name="other").startService())
        self.assertEqual(self.registry.lookup("other")[0],
                         [["10.0.0.5", 0]])

    def test_stop(self):
        """
        Stopping withdraws the name, stops listening and drops the
        connections.
        """
        host = self.host()
        self.successResultOf(host.startService())
        factory = self.reactor.tcpServers[0][1]
        connection = factory.buildProtocol(None)
        transport = StringTransport()
        connection.makeConnection(transport)
        self.successResultOf(host.stopService())
        self.assertEqual(self.registry.names(), [])
        self.assertTrue(self.reactor.ports[0].stopped)
        self.assertTrue(transport.disconnecting)
        self.assertFalse(host.running)

    def test_implServiceLifecycle(self):
        """
        An impl that is a service is started before it is published and
        stopped after it is withdrawn.
        """
        impl = LoggingService(self.reactor, [], handleSignals=False)
        seen = []
        self.registry.watch(lambda name, entry: seen.append(
            (entry is not None, impl.running)))
        host = self.host(impl=impl, name="logging")
        self.successResultOf(host.startService())
        self.assertTrue(impl.running)
        self.assertEqual(self.registry.lookup("logging")[2], LOGGING.graph())
        self.successResultOf(host.stopService())
        self.assertFalse(impl.running)
        self.assertEqual(seen, [(True, 1), (False, 1)])


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
        backend = FakeChild("pg", events)
        service = StoragesService({"core": MemoryStorage(), "pg": backend})
        self.successResultOf(service.startService())
        self.assertTrue(backend.running)
        self.successResultOf(service.stopService())
        self.assertEqual(events, [("start", "pg"), ("stop", "pg")])


class RuntimeTests(SynchronousTestCase):
    """
    L{buildRuntime} builds a node's tree; starting it on a memory reactor
    publishes the built-in services.
    """

    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        self.reactor = _Reactor()
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
                         ["storages", "log", "locator", "store", "node"])

    def test_order(self):
        """
        The tree is storages, logging, locator, then the other services.
        """
        root = buildRuntime(self.reactor, self.config())
        self.assertIsInstance(root, CocaineService)
        self.assertEqual([child.name for child in root],
                         ["storages", "logging", "locator", "storage"])

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
                         ["storages", "log", "locator", "store2", "store1"])

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
        self.assertEqual([child.running for child in root], [0, 0, 0, 0])
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
        services, storages = loadPlugins()
        root = buildRuntime(self.reactor, self.config(services={}),
                            ({}, {"memory": storages["memory"]}))
        self.assertEqual([child.name for child in root],
                         ["storages", "locator"])

    def test_unknownPlugin(self):
        """
        A config naming an unknown plugin fails to build.
        """
        self.assertRaises(ConfigError, buildRuntime, self.reactor,
                          self.config(services={"x": {"type": "nope"}}))

    def test_locatorPortTaken(self):
        """
        When the locator's port is taken, start-up says why in one line on
        standard error, stops what had started and exits with status 1.
        """
        self.reactor.taken = {10053}
        root = buildRuntime(self.reactor, self.config())
        error = self.assertRaises(SystemExit, root.startService)
        self.assertEqual(error.code, 1)
        self.assertEqual(self.stderr.getvalue(),
                         "cocaine: could not start: locator: cannot listen "
                         "on 127.0.0.1:10053: the address is already in "
                         "use\n")
        self.assertFalse(root.running)
        self.successResultOf(root.rollback)
        self.assertEqual(root.context.registry.names(), [])
        self.assertEqual([child.running for child in root], [0, 0, 0, 0])

    def test_unexpectedStartFailure(self):
        """
        A start failure that is not a L{StartupError} is logged with its
        traceback and reported with its type.
        """
        root = buildRuntime(self.reactor, self.config())
        FakeChild("broken", [], startResult=ZeroDivisionError("boom")
                  ).setServiceParent(root)
        self.assertRaises(SystemExit, root.startService)
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
        FakeChild("slow", [], startResult=starting).setServiceParent(root)
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
