"""
Tests for L{cocaine.notifications.service} through a real
L{cocaine.rpc.server.ServerProtocol}: publish and subscribe node-local,
names checked, and subscribers that do not read.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import INVALID_ARGUMENT, CATEGORY_DISPATCH
from cocaine.notifications.service import (
    MAX_CHANNELS, MAX_NAME, NotificationsService)
from cocaine.protocol.notifications import NOTIFICATIONS
from cocaine.rpc.server import ServerProtocol
from tests.notifications._fakes import (
    CLOSE, ERROR, PUBLISH, SUBSCRIBE, WRITE, Client, hosted)

BAD = [CATEGORY_DISPATCH, INVALID_ARGUMENT]


class ProtocolTests(SynchronousTestCase):

    def test_graph(self):
        """
        publish is 0 (primitive), subscribe is 1: streaming upstream, and
        the client may send close.
        """
        self.assertEqual(NOTIFICATIONS.graph(), {
            0: ["publish", {}, {0: ["value", {}], 1: ["error", {}]}],
            1: ["subscribe", {0: ["close", {}]},
                {0: ["write", None], 1: ["error", {}], 2: ["close", {}]}],
        })


class LocalTests(SynchronousTestCase):

    def setUp(self):
        self.service = NotificationsService(maxPending=3)
        self.hosted = hosted(self.service)

    def client(self):
        return Client(self.hosted)

    def test_publishNobody(self):
        """
        With no subscriber a publish reaches nobody: C{[0]}.
        """
        c = self.client()
        c.send(1, PUBLISH, ["news", "hello"])
        self.assertEqual(c.replies(), [[1, 0, [0]]])

    def test_subscribeAndPublish(self):
        """
        Subscribers get C{[channel, value]} for their channels only; the
        publisher hears how many were reached. Any msgpack value goes
        through, its strings as binary (the node decodes every string as
        bytes: 0.12 clients pack binary data as str).
        """
        a, b, publisher = self.client(), self.client(), self.client()
        a.send(1, SUBSCRIBE, [["news", "sport"]])
        b.send(1, SUBSCRIBE, [["news"]])
        value = {"n": [1, 2.5, None, True], "blob": b"\xff\x00"}
        publisher.send(1, PUBLISH, ["news", value])
        publisher.send(2, PUBLISH, ["sport", 7])
        publisher.send(3, PUBLISH, ["weather", 7])
        self.assertEqual(publisher.replies(), [
            [1, 0, [2]], [2, 0, [1]], [3, 0, [0]]])
        value = {b"n": [1, 2.5, None, True], b"blob": b"\xff\x00"}
        self.assertEqual(a.replies(), [[1, WRITE, ["news", value]],
                                       [1, WRITE, ["sport", 7]]])
        self.assertEqual(b.replies(), [[1, WRITE, ["news", value]]])

    def test_closeEndsSubscription(self):
        """
        The client's C{close} ends the subscription: the service answers
        C{close} and delivers no more.
        """
        a = self.client()
        a.send(5, SUBSCRIBE, [["news"]])
        a.send(5, 0, [])
        self.assertEqual(a.replies(), [[5, CLOSE, []]])
        self.assertEqual(self.service.hub.channels(), set())
        a.send(6, PUBLISH, ["news", 1])
        self.assertEqual(a.replies(), [[6, 0, [0]]])

    def test_abandonedSubscriptionEnds(self):
        """
        A client SDK channel abandoned while subscribed ends its
        subscription at the service (its C{close}); the connection serves
        on.
        """
        from twisted.test.iosim import connectedServerAndClient
        from cocaine.rpc.client import ClientProtocol
        client, _, pump = connectedServerAndClient(
            lambda: ServerProtocol(self.hosted),
            lambda: ClientProtocol("notifications", NOTIFICATIONS))
        channel = client.openNamed("subscribe", [["news"]])
        pump.flush()
        self.assertEqual(self.service.hub.count("news"), 1)
        channel.abandon()
        pump.flush()
        self.assertEqual(self.service.hub.channels(), set())
        published = client.call(PUBLISH, ["news", 1])
        pump.flush()
        self.assertEqual(self.successResultOf(published), 0)

    def test_connectionLostEndsSubscription(self):
        """
        A subscriber whose connection drops is forgotten.
        """
        a = self.client()
        a.send(1, SUBSCRIBE, [["news", "sport"]])
        a.send(3, SUBSCRIBE, [["news"]])
        self.assertEqual(self.service.hub.count("news"), 2)
        a.lose()
        self.assertEqual(self.service.hub.channels(), set())

    def test_twoSubscriptionsOneConnection(self):
        """
        Each subscription of a connection gets its own stream.
        """
        a = self.client()
        a.send(1, SUBSCRIBE, [["news"]])
        a.send(3, SUBSCRIBE, [["news", "news"]])
        a.send(4, PUBLISH, ["news", "x"])
        self.assertEqual(a.replies(), [[1, WRITE, ["news", b"x"]],
                                       [3, WRITE, ["news", b"x"]],
                                       [4, 0, [2]]])

    def assertBad(self, client, message, *fragments):
        client.send(*message)
        [(channel, mtype, (category, text))] = client.replies()
        self.assertEqual((channel, mtype, category), (message[0], ERROR,
                                                      BAD))
        for fragment in fragments:
            self.assertIn(fragment, text)

    def test_badNames(self):
        """
        Empty names, too long names, no names or too many are errors that
        say which; nothing is subscribed.
        """
        c = self.client()
        long = "x" * (MAX_NAME + 1)
        self.assertBad(c, [1, PUBLISH, ["", 1]], "notifications.publish",
                       "empty")
        self.assertBad(c, [2, PUBLISH, [long, 1]], "notifications.publish",
                       str(MAX_NAME + 1), "'xxxx")
        self.assertBad(c, [3, SUBSCRIBE, [[]]], "notifications.subscribe",
                       "at least one")
        self.assertBad(c, [4, SUBSCRIBE, [["ok", ""]]], "empty")
        self.assertBad(c, [5, SUBSCRIBE, [["ok", long]]],
                       str(MAX_NAME + 1))
        self.assertBad(c, [6, SUBSCRIBE, [[str(i) for i in range(
            MAX_CHANNELS + 1)]]], str(MAX_CHANNELS))
        self.assertBad(c, [7, SUBSCRIBE, ["news"]], "channels",
                       "array of strings")
        self.assertBad(c, [8, PUBLISH, [3, 1]], "channel", "string")
        self.assertEqual(self.service.hub.channels(), set())
        c.send(9, PUBLISH, ["x" * MAX_NAME, 1])
        self.assertEqual(c.replies(), [[9, 0, [0]]])

    def test_stopClosesStreams(self):
        """
        When the service stops every subscriber's stream is closed.
        """
        a = self.client()
        a.send(1, SUBSCRIBE, [["news"]])
        self.service.startService()
        self.service.stopService()
        self.assertEqual(a.replies(), [[1, CLOSE, []]])
        self.assertEqual(self.service.hub.channels(), set())


class SlowSubscriberTests(SynchronousTestCase):
    """
    A subscriber whose connection does not take writes gets at most
    C{max-pending} messages queued; it is told how many it missed.
    """

    def setUp(self):
        self.service = NotificationsService(maxPending=3)
        self.hosted = hosted(self.service)
        self.slow = Client(self.hosted)
        self.fast = Client(self.hosted)
        self.publisher = Client(self.hosted)
        self.slow.send(1, SUBSCRIBE, [["news"]])
        self.fast.send(1, SUBSCRIBE, [["news"]])
        self.channel = 0

    def publish(self, *values):
        for value in values:
            self.channel += 1
            self.publisher.send(self.channel, PUBLISH, ["news", value])

    def test_queuedWhileNotReading(self):
        """
        Nothing is written while the transport does not take writes; once
        it does, the queue is written in order.
        """
        self.slow.stopReading()
        self.publish(1, 2)
        self.assertEqual(self.slow.replies(), [])
        self.assertEqual(len(self.fast.replies()), 2)
        self.slow.readAgain()
        self.assertEqual(self.slow.replies(), [[1, WRITE, ["news", 1]],
                                               [1, WRITE, ["news", 2]]])
        self.publish(3)
        self.assertEqual(self.slow.replies(), [[1, WRITE, ["news", 3]]])

    def test_droppedCounted(self):
        """
        Past C{max-pending} the oldest are dropped; the client first hears
        C{["", {"dropped": N}]}, then the newest C{max-pending}.
        """
        self.slow.stopReading()
        self.publish(*range(10))
        [subscription] = [s for s in self.service.hub.subscriptions()
                          if s.pending]
        self.assertEqual((subscription.pending, subscription.dropped),
                         (3, 7))
        self.slow.readAgain()
        self.assertEqual(self.slow.replies(), [
            [1, WRITE, ["", {"dropped": 7}]], [1, WRITE, ["news", 7]],
            [1, WRITE, ["news", 8]], [1, WRITE, ["news", 9]]])
        self.assertEqual(len(self.fast.replies()), 10)

    def test_pausedAgainWhileDraining(self):
        """
        When the transport fills up again while the queue drains, the rest
        waits for the next resume, still in order.
        """
        self.slow.stopReading()
        self.publish(1, 2, 3)
        transport = self.slow.transport
        write = transport.write

        def writeThenFill(data):
            write(data)
            self.slow.stopReading()
        transport.write = writeThenFill
        self.slow.readAgain()
        self.assertEqual(self.slow.replies(), [[1, WRITE, ["news", 1]]])
        self.publish(4)
        transport.write = write
        self.slow.readAgain()
        self.assertEqual(self.slow.replies(), [
            [1, WRITE, ["news", 2]], [1, WRITE, ["news", 3]],
            [1, WRITE, ["news", 4]]])

    def test_closeWhileQueued(self):
        """
        A subscriber that closes while messages wait for it loses them and
        is forgotten; its connection still serves.
        """
        self.slow.stopReading()
        self.publish(1, 2)
        self.slow.send(1, 0, [])
        self.slow.readAgain()
        self.assertEqual(self.slow.replies(), [[1, CLOSE, []]])
        self.assertEqual(self.service.hub.count("news"), 1)
