"""
Tests for L{cocaine.locator.service}.
"""

import io
import random
from collections import Counter

import msgpack
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.errors import (
    CATEGORY_DISPATCH, CATEGORY_LOCATOR, INVALID_ARGUMENT,
    ROUTING_STORAGE_ERROR, SERVICE_NOT_AVAILABLE, InvalidArgument,
    RoutingStorageError, ServiceNotAvailable)
from cocaine.interfaces import IRPCService
from cocaine.locator.registry import DuplicateService, Registry
from cocaine.locator.routing import Group
from cocaine.locator.service import GROUP_TAGS, GROUPS_COLLECTION, \
    LocatorService
from cocaine.protocol.framing import packValue
from cocaine.protocol.services import LOCATOR, LOCATOR_VERSION, STORAGE
from cocaine.rpc.hosting import HostedService, ServerFactory
from cocaine.storage.memory import MemoryStorage
from cocaine.testing import FakeUpstream

UUID = "0f0e0d0c-0000-4000-8000-000000000001"
GRAPH = STORAGE.graph()
RESOLVE, CONNECT, REFRESH, CLUSTER, PUBLISH, ROUTING, GET_UUID = range(7)
WRITE, ERROR, CLOSE = 0, 1, 2


class _FailingStorage:
    def find(self, collection, tags):
        raise OSError("disk on fire")

    def read(self, collection, key):
        raise OSError("disk on fire")


def storeGroup(storage, name, members, tags=GROUP_TAGS):
    storage.write(GROUPS_COLLECTION, name, packValue(members), list(tags))


class LocatorTestsMixin:
    def setUp(self):
        self.registry = Registry()
        self.storage = MemoryStorage()
        self.registry.publish("storage", [["127.0.0.1", 1000]], 1, GRAPH)
        for member in ("a", "b", "c"):
            self.registry.publish(member, [["127.0.0.1", ord(member)]], 1,
                                  {})
        self.locator = LocatorService(self.registry, UUID, self.storage,
                                      rng=random.Random(5))

    def start(self):
        self.assertIsNone(self.successResultOf(
            self.locator.startService()))


