"""
Tests for L{cocaine.cache.service} and the C{cache} plugin, through the
declared protocol (L{cocaine.rpc.memory.ServiceHarness}).
"""

import errno

from twisted.internet.defer import fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.cache.service import (
    REAP_INTERVAL, LocalCacheService, RedisCacheService)
from cocaine.config import ConfigError, parse
from cocaine.errors import (
    CATEGORY_DISPATCH, CATEGORY_SYSTEM, INVALID_ARGUMENT, BackendUnavailable)
from cocaine.interfaces import IRPCService
from cocaine.protocol.cache import CACHE, CACHE_VERSION
from cocaine.rpc.memory import ServiceHarness
from services.cache import cache as plugin


class ProtocolTests(SynchronousTestCase):

    def test_ids(self):
        """
        0.12's ids and version, then ours: get 0, put 1, del 2.
        """
        self.assertEqual(CACHE_VERSION, 1)
        self.assertEqual([m.name for m in CACHE.messages],
                         ["get", "put", "del"])
        graph = CACHE.graph()
        self.assertEqual(graph[0][0], "get")
        self.assertEqual(graph[1][0], "put")
        # both are 0.12's primitive calls: terminal dispatch, value/error
        self.assertEqual(graph[0][1:], graph[1][1:])


class _Behaviour:
    """
    What both backends answer the same way.
    """

    def test_interface(self):
        self.assertTrue(verifyObject(IRPCService, self.service))

    def test_missing(self):
        """
        A missing key is 0.12's C{[false, ""]}.
        """
        self.assertEqual(self.harness.call("get", b"nope"),
                         [("value", [False, b""])])

    def test_putGet(self):
        """
        C{put} answers C{[]}; C{get} then answers C{[true, value]} with the
        bytes as put (text keys are their UTF-8).
        """
        self.assertEqual(self.harness.call("put", "k\u00fc", b"\xff\x00"),
                         [("value", [])])
        self.assertEqual(self.harness.call("get", "k\u00fc".encode()),
                         [("value", [True, b"\xff\x00"])])

    def test_ttl(self):
        """
        A TTL in seconds (int or float) expires the entry; 0 or nil means
        none.
        """
        self.harness.call("put", b"a", b"1", 2)
        self.harness.call("put", b"b", b"2", 0.5)
        self.harness.call("put", b"c", b"3", 0)
        self.harness.call("put", b"d", b"4", None)
        self.clock.advance(1)
        self.assertEqual(self.harness.call("get", b"b"),
                         [("value", [False, b""])])
        self.assertEqual(self.harness.call("get", b"a"),
                         [("value", [True, b"1"])])
        self.clock.advance(1)
        self.assertEqual(self.harness.call("get", b"a"),
                         [("value", [False, b""])])
        self.clock.advance(10 ** 6)
        self.assertEqual(self.harness.call("get", b"c"),
                         [("value", [True, b"3"])])
        self.assertEqual(self.harness.call("get", b"d"),
                         [("value", [True, b"4"])])

    def test_badTTL(self):
        """
        A TTL that is not a number of seconds >= 0 is an invalid argument
        naming C{ttl}; nothing is stored.
        """
        for ttl in (-1, "10", True, float("nan"), [1]):
            [(name, [[category, code], message])] = self.harness.call(
                "put", b"k", b"v", ttl)
            self.assertEqual((name, category, code),
                             ("error", CATEGORY_DISPATCH, INVALID_ARGUMENT))
            self.assertIn("'ttl'", message)
        self.assertEqual(self.harness.call("get", b"k"),
                         [("value", [False, b""])])

    def test_del(self):
        """
        C{del} (ours, id 2) answers whether there was an entry.
        """
        self.harness.call("put", b"k", b"v")
        self.assertEqual(self.harness.call("del", b"k"), [("value", [True])])
        self.assertEqual(self.harness.call("del", b"k"), [("value", [False])])
        self.assertEqual(self.harness.call("get", b"k"),
                         [("value", [False, b""])])

    def test_badKey(self):
        """
        A key that is not a string is an invalid argument naming it.
        """
        [(name, [_, message])] = self.harness.call("get", 5)
        self.assertEqual(name, "error")
        self.assertIn("'key'", message)


