"""
Tests for L{cocaine.redis.slot}: a Redis pool's places kept up, on a
clock and an endpoint the test answers.
"""

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from cocaine import backoff
from cocaine.errors import BackendUnavailable
from cocaine.redis import client, slot
from cocaine.redis.client import Redis, RedisSubscriber
from cocaine.redis.connection import encodeCommand


class _Endpoint:
    """
    Connects when the test says so.
    """

    def __init__(self):
        self.attempts = []

    def connect(self, factory):
        d = Deferred()
        self.attempts.append((factory, d))
        return d

    def succeed(self):
        """
        Complete the last attempt.

        @return: the connection and its transport.
        """
        factory, d = self.attempts[-1]
        connection = factory.buildProtocol(None)
        transport = StringTransport()
        connection.makeConnection(transport)
        d.callback(connection)
        return connection, transport

    def up(self):
        """
        Complete the last attempt, and answer its handshake's C{PING}.
        """
        connection, transport = self.succeed()
        connection.dataReceived(b"+PONG\r\n")
        return connection, transport

    def fail(self):
        self.attempts[-1][1].errback(ConnectionRefusedError("refused"))


def _lose(connection):
    connection.connectionLost(Failure(ConnectionDone("closed")))


class SlotTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.endpoint = _Endpoint()
        self.patch(client, "_endpoint", lambda *args: self.endpoint)
        self.patch(backoff.random, "random", lambda: 0.0)
        self.events = []
        self.patch(client, "log", Logger(observer=self.events.append))

    def _pool(self, url="redis://127.0.0.1:6379/0", size=1):
        redis = Redis(url, self.clock, poolSize=size)
        redis.start()
        return redis

    def _states(self, redis):
        return [s.machine.stateName() for s in redis._slots]

    def _warned(self):
        return [e for e in self.events if e["log_level"].name == "warn"]

    def test_handshakeFirst(self):
        """
        A connection takes calls once Redis accepted the URL's user,
        password and database.
        """
        redis = self._pool("redis://app:pw@127.0.0.1:6379/3")
        connection, transport = self.endpoint.succeed()
        self.assertEqual(transport.value(),
                         encodeCommand("AUTH", ("app", "pw"))
                         + encodeCommand("SELECT", (3,))
                         + encodeCommand("PING", ()))
        self.assertFalse(redis.connected)
        self.assertEqual(self._states(redis), ["handshaking"])
        connection.dataReceived(b"+OK\r\n+OK\r\n+PONG\r\n")
        self.assertEqual(redis._up, [connection])
        self.assertEqual(self._states(redis), ["up"])

    def test_refusedThenRetried(self):
        """
        A refused password drops the connection and is logged once with
        Redis's answer; the slot tries again after a delay that grows
        with the refusals in a row.
        """
        redis = self._pool("redis://:wrong@127.0.0.1:6379/0")
        for attempt, delay in enumerate([0.2, 0.4, 0.8]):
            connection, transport = self.endpoint.succeed()
            connection.dataReceived(b"-WRONGPASS invalid password\r\n")
            self.assertTrue(transport.disconnecting)
            self.assertEqual(self._states(redis), ["closing"])
            _lose(connection)
            self.assertEqual(self._states(redis), ["waiting"])
            self.clock.advance(delay - 0.01)
            self.assertEqual(len(self.endpoint.attempts), attempt + 1)
            self.clock.advance(0.02)
            self.assertEqual(len(self.endpoint.attempts), attempt + 2)
        [warning] = self._warned()
        self.assertIn("WRONGPASS", warning["reason"])
        self.assertFalse(redis.connected)

    def test_backoff(self):
        """
        Failed attempts in a row wait from 0.2 s, doubling, up to 5 s; a
        connection lost after serving is tried again after 0.2 s.
        """
        redis = self._pool()
        delays = []
        for _ in range(7):
            self.endpoint.fail()
            [call] = self.clock.getDelayedCalls()
            delays.append(round(call.getTime() - self.clock.seconds(), 3))
            self.clock.advance(delays[-1] + 0.001)
        self.assertEqual(delays, [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])
        self.assertEqual(len(self._warned()), 1)
        connection, _ = self.endpoint.up()
        self.assertTrue(redis.connected)
        self.assertEqual([e["log_level"].name for e in self.events],
                         ["warn", "info"])
        _lose(connection)
        self.assertFalse(redis.connected)
        [call] = self.clock.getDelayedCalls()
        self.assertAlmostEqual(call.getTime() - self.clock.seconds(), 0.2)

    def test_retryGoesElsewhere(self):
        """
        A call that fails because its connection was lost, tried again
        at once from its errback, goes to another connection.
        """
        redis = self._pool(size=2)
        one, _ = self.endpoint.up()
        self.endpoint.attempts.pop()
        other, _ = self.endpoint.up()
        self.assertEqual(set(redis._up), {one, other})
        retried = []

        def again(failure):
            failure.trap(BackendUnavailable)
            retried.append(redis.call("GET", b"k"))
        redis.call("GET", b"k").addErrback(again)
        [victim] = [c for c in (one, other) if c.pending]
        [spare] = [c for c in (one, other) if c is not victim]
        _lose(victim)
        self.assertEqual(len(retried), 1)
        self.assertEqual(len(spare.pending), 1)
        self.assertEqual(redis._up, [spare])

    def test_stopWhileHandshaking(self):
        """
        Stopping while the handshake is in flight closes the connection;
        the pool stops once it is closed, and connects no more.
        """
        redis = self._pool("redis://:pw@127.0.0.1:6379/0")
        connection, transport = self.endpoint.succeed()
        stopped = redis.stop()
        self.assertTrue(transport.disconnecting)
        self.assertNoResult(stopped)
        _lose(connection)
        self.successResultOf(stopped)
        self.clock.advance(60)
        self.assertEqual(len(self.endpoint.attempts), 1)
        self.assertEqual(self._warned(), [])

    def test_stopWhileConnecting(self):
        """
        Stopping while connecting cancels the attempt; a connection that
        comes anyway is dropped, not added to a pool started again.
        """
        redis = self._pool()
        factory, attempt = self.endpoint.attempts[0]
        [old] = redis._slots
        self.successResultOf(redis.stop())
        self.assertTrue(attempt.called)
        self.assertEqual(old.machine.stateName(), "stopped")
        redis.start()
        late = factory.buildProtocol(None)
        transport = StringTransport()
        late.makeConnection(transport)
        slot = late.owner
        slot.machine.connected(late)
        self.assertTrue(transport.disconnecting)
        self.assertNotIn(late, redis._up)

    def test_silentServerIsNotUp(self):
        """
        A server that takes the connection and closes it before answering
        the handshake is a failed attempt: counted (the delays grow) and
        logged once, with why.
        """
        redis = self._pool()
        for delay in (0.2, 0.4):
            connection, _ = self.endpoint.succeed()
            self.assertFalse(redis.connected)
            _lose(connection)
            [call] = self.clock.getDelayedCalls()
            self.assertAlmostEqual(call.getTime() - self.clock.seconds(),
                                   delay)
            self.clock.advance(delay + 0.001)
        [warning] = self._warned()
        self.assertIn("closed", warning["reason"])
        self.assertNotIn("127.0.0.1:6379: ", warning["reason"])

    def test_stopWhileWaiting(self):
        """
        Stopping while waiting to try again stops at once.
        """
        redis = self._pool()
        self.endpoint.fail()
        self.successResultOf(redis.stop())
        self.assertEqual(self.clock.getDelayedCalls(), [])