class ResolveTests(LocatorTestsMixin, SynchronousTestCase):
    """
    C{resolve} of published names and routing groups.
    """

    def test_interface(self):
        """
        The locator declares protocol version 3 and implements it.
        """
        self.assertTrue(verifyObject(IRPCService, self.locator))
        self.assertEqual(self.locator.version, LOCATOR_VERSION)
        self.assertEqual(LOCATOR_VERSION, 3)
        HostedService("locator", self.locator, LOCATOR, LOCATOR_VERSION)

    def test_known(self):
        """
        A published name resolves to its endpoints, version and graph.
        """
        self.assertEqual(self.locator.resolve("storage"),
                         ([["127.0.0.1", 1000]], 1, GRAPH))
        self.assertEqual(self.locator.resolve("storage", "seed"),
                         ([["127.0.0.1", 1000]], 1, GRAPH))

    def test_unknown(self):
        """
        An unknown name fails with L{ServiceNotAvailable}: locator category
        10, code 1, naming the service.
        """
        error = self.assertRaises(ServiceNotAvailable, self.locator.resolve,
                                  "nope")
        self.assertEqual((error.category, error.code),
                         (CATEGORY_LOCATOR, SERVICE_NOT_AVAILABLE))
        self.assertEqual((error.category, error.code), (10, 1))
        self.assertIn("'nope'", str(error))

    def test_groupsLoadedOnStart(self):
        """
        Starting loads every active group from the C{groups} collection;
        groups without the C{active} tag are left out.
        """
        storeGroup(self.storage, "g", {"a": 1, "b": 3})
        storeGroup(self.storage, "inactive", {"a": 1}, ["group"])
        self.start()
        self.assertEqual(sorted(self.locator.groups), ["g"])
        self.assertEqual(self.locator.groups["g"].members, {"a": 1, "b": 3})

    def test_groupWeightedRandom(self):
        """
        Without a seed, a group name resolves to a member's entry, chosen
        by weight.
        """
        storeGroup(self.storage, "g", {"a": 1, "b": 3})
        self.start()
        counts = Counter(self.locator.resolve("g")[0][0][1]
                         for _ in range(8000))
        self.assertEqual(set(counts), {ord("a"), ord("b")})
        self.assertLess(abs(counts[ord("b")] / 8000 - 0.75), 0.03, counts)

    def test_groupSeeded(self):
        """
        With a seed, a group name resolves to the member consistent
        hashing picks, the same one every time.
        """
        storeGroup(self.storage, "g", {"a": 1, "b": 1, "c": 1})
        self.start()
        expected = Group("g", {"a": 1, "b": 1, "c": 1})
        picked = set()
        for i in range(100):
            seed = "user-%d" % i
            entry = self.locator.resolve("g", seed)
            member = expected.pick(seed)
            self.assertEqual(entry, self.registry.lookup(member))
            self.assertEqual(self.locator.resolve("g", seed), entry)
            picked.add(member)
        self.assertEqual(picked, {"a", "b", "c"})

    def test_groupWinsOverPublishedName(self):
        """
        A name both published and a group resolves through the group, as
        in 0.12 (its locator maps group names before looking up).
        """
        storeGroup(self.storage, "storage", {"a": 1})
        self.start()
        self.assertEqual(self.locator.resolve("storage")[0],
                         [["127.0.0.1", ord("a")]])
        self.assertEqual(self.locator.resolve("storage", "seed")[0],
                         [["127.0.0.1", ord("a")]])

    def test_groupMemberNotPublished(self):
        """
        When the member picked is not published, resolve fails with
        L{ServiceNotAvailable} naming the member and the group.
        """
        storeGroup(self.storage, "g", {"ghost": 1})
        self.start()
        error = self.assertRaises(ServiceNotAvailable, self.locator.resolve,
                                  "g", "seed")
        self.assertEqual((error.category, error.code),
                         (CATEGORY_LOCATOR, SERVICE_NOT_AVAILABLE))
        self.assertIn("'g'", str(error))
        self.assertIn("'ghost'", str(error))

    def test_unpublishedMemberNotSkipped(self):
        """
        As in 0.12, the member a seed maps to answers for it whether it is
        published or not: seeds of an unpublished member fail, the others
        resolve to their member, and no seed moves to another member.
        """
        storeGroup(self.storage, "g", {"ghost": 1, "storage": 1})
        self.start()
        group = Group("g", {"ghost": 1, "storage": 1})
        outcomes = Counter()
        for i in range(60):
            seed = "user-%d" % i
            if group.pick(seed) == "ghost":
                self.assertRaises(ServiceNotAvailable, self.locator.resolve,
                                  "g", seed)
            else:
                self.assertEqual(self.locator.resolve("g", seed)[0],
                                 [["127.0.0.1", 1000]])
            outcomes[group.pick(seed)] += 1
        self.assertEqual(set(outcomes), {"ghost", "storage"})

    def test_emptySeedIsNoSeed(self):
        """
        An empty seed picks at random, as no seed does (0.12).
        """
        storeGroup(self.storage, "g", {"a": 1, "b": 1})
        self.start()
        ports = Counter(self.locator.resolve("g", "")[0][0][1]
                        for _ in range(200))
        self.assertEqual(set(ports), {ord("a"), ord("b")})

    def test_badGroupSkipped(self):
        """
        A group whose value is not C{{service: weight}}, has a negative
        weight or no positive one is not loaded (0.12 refuses them too);
        the others are.
        """
        storeGroup(self.storage, "good", {"a": 1})
        storeGroup(self.storage, "list", [1, 2])
        storeGroup(self.storage, "negative", {"a": -1, "b": 1})
        storeGroup(self.storage, "weightless", {"a": 0})
        storeGroup(self.storage, "empty", {})
        self.storage.write(GROUPS_COLLECTION, "garbage", b"\xc1",
                           GROUP_TAGS)
        self.start()
        self.assertEqual(sorted(self.locator.groups), ["good"])

    def test_noStorage(self):
        """
        Without storage there are no groups: starting works, refresh fails
        with L{RoutingStorageError} (locator category, code 2).
        """
        locator = LocatorService(self.registry, UUID)
        self.assertIsNone(locator.startService())
        self.assertEqual(locator.groups, {})
        failure = self.failureResultOf(locator.refresh(["g"]),
                                       RoutingStorageError)
        self.assertEqual((failure.value.category, failure.value.code),
                         (CATEGORY_LOCATOR, ROUTING_STORAGE_ERROR))

    def test_brokenStorage(self):
        """
        When storage fails, starting still succeeds (the locator must come
        up) and refresh fails with L{RoutingStorageError} giving the reason.
        """
        locator = LocatorService(self.registry, UUID, _FailingStorage())
        self.assertIsNone(self.successResultOf(locator.startService()))
        failure = self.failureResultOf(locator.refresh(["g"]),
                                       RoutingStorageError)
        self.assertIn("disk on fire", str(failure.value))


