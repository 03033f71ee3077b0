"""
Tests for L{cocaine.cluster.service} and the cluster part of
L{cocaine.runtime.buildRuntime}.
"""

from twisted.internet.defer import fail
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.cluster.announce import MulticastDiscovery, decodeAnnounce
from cocaine.cluster.service import ClusterService
from cocaine.cluster.static import StaticDiscovery
from cocaine.config import Cluster
from cocaine.locator.registry import Registry
from cocaine.locator.service import LocatorService
from cocaine.errors import StartupError
from tests import test_runtime as _runtime
from cocaine.testing import FakeUpstream, MemoryNode
from tests.cluster.test_announce import FakeDatagramTransport


class _FailingJoin(FakeDatagramTransport):
    def joinGroup(self, group, interface):
        return fail(OSError(19, "No such device"))


class _MulticastReactor(MemoryReactorClock):
    transport = FakeDatagramTransport

    def __init__(self):
        MemoryReactorClock.__init__(self)
        self.multicast = []

    def listenMulticast(self, port, protocol, interface="",
                        maxPacketSize=8192, listenMultiple=False):
        self.multicast.append((port, protocol, interface, listenMultiple))
        protocol.makeConnection(self.transport())
        return _Port(protocol)


class _Port:
    def __init__(self, protocol):
        self.protocol = protocol

    def stopListening(self):
        self.protocol.stopProtocol()


class ClusterServiceTests(SynchronousTestCase):
    def setUp(self):
        self.reactor = _MulticastReactor()
        self.registry = Registry()
        self.locator = LocatorService(self.registry, "us")

    def test_static(self):
        """
        Static discovery probes the peers; its answers go to peering, which
        fills the locator's remote table; a node opening C{connect} on our
        locator that is not linked pokes discovery.
        """
        service = ClusterService(self.reactor, Cluster(
            discovery="static", peers=(("127.0.0.1", 1),), interval=1.0),
            "us", self.registry, self.locator)
        self.assertIsInstance(service.discovery, StaticDiscovery)
        self.assertIs(self.locator.peering, service.peering)
        self.assertIs(service.peering.remote, self.locator.remote)
        self.registry.publish("locator", [["127.0.0.1", 5]], 3, {})
        self.assertEqual(service.endpoints(), [("127.0.0.1", 5)])
        self.successResultOf(service.startService())
        self.assertEqual(len(self.reactor.tcpClients), 1)
        self.assertEqual(self.reactor.tcpClients[0][:2], ("127.0.0.1", 1))
        pokes = []
        service.discovery.poke = lambda: pokes.append(1)
        self.locator.connect(FakeUpstream(), "node-x")
        self.assertEqual(pokes, [1])
        self.successResultOf(service.stopService())
        self.assertFalse(service.peering.running)

    def test_multicast(self):
        """
        Multicast discovery listens on the group and announces the
        locator's endpoints.
        """
        service = ClusterService(self.reactor, Cluster(
            discovery="multicast", port=4000), "us", self.registry,
            self.locator)
        self.assertIsInstance(service.discovery, MulticastDiscovery)
        self.assertEqual(service.endpoints(), [])
        self.registry.publish("locator", [["127.0.0.1", 5]], 3, {})
        self.successResultOf(service.startService())
        port, protocol, interface, multiple = self.reactor.multicast[0]
        self.assertEqual((port, interface, multiple),
                         (4000, "239.0.100.53", True))
        self.assertEqual(protocol.stats["sent"], 1)
        self.assertEqual(decodeAnnounce(protocol.transport.written[0][0]),
                         ("us", [("127.0.0.1", 5)]))
        protocol.datagramReceived(b"junk", ("127.0.0.1", 1))
        self.assertEqual(protocol.stats["malformed"], 1)
        self.successResultOf(service.stopService())
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_joinFails(self):
        """
        A group that cannot be joined ends start-up with one line saying
        why, and leaves nothing running.
        """
        self.reactor.transport = _FailingJoin
        service = ClusterService(self.reactor, Cluster(
            discovery="multicast", interface="10.9.9.9"), "us",
            self.registry, self.locator)
        failure = self.failureResultOf(service.startService(), StartupError)
        self.assertEqual(
            failure.getErrorMessage(),
            "cluster: cannot join multicast group 239.0.100.53 on "
            "10.9.9.9: [Errno 19] No such device")
        self.assertFalse(service.running)
        self.assertFalse(service.peering.running)
        self.assertEqual(self.reactor.getDelayedCalls(), [])


class RuntimeClusterTests(SynchronousTestCase):
    """
    buildRuntime adds the cluster after the locator when configured.
    """

    setUp = _runtime.RuntimeTests.setUp
    config = _runtime.RuntimeTests.config

    def test_off(self):
        from cocaine.runtime import buildRuntime
        root = buildRuntime(self.reactor, self.config())
        self.assertNotIn("cluster", [child.name for child in root])

    def test_on(self):
        from cocaine.runtime import buildRuntime
        root = buildRuntime(self.reactor, self.config(cluster={
            "discovery": "static", "peers": [["127.0.0.1", 1]]}))
        self.assertEqual([child.name for child in root],
                         ["storages", "auth", "logging", "locator",
                          "cluster", "storage"])


class GatewayConfigTests(SynchronousTestCase):
    """
    C{cluster.gateway} and C{cluster.bias} pick the locator's gateway; the
    load publisher is the locator's and stops with the service.
    """

    def service(self, **config):
        locator = LocatorService(Registry(), "us")
        service = ClusterService(
            MemoryReactorClock(), Cluster(discovery="static",
                                          peers=(("127.0.0.1", 1),),
                                          interval=2.0, **config),
            "us", Registry(), locator, loadSource=lambda: {
                "cpu": 0.0, "apps": {"app": {"sessions": 3}}})
        return service, locator

    def test_loadAwareDefault(self):
        from cocaine.cluster.gateway import LoadAwareGateway
        service, locator = self.service(bias=0.5)
        self.assertIsInstance(locator.gateway, LoadAwareGateway)
        self.assertEqual(locator.gateway.bias, 0.5)
        self.assertIs(locator.loads, service.loads)
        self.assertEqual(service.loads.interval, 1.0)
        upstream = FakeUpstream()
        locator.connect(upstream, "peer", {"load": True})
        self.assertEqual(upstream.sent[-1], ("write", "us", {}, {"load": {
            "cpu": 0.0, "apps": {"app": {"sessions": 3}}}}))

    def test_adhoc(self):
        from cocaine.cluster.gateway import AdhocGateway
        service, locator = self.service(gateway="adhoc")
        self.assertIsInstance(locator.gateway, AdhocGateway)

    def test_measuresParentContext(self):
        """
        Without a load source, the parent service's context is measured.
        """
        from types import SimpleNamespace
        locator = LocatorService(Registry(), "us")
        service = ClusterService(
            MemoryReactorClock(), Cluster(discovery="static",
                                          peers=(("127.0.0.1", 1),)),
            "us", Registry(), locator)
        service.parent = SimpleNamespace(context=SimpleNamespace(
            node=MemoryNode()))
        self.assertEqual(service.loadSource()["apps"], {})
