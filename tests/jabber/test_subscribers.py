# -*- test-case-name: tests.jabber.test_subscribers -*-
"""
Tests for L{cocaine.jabber.subscribers}: fan-out, and the bounded buffer
of a subscriber whose client does not read.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.jabber.subscribers import DROPPED, Hub
from cocaine.testing import FakeUpstream


class SlowUpstream(FakeUpstream):
    """
    A L{FakeUpstream} whose client reads only when the test says so (as
    L{cocaine.rpc.upstream.Upstream.writable} and C{whenWritable}).
    """

    def __init__(self):
        FakeUpstream.__init__(self)
        self.writable = True
        self.waiters = []

    def whenWritable(self, callback):
        if self.writable:
            callback()
        else:
            self.waiters.append(callback)

    def reads(self):
        self.writable = True
        waiters, self.waiters = self.waiters, []
        for callback in waiters:
            callback()


class HubTests(SynchronousTestCase):

    def setUp(self):
        self.hub = Hub("chat", 3)

    def chunks(self, upstream):
        return [args[0] for name, *args in upstream.sent if name == "write"]

    def test_fanOut(self):
        """
        Each message goes to every subscriber as C{[from, body, type]}.
        """
        first, second = SlowUpstream(), SlowUpstream()
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
        upstream = SlowUpstream()
        subscriber = self.hub.add(upstream)
        subscriber.close()
        self.assertTrue(upstream.closed)
        self.assertEqual(self.hub.subscribers, [])
        self.hub.publish("a@b", "x", "chat")
        self.assertEqual(upstream.sent, [])

    def test_connectionLost(self):
        upstream = SlowUpstream()
        self.hub.add(upstream).connectionLost()
        self.assertEqual(self.hub.subscribers, [])

    def test_upstreamClosed(self):
        """
        An upstream that closes by itself (its connection went) detaches
        its subscriber.
        """
        upstream = SlowUpstream()
        self.hub.add(upstream)
        upstream.close()
        self.assertEqual(self.hub.subscribers, [])

    def test_slowSubscriber(self):
        """
        While the client does not read, messages wait in a buffer of
        C{limit}; past it the oldest are dropped, and once it reads it is
        told how many before the rest.
        """
        slow, fast = SlowUpstream(), SlowUpstream()
        subscriber = self.hub.add(slow)
        self.hub.add(fast)
        slow.writable = False
        for n in range(5):
            self.hub.publish("a@b", str(n), "chat")
        self.assertEqual(self.chunks(slow), [])
        self.assertEqual(len(self.chunks(fast)), 5)
        self.assertEqual(len(slow.waiters), 1)
        self.assertEqual(len(subscriber.buffer), 3)
        slow.reads()
        chunks = self.chunks(slow)
        self.assertEqual(chunks[0][0], "")
        self.assertEqual(chunks[0][2], DROPPED)
        self.assertTrue(chunks[0][1].startswith("2 messages dropped"))
        self.assertEqual([c[1] for c in chunks[1:]], ["2", "3", "4"])
        self.assertEqual(subscriber.droppedTotal, 2)
        # and on as usual, without a notice
        self.hub.publish("a@b", "5", "chat")
        self.assertEqual(self.chunks(slow)[-1], ["a@b", "5", "chat"])
        self.assertEqual(len(self.chunks(slow)), 5)

    def test_stopsAgain(self):
        """
        A client that stops reading in the middle of a flush leaves the
        rest waiting until it reads again.
        """
        upstream = SlowUpstream()
        self.hub.add(upstream)
        upstream.writable = False
        for n in range(3):
            self.hub.publish("a@b", str(n), "chat")
        write = upstream.write

        def writeOnce(*args):
            write(*args)
            upstream.writable = False
        upstream.write = writeOnce
        upstream.reads()
        self.assertEqual([c[1] for c in self.chunks(upstream)], ["0"])
        self.assertEqual(len(upstream.waiters), 1)
        upstream.reads()
        self.assertEqual([c[1] for c in self.chunks(upstream)], ["0", "1"])

    def test_detachedWhileWaiting(self):
        """
        A subscriber that goes while waiting for its client sends nothing
        when the client reads again.
        """
        upstream = SlowUpstream()
        subscriber = self.hub.add(upstream)
        upstream.writable = False
        self.hub.publish("a@b", "x", "chat")
        subscriber.connectionLost()
        self.assertEqual(len(subscriber.buffer), 0)
        upstream.reads()
        self.assertEqual(upstream.sent, [])

    def test_closeAll(self):
        upstreams = [SlowUpstream(), SlowUpstream()]
        for upstream in upstreams:
            self.hub.add(upstream)
        self.hub.closeAll()
        self.assertTrue(all(u.closed for u in upstreams))
        self.assertEqual(self.hub.subscribers, [])
