"""
Tests for L{cocaine.cluster.remote}, L{cocaine.cluster.gateway} and the
locator's C{resolve} and C{cluster} with remote entries.
"""

import random
from collections import Counter

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.cluster.gateway import GATEWAYS, AdhocGateway, IGateway
from cocaine.cluster.remote import RemoteTable
from cocaine.errors import ServiceNotAvailable
from cocaine.locator.registry import Registry
from cocaine.locator.service import LocatorService
from cocaine.storage.memory import MemoryStorage
from tests.locator.test_service import storeGroup

A, B = "node-a", "node-b"
GRAPH = {0: ["enqueue", None, None]}


def entry(port, version=1, graph=GRAPH):
    return [[["127.0.0.1", port]], version, graph]


class RemoteTableTests(SynchronousTestCase):
    """
    L{RemoteTable}: snapshot, updates, removal, drop.
    """

    def setUp(self):
        self.table = RemoteTable()

    def test_snapshot(self):
        """
        Linking a node records its locator and its snapshot; entries
        with an empty endpoint list are left out.
        """
        self.table.link(A, ("127.0.0.1", 100), {
            "echo": entry(1), b"raw": [[[b"127.0.0.1", 2]], 1, {}],
            "gone": [[], 0, {}]})
        self.assertEqual(self.table.nodes(), {A: ["127.0.0.1", 100]})
        self.assertEqual(self.table.services(A), {
            "echo": ([["127.0.0.1", 1]], 1, GRAPH),
            "raw": ([["127.0.0.1", 2]], 1, {})})

    def test_snapshotReplaces(self):
        """
        A new snapshot (a reconnect) replaces what was known.
        """
        self.table.link(A, ("127.0.0.1", 100), {"echo": entry(1)})
        self.table.link(A, ("127.0.0.1", 101), {"other": entry(2)})
        self.assertEqual(list(self.table.services(A)), ["other"])
        self.assertEqual(self.table.nodes(), {A: ["127.0.0.1", 101]})

    def test_updateAndRemoval(self):
        """
        An update adds or replaces one name; an empty endpoint list
        removes it.
        """
        self.table.link(A, ("127.0.0.1", 100), {"echo": entry(1)})
        self.table.update(A, {"new": entry(3)})
        self.table.update(A, {"echo": entry(4)})
        self.assertEqual(self.table.providers("echo"),
                         {A: ([["127.0.0.1", 4]], 1, GRAPH)})
        self.table.update(A, {"echo": [[], 0, {}]})
        self.assertEqual(self.table.providers("echo"), {})
        self.assertEqual(list(self.table.services(A)), ["new"])
        # removing an unknown name is no error
        self.table.update(A, {"nope": [[], 0, {}]})

    def test_updateUnknownNode(self):
        self.assertRaises(KeyError, self.table.update, A, {"x": entry(1)})

    def test_malformed(self):
        """
        A malformed entry raises L{ValueError} and changes nothing.
        """
        self.table.link(A, ("127.0.0.1", 100), {"echo": entry(1)})
        for bad in ["x", [1, 2], [[["h"]], 1, {}], [[["h", "p"]], 1, {}],
                    [5, 1, {}]]:
            self.assertRaises(ValueError, self.table.update, A,
                              {"echo": [[], 0, {}], "bad": bad})
            self.assertRaises(ValueError, self.table.link, B,
                              ("127.0.0.1", 1), {"bad": bad})
        self.assertEqual(list(self.table.services(A)), ["echo"])
        self.assertEqual(list(self.table.nodes()), [A])

    def test_drop(self):
        """
        Dropping a node drops its services, and only its.
        """
        self.table.link(A, ("127.0.0.1", 100), {"echo": entry(1)})
        self.table.link(B, ("127.0.0.1", 200), {"echo": entry(2)})
        self.assertEqual(sorted(self.table.providers("echo")), [A, B])
        self.table.drop(A)
        self.assertEqual(sorted(self.table.providers("echo")), [B])
        self.assertEqual(self.table.nodes(), {B: ["127.0.0.1", 200]})
        self.table.drop(A)


