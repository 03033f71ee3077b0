"""
Tests for L{cocaine.redis.client.Redis.whenConnected} and the storage
backend's start waiting for it, on a clock.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.redis.client import Redis
from cocaine.redis.storage import RedisStorage


class WhenConnectedTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.redis = Redis("redis://127.0.0.1:1/0", self.clock,
                           connectTimeout=2)
        # started, nothing up yet
        self.redis._slots = []

    def test_connects(self):
        """
        It fires C{True} once a connection is up.
        """
        d = self.redis.whenConnected()
        self.assertNoResult(d)
        self.clock.advance(0.5)
        self.redis._up = [object()]
        self.clock.advance(0.1)
        self.assertIs(self.successResultOf(d), True)

    def test_timeout(self):
        """
        It fires C{False} after the connect timeout, and at once when the
        client is stopped.
        """
        d = self.redis.whenConnected()
        self.clock.pump([0.5] * 4)
        self.assertIs(self.successResultOf(d), False)
        self.redis._slots = None
        self.assertIs(self.successResultOf(self.redis.whenConnected()),
                      False)

    def test_storageStartWaits(self):
        """
        The storage backend's start waits for the first connection (the
        node reads its runlist next).
        """
        started = []
        self.redis.start = lambda: started.append(True)
        storage = RedisStorage(self.redis)
        d = storage.startService()
        self.assertEqual(started, [True])
        self.assertNoResult(d)
        self.redis._up = [object(), object()]
        self.clock.advance(0.05)
        self.successResultOf(d)
