"""
Tests for L{cocaine.redis.connection}: commands in RESP, replies matched
in order, one timer a connection, and the reads and writes batched.
"""

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.internet.error import ConnectionDone
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import BackendUnavailable, CallTimeout, SystemError_
from cocaine.redis import connection
from cocaine.redis.connection import (
    RedisConnection, RedisSubscriberConnection, encodeCommand)
from cocaine.rpc import writes
from tests.rpc.test_writes import FakeDescriptor

SERVER = "redis at 127.0.0.1:6379"


class EncodeTests(SynchronousTestCase):

    def test_arguments(self):
        """
        Every argument is a bulk string: bytes as they are, text as
        UTF-8, numbers in decimal.
        """
        self.assertEqual(
            encodeCommand("SET", (b"k\r\n", "\u00e9", 10, 1.5,
                                  bytearray(b"x"))),
            b"*6\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n\xc3\xa9\r\n"
            b"$2\r\n10\r\n$3\r\n1.5\r\n$1\r\nx\r\n")

    def test_intSubclass(self):
        """
        An C{int} subclass (an C{IntEnum}) goes as its number.
        """
        from enum import IntEnum

        class Level(IntEnum):
            HIGH = 3
        self.assertEqual(encodeCommand("SELECT", (Level.HIGH,)),
                         b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n")

    def test_otherTypeRefused(self):
        """
        Anything else (a bool, None) is refused, named.
        """
        for value in (True, None):
            e = self.assertRaises(TypeError, encodeCommand, "GET", (value,))
            self.assertIn(type(value).__name__, str(e))


class _Owner:
    """
    Records what a connection tells its owner, and the calls it still
    had in flight at that moment.
    """

    def __init__(self):
        self.told = []

    def connectionDropping(self, connection):
        self.told.append(("dropping", len(connection.pending)))

    def connectionLost(self, connection, reason):
        self.told.append(("lost", len(connection.pending)))
        self.reason = reason


class ConnectionTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.owner = _Owner()
        self.connection = RedisConnection(self.clock, SERVER, 5.0,
                                          self.owner)
        self.transport = StringTransport()
        self.connection.makeConnection(self.transport)

    def _lose(self):
        self.connection.connectionLost(Failure(ConnectionDone("gone")))

    def test_pipelined(self):
        """
        Commands are written as they are made; replies, however they are
        split, answer them in order: bytes, ints, lists, L{None}, and an
        error reply fails its call alone, naming the server and command.
        """
        calls = [self.connection.execute("GET", b"a"),
                 self.connection.execute("INCR", b"n"),
                 self.connection.execute("EVAL", b"x", 0),
                 self.connection.execute("MGET", b"a", b"b"),
                 self.connection.execute("GET", b"none")]
        self.assertEqual(self.transport.value().count(b"*"), 5)
        replies = (b"$2\r\nva\r\n:7\r\n-ERR bad script\r\n"
                   b"*2\r\n$1\r\n1\r\n$-1\r\n$-1\r\n")
        self.connection.dataReceived(replies[:10])
        self.assertEqual(self.successResultOf(calls[0]), b"va")
        self.assertNoResult(calls[1])
        self.connection.dataReceived(replies[10:])
        self.assertEqual(self.successResultOf(calls[1]), 7)
        e = self.failureResultOf(calls[2], SystemError_).value
        self.assertEqual(str(e), SERVER + ": EVAL: ERR bad script")
        self.assertEqual(self.successResultOf(calls[3]), [b"1", None])
        self.assertIsNone(self.successResultOf(calls[4]))
        self.assertEqual(self.connection.pending, type(
            self.connection.pending)())

    def test_oneTimer(self):
        """
        One timer bounds the replies of every call in flight.
        """
        for _ in range(100):
            self.connection.execute("GET", b"k")
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_lateReply(self):
        """
        A call unanswered at its deadline fails with L{CallTimeout}, and
        the connection is dropped: its owner is told before any call
        fails (a caller trying again goes elsewhere), it takes no more
        calls, and the calls behind fail with L{BackendUnavailable} when
        it is lost, after the owner is told of that too.
        """
        first = self.connection.execute("GET", b"a")
        self.clock.advance(1)
        second = self.connection.execute("GET", b"b")
        self.clock.advance(4)
        e = self.failureResultOf(first, CallTimeout).value
        self.assertEqual(str(e), SERVER + ": GET timed out")
        self.assertNoResult(second)
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.owner.told, [("dropping", 2)])
        written = self.transport.value()
        self.failureResultOf(self.connection.execute("GET", b"c"),
                             BackendUnavailable)
        self.assertEqual(self.transport.value(), written)
        self._lose()
        e = self.failureResultOf(second, BackendUnavailable).value
        self.assertIn("GET failed, the connection was lost", str(e))
        self.assertEqual(self.owner.told, [("dropping", 2), ("lost", 1)])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_timerFollows(self):
        """
        Answered calls move the timer on to the oldest one left: a call
        made later is bounded from when it was made.
        """
        first = self.connection.execute("GET", b"a")
        self.clock.advance(3)
        self.connection.dataReceived(b"$1\r\nx\r\n")
        self.successResultOf(first)
        second = self.connection.execute("GET", b"b")
        self.clock.advance(2)
        self.assertNoResult(second)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(3)
        self.failureResultOf(second, CallTimeout)

    def test_afterLost(self):
        """
        A call on a lost connection fails at once.
        """
        self._lose()
        self.failureResultOf(self.connection.execute("GET", b"k"),
                             BackendUnavailable)

    def test_unaskedReply(self):
        """
        A reply nobody asked for drops the connection, and nothing after
        it is read.
        """
        self.connection.dataReceived(b"+OK\r\n")
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.owner.told, [("dropping", 0)])
        d = Deferred()
        self.connection.pending.append([d, "GET", 10])
        self.connection.dataReceived(b"$1\r\nx\r\n")
        self.assertNoResult(d)

    def test_handshake(self):
        """
        The password (with the user when given) and the database go
        first, then a C{PING}; the handshake fires with the connection
        once Redis answered each.
        """
        d = self.connection.handshake(b"pw", "app", 3)
        self.assertEqual(self.transport.value(),
                         encodeCommand("AUTH", ("app", b"pw"))
                         + encodeCommand("SELECT", (3,))
                         + encodeCommand("PING", ()))
        self.connection.dataReceived(b"+OK\r\n+OK\r\n")
        self.assertNoResult(d)
        self.connection.dataReceived(b"+PONG\r\n")
        self.assertIs(self.successResultOf(d), self.connection)

    def test_handshakeRefused(self):
        """
        A refused password fails the handshake with Redis's answer.
        """
        d = self.connection.handshake("pw", None, 2)
        self.connection.dataReceived(b"-WRONGPASS invalid password\r\n"
                                     b"-NOAUTH Authentication required.\r\n"
                                     b"-NOAUTH Authentication required.\r\n")
        e = self.failureResultOf(d, SystemError_).value
        self.assertIn("AUTH: WRONGPASS", str(e))

    def test_pingOnly(self):
        """
        No password and database 0: the handshake is a C{PING}, so a
        server that answers nothing is not taken for Redis.
        """
        d = self.connection.handshake(None, None, 0)
        self.assertEqual(self.transport.value(), encodeCommand("PING", ()))
        self.assertNoResult(d)
        self.connection.dataReceived(b"+PONG\r\n")
        self.assertIs(self.successResultOf(d), self.connection)

    def test_unaskedWords(self):
        """
        An error nobody asked for (Redis at its client limit closing)
        drops the connection, and its owner hears Redis's words.
        """
        self.connection.dataReceived(
            b"-ERR max number of clients reached\r\n")
        self.assertTrue(self.transport.disconnecting)
        self._lose()
        self.assertIn("ERR max number of clients reached", self.owner.reason)

