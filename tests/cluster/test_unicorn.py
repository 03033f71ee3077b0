"""
Tests for L{cocaine.cluster.unicorn}: discovery through unicorn on the
memory backend and a Clock, and its place in L{ClusterService}.
"""

from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.cluster.registration import FOLDER
from cocaine.cluster.service import ClusterService
from cocaine.cluster.unicorn import (
    BadEndpoints, UnicornDiscovery, parseEndpoints)
from cocaine.config import Cluster
from cocaine.locator.registry import Registry
from cocaine.locator.service import LocatorService
from cocaine.unicorn.memory import MemoryUnicorn
from tests.cluster._unicorns import FlakyUnicorn

INTERVAL = 1.0
LEASE = 3


class _Peering:
    """
    What discovery tells peering, recorded; C{linked} is what peering
    would say of each node.
    """

    def __init__(self):
        self.heard = []
        self.left = []
        self.linked = set()

    def isLinked(self, uuid):
        return uuid in self.linked


class ParseEndpointsTests(SynchronousTestCase):
    def test_good(self):
        self.assertEqual(parseEndpoints([["127.0.0.1", 1], ["::1", 65535]]),
                         [("127.0.0.1", 1), ("::1", 65535)])

    def test_bad(self):
        for bad in (None, [], "x", [["h"]], [["h", 0]], [["", 1]],
                    [[1, 1]], [["h", "1"]], [["h", True]], [["h", 65536]],
                    {"h": 1}):
            self.assertRaises(BadEndpoints, parseEndpoints, bad)


class UnicornDiscoveryTests(SynchronousTestCase):
    """
    Nodes with a clock each, registering in one engine on a clock of its
    own: a node that dies is one whose clock stops.
    """

    def setUp(self):
        self.clock = Clock()
        self.backend = FlakyUnicorn(self.clock)
        self.peerings = {}
        self.discoveries = {}
        self.clocks = {}
        self.dead = set()

    def node(self, uuid, port):
        peering = self.peerings[uuid] = _Peering()
        clock = self.clocks[uuid] = Clock()
        clock.advance(self.clock.seconds())
        discovery = UnicornDiscovery(
            clock, uuid, self.backend,
            lambda: [("127.0.0.1", port)],
            lambda *args: peering.heard.append(args),
            lambda *args: peering.left.append(args),
            peering.isLinked, INTERVAL, LEASE)
        self.discoveries[uuid] = discovery
        discovery.startService()
        self.addCleanup(lambda: discovery.running and
                        discovery.stopService())
        return discovery

    def advance(self, seconds):
        """
        Let C{seconds} pass for the engine and every node alive, in steps
        of 1/8 s (exact in binary: the timers fire when they should).
        """
        for _ in range(int(round(seconds * 8))):
            self.clock.advance(0.125)
            for uuid, clock in self.clocks.items():
                if uuid not in self.dead:
                    clock.advance(0.125)

    def listed(self):
        return sorted(self.backend.memory._nodes[FOLDER].children)

    def test_findEachOther(self):
        """
        Two nodes registering in one engine hear each other at once with
        the endpoints they registered, and again every interval (so
        peering never forgets them).
        """
        self.node("a", 1001)
        self.node("b", 1002)
        self.assertEqual(self.listed(), ["a", "b"])
        self.assertEqual(self.peerings["a"].heard,
                         [("b", [("127.0.0.1", 1002)])])
        self.assertEqual(self.peerings["b"].heard,
                         [("a", [("127.0.0.1", 1001)])])
        self.peerings["a"].linked.add("b")
        self.advance(INTERVAL)
        self.assertEqual(len(self.peerings["a"].heard), 2)
        self.assertEqual(self.discoveries["a"].peers,
                         {"b": [("127.0.0.1", 1002)]})
        self.assertEqual(self.discoveries["a"].stats["joined"], 1)

    def test_deadNodeLeaves(self):
        """
        A node that dies (its keep-alives stop, its link closes) is gone
        from the folder once its lease runs out, and leaves peering then,
        not before.
        """
        self.node("a", 1001)
        self.node("b", 1002)
        self.dead.add("b")
        self.advance(LEASE - 1.5)
        self.assertEqual(self.peerings["a"].left, [])
        self.advance(1.5)
        self.assertEqual(self.peerings["a"].left,
                         [("b", "its registration ended")])
        self.assertEqual(self.discoveries["a"].peers, {})
        self.assertEqual(self.listed(), ["a"])

    def test_linkedNodeGetsAGrace(self):
        """
        A node that is no longer listed but still linked is given one
        lease TTL to register again; it is dropped if it does not.
        """
        self.node("a", 1001)
        self.node("b", 1002)
        self.peerings["a"].linked.add("b")
        self.dead.add("b")
        self.advance(LEASE)
        self.assertEqual(self.listed(), ["a"])
        self.assertEqual(self.peerings["a"].left, [])
        self.advance(LEASE)
        self.assertEqual(self.peerings["a"].left, [
            ("b", "not registered again within 3s")])

    def test_outageKeepsPeers(self):
        """
        While the engine is down the peers known are heard every interval
        (they stay linked); back, the peer set is brought up to date: a
        node that left meanwhile is dropped, one that came is found.
        """
        a = self.node("a", 1001)
        self.node("b", 1002)
        c = self.node("c", 1003)
        self.peerings["a"].linked.update({"b", "c"})
        self.backend.goDown()
        self.advance(10 * INTERVAL)
        self.assertEqual(sorted(a.peers), ["b", "c"])
        heard = [uuid for uuid, _ in self.peerings["a"].heard]
        self.assertEqual((heard.count("b"), heard.count("c")), (11, 11))
        self.assertEqual(self.peerings["a"].left, [])
        self.assertGreater(a.stats["watchFailures"], 0)
        # meanwhile c stopped (its link closed) and d started
        self.peerings["a"].linked.discard("c")
        c.stopService()
        self.node("d", 1004)
        self.backend.comeBack()
        self.advance(INTERVAL)
        self.assertEqual(sorted(a.peers), ["b", "d"])
        self.assertIn(("c", "its registration ended"),
                      self.peerings["a"].left)
        self.assertIn(("d", [("127.0.0.1", 1004)]), self.peerings["a"].heard)
        self.assertEqual(a.registration.state, "registered")

    def test_engineLostItsData(self):
        """
        An engine that comes back empty: every node registers again on a
        new lease, and the linked peers are kept through it.
        """
        a = self.node("a", 1001)
        self.node("b", 1002)
        self.peerings["a"].linked.add("b")
        self.backend.wipe()
        self.advance(3 * INTERVAL)
        self.assertEqual(self.listed(), ["a", "b"])
        self.assertEqual(a.registration.stats["expired"], 1)
        self.assertEqual(self.peerings["a"].left, [])
        self.assertEqual(list(a.peers), ["b"])
        self.advance(LEASE)
        self.assertEqual(self.peerings["a"].left, [])

    def test_badValue(self):
        """
        A registration that holds no endpoints is counted and ignored.
        """
        a = self.node("a", 1001)
        self.successResultOf(self.backend.memory.create(
            FOLDER + "/junk", "not endpoints"))
        self.assertEqual(a.stats["badValues"], 1)
        self.assertEqual(self.peerings["a"].heard, [])

    def test_ownNodeDeleted(self):
        """
        A listing without our own node makes the registration look, and
        write it again.
        """
        a = self.node("a", 1001)
        self.successResultOf(self.backend.memory.remove(FOLDER + "/a", -1))
        self.assertEqual(self.listed(), ["a"])
        self.assertEqual(a.registration.state, "registered")

    def test_stop(self):
        """
        Stopping unregisters (the others see the node leave at once) and
        leaves no timer.
        """
        a = self.node("a", 1001)
        b = self.node("b", 1002)
        self.successResultOf(b.stopService())
        self.assertEqual(self.peerings["a"].left,
                         [("b", "its registration ended")])
        self.successResultOf(a.stopService())
        self.assertEqual(self.clocks["a"].getDelayedCalls(), [])
        self.assertEqual(self.clocks["b"].getDelayedCalls(), [])

    def test_cleanStopThenRestartElsewhere(self):
        """
        Unregistered while still linked, the node is given the grace;
        once its link is down it is dropped at the next interval; and
        registered again (at another port) it is read again at once and
        reported as a new link.
        """
        a = self.node("a", 1001)
        b = self.node("b", 1002)
        self.peerings["a"].linked.add("b")
        self.successResultOf(b.stopService())
        self.assertEqual(self.peerings["a"].left, [])
        self.peerings["a"].linked.discard("b")
        self.advance(INTERVAL)
        self.assertEqual(self.peerings["a"].left,
                         [("b", "its registration ended")])
        self.assertEqual(a.peers, {})
        self.node("b", 2002)
        self.assertEqual(self.peerings["a"].heard[-1],
                         ("b", [("127.0.0.1", 2002)]))

    def test_restartWithinTheGrace(self):
        """
        Registered again at another port before it was dropped: the old
        link goes, a new one is heard at the new endpoints at once.
        """
        self.node("a", 1001)
        b = self.node("b", 1002)
        self.peerings["a"].linked.add("b")
        self.successResultOf(b.stopService())
        self.node("b", 2002)
        self.assertEqual(self.peerings["a"].left, [
            ("b", "registered again at [('127.0.0.1', 2002)]")])
        self.assertEqual(self.peerings["a"].heard[-1],
                         ("b", [("127.0.0.1", 2002)]))


