"""
Tests for L{cocaine.cluster.peering}: links over fake C{connect} streams,
with a L{Clock}.
"""

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine import backoff
from cocaine.cluster.peering import FIRST_BACKOFF, Peering
from cocaine.cluster.remote import RemoteTable
from cocaine.errors import NotConnected
from cocaine.rpc.client import ChannelClosed

US, A, B = "us", "node-a", "node-b"
EP_A, EP_B = [("127.0.0.1", 100)], [("127.0.0.1", 200)]


def entry(port):
    return [[["127.0.0.1", port]], 1, {}]


class FakeStream:
    """
    A remote locator's C{connect} stream driven by the test.
    """

    def __init__(self):
        self.pending = None
        self.chunks = []
        self.closed = False

    def read(self):
        self.pending = Deferred()
        if self.chunks:
            d, self.pending = self.pending, None
            d.callback(self.chunks.pop(0))
        return self.pending or d

    def send(self, uuid, services):
        d, self.pending = self.pending, None
        if d is None:
            self.chunks.append((uuid, services))
        else:
            d.callback((uuid, services))

    def end(self, reason=None):
        d, self.pending = self.pending, None
        d.errback(reason or ChannelClosed())

    def close(self):
        self.closed = True
        if self.pending is not None:
            self.end(NotConnected("connection lost"))


