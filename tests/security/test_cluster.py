# -*- test-case-name: tests.security.test_cluster -*-
"""
Issue 14, findings 6 (cluster) and 7 (management plane), each written as
the attack, which now fails. Everything runs in this process over Twisted
fakes (a fake multicast transport, fake locator streams, a L{Clock}), but
for the ZeroMQ size limit, which uses a real socket on an ipc path in a
temporary directory; no datagram leaves the process.
"""

import gc
import json
import sys
from types import SimpleNamespace

import zmq
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cocaine.cluster.announce import AnnounceProtocol, encodeAnnounce
from cocaine.cluster.deploy import CLUSTER_RUNLIST, ClusterApps
from cocaine.cluster.link import PeerLink
from cocaine.cluster.peering import Peering
from cocaine.cluster.remote import RemoteTable
from cocaine.errors import NotConnected, SpawnFailed
from cocaine.management.plane import ManagementPlane
from cocaine.management.service import ManagementService
from cocaine.protocol.framing import packValue
from cocaine.storage.memory import MemoryStorage
from cocaine.testing import FakeDatagramTransport, MemoryNode
from tests.cluster.test_peering import FakeStream
from tests.management._client import Peer, ipcEndpoint

US, THEM, SPOOF = "node-us", "node-them", "node-spoofed"
GROUP, PORT, INTERVAL = "239.0.100.53", 10053, 5.0
THEIR_LOCATOR = [("127.0.0.1", 10054)]


class _Node:
    """
    Our side: the announce protocol over a fake transport feeding real
    peering, whose streams the test answers.
    """

    def __init__(self, clock, secret, answer):
        """
        @param answer: C{(endpoints) -> Deferred of a stream}.
        """
        self.clock = clock
        self.remote = RemoteTable()
        self.opened = 0

        def openStream(endpoints, ownUuid):
            self.opened += 1
            return answer(endpoints)
        self.peering = Peering(clock, US, self.remote, INTERVAL, openStream,
                               forgotten=lambda uuid: self.announce.forget(
                                   uuid))
        self.peering.startService()
        self.announce = AnnounceProtocol(
            clock, US, lambda: [("127.0.0.1", 10053)], self.peering.heard,
            GROUP, PORT, INTERVAL, secret=secret)
        self.announce.makeConnection(FakeDatagramTransport())

    def receive(self, data):
        self.announce.datagramReceived(data, ("127.0.0.1", PORT))

    def stop(self):
        self.announce.stopProtocol()
        self.peering.stopService()


def answering(uuid, streams):
    """
    Streams from a locator that says it is C{uuid}, with one service.
    """
    def answer(endpoints):
        stream = FakeStream()
        stream.send(uuid, {"echo": [[["127.0.0.1", 9]], 1, {}]})
        streams.append(stream)
        return succeed(stream)
    return answer


class ReplayedAnnounceTests(SynchronousTestCase):
    """
    Finding 6: with a secret, a captured signed announce replayed after
    its node left was linked again.
    """

    def test_replayAfterLeaving(self):
        clock = Clock()
        clock.advance(1800000000)
        streams = []
        node = _Node(clock, "cluster-secret", answering(THEM, streams))
        self.addCleanup(node.stop)
        captured = encodeAnnounce(THEM, THEIR_LOCATOR, "cluster-secret",
                                  clock.seconds())
        node.receive(captured)
        self.assertTrue(node.peering.isLinked(THEM))

        # it leaves: its stream ends and it is silent
        streams[-1].end()
        clock.advance(3 * INTERVAL + 0.1)
        self.assertEqual(node.peering.links(), {})
        opened = node.opened

        # within the window: its nonce was heard
        node.receive(captured)
        # after the window: stale
        clock.advance(30)
        for _ in range(5):
            node.receive(captured)
        self.assertEqual(node.peering.links(), {})
        self.assertEqual(node.opened, opened)
        self.assertEqual(node.remote.nodes(), {})
        self.assertEqual((node.announce.stats["replayed"],
                          node.announce.stats["stale"]), (1, 5))