class ClusterServiceUnicornTests(SynchronousTestCase):
    """
    C{"discovery": "unicorn"} in L{ClusterService}: the registration and
    the folder's nodes reported to the real peering.
    """

    def test_wired(self):
        reactor = MemoryReactorClock()
        backend = MemoryUnicorn(reactor)
        registry = Registry()
        locator = LocatorService(registry, "us")
        service = ClusterService(reactor, Cluster(
            discovery="unicorn", interval=1.0, lease=3), "us", registry,
            locator, unicorn=backend)
        self.assertIsInstance(service.discovery, UnicornDiscovery)
        registry.publish("locator", [["127.0.0.1", 5]], 3, {})
        self.successResultOf(backend.create(FOLDER + "/them",
                                            [["127.0.0.1", 7]]))
        self.successResultOf(service.startService())
        self.assertEqual(self.successResultOf(backend.get(FOLDER + "/us")),
                         ([["127.0.0.1", 5]], 0))
        # peering links to the node listed: a connection to its locator
        self.assertEqual(service.peering.links(), {"them": "connecting"})
        self.assertEqual(reactor.tcpClients[0][:2], ("127.0.0.1", 7))
        self.successResultOf(backend.remove(FOLDER + "/them", -1))
        self.assertEqual(service.peering.links(), {})
        self.successResultOf(service.stopService())
        self.assertEqual(self.successResultOf(backend.get(FOLDER + "/us")),
                         (None, -1))

    def test_backendFromContext(self):
        from types import SimpleNamespace
        backend = MemoryUnicorn()
        context = SimpleNamespace(unicorn={"zk": backend}.__getitem__)
        service = ClusterService(
            MemoryReactorClock(), Cluster(discovery="unicorn",
                                          backend="zk"),
            "us", Registry(), LocatorService(Registry(), "us"),
            context=context)
        self.assertIs(service.discovery.backend, backend)