class LocalCacheServiceTests(_Behaviour, SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.service = LocalCacheService(self.clock, maxSize=4)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        self.harness = ServiceHarness(self.service, "cache")

    def test_lru(self):
        """
        C{max-size} bounds the entries, least recently used first out.
        """
        for key in (b"a", b"b", b"c", b"d", b"e"):
            self.harness.call("put", key, key)
        self.assertEqual(self.harness.call("get", b"a"),
                         [("value", [False, b""])])
        self.assertEqual(self.service.cache.size, 4)

    def test_tooLarge(self):
        """
        An entry larger than C{max-bytes} is an invalid argument saying so.
        """
        service = LocalCacheService(self.clock, maxBytes=8)
        [(name, [[category, code], message])] = ServiceHarness(
            service).call("put", b"key", b"123456")
        self.assertEqual((name, category, code),
                         ("error", CATEGORY_DISPATCH, INVALID_ARGUMENT))
        self.assertIn("max-bytes 8", message)

    def test_reaper(self):
        """
        While the service runs, expired entries go without a C{get}; the
        sweep stops with the service.
        """
        self.harness.call("put", b"a", b"1", 1)
        self.clock.advance(REAP_INTERVAL + 1)
        self.assertEqual(self.service.cache.size, 0)
        self.service.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class FakeRedis:
    """
    The few commands the cache uses, on a clock; C{down} makes every call
    fail as L{cocaine.redis.client.Redis} does while disconnected.
    """

    def __init__(self, clock):
        self.clock = clock
        self.data = {}
        self.down = False
        self.started = self.stopped = False
        self.commands = []

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True
        return succeed(None)

    def _live(self, key):
        entry = self.data.get(key)
        if entry is not None and entry[1] is not None \
                and entry[1] <= self.clock.seconds():
            del self.data[key]
            return None
        return entry

    def call(self, command, *args):
        self.commands.append((command,) + args)
        if self.down:
            return fail(BackendUnavailable(
                "redis://127.0.0.1:1/0 is not reachable (reconnecting)"))
        if command == "GET":
            entry = self._live(args[0])
            return succeed(None if entry is None else entry[0])
        if command == "SET":
            expiry = None
            if len(args) == 4:
                expiry = self.clock.seconds() + args[3] / 1000.0
            self.data[args[0]] = (args[1], expiry)
            return succeed(b"OK")
        if command == "DEL":
            return succeed(int(self.data.pop(args[0], None) is not None))
        raise AssertionError(command)


class RedisCacheServiceTests(_Behaviour, SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.redis = FakeRedis(self.clock)
        self.service = RedisCacheService(self.redis, "p:")
        self.service.startService()
        self.harness = ServiceHarness(self.service, "cache")

    def test_startStop(self):
        """
        The connection starts and stops with the service.
        """
        self.assertTrue(self.redis.started)
        self.service.stopService()
        self.assertTrue(self.redis.stopped)

    def test_commands(self):
        """
        Entries are Redis strings under the prefix; a TTL is C{SET PX}.
        """
        self.harness.call("put", b"k", b"v", 1.5)
        self.harness.call("get", b"k")
        self.harness.call("del", b"k")
        self.assertEqual(self.redis.commands,
                         [("SET", b"p:k", b"v", "PX", 1500),
                          ("GET", b"p:k"), ("DEL", b"p:k")])

    def test_down(self):
        """
        While Redis is down every call is an error at once naming the
        server (category 1, ECONNREFUSED).
        """
        self.redis.down = True
        for call in (("get", b"k"), ("put", b"k", b"v"), ("del", b"k")):
            [(name, [[category, code], message])] = self.harness.call(*call)
            self.assertEqual((name, category, code),
                             ("error", CATEGORY_SYSTEM, errno.ECONNREFUSED))
            self.assertIn("redis://127.0.0.1:1/0", message)


class PluginTests(SynchronousTestCase):

    def validate(self, args):
        config = parse({})
        plugin.validate("services.cache.args", args, config)

    def test_valid(self):
        for args in ({}, {"max-size": 10, "max-bytes": 1000},
                     {"backend": "local"},
                     {"backend": "redis", "url": "redis://127.0.0.1:6379/0"},
                     {"backend": "redis", "url": "redis://h/1",
                      "prefix": "x:"}):
            self.validate(args)

    def test_invalid(self):
        for args, path in (
                ({"max-size": 0}, "services.cache.args.max-size"),
                ({"max-bytes": "1k"}, "services.cache.args.max-bytes"),
                ({"backend": "memcached"}, "services.cache.args.backend"),
                ({"backend": "redis"}, "services.cache.args.url"),
                ({"backend": "redis", "url": "http://x"},
                 "services.cache.args.url"),
                ({"backend": "redis", "url": "redis://x", "max-size": 1},
                 "services.cache.args.max-size"),
                ({"url": "redis://x"}, "services.cache.args.url"),
                ({"backend": "redis", "url": "redis://x", "prefix": 1},
                 "services.cache.args.prefix")):
            e = self.assertRaises(ConfigError, self.validate, args)
            self.assertEqual(e.path, path, args)

    def test_make(self):
        clock = Clock()

        class Context:
            reactor = clock
        local = plugin.makeService(Context(), "cache", {"max-size": 5})
        self.assertIsInstance(local, LocalCacheService)
        self.assertEqual(local.cache.maxSize, 5)
        remote = plugin.makeService(Context(), "cache", {
            "backend": "redis", "url": "redis://127.0.0.1:7/0"})
        self.assertIsInstance(remote, RedisCacheService)
        self.assertEqual(remote.redis.address.port, 7)