class PeeringTests(SynchronousTestCase):
    def setUp(self):
        # the reconnects' jitter at its least: their times are exact
        self.patch(backoff.random, "random", lambda: 0.0)
        self.clock = Clock()
        self.remote = RemoteTable()
        self.opens = []
        self.forgotten = []
        self.changes = []
        self.peering = Peering(self.clock, US, self.remote, 5.0,
                               self.openStream,
                               forgotten=self.forgotten.append)
        self.peering.watch(lambda: self.changes.append(1))
        self.peering.startService()

    def openStream(self, endpoints, ownUuid):
        d = Deferred()
        self.opens.append((endpoints, ownUuid, d))
        return d

    def link(self, uuid=A, endpoints=EP_A, services=None):
        """
        Hear C{uuid}, answer the connect with a stream and its snapshot.
        """
        self.peering.heard(uuid, endpoints)
        stream = FakeStream()
        self.opens[-1][2].callback(stream)
        stream.send(uuid, services if services is not None else {
            "app": entry(1)})
        return stream

    def test_heardConnects(self):
        """
        A heard node is connected to with C{connect(own uuid)}; its
        snapshot fills the remote table and C{cluster} lists it.
        """
        self.peering.heard(A, EP_A)
        self.assertEqual([(e, u) for e, u, _ in self.opens], [(EP_A, US)])
        self.assertFalse(self.peering.isLinked(A))
        stream = FakeStream()
        self.opens[0][2].callback(stream)
        self.assertEqual(self.remote.nodes(), {})
        stream.send(A, {"app": entry(1), "gone": [[], 0, {}]})
        self.assertTrue(self.peering.isLinked(A))
        self.assertEqual(self.remote.nodes(), {A: ["127.0.0.1", 100]})
        self.assertEqual(list(self.remote.services(A)), ["app"])
        self.assertEqual(len(self.changes), 1)

    def test_rawUuid(self):
        """
        A node whose stream carries its uuid as raw bytes is linked too.
        """
        self.peering.heard(A, EP_A)
        stream = FakeStream()
        self.opens[0][2].callback(stream)
        stream.send(A.encode(), {b"app": entry(1)})
        self.assertEqual(list(self.remote.services(A)), ["app"])

    def test_ownUuidIgnored(self):
        self.peering.heard(US, EP_A)
        self.assertEqual(self.opens, [])

    def test_heardAgainDoesNotReconnect(self):
        self.link()
        self.peering.heard(A, EP_A)
        self.assertEqual(len(self.opens), 1)

    def test_updates(self):
        """
        Chunks after the snapshot update one name each; an empty endpoint
        list removes it.
        """
        stream = self.link()
        stream.send(A, {"other": entry(2)})
        self.assertEqual(sorted(self.remote.services(A)), ["app", "other"])
        stream.send(A, {"app": [[], 0, {}]})
        self.assertEqual(sorted(self.remote.services(A)), ["other"])
        self.assertEqual(len(self.changes), 3)

    def test_silenceDrops(self):
        """
        3 x interval without an announce drops the node and its services,
        closes the stream and tells discovery to forget it.
        """
        stream = self.link()
        self.clock.pump([5.0] * 2)
        self.peering.heard(A, EP_A)          # at 10 s: heard again
        self.clock.pump([5.0] * 2)           # 20 s: 10 s of silence
        self.assertTrue(self.peering.isLinked(A))
        self.clock.pump([5.0])               # 25 s: 15 s of silence
        self.assertFalse(self.peering.isLinked(A))
        self.assertEqual(self.remote.nodes(), {})
        self.assertEqual(self.remote.providers("app"), {})
        self.assertTrue(stream.closed)
        self.assertEqual(self.forgotten, [A])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_left(self):
        """
        A node discovery says has gone is dropped at once with its
        services, its stream closed and nothing left scheduled; one never
        heard is ignored; heard again, it is linked anew.
        """
        stream = self.link()
        self.peering.left(B, "never heard")
        self.peering.left(A, "its registration ended")
        self.assertEqual(self.remote.nodes(), {})
        self.assertEqual(self.remote.providers("app"), {})
        self.assertTrue(stream.closed)
        self.assertEqual(self.peering.links(), {})
        self.assertEqual(self.forgotten, [A])
        self.assertEqual(len(self.changes), 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.link()
        self.assertTrue(self.peering.isLinked(A))

    def test_streamCloseDropsAndReconnects(self):
        """
        The stream closing drops the node's services at once; the link
        reconnects with doubling backoff, capped at the interval, and a
        new snapshot links it again.
        """
        stream = self.link()
        stream.end()
        self.assertEqual(self.remote.nodes(), {})
        self.assertEqual(self.remote.providers("app"), {})
        self.assertTrue(stream.closed)
        self.assertEqual(len(self.opens), 1)
        self.clock.advance(FIRST_BACKOFF)
        self.assertEqual(len(self.opens), 2)
        self.opens[-1][2].errback(ConnectionRefusedErrorForTest())
        self.clock.advance(FIRST_BACKOFF * 2 - 0.001)
        self.assertEqual(len(self.opens), 2)
        self.clock.advance(0.001)
        self.assertEqual(len(self.opens), 3)
        stream = FakeStream()
        self.opens[-1][2].callback(stream)
        stream.send(A, {"app": entry(3)})
        self.assertEqual(self.remote.providers("app"),
                         {A: ([["127.0.0.1", 3]], 1, {})})
        # success resets the backoff
        stream.end(NotConnected("lost"))
        self.clock.advance(FIRST_BACKOFF)
        self.assertEqual(len(self.opens), 4)

    def test_backoffCapped(self):
        self.peering.heard(A, EP_A)
        delays = []
        for _ in range(10):
            self.opens[-1][2].errback(ConnectionRefusedErrorForTest())
            # the retry is due before the silence
            delays.append(min(call.getTime() for call in
                              self.clock.getDelayedCalls())
                          - self.clock.seconds())
            self.clock.advance(delays[-1])
            self.peering.heard(A, EP_A)
        self.assertEqual([round(d, 6) for d in delays[:4]],
                         [0.1, 0.2, 0.4, 0.8])
        self.assertEqual(max(delays), 5.0)

    def test_wrongUuid(self):
        """
        A locator answering as another node is not linked.
        """
        self.peering.heard(A, EP_A)
        stream = FakeStream()
        self.opens[0][2].callback(stream)
        stream.send(B, {"app": entry(1)})
        self.assertEqual(self.remote.nodes(), {})
        self.assertTrue(stream.closed)

    def test_malformedChunk(self):
        """
        A malformed chunk ends the link (and drops the node) rather than
        the peering.
        """
        stream = self.link()
        stream.send(A, {"app": "nonsense"})
        self.assertEqual(self.remote.nodes(), {})
        self.assertTrue(stream.closed)

    def test_endpointsChange(self):
        """
        A node heard at new endpoints is reconnected there next time.
        """
        stream = self.link()
        self.peering.heard(A, EP_B)
        stream.end()
        self.clock.advance(FIRST_BACKOFF)
        self.assertEqual(self.opens[-1][0], EP_B)

    def test_silentWhileConnecting(self):
        """
        A node that never answers is forgotten after the silence and the
        late stream is closed.
        """
        self.peering.heard(A, EP_A)
        self.clock.advance(15.0)
        self.assertEqual(self.forgotten, [A])
        stream = FakeStream()
        self.opens[0][2].callback(stream)
        self.assertTrue(stream.closed)
        self.assertEqual(self.remote.nodes(), {})

    def test_linkStates(self):
        """
        C{links} names each link's state; only a linked one counts for
        C{isLinked}.
        """
        self.peering.heard(A, EP_A)
        self.assertEqual(self.peering.links(), {A: "connecting"})
        self.assertFalse(self.peering.isLinked(A))
        stream = FakeStream()
        self.opens[-1][2].callback(stream)
        self.assertEqual(self.peering.links(), {A: "subscribed"})
        self.assertFalse(self.peering.isLinked(A))
        stream.send(A, {})
        self.assertEqual(self.peering.links(), {A: "linked"})
        self.assertTrue(self.peering.isLinked(A))
        stream.end()
        self.assertEqual(self.peering.links(), {A: "waiting"})
        self.assertFalse(self.peering.isLinked(A))
        self.assertFalse(self.peering.isLinked(B))
        self.clock.advance(15.0)
        self.assertEqual(self.peering.links(), {})

    def test_stop(self):
        """
        Stopping closes every link and forgets every node; nothing is heard
        afterwards.
        """
        a = self.link()
        b = self.link(B, EP_B)
        self.peering.stopService()
        self.assertTrue(a.closed and b.closed)
        self.assertEqual(self.remote.nodes(), {})
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.peering.heard(A, EP_A)
        self.assertEqual(len(self.opens), 2)


class ConnectionRefusedErrorForTest(Exception):
    pass


class UnlinkedBoundTests(SynchronousTestCase):
    """
    Nodes heard but not linked are bounded and expire (issue 14, finding
    6: a flood of spoofed uuids).
    """

    def setUp(self):
        # the reconnects' jitter at its least: their times are exact
        self.patch(backoff.random, "random", lambda: 0.0)
        self.clock = Clock()
        self.opens = []
        self.forgotten = []
        self.peering = Peering(self.clock, US, RemoteTable(), 5.0,
                               self.openStream,
                               forgotten=self.forgotten.append,
                               maxUnlinked=3)
        self.peering.startService()
        self.addCleanup(self.peering.stopService)

    def openStream(self, endpoints, ownUuid):
        d = Deferred()
        self.opens.append(d)
        return d

    def test_oldestNotConnectingEvicted(self):
        """
        A fourth unlinked node takes the place of the oldest one whose
        attempt failed; while every one is connecting, new ones are
        ignored (attempts in flight stay bounded); a linked node does not
        count.
        """
        self.peering.heard(A, EP_A)
        stream = FakeStream()
        self.opens[0].callback(stream)
        stream.send(A, {})
        for uuid in ("x1", "x2", "x3"):
            self.peering.heard(uuid, EP_B)
        self.assertEqual(len(self.opens), 4)
        self.peering.heard("x4", EP_B)
        self.assertEqual(self.peering.stats, {"evicted": 0, "refused": 1})
        self.assertNotIn("x4", self.peering.links())
        self.opens[2].errback(NotConnected("refused"))
        self.peering.heard("x4", EP_B)
        self.assertEqual(self.peering.links(), {
            A: "linked", "x1": "connecting", "x3": "connecting",
            "x4": "connecting"})
        self.assertEqual(self.forgotten, ["x2"])
        self.assertEqual(self.peering.stats, {"evicted": 1, "refused": 1})

    def test_floodLeavesNothing(self):
        """
        10,000 uuids whose locators refuse: at most C{maxUnlinked} are
        tracked at any time, and once the flood stops every one is
        forgotten after the silence period.
        """
        for i in range(10000):
            self.peering.heard("flood-{}".format(i), EP_B)
            self.opens.pop().errback(NotConnected("refused"))
            self.assertLessEqual(len(self.peering.links()), 3)
        self.clock.advance(self.peering.silence + 1)
        self.assertEqual(self.peering.links(), {})
        self.assertEqual(self.peering.stats["evicted"], 9997)
        self.assertEqual(self.clock.getDelayedCalls(), [])
