"""
The C{elliptics} service on Redis through a real node: with our client
(sharing its data with the C{redis} storage backend, TTLs, Redis down and
back) and with the real Cocaine 0.12 framework client.
"""

import errno

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from cocaine.errors import BackendUnavailable, KeyNotFound
from tests.integration.redis_services import (
    FrameworkSteps, RedisNodes, until)


class EllipticsNodeTests(RedisNodes, TestCase):

    @inlineCallbacks
    def setUp(self):
        self.startRedis()
        _, self.locator = self.startNode()
        self.elliptics = self.service(self.locator, "elliptics")
        self.storage = self.service(self.locator, "storage")
        yield until(lambda: self.reachable(self.elliptics))

    def reachable(self, service):
        d = service.read("probe", "probe")
        d.addCallbacks(lambda _: True, lambda f: f.trap(KeyNotFound) and True)
        d.addErrback(lambda f: f.trap(BackendUnavailable) and False)
        return d

    @inlineCallbacks
    def test_sharedWithStorage(self):
        """
        The elliptics service and a C{redis} storage with the same prefix
        see the same values and tags.
        """
        yield self.elliptics.write("ns", "k", b"\x00v", ["t"])
        self.assertEqual((yield self.storage.read("ns", "k")), b"\x00v")
        self.assertEqual((yield self.storage.find("ns", ["t"])), ["k"])
        yield self.storage.write("ns", "k2", b"2", [])
        self.assertEqual((yield self.elliptics.bulk_read("ns", ["k", "k2"])),
                         {"k": b"\x00v", "k2": b"2"})

    @inlineCallbacks
    def test_source(self):
        """
        With 0.12's C{source} arg the service uses that storage of the
        node, and its data.
        """
        source = self.service(self.locator, "elliptics-source")
        yield self.storage.write("ns", "k", b"v", ["t"])
        self.assertEqual((yield source.read_latest("ns", "k")), b"v")
        yield source.cache_write("ns", "k2", b"w", 60)
        self.assertEqual((yield self.storage.find("ns", [])), ["k", "k2"])

    @inlineCallbacks
    def test_cacheWriteTTL(self):
        """
        C{cache_write} with a TTL in seconds becomes the key's expiry;
        without one the value stays.
        """
        yield self.elliptics.cache_write("ns", "short", b"v", 1)
        yield self.elliptics.cache_write("ns", "long", b"v")
        ttl = self.redis.command("PTTL", b"cocaine:storage:v:ns\0short")
        self.assertTrue(0 < int(ttl[1:]) <= 1000, ttl)
        self.assertEqual(
            self.redis.command("PTTL", b"cocaine:storage:v:ns\0long"),
            b":-1\r\n")
        self.assertEqual((yield self.elliptics.cache_read("ns", "short")),
                         b"v")

        def gone():
            d = self.elliptics.read_latest("ns", "short")
            d.addCallbacks(lambda _: False,
                           lambda f: f.trap(KeyNotFound) and True)
            return d
        yield until(gone)
        self.assertEqual((yield self.elliptics.find("ns", [])), ["long"])

    @inlineCallbacks
    def test_errors(self):
        """
        A missing key is ENOENT naming it; a bad name is EINVAL naming it.
        """
        try:
            yield self.elliptics.cache_read("ns", "missing")
        except KeyNotFound as e:
            self.assertIn("'missing'", str(e))
        else:
            self.fail("no error")
        try:
            yield self.elliptics.write("ns", "../x", b"v")
        except Exception as e:
            self.assertEqual(e.code, errno.EINVAL)
            self.assertIn("'../x'", str(e))
        else:
            self.fail("no error")

    @inlineCallbacks
    def test_redisDownThenBack(self):
        """
        With Redis stopped calls fail at once naming the server; once it
        is back the service works again without a restart.
        """
        yield self.elliptics.write("ns", "k", b"v")
        self.redis.stop()
        yield until(lambda: self.reachable(self.elliptics).addCallback(
            lambda up: not up))
        yield self.assertRedisDown(
            lambda: self.elliptics.read("ns", "k"),
            lambda: self.elliptics.cache_write("ns", "k", b"w", 5),
            lambda: self.elliptics.bulk_read("ns", ["k"]),
            lambda: self.storage.find("ns", []))
        self.restartRedis()
        yield until(lambda: self.reachable(self.elliptics))
        yield until(lambda: self.reachable(self.storage))
        # a fresh Redis: the scripts are sent again, the data was not kept
        yield self.elliptics.write("ns", "k", b"again", ["t"])
        self.assertEqual((yield self.storage.find("ns", ["t"])), ["k"])


class FrameworkClientTests(FrameworkSteps, TestCase):
    """
    The real Cocaine 0.12 framework client calls the elliptics service.
    """

    def test_elliptics(self):
        """
        The elliptics methods with 0.12's ids, a missing key as ENOENT in
        the system category, bulk_read leaving missing keys out.
        """
        self.assertEqual(self.step("elliptics resolve"), {
            "version": 1, "methods": [
                "read", "write", "remove", "find", "cache_read",
                "cache_write", "bulk_read", "read_latest"]})
        self.assertEqual(self.step("write"), {"value": []})
        self.assertEqual(self.step("read"), {"value": "A\x00"})
        missing = self.step("read missing")
        self.assertEqual(missing["error"], [1, errno.ENOENT])
        self.assertIn("'missing'", missing["reason"])
        self.assertEqual(self.step("cache_write"), {"value": []})
        self.assertEqual(self.step("cache_write ttl"), {"value": []})
        self.assertEqual(self.step("cache_read"), {"value": "B"})
        self.assertEqual(self.step("read_latest"), {"value": "C"})
        self.assertEqual(self.step("bulk_read"),
                         {"value": {"a": "A\x00", "b": "B"}})
        self.assertEqual(self.step("find"), {"value": ["a"]})
        self.assertEqual(self.step("remove"), {"value": []})
        self.assertEqual(self.step("read removed")["error"],
                         [1, errno.ENOENT])