class RefreshTests(LocatorTestsMixin, SynchronousTestCase):
    """
    C{refresh} reloads groups from storage.
    """

    def test_refreshReloads(self):
        """
        After the stored value changed, refresh of the group uses the new
        members.
        """
        storeGroup(self.storage, "g", {"a": 1})
        self.start()
        storeGroup(self.storage, "g", {"b": 1})
        self.assertEqual(self.locator.resolve("g", "s")[0][0][1], ord("a"))
        self.assertIsNone(self.successResultOf(self.locator.refresh(["g"])))
        self.assertEqual(self.locator.resolve("g", "s")[0][0][1], ord("b"))

    def test_refreshOnlyNamed(self):
        """
        Refresh of some groups leaves the others as they were loaded.
        """
        storeGroup(self.storage, "g1", {"a": 1})
        storeGroup(self.storage, "g2", {"a": 1})
        self.start()
        storeGroup(self.storage, "g1", {"b": 1})
        storeGroup(self.storage, "g2", {"b": 1})
        self.successResultOf(self.locator.refresh(["g1"]))
        self.assertEqual(self.locator.groups["g1"].members, {"b": 1})
        self.assertEqual(self.locator.groups["g2"].members, {"a": 1})

    def test_refreshNewGroup(self):
        """
        Refresh of a group that was stored after start loads it.
        """
        self.start()
        storeGroup(self.storage, "late", {"c": 1})
        self.successResultOf(self.locator.refresh(["late"]))
        self.assertEqual(self.locator.resolve("late")[0][0][1], ord("c"))

    def test_refreshRemoved(self):
        """
        Refresh of a group that was removed or deactivated drops it.
        """
        storeGroup(self.storage, "gone", {"a": 1})
        storeGroup(self.storage, "off", {"a": 1})
        self.start()
        self.storage.remove(GROUPS_COLLECTION, "gone")
        storeGroup(self.storage, "off", {"a": 1}, ["group"])
        self.successResultOf(self.locator.refresh(["gone", "off"]))
        self.assertEqual(self.locator.groups, {})
        self.assertRaises(ServiceNotAvailable, self.locator.resolve, "gone")

    def test_loadGroupsAll(self):
        """
        L{LocatorService.loadGroups} without names reloads every known and
        every active group.
        """
        storeGroup(self.storage, "g1", {"a": 1})
        self.start()
        storeGroup(self.storage, "g1", {"b": 1})
        storeGroup(self.storage, "g2", {"c": 1})
        self.successResultOf(self.locator.loadGroups())
        self.assertEqual(self.locator.groups["g1"].members, {"b": 1})
        self.assertEqual(self.locator.groups["g2"].members, {"c": 1})


