"""
The C{redis} storage backend (L{cocaine.redis.storage}) against a real
Redis: every rule the other backends follow (the shared behaviour tests),
plus what is its own (the layout, atomic retagging, expiry, sharing); and
the storage service on it through real nodes.
"""

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from cocaine.errors import BackendUnavailable, InvalidName, KeyNotFound
from cocaine.interfaces import IStorageBackend
from cocaine.redis.storage import RedisStorage
from tests.integration.redis import BlockingRedis, RedisServer
from tests.integration.redis_services import RedisNodes, until
from tests.storage._behaviour import StorageBehaviourMixin


class _RealRedis:
    """
    A Redis server per test (started by the first backend it makes), and
    a fresh blocking client per backend.
    """

    server = None

    def makeBackend(self, prefix="cocaine:storage:"):
        if self.server is None:
            self.server = RedisServer(self.mktemp()).start()
            self.addCleanup(self.server.stop)
        client = BlockingRedis(self.server.port)
        client.start()
        self.addCleanup(client.stop)
        client.call("FLUSHALL")
        self.client = client
        return RedisStorage(client, prefix)


class RedisStorageBehaviourTests(_RealRedis, StorageBehaviourMixin,
                                 SynchronousTestCase):
    """
    The shared backend rules, for L{RedisStorage} on a real Redis.
    """


class RedisStorageTests(_RealRedis, SynchronousTestCase):
    """
    What only the Redis backend has.
    """

    def setUp(self):
        self.storage = self.makeBackend()

    def call(self, method, *args):
        return self.successResultOf(getattr(self.storage, method)(*args))

    def redis(self, *args):
        return self.successResultOf(self.client.call(*args))

    def test_interface(self):
        """
        L{RedisStorage} provides L{IStorageBackend}.
        """
        self.assertTrue(verifyObject(IStorageBackend, self.storage))

    def test_layout(self):
        """
        The value, the key's tags, the collection's keys and the tag index
        are plain Redis keys under the prefix, NUL-separated.
        """
        self.call("write", "apps", "my app", b"\xff\x00", ["t1", "t2"])
        self.assertEqual(self.redis("GET", b"cocaine:storage:v:apps\0my app"),
                         b"\xff\x00")
        self.assertEqual(
            sorted(self.redis("SMEMBERS", b"cocaine:storage:t:apps\0my app")),
            [b"t1", b"t2"])
        self.assertEqual(self.redis("SMEMBERS", b"cocaine:storage:k:apps"),
                         [b"my app"])
        self.assertEqual(self.redis("SMEMBERS", b"cocaine:storage:i:apps\0t1"),
                         [b"my app"])
        self.call("remove", "apps", "my app")
        self.assertEqual(self.redis("KEYS", b"*"), [])

    def test_prefix(self):
        """
        Two prefixes are two separate storages in one Redis.
        """
        other = RedisStorage(self.client, "other:")
        self.call("write", "c", "k", b"1", ["t"])
        self.successResultOf(other.write("c", "k", b"2", []))
        self.assertEqual(self.call("read", "c", "k"), b"1")
        self.assertEqual(self.successResultOf(other.read("c", "k")), b"2")
        self.assertEqual(self.successResultOf(other.find("c", ["t"])), [])

    def test_sharedBetweenClients(self):
        """
        What one node's backend writes, another one's reads and finds.
        """
        client = BlockingRedis(self.server.port)
        self.addCleanup(client.stop)
        other = RedisStorage(client)
        self.call("write", "c", "k", b"v", ["t"])
        self.assertEqual(self.successResultOf(other.read("c", "k")), b"v")
        self.assertEqual(self.successResultOf(other.find("c", ["t"])), ["k"])

    def test_scriptLoadedAgain(self):
        """
        After Redis forgot the scripts (C{SCRIPT FLUSH}, as after a
        restart), the next write sends them again.
        """
        self.call("write", "c", "k", b"1", ["t"])
        self.redis("SCRIPT", "FLUSH")
        self.call("write", "c", "k", b"2", ["u"])
        self.assertEqual(self.call("find", "c", ["u"]), ["k"])
        self.assertEqual(self.call("find", "c", ["t"]), [])

    def test_expiredValueLeavesFind(self):
        """
        A value written with a TTL that has expired is neither read nor
        found, and the collection forgets it.
        """
        self.call("write", "c", "gone", b"v", [], 100000)
        self.call("write", "c", "kept", b"v", [])
        # expire it now rather than wait
        self.redis("PEXPIRE", b"cocaine:storage:v:c\0gone", 1)
        import time
        while self.redis("EXISTS", b"cocaine:storage:v:c\0gone"):
            time.sleep(0.01)
        self.failureResultOf(self.storage.read("c", "gone"), KeyNotFound)
        self.assertEqual(self.call("find", "c", []), ["kept"])
        self.assertEqual(self.redis("SMEMBERS", b"cocaine:storage:k:c"),
                         [b"kept"])

    def test_readMany(self):
        """
        C{readMany} returns the keys found, leaving out the missing ones.
        """
        self.call("write", "c", "a", b"A", [])
        self.call("write", "c", "b", b"", [])
        self.assertEqual(self.call("readMany", "c", ["a", "b", "x"]),
                         {"a": b"A", "b": b""})
        self.assertEqual(self.call("readMany", "c", []), {})


class RedisStorageNodeTests(RedisNodes, TestCase):
    """
    The C{storage} service of two real nodes on one C{redis} storage.
    """

    @inlineCallbacks
    def setUp(self):
        self.startRedis()
        _, one = self.startNode()
        _, two = self.startNode()
        self.one = self.service(one, "storage")
        self.two = self.service(two, "storage")
        yield until(lambda: self.reachable(self.one))
        yield until(lambda: self.reachable(self.two))

    def reachable(self, storage):
        d = storage.find("probe", [])
        d.addCallback(lambda _: True)
        d.addErrback(lambda f: f.trap(BackendUnavailable) and False)
        return d

    @inlineCallbacks
    def test_sharedStorage(self):
        """
        What one node writes the other reads, finds by tags and removes;
        errors are the files backend's.
        """
        blob = bytes(range(256)) * 64
        yield self.one.write("apps", "a", blob, ["x", "y"])
        yield self.one.write("apps", "b", b"", ["x"])
        self.assertEqual((yield self.two.read("apps", "a")), blob)
        self.assertEqual((yield self.two.find("apps", ["x"])), ["a", "b"])
        self.assertEqual((yield self.two.find("apps", ["x", "y"])), ["a"])
        yield self.two.write("apps", "a", b"new", ["z"])
        self.assertEqual((yield self.one.find("apps", ["x", "y"])), [])
        yield self.two.remove("apps", "a")
        with self.assertRaises(KeyNotFound):
            yield self.one.read("apps", "a")
        with self.assertRaises(InvalidName):
            yield self.one.write(".hidden", "k", b"v")

    @inlineCallbacks
    def test_redisDownThenBack(self):
        """
        While Redis is down every storage call fails naming the server;
        afterwards the service works again by itself.
        """
        self.redis.stop()
        yield until(lambda: self.reachable(self.one).addCallback(
            lambda up: not up))
        yield self.assertRedisDown(
            lambda: self.one.read("c", "k"),
            lambda: self.one.write("c", "k", b"v", ["t"]),
            lambda: self.one.remove("c", "k"),
            lambda: self.one.find("c", ["t"]))
        self.restartRedis()
        yield until(lambda: self.reachable(self.one))
        yield self.one.write("c", "k", b"v", ["t"])
        self.assertEqual((yield self.one.find("c", ["t"])), ["k"])