class BatchTests(SynchronousTestCase):
    """
    A connection's reads are batches of writes, and its commands are
    written through L{writes}.
    """

    def setUp(self):
        self.redis = FakeDescriptor()
        self.connection = RedisConnection(Clock(), SERVER, 5.0)
        self.connection.makeConnection(self.redis)

    def test_answersOfOneReadInOneSend(self):
        """
        What the replies of one read write to a client leaves in one
        send, after the read.
        """
        client = FakeDescriptor()
        during = []
        for _ in range(3):
            d = self.connection.execute("GET", b"k")
            d.addCallback(lambda value: (writes.write(client, value),
                                         during.append(list(client.sent))))
        self.connection.dataReceived(b"$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n")
        self.assertEqual(during, [[], [], []])
        self.assertEqual(client.sent, [b"abc"])

    def test_commandsOfABatchInOneSend(self):
        """
        Commands made while a batch is open leave together when it
        closes; one made outside a batch leaves at once.
        """
        writes.begin()
        self.connection.execute("GET", b"a")
        self.connection.execute("GET", b"b")
        self.assertEqual(self.redis.sent, [])
        writes.end()
        self.assertEqual(self.redis.sent, [encodeCommand("GET", (b"a",))
                                           + encodeCommand("GET", (b"b",))])
        self.connection.execute("GET", b"c")
        self.assertEqual(self.redis.sent[-1], encodeCommand("GET", (b"c",)))


