# -*- test-case-name: tests.jabber.test_subscribers -*-
"""
Tests for L{cocaine.jabber.subscribers}: fan-out, and the bounded buffer
of a subscriber whose client does not read.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.jabber.subscribers import CONGESTED, DROPPED, RECHECK, Hub
from cocaine.testing import FakeUpstream


class HubTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.waiting = {}
        self.hub = Hub(self.clock, "chat", 3,
                       pending=lambda upstream: self.waiting.get(upstream, 0))

    def chunks(self, upstream):
        return [args[0] for name, *args in upstream.sent if name == "write"]

    def test_fanOut(self):
        """
        Each message goes to every subscriber as C{[from, body, type]}.
        """
        first, second = FakeUpstream(), FakeUpstream()
        self.hub.add(first)
        self.hub.add(second)
        self.hub.publish("bob@example.org/x", "hi", "chat")
        for upstream in (first, second):
            self.assertEqual(self.chunks(upstream),
                             [["bob@example.org/x", "hi", "chat"]])

    def test_close(self):
        """
        A subscriber whose client closes the channel gets nothing more.
        """
        upstream = FakeUpstream()
        subscriber = self.hub.add(upstream)
        subscriber.close()
        self.assertTrue(upstream.closed)
        self.assertEqual(self.hub.subscribers, [])
        self.hub.publish("a@b", "x", "chat")
        self.assertEqual(upstream.sent, [])

    def test_connectionLost(self):
        upstream = FakeUpstream()
        self.hub.add(upstream).connectionLost()
        self.assertEqual(self.hub.subscribers, [])

    def test_upstreamClosed(self):
        """
        An upstream that closes by itself (its connection went) detaches
        its subscriber.
        """
        upstream = FakeUpstream()
        self.hub.add(upstream)
        upstream.close()
        self.assertEqual(self.hub.subscribers, [])

    def test_slowSubscriber(self):
        """
        While the client's connection holds more than L{CONGESTED} bytes,
        messages wait in a buffer of C{limit}; past it the oldest are
        dropped, and the client is told how many before the rest.
        """
        slow, fast = FakeUpstream(), FakeUpstream()
        self.hub.add(slow)
        self.hub.add(fast)
        self.waiting[slow] = CONGESTED + 1
        for n in range(5):
            self.hub.publish("a@b", str(n), "chat")
        self.assertEqual(self.chunks(slow), [])
        self.assertEqual(len(self.chunks(fast)), 5)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(RECHECK)
        self.assertEqual(self.chunks(slow), [])
        self.waiting[slow] = 0
        self.clock.advance(RECHECK)
        chunks = self.chunks(slow)
        self.assertEqual(chunks[0][0], "")
        self.assertEqual(chunks[0][2], DROPPED)
        self.assertTrue(chunks[0][1].startswith("2 messages dropped"))
        self.assertEqual([c[1] for c in chunks[1:]], ["2", "3", "4"])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        # and on as usual, without a notice
        self.hub.publish("a@b", "5", "chat")
        self.assertEqual(self.chunks(slow)[-1], ["a@b", "5", "chat"])
        self.assertEqual(len(self.chunks(slow)), 5)

    def test_detachCancelsRecheck(self):
        upstream = FakeUpstream()
        subscriber = self.hub.add(upstream)
        self.waiting[upstream] = CONGESTED + 1
        self.hub.publish("a@b", "x", "chat")
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        subscriber.close()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(subscriber.buffer), 0)

    def test_closeAll(self):
        upstreams = [FakeUpstream(), FakeUpstream()]
        for upstream in upstreams:
            self.hub.add(upstream)
        self.hub.closeAll()
        self.assertTrue(all(u.closed for u in upstreams))
        self.assertEqual(self.hub.subscribers, [])

    def test_pendingBytes(self):
        """
        The default C{pending} reads the upstream's connection's
        transport; without one it is 0.
        """
        from twisted.internet.testing import StringTransport

        from cocaine.jabber.subscribers import pendingBytes
        self.assertEqual(pendingBytes(FakeUpstream()), 0)

        class Connection:
            transport = StringTransport()

        class Upstream:
            _connection = Connection()
        self.assertEqual(pendingBytes(Upstream()), 0)