class SpoofedAnnounceTests(SynchronousTestCase):
    """
    Finding 6: without a secret, one spoofed announce was linked and
    pushed every cluster-wide app's manifest and archive.
    """

    def setUp(self):
        self.clock = Clock()
        self.pushed = []
        self.streams = []

    def apps(self, node, secret):
        storage = MemoryStorage()
        storage.write("manifests", "echo", packValue({"slave": "w"}),
                      ["app"])
        storage.write("apps", "echo", packValue(b"archive"), ["app"])
        storage.write("runlists", CLUSTER_RUNLIST,
                      packValue({"echo": {}}), ["runlist"])
        service = MemoryNode()
        self.successResultOf(service.startApp("echo", {}))

        class Recorder:
            def __init__(peer, endpoint):
                peer.endpoint = endpoint

            async def deploy(peer, name, blobs, profile):
                self.pushed.append((peer.endpoint, name))

            async def pause(peer, name):
                pass

            def close(peer):
                pass
        apps = ClusterApps(service, storage, SimpleNamespace(
            reactor=self.clock, uuid=US, locator=SimpleNamespace(
                remote=node.remote, peering=node.peering)),
            remoteNode=Recorder, clock=self.clock, secret=secret)
        node.peering.watch(apps.changed)
        self.addCleanup(apps.stop)
        return apps

    def test_noSecretNothingPushed(self):
        """
        Without a secret the spoofed node is linked (nothing tells it from
        a real one) but is pushed nothing, and a cluster-wide start is
        refused.
        """
        node = _Node(self.clock, None, answering(SPOOF, self.streams))
        self.addCleanup(node.stop)
        apps = self.apps(node, None)
        node.receive(encodeAnnounce(SPOOF, THEIR_LOCATOR))
        self.assertTrue(node.peering.isLinked(SPOOF))
        self.clock.advance(INTERVAL)
        self.assertEqual(self.pushed, [])
        self.failureResultOf(Deferred.fromCoroutine(
            apps.start("echo", {})), SpawnFailed)
        self.assertEqual(self.pushed, [])

    def test_secretSpoofNotLinked(self):
        """
        With a secret the spoofed (unsigned, or signed with a guessed
        secret) announce is not linked, so nothing is pushed to it.
        """
        node = _Node(self.clock, "cluster-secret",
                     answering(SPOOF, self.streams))
        self.addCleanup(node.stop)
        self.apps(node, "cluster-secret")
        node.receive(encodeAnnounce(SPOOF, THEIR_LOCATOR))
        node.receive(encodeAnnounce(SPOOF, THEIR_LOCATOR, "guess",
                                    self.clock.seconds()))
        self.clock.advance(INTERVAL)
        self.assertEqual(node.peering.links(), {})
        self.assertEqual(self.pushed, [])
        self.assertEqual(node.announce.stats["unauthenticated"], 2)


class UuidFloodTests(SynchronousTestCase):
    """
    Finding 6: a flood of 10k uuids without a secret left +430 MB that was
    never freed.
    """

    #: Memory blocks the flood may leave allocated once expired (the
    #: remembered answered uuids, at most 1,024, and allocator noise);
    #: without the bounds every one of the 10,000 nodes stayed, dozens of
    #: blocks each.
    BOUND = 20000

    def test_floodExpires(self):
        clock = Clock()
        node = _Node(clock, None, lambda endpoints: fail(
            NotConnected("connection refused")))
        self.addCleanup(node.stop)
        gc.collect()
        before = sys.getallocatedblocks()
        most = 0
        for i in range(10000):
            node.receive(encodeAnnounce(
                "flood-{:05}".format(i), [("10.0.{}.{}".format(
                    i // 250, i % 250 + 1), 10053)]))
            most = max(most, len(node.peering.links()))
            if i % 100 == 0:
                clock.advance(0.05)
        self.assertLessEqual(most, node.peering.maxUnlinked)
        clock.advance(3 * INTERVAL + 1)
        gc.collect()
        after = sys.getallocatedblocks()
        self.assertEqual(node.peering.links(), {})
        self.assertEqual(sum(isinstance(o, PeerLink)
                             for o in gc.get_objects()), 0)
        self.assertLessEqual(len(node.announce._known), 1024)
        self.assertLess(after - before, self.BOUND)


def _stamped(clock, **fields):
    return json.dumps(dict(version=3, timestamp=clock.seconds(),
                           **fields)).encode()


class ManagementReplayTests(TestCase):
    """
    Finding 7: a captured signed management request could be replayed.
    """

    async def test_replayRefused(self):
        from tests.management._keys import sign, testKey
        clock = Clock()
        clock.advance(1800000000)
        storage = MemoryStorage()
        key, pem = testKey("alice")
        storage.write("keys", "alice", packValue(pem), ["key"])
        node = MemoryNode()
        plane = ManagementPlane(node, storage, US, requireSignature=True,
                                hostname="here", clock=clock)
        body = _stamped(clock, action="delete", apps=["echo"],
                        username="alice", nonce="once")
        captured = [body, sign(key, body)]
        await node.startApp("echo", {})
        self.assertEqual(await plane.handle(captured),
                         {"apps": {"echo": {"state": "deleted"}}})
        await node.startApp("echo", {})
        for wait in (1, 60):
            clock.advance(wait)
            reply = await plane.handle(captured)
            self.assertIn(reply["error"].split(":")[0],
                          ("replayed request", "stale request"))
        self.assertIn("echo", node.apps())


class ManagementSizeTests(TestCase):
    """
    Finding 7: a 400 MB ZeroMQ message was accepted; now anything above
    C{max-message} (1 MiB by default) is dropped unread. The test sends
    2 MiB.
    """

    def setUp(self):
        self.context = SimpleNamespace(
            node=MemoryNode(), uuid=US, reactor=None,
            storage=lambda name: MemoryStorage())

    async def test_bigMessageDropped(self):
        endpoint = ipcEndpoint(self)
        service = ManagementService(self.context, endpoint)
        service.startService()
        self.addCleanup(service.stopService)
        big = Peer(self, zmq.DEALER, endpoint)
        big.send(b"", b'{"version": 2, "action": "info", "x": "' +
                 b"x" * (2 * 1024 * 1024) + b'"}')
        for n in (1, 2):
            client = Peer(self, zmq.REQ, endpoint)
            reply = await client.request(b'{"version": 2, "action": "info"}')
            self.assertIn("uuid", json.loads(reply[0]))
            self.assertEqual(service.plane.requests, n)
