"""
Tests for L{cocaine.notifications.relay} and the service over it, with
stand-ins for Redis: what goes to Redis, what comes back, what a publish
answers and how it fails.
"""

import msgpack
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import BackendUnavailable, CallTimeout
from cocaine.notifications.relay import RedisRelay
from cocaine.notifications.service import NotificationsService
from tests.notifications._fakes import (
    ERROR, PUBLISH, SUBSCRIBE, WRITE, Client, FakeRedis, FakeSubscriber,
    hosted)


class RelayTests(SynchronousTestCase):

    def setUp(self):
        self.redis = FakeRedis()
        self.subscriber = FakeSubscriber()
        self.service = NotificationsService(
            maxPending=10, relay=lambda onMessage, onLost: RedisRelay(
                "redis://127.0.0.1:6390/0", None, onMessage, onLost,
                "app:", redis=self.redis, subscriber=self.subscriber))
        self.relay = self.service.relay
        self.hosted = hosted(self.service)
        self.service.startService()

    def client(self):
        return Client(self.hosted)

    def test_startStop(self):
        """
        The service starts and stops both connections.
        """
        self.assertTrue(self.redis.started)
        self.service.stopService()
        self.assertTrue(self.redis.stopped)

    def test_subscribeUnion(self):
        """
        Redis is subscribed to each channel some local subscriber wants,
        once, and unsubscribed when the last one leaves.
        """
        a, b = self.client(), self.client()
        a.send(1, SUBSCRIBE, [["news", "sport"]])
        b.send(1, SUBSCRIBE, [["news", "ünï"]])
        self.assertEqual(self.subscriber.channels, {
            b"app:news", b"app:sport", "app:ünï".encode()})
        a.lose()
        self.assertEqual(self.subscriber.channels, {
            b"app:news", "app:ünï".encode()})
        b.send(1, 0, [])
        self.assertEqual(self.subscriber.channels, set())
        self.assertEqual(self.subscriber.log, [
            ("subscribe", [b"app:news", b"app:sport"]),
            ("subscribe", ["app:ünï".encode()]),
            ("unsubscribe", [b"app:sport"]),
            ("unsubscribe", [b"app:news", "app:ünï".encode()])])

    def test_publishLocalAndRemote(self):
        """
        A publish reaches local subscribers at once and goes to Redis as
        msgpack C{[origin, value]}; it answers local subscribers plus the
        other nodes Redis reached (this node, counted by Redis, is not
        counted twice).
        """
        a, publisher = self.client(), self.client()
        a.send(1, SUBSCRIBE, [["news"]])
        a.send(3, SUBSCRIBE, [["news"]])
        publisher.send(1, PUBLISH, ["news", [1, "x"]])
        self.assertEqual(a.replies(), [[1, WRITE, ["news", [1, b"x"]]],
                                       [3, WRITE, ["news", [1, b"x"]]]])
        [(command, (key, payload), d)] = self.redis.calls
        self.assertEqual((command, key), ("PUBLISH", b"app:news"))
        self.assertEqual(msgpack.unpackb(payload),
                         [self.relay.origin, [1, b"x"]])
        self.assertEqual(publisher.replies(), [])
        d.callback(3)  # this node and two others
        self.assertEqual(publisher.replies(), [[1, 0, [4]]])

    def test_publishNotListening(self):
        """
        Without local subscribers Redis's count is all other nodes.
        """
        publisher = self.client()
        publisher.send(1, PUBLISH, ["news", 1])
        self.redis.calls[0][2].callback(2)
        self.assertEqual(publisher.replies(), [[1, 0, [2]]])

    def test_redisDown(self):
        """
        While Redis is not connected a publish fails at once naming the
        server, and nothing is delivered, here either.
        """
        a, publisher = self.client(), self.client()
        a.send(1, SUBSCRIBE, [["news"]])
        self.redis.connected = False
        publisher.send(1, PUBLISH, ["news", 1])
        [(channel, mtype, (category, text))] = publisher.replies()
        self.assertEqual((channel, mtype, category), (
            1, ERROR, [BackendUnavailable.category,
                       BackendUnavailable.code]))
        self.assertIn("redis://127.0.0.1:6390/0", text)
        self.assertIn("nothing was published", text)
        self.assertEqual(a.replies(), [])

    def test_publishFails(self):
        """
        When the PUBLISH itself fails, the error keeps its kind and says
        the message reached this node's subscribers only.
        """
        a, publisher = self.client(), self.client()
        a.send(1, SUBSCRIBE, [["news"]])
        publisher.send(1, PUBLISH, ["news", 1])
        self.redis.calls[0][2].errback(CallTimeout(
            "redis://127.0.0.1:6390/0: PUBLISH timed out"))
        [(channel, mtype, (category, text))] = publisher.replies()
        self.assertEqual(category, [CallTimeout.category, CallTimeout.code])
        self.assertIn("PUBLISH timed out", text)
        self.assertIn("1 subscriber on this node only", text)
        self.assertEqual(a.replies(), [[1, WRITE, ["news", 1]]])

    def test_fromOtherNodes(self):
        """
        Messages from other nodes reach local subscribers; this node's own,
        handed back by Redis, are skipped (delivered at publish); foreign
        payloads arrive as their bytes; other prefixes are ignored.
        """
        a = self.client()
        a.send(1, SUBSCRIBE, [["news"]])
        received = self.relay._received
        received(b"app:news", msgpack.packb([b"o" * 16, {"k": "v"}]))
        received(b"app:news", msgpack.packb([self.relay.origin, "mine"]))
        received(b"app:news", b"plain text")
        received(b"other:news", msgpack.packb([b"o" * 16, 1]))
        received(b"app:sport", msgpack.packb([b"o" * 16, 1]))
        self.assertEqual(a.replies(), [
            [1, WRITE, ["news", {b"k": b"v"}]],
            [1, WRITE, ["news", b"plain text"]]])

    def test_fromRedisBatchedPerTurn(self):
        """
        With the node's reactor, what messages from Redis write in one turn
        goes out in one send per connection, at the end of the turn.
        """
        clock = Clock()
        self.service._reactor = clock
        a = self.client()
        a.send(1, SUBSCRIBE, [["news"]])
        for i in range(3):
            self.relay._received(b"app:news", msgpack.packb([b"o" * 16, i]))
        self.assertEqual(a.replies(), [])
        clock.advance(0)
        self.assertEqual(a.replies(), [[1, WRITE, ["news", i]]
                                       for i in range(3)])

    def test_reconnectTellsSubscribers(self):
        """
        When the subscribed connection comes back, every subscriber is
        told messages may have been lost, naming the server.
        """
        a = self.client()
        a.send(1, SUBSCRIBE, [["news"]])
        a.send(3, SUBSCRIBE, [["sport"]])
        self.relay._reconnected()
        replies = a.replies()
        self.assertEqual([(c, m, v[0]) for c, m, v in replies],
                         [(1, WRITE, ""), (3, WRITE, "")])
        self.assertIn("redis://127.0.0.1:6390/0", replies[0][2][1]["lost"])
        self.flushLoggedErrors()