class StreamTests(LocatorTestsMixin, SynchronousTestCase):
    """
    The C{routing} and C{connect} streams, C{publish}, C{cluster} and
    C{uuid}.
    """

    def test_routingStream(self):
        """
        C{routing} sends the table at once and again after every refresh;
        nothing after the channel closed.
        """
        storeGroup(self.storage, "g", {"a": 1})
        self.start()
        upstream = FakeUpstream()
        self.locator.routing(upstream, "router-1")
        self.assertEqual(upstream.sent, [
            ("write", {"g": Group("g", {"a": 1}).wire()})])
        storeGroup(self.storage, "g", {"a": 1, "b": 2})
        self.successResultOf(self.locator.refresh(["g"]))
        self.assertEqual(upstream.sent[1:], [
            ("write", {"g": Group("g", {"a": 1, "b": 2}).wire()})])
        upstream.close()
        self.successResultOf(self.locator.refresh(["g"]))
        self.assertEqual(len(upstream.sent), 2)
        self.assertEqual(self.locator._routers, {})

    def test_routingDiscard(self):
        """
        The client's C{discard} on a C{routing} channel (0.12's
        C{locator::routing::discard}) detaches the stream: nothing more is
        sent on it, and nothing is sent in answer.
        """
        storeGroup(self.storage, "g", {"a": 1})
        self.start()
        upstream = FakeUpstream()
        target = self.locator.routing(upstream, "router-1")
        target.discard()
        storeGroup(self.storage, "g", {"a": 1, "b": 2})
        self.successResultOf(self.locator.refresh(["g"]))
        self.assertEqual(len(upstream.sent), 1)
        self.assertFalse(upstream.closed)

    def test_routingSameRouterReplaces(self):
        """
        A router id has one stream, as in 0.12: calling C{routing} again
        with the same id sends the updates to the new stream only; the old
        one's C{discard} does not detach the new one.
        """
        self.start()
        old, new = FakeUpstream(), FakeUpstream()
        oldTarget = self.locator.routing(old, "router-1")
        self.locator.routing(new, "router-1")
        oldTarget.discard()
        storeGroup(self.storage, "g", {"a": 1})
        self.successResultOf(self.locator.refresh(["g"]))
        self.assertEqual(len(old.sent), 1)
        self.assertEqual(new.sent[-1], (
            "write", {"g": Group("g", {"a": 1}).wire()}))

    def test_routingGraph(self):
        """
        The C{routing} entry of the graph is 0.12's exactly: dispatch
        C{{0: ["discard", {}]}}, upstream the streaming protocol.
        """
        self.assertEqual(self.locator.protocol.graph()[5], [
            "routing", {0: ["discard", {}]},
            {0: ["write", None], 1: ["error", {}], 2: ["close", {}]}])

    def test_routingEmpty(self):
        """
        Without groups the routing table is empty.
        """
        upstream = FakeUpstream()
        self.locator.routing(upstream, "r")
        self.assertEqual(upstream.sent, [("write", {})])

    def test_connectStream(self):
        """
        C{connect} sends C{[uuid, snapshot]} first, then one-service
        updates: the entry on publish, an empty endpoint list on withdraw.
        """
        upstream = FakeUpstream()
        self.assertIsNone(self.locator.connect(upstream, "peer"))
        [(kind, uuid, snapshot)] = upstream.sent
        self.assertEqual((kind, uuid), ("write", UUID))
        self.assertEqual(sorted(snapshot), ["a", "b", "c", "storage"])
        self.assertEqual(snapshot["storage"], [[["127.0.0.1", 1000]], 1,
                                               GRAPH])
        del upstream.sent[:]
        self.registry.publish("new", [["10.0.0.1", 5]], 2, {})
        self.registry.withdraw("a")
        self.assertEqual(upstream.sent, [
            ("write", UUID, {"new": [[["10.0.0.1", 5]], 2, {}]}),
            ("write", UUID, {"a": [[], 0, {}]}),
        ])

    def test_connectWatchDropped(self):
        """
        When the connect channel closes, the locator stops watching.
        """
        upstream = FakeUpstream()
        self.locator.connect(upstream, "peer")
        upstream.close()
        self.assertEqual(len(self.registry._watchers), 0)
        self.registry.publish("new", [["h", 1]], 1, {})
        self.assertEqual(len(upstream.sent), 1)

    def test_connectStreamsCapped(self):
        """
        At most C{maxStreams} C{connect} streams are open on the node
        (issue 14, finding 5): every registry change is written to each,
        so past the cap a new one is refused with an error and watches
        nothing; a closed stream frees its place.
        """
        from cocaine.errors import SystemError_
        self.locator.maxStreams = 2
        first, second = FakeUpstream(), FakeUpstream()
        self.locator.connect(first, "a")
        self.locator.connect(second, "b")
        error = self.assertRaises(SystemError_, self.locator.connect,
                                  FakeUpstream(), "c")
        self.assertIn("max-locator-streams", str(error))
        self.assertEqual(len(self.registry._watchers), 2)
        first.close()
        self.assertEqual(self.locator.streams, 1)
        self.locator.connect(FakeUpstream(), "c")
        self.assertEqual(self.locator.streams, 2)

    def test_publish(self):
        """
        C{publish} answers C{value []} and the name resolves until
        C{discard}.
        """
        upstream = FakeUpstream()
        target = self.locator.publish(upstream, "ext", [[b"10.0.0.2", 7000]],
                                      [4, {0: ["ping", {}, {}]}])
        self.assertEqual(upstream.sent, [("value",)])
        self.assertEqual(self.locator.resolve("ext"),
                         ([["10.0.0.2", 7000]], 4, {0: ["ping", {}, {}]}))
        target.discard()
        self.assertRaises(ServiceNotAvailable, self.locator.resolve, "ext")

    def test_publishDefaultDescription(self):
        """
        Without a description the version is 1 and the graph empty.
        """
        self.locator.publish(FakeUpstream(), "ext", [["h", 1]])
        self.assertEqual(self.locator.resolve("ext"), ([["h", 1]], 1, {}))

    def test_publishUntilConnectionLost(self):
        """
        A published name is withdrawn when the publisher's connection
        drops.
        """
        target = self.locator.publish(FakeUpstream(), "ext", [["h", 1]])
        target.connectionLost()
        self.assertIsNone(self.registry.lookup("ext"))

    def test_publishTaken(self):
        """
        Publishing a taken name fails with L{DuplicateService}, answers
        nothing, and leaves the first entry.
        """
        upstream = FakeUpstream()
        self.assertRaises(DuplicateService, self.locator.publish, upstream,
                          "storage", [["h", 1]])
        self.assertEqual(upstream.sent, [])
        self.assertEqual(self.locator.resolve("storage")[0],
                         [["127.0.0.1", 1000]])

    def test_publishReservedRefused(self):
        """
        A name the node holds (its own services from start-up, an app
        while it starts or runs) is refused even before it is published,
        with an error naming it.
        """
        self.registry.reserve("node")
        upstream = FakeUpstream()
        error = self.assertRaises(DuplicateService, self.locator.publish,
                                  upstream, "node", [["h", 1]])
        self.assertIn("'node'", str(error))
        self.assertEqual(upstream.sent, [])
        self.assertIsNone(self.registry.lookup("node"))

    def test_reserveTakesForeignName(self):
        """
        An app starting under a name a client published takes it back;
        the client's later discard does not withdraw the app's entry.
        """
        target = self.locator.publish(FakeUpstream(), "echo", [["h", 1]])
        self.registry.reserve("echo")
        self.assertIsNone(self.registry.lookup("echo"))
        entry = self.registry.publish("echo", [["127.0.0.1", 2]], 1, {})
        target.discard()
        self.assertIs(self.registry.lookup("echo"), entry)

    def test_publishPermission(self):
        """
        The C{publishPermission} hook sees every publish and refuses by
        raising; nothing is published then.
        """
        seen = []

        def check(upstream, name):
            seen.append(name)
            if name == "forbidden":
                raise InvalidArgument("no")
        self.locator.publishPermission = check
        self.assertRaises(InvalidArgument, self.locator.publish,
                          FakeUpstream(), "forbidden", [["h", 1]])
        self.locator.publish(FakeUpstream(), "fine", [["h", 1]])
        self.assertEqual(seen, ["forbidden", "fine"])
        self.assertIsNone(self.registry.lookup("forbidden"))

    def test_publishBadEndpoints(self):
        """
        Endpoints that are not a non-empty list of C{[host, port]} with a
        text host and a port 1-65535 fail with L{InvalidArgument}; nothing
        is published.
        """
        for endpoints in ([["h"]], [["h", 1, 2]], [["h", "80"]],
                          [[80, "h"]], [["h", True]], [("h", 80)],
                          ["h:80"], [["h", 1], ["h"]], [["h", 0]],
                          [["h", 70000]], [["h", -1]], [[b"\xff", 80]],
                          []):
            upstream = FakeUpstream()
            self.assertRaises(InvalidArgument, self.locator.publish,
                              upstream, "ext", endpoints)
            self.assertEqual(upstream.sent, [])
        self.assertIsNone(self.registry.lookup("ext"))

    def test_publishBadDescription(self):
        """
        A description that is not C{[version, graph]} fails with
        L{InvalidArgument}.
        """
        for description in ([1], ["1", {}], [1, []], {"v": 1}, [1, {}, 2]):
            self.assertRaises(InvalidArgument, self.locator.publish,
                              FakeUpstream(), "ext", [["h", 1]],
                              description)
        self.assertIsNone(self.registry.lookup("ext"))

    def test_cluster(self):
        """
        A single node has no linked peers.
        """
        self.assertEqual(self.locator.cluster(), ({},))

    def test_uuid(self):
        """
        C{uuid} answers the node's uuid.
        """
        self.assertEqual(self.locator.getUuid(), (UUID,))