class AdhocGatewayTests(SynchronousTestCase):
    def test_random(self):
        """
        The adhoc gateway picks a random provider, each one sometimes.
        """
        gateway = AdhocGateway(random.Random(1))
        self.assertTrue(verifyObject(IGateway, gateway))
        self.assertIs(GATEWAYS["adhoc"], AdhocGateway)
        providers = {A: "a", B: "b"}
        counts = Counter(gateway.choose("echo", providers)
                         for _ in range(1000))
        self.assertEqual(set(counts), {"a", "b"})
        self.assertGreater(min(counts.values()), 400)


class LocatorRemoteTests(SynchronousTestCase):
    """
    The locator answers for names only remote nodes publish.
    """

    def setUp(self):
        self.registry = Registry()
        self.registry.publish("echo", [["127.0.0.1", 9]], 1, GRAPH)
        self.storage = MemoryStorage()
        self.locator = LocatorService(self.registry, "us", self.storage,
                                      rng=random.Random(3))
        self.remote = self.locator.remote

    def test_clusterEmpty(self):
        self.assertEqual(self.locator.cluster(), ({},))

    def test_cluster(self):
        """
        C{cluster} lists the linked nodes' locators.
        """
        self.remote.link(A, ("127.0.0.1", 100), {})
        self.remote.link(B, ("127.0.0.2", 200), {})
        self.assertEqual(self.locator.cluster(), ({
            A: ["127.0.0.1", 100], B: ["127.0.0.2", 200]},))

    def test_localFirst(self):
        """
        A name we publish resolves to ours even when a remote has it too.
        """
        self.remote.link(A, ("127.0.0.1", 100), {"echo": entry(1)})
        self.assertEqual(self.locator.resolve("echo"),
                         ([["127.0.0.1", 9]], 1, GRAPH))

    def test_onlyRemote(self):
        """
        A name only remote nodes publish resolves to one of theirs, chosen
        by the gateway; once they drop it, it is not available.
        """
        self.remote.link(A, ("127.0.0.1", 100), {"app": entry(1)})
        self.remote.link(B, ("127.0.0.1", 200), {"app": entry(2)})
        ports = Counter(self.locator.resolve("app")[0][0][1]
                        for _ in range(200))
        self.assertEqual(set(ports), {1, 2})
        self.remote.update(A, {"app": [[], 0, {}]})
        self.assertEqual(self.locator.resolve("app")[0], [["127.0.0.1", 2]])
        self.remote.drop(B)
        self.assertRaises(ServiceNotAvailable, self.locator.resolve, "app")

    def test_gatewayPluggable(self):
        """
        The gateway is any object with C{choose(name, providers)}.
        """
        seen = []

        class First:
            def choose(self, name, providers):
                seen.append((name, sorted(providers)))
                return providers[sorted(providers)[0]]
        locator = LocatorService(self.registry, "us", gateway=First())
        locator.remote.link(B, ("127.0.0.1", 200), {"app": entry(2)})
        locator.remote.link(A, ("127.0.0.1", 100), {"app": entry(1)})
        self.assertEqual(locator.resolve("app")[0], [["127.0.0.1", 1]])
        self.assertEqual(seen, [("app", [A, B])])

    def test_groupWithRemoteMember(self):
        """
        A routing group member published only remotely counts as
        available.
        """
        storeGroup(self.storage, "g", {"far": 1})
        self.successResultOf(self.locator.startService())
        self.assertRaises(ServiceNotAvailable, self.locator.resolve, "g")
        self.remote.link(A, ("127.0.0.1", 100), {"far": entry(7)})
        self.assertEqual(self.locator.resolve("g")[0], [["127.0.0.1", 7]])

    def test_connectStreamsOnlyLocal(self):
        """
        The C{connect} stream carries our services only, never the remote
        ones (no loops between peers), and tells the C{onConnect} hooks
        who connected.
        """
        from cocaine.testing import FakeUpstream
        knocks = []
        self.locator.onConnect.append(knocks.append)
        self.remote.link(A, ("127.0.0.1", 100), {"app": entry(1)})
        upstream = FakeUpstream()
        self.locator.connect(upstream, b"node-c")
        self.assertEqual(knocks, ["node-c"])
        self.assertEqual(upstream.sent, [("write", "us", {
            "echo": [[["127.0.0.1", 9]], 1, GRAPH]})])
