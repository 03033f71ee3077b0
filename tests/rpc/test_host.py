"""
Tests for L{cocaine.rpc.host}.
"""

import errno
import os

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import Network
from cocaine.errors import StartupError
from cocaine.locator.registry import Registry
from cocaine.log.service import LoggingService
from cocaine.protocol.services import LOGGING, STORAGE
from cocaine.rpc.host import ServiceHost
from cocaine.rpc.hosting import ServerFactory
from cocaine.storage.memory import MemoryStorage
from cocaine.storage.service import StorageService
from cocaine.testing import FakeReactor


class ServiceHostTests(SynchronousTestCase):
    """
    L{ServiceHost} listens, publishes while running, and withdraws.
    """

    def setUp(self):
        self.reactor = FakeReactor()
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
        chosen = self.reactor.ports[-1].port
        self.assertEqual(self.registry.lookup("storage"),
                         ([["127.0.0.1", chosen]], 1, STORAGE.graph()))
        self.assertEqual(host.endpoint, ("127.0.0.1", chosen))

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
                         [["127.0.0.1", self.reactor.ports[-1].port]])
        self.successResultOf(self.host(Network(advertise="10.0.0.5"),
                                       name="other").startService())
        self.assertEqual(self.registry.lookup("other")[0],
                         [["10.0.0.5", self.reactor.ports[-1].port]])

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