class LocatorWireTests(LocatorTestsMixin, SynchronousTestCase):
    """
    The locator over the native protocol, with real upstreams.
    """

    def setUp(self):
        LocatorTestsMixin.setUp(self)
        hosted = HostedService("locator", self.locator, LOCATOR,
                               LOCATOR_VERSION)
        self.protocol = ServerFactory(hosted).buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def send(self, channel, mtype, args):
        self.transport.clear()
        self.protocol.dataReceived(msgpack.packb([channel, mtype, args],
                                                 use_bin_type=True))
        return self.received()

    def received(self):
        messages = list(msgpack.Unpacker(io.BytesIO(self.transport.value()),
                                         raw=False, strict_map_key=False))
        self.transport.clear()
        return messages

    def test_resolve(self):
        """
        C{resolve} answers C{value [endpoints, version, graph]}, or
        C{error [[10, 1], message]} for an unknown name.
        """
        self.assertEqual(self.send(1, RESOLVE, ["storage"]),
                         [[1, 0, [[["127.0.0.1", 1000]], 1, GRAPH]]])
        [[channel, kind, args]] = self.send(2, RESOLVE, [b"nope"])
        self.assertEqual((channel, kind), (2, 1))
        self.assertEqual(args[0], [10, 1])
        self.assertIn("nope", args[1])

    def test_uuidAndCluster(self):
        """
        C{uuid} and C{cluster} answer C{value}.
        """
        self.assertEqual(self.send(1, GET_UUID, []), [[1, 0, [UUID]]])
        self.assertEqual(self.send(2, CLUSTER, []), [[2, 0, [{}]]])

    def test_connectDroppedWithConnection(self):
        """
        A C{connect} stream gets the snapshot and the updates as C{write}
        chunks; when its connection is lost the watch is dropped.
        """
        [[channel, kind, (uuid, snapshot)]] = self.send(1, CONNECT, ["peer"])
        self.assertEqual((channel, kind, uuid), (1, WRITE, UUID))
        self.assertIn("storage", snapshot)
        self.registry.withdraw("b")
        self.assertEqual(self.received(), [[1, WRITE, [UUID,
                                                       {"b": [[], 0, {}]}]]])
        self.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(len(self.registry._watchers), 0)

    def test_publishDiscard(self):
        """
        A name published over a channel resolves until C{discard} arrives
        on that channel.
        """
        self.assertEqual(self.send(1, PUBLISH, ["ext", [["10.1.1.1", 9]]]),
                         [[1, 0, []]])
        self.assertEqual(self.send(2, RESOLVE, ["ext"]),
                         [[2, 0, [[["10.1.1.1", 9]], 1, {}]]])
        self.assertEqual(self.send(1, 0, []), [])
        self.assertIsNone(self.registry.lookup("ext"))

    def test_publishConnectionLost(self):
        """
        A name published over a connection is withdrawn when it drops.
        """
        self.send(1, PUBLISH, ["ext", [["10.1.1.1", 9]], [2, {}]])
        self.assertEqual(self.registry.lookup("ext"),
                         ([["10.1.1.1", 9]], 2, {}))
        self.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(self.registry.lookup("ext"))

    def test_publishErrors(self):
        """
        Bad endpoints answer invalid_argument; a taken name answers
        duplicate_slot; neither publishes anything.
        """
        [[_, kind, args]] = self.send(1, PUBLISH, ["ext", [["h"]]])
        self.assertEqual((kind, args[0]),
                         (ERROR, [CATEGORY_DISPATCH, INVALID_ARGUMENT]))
        [[_, kind, args]] = self.send(2, PUBLISH, ["storage", [["h", 1]]])
        self.assertEqual((kind, args[0]), (ERROR, [CATEGORY_DISPATCH, 1]))
        self.assertIn("storage", args[1])
        self.assertIsNone(self.registry.lookup("ext"))

    def test_routing(self):
        """
        C{routing} streams the table and a new one after C{refresh}.
        """
        storeGroup(self.storage, "g", {"a": 1})
        self.start()
        self.assertEqual(self.send(1, ROUTING, ["r"]),
                         [[1, WRITE, [{"g": Group("g", {"a": 1}).wire()}]]])
        storeGroup(self.storage, "g", {"b": 1})
        self.assertEqual(self.send(2, REFRESH, [["g"]]), [
            [1, WRITE, [{"g": Group("g", {"b": 1}).wire()}]],
            [2, 0, []]])