class SubscriberTests(SynchronousTestCase):
    """
    L{RedisSubscriber} on one slot.
    """

    def setUp(self):
        self.clock = Clock()
        self.endpoint = _Endpoint()
        self.patch(client, "_endpoint", lambda *args: self.endpoint)
        self.patch(backoff.random, "random", lambda: 0.0)
        self.reconnects = []
        self.subscriber = RedisSubscriber(
            "redis://127.0.0.1:6379/0", self.clock, lambda *a: None,
            lambda: self.reconnects.append(True))
        self.subscriber.subscribe([b"news"])

    def test_resubscribed(self):
        """
        Each connection subscribes to the channels; a connection after a
        loss is a reconnection, one after a stop and a start is not.
        """
        self.subscriber.start()
        connection, transport = self.endpoint.up()
        self.assertTrue(transport.value().endswith(
            encodeCommand("SUBSCRIBE", (b"news",))))
        self.assertEqual(self.reconnects, [])
        _lose(connection)
        self.clock.advance(1)
        connection, transport = self.endpoint.up()
        self.assertTrue(transport.value().endswith(
            encodeCommand("SUBSCRIBE", (b"news",))))
        self.assertEqual(self.reconnects, [True])
        stopped = self.subscriber.stop()
        _lose(connection)
        self.successResultOf(stopped)
        self.subscriber.start()
        self.endpoint.up()
        self.assertEqual(self.reconnects, [True])
        self.assertTrue(self.subscriber.connected)
