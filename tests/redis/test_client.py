"""
Tests for L{cocaine.redis.client}'s protocol: a read of Redis's replies
is one batch of writes.
"""

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import CallTimeout
from cocaine.redis.client import Redis, _batched
from cocaine.rpc import writes
from tests.rpc.test_writes import FakeDescriptor


class BatchedTests(SynchronousTestCase):
    """
    L{_batched} makes each read of a Redis connection a batch.
    """

    def test_answersOfOneReadInOneSend(self):
        """
        What the replies of one read write to a client (one answer each)
        leaves in one send, after the read.
        """
        client = FakeDescriptor()

        class Replies:
            def dataReceived(self, data, unpause=False):
                for reply in data.split(b","):
                    writes.write(client, reply)
                    self.sentDuringRead = list(client.sent)

        protocol = _batched(Replies)()
        protocol.dataReceived(b"a,b,c")
        self.assertEqual(protocol.sentDuringRead, [])
        self.assertEqual(client.sent, [b"abc"])

    def test_subclass(self):
        """
        The batched class is txredisapi's protocol (or whichever it is
        given), so the factory and pool treat it as theirs.
        """
        import txredisapi
        batched = _batched(txredisapi.RedisProtocol)
        self.assertTrue(issubclass(batched, txredisapi.RedisProtocol))


class DirectWritesTests(SynchronousTestCase):
    """
    L{_batched}'s connections write their commands through
    L{cocaine.rpc.writes}.
    """

    def test_commandsOfABatchInOneSend(self):
        """
        Commands written while a batch is open leave together when it
        closes; one written outside a batch leaves at once. The rest of
        the transport is the transport's.
        """
        redis = FakeDescriptor()
        redis.getPeer = lambda: "peer"

        class Commands:
            def makeConnection(self, transport):
                self.transport = transport

            def dataReceived(self, data):
                pass

        protocol = _batched(Commands)()
        protocol.makeConnection(redis)
        writes.begin()
        protocol.transport.write(b"GET a\r\n")
        protocol.transport.writeSequence([b"GET ", b"b\r\n"])
        self.assertEqual(redis.sent, [])
        writes.end()
        self.assertEqual(redis.sent, [b"GET a\r\nGET b\r\n"])
        protocol.transport.write(b"GET c\r\n")
        self.assertEqual(redis.sent[-1], b"GET c\r\n")
        self.assertEqual(protocol.transport.getPeer(), "peer")


class _Handler:
    def __init__(self):
        self.commands = []

    def execute_command(self, *args):
        d = Deferred()
        self.commands.append((args, d))
        return d


class _Factory:
    size = 1

    def __init__(self):
        self.handler = _Handler()


class TimerTests(SynchronousTestCase):
    """
    L{Redis.call} leaves the pool's timeout to txredisapi's reply timer
    and times out only a call given a timeout of its own.
    """

    def setUp(self):
        self.clock = Clock()
        self.redis = Redis("redis://127.0.0.1:6379/0", self.clock)
        self.redis._factory = _Factory()

    def test_noTimerOfOurs(self):
        """
        A call without a timeout of its own schedules nothing (txredisapi
        times the reply out with the pool's timeout).
        """
        d = self.redis.call("GET", b"k")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.redis._factory.handler.commands[0][1].callback(b"v")
        self.assertEqual(self.successResultOf(d), b"v")

    def test_ownTimeout(self):
        """
        A call's own timeout fails it with L{CallTimeout} naming the
        server and the command.
        """
        d = self.redis.call("GET", b"k", timeout=0.5)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(0.5)
        error = self.failureResultOf(d, CallTimeout).value
        self.assertIn("GET timed out", str(error))
