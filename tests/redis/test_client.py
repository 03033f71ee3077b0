"""
Tests for L{cocaine.redis.client.Redis}'s calls on a clock: which
connection a call takes, the timers, and a call made while nothing is up.
"""

from collections import deque

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import BackendUnavailable, CallTimeout, SystemError_
from cocaine.redis.client import Redis
from cocaine.redis.connection import encodeCommand


class _Connection:
    """
    A connection's call interface, answering nothing by itself.
    """

    def __init__(self):
        self.pending = deque()

    def execute(self, command, *args):
        encodeCommand(command, args)
        d = Deferred()
        self.pending.append((command, args, d))
        return d


class CallTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.redis = Redis("redis://127.0.0.1:6379/0", self.clock)
        self.connections = [_Connection(), _Connection()]
        self.redis._up = list(self.connections)

    def test_noTimerOfOurs(self):
        """
        A call without a timeout of its own schedules nothing (its
        connection's timer bounds it).
        """
        d = self.redis.call("GET", b"k")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.connections[0].pending[0][2].callback(b"v")
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
        self.assertIn("127.0.0.1:6379", str(error))

    def test_leastInFlight(self):
        """
        A call goes to the connection with the fewest calls in flight.
        """
        for _ in range(5):
            self.redis.call("GET", b"k")
        self.assertEqual([len(c.pending) for c in self.connections], [3, 2])

    def test_down(self):
        """
        With no connection up, a call fails at once, naming the server.
        """
        self.redis._up = []
        e = self.failureResultOf(self.redis.call("GET", b"k"),
                                 BackendUnavailable).value
        self.assertIn("redis://127.0.0.1:6379/0 is not reachable", str(e))

    def test_badArgument(self):
        """
        An argument that cannot be sent fails the call, named: one of
        another type, or text that is not Unicode.
        """
        e = self.failureResultOf(self.redis.call("SET", b"k", object()),
                                 SystemError_).value
        self.assertIn("SET: a Redis command's arguments are", str(e))
        e = self.failureResultOf(self.redis.call("SET", b"k", "\udc80"),
                                 SystemError_).value
        self.assertIn("surrogate", str(e))