class SubscriberTests(SynchronousTestCase):
    """
    L{RedisSubscriberConnection}: pushes answer no call.
    """

    def setUp(self):
        self.messages = []
        self.connection = RedisSubscriberConnection(Clock(), SERVER, 5.0)
        self.connection.onMessage = lambda channel, message: (
            self.messages.append((channel, message)))
        self.transport = StringTransport()
        self.connection.makeConnection(self.transport)

    def test_pushes(self):
        """
        The handshake's answers answer it; then the confirmations of a
        subscription are dropped and messages go to C{onMessage}, however
        the replies are split.
        """
        d = self.connection.handshake("pw", None, 0)
        self.connection.send("SUBSCRIBE", b"a", b"b")
        self.assertEqual(len(self.connection.pending), 2)
        self.assertTrue(self.transport.value().endswith(
            encodeCommand("SUBSCRIBE", (b"a", b"b"))))
        replies = (b"+OK\r\n+PONG\r\n"
                   b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
                   b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
                   b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n")
        self.connection.dataReceived(replies[:30])
        self.connection.dataReceived(replies[30:])
        self.assertIs(self.successResultOf(d), self.connection)
        self.assertEqual(self.messages, [(b"a", b"hi")])
        self.assertFalse(self.transport.disconnecting)

    def test_refusedSubscription(self):
        """
        An error answering no call (a subscription an ACL refuses) is
        logged; the connection stays.
        """
        events = []
        self.patch(connection, "log", Logger(observer=events.append))
        self.connection.dataReceived(b"-NOPERM no access to channel\r\n")
        [event] = events
        self.assertIn("NOPERM", event["error"])
        self.assertFalse(self.transport.disconnecting)

    def test_messageHandlerFails(self):
        """
        A message whose handler raises is logged; the connection stays and
        the next message is handled.
        """
        events = []
        self.patch(connection, "log", Logger(observer=events.append))
        self.connection.onMessage = lambda channel, message: (
            self.messages.append(message) if message != b"bad" else 1 / 0)
        push = b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$3\r\n%s\r\n"
        self.connection.dataReceived(push % b"bad" + push % b"yes")
        self.assertEqual(self.messages, [b"yes"])
        self.assertEqual(len(events), 1)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 0)
        self.assertFalse(self.transport.disconnecting)
