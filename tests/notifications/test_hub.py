"""
Tests for L{cocaine.notifications.hub} with a stand-in upstream.
"""

import msgpack
from twisted.trial.unittest import SynchronousTestCase

from cocaine.notifications.hub import Hub


class RecordingUpstream:
    """
    Records what L{cocaine.rpc.upstream.Upstream.writePacked} is given.
    """

    def __init__(self):
        self.packed = []
        self.writable = True
        self.closed = False
        self.waiting = []

    def writePacked(self, packed):
        self.packed.append(packed)

    def whenWritable(self, callback):
        self.waiting.append(callback)

    def close(self):
        self.closed = True


class HubTests(SynchronousTestCase):

    def test_packedOnce(self):
        """
        A message fanned out to many subscriptions is packed once: each is
        handed the same bytes object.
        """
        hub = Hub()
        upstreams = [RecordingUpstream() for _ in range(100)]
        for upstream in upstreams:
            hub.subscribe(upstream, ["news"])
        self.assertEqual(hub.deliver("news", {"k": [1, 2]}), 100)
        first = upstreams[0].packed[0]
        self.assertEqual(msgpack.unpackb(first), ["news", {"k": [1, 2]}])
        for upstream in upstreams:
            self.assertEqual(len(upstream.packed), 1)
            self.assertIs(upstream.packed[0], first)

    def test_firstAndLast(self):
        """
        C{onFirst} hears of channels that got their first subscription,
        C{onLast} of those that lost their last.
        """
        events = []
        hub = Hub(onFirst=lambda names: events.append(("first", names)),
                  onLast=lambda names: events.append(("last", names)))
        a = hub.subscribe(RecordingUpstream(), ["x", "y"])
        b = hub.subscribe(RecordingUpstream(), ["y", "z"])
        a.connectionLost()
        a.connectionLost()
        b.close()
        self.assertEqual(events, [("first", ["x", "y"]), ("first", ["z"]),
                                  ("last", ["x"]), ("last", ["y", "z"])])
        self.assertEqual(hub.channels(), set())

    def test_queueSharesMessages(self):
        """
        Subscriptions that do not read hold references to the one packed
        copy of each message, at most C{maxPending} of them.
        """
        hub = Hub(maxPending=5)
        slow = [RecordingUpstream() for _ in range(3)]
        subscriptions = []
        for upstream in slow:
            upstream.writable = False
            subscriptions.append(hub.subscribe(upstream, ["news"]))
        for i in range(20):
            hub.deliver("news", i)
        queues = [list(s._pending) for s in subscriptions]
        self.assertEqual([len(q) for q in queues], [5, 5, 5])
        for queue in queues[1:]:
            for mine, theirs in zip(queue, queues[0]):
                self.assertIs(mine, theirs)
        self.assertEqual([s.dropped for s in subscriptions], [15, 15, 15])
        # one wait registered per subscription, not one per message
        self.assertEqual([len(u.waiting) for u in slow], [1, 1, 1])
