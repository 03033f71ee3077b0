"""
The C{cache} service through real nodes: on Redis, shared by two nodes
(one puts, the other gets), errors at once while Redis is down and
working again once it is back; and the local cache and the Redis one
through the real Cocaine 0.12 framework client.
"""

import errno
import time

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from cocaine.errors import BackendUnavailable
from tests.integration.redis_services import (
    FrameworkSteps, RedisNodes, until)


class SharedCacheTests(RedisNodes, TestCase):

    @inlineCallbacks
    def setUp(self):
        self.startRedis()
        _, one = self.startNode()
        _, two = self.startNode()
        self.one = self.service(one, "shared-cache")
        self.two = self.service(two, "shared-cache")
        self.localOne = self.service(one, "cache")
        self.localTwo = self.service(two, "cache")
        yield until(lambda: self.connected(self.one))
        yield until(lambda: self.connected(self.two))

    @inlineCallbacks
    def test_sharedBetweenNodes(self):
        """
        What one node puts, the other gets; a delete on one is seen by the
        other; the entries are Redis strings under C{cocaine:cache:}.
        """
        self.assertEqual((yield self.two.get(b"k")), (False, b""))
        yield self.one.put(b"k", b"\xff\x00value")
        self.assertEqual((yield self.two.get(b"k")), (True, b"\xff\x00value"))
        self.assertIn(b"\xff\x00value",
                      self.redis.command("GET", b"cocaine:cache:k"))
        self.assertEqual((yield getattr(self.two, "del")(b"k")), True)
        self.assertEqual((yield self.one.get(b"k")), (False, b""))

    @inlineCallbacks
    def test_ttl(self):
        """
        An entry put with a TTL on one node is gone on both once it
        expires.
        """
        yield self.one.put(b"t", b"v", 0.2)
        ttl = self.redis.command("PTTL", b"cocaine:cache:t")
        self.assertTrue(ttl.startswith(b":"), ttl)
        self.assertTrue(0 < int(ttl[1:]) <= 200, ttl)
        yield until(lambda: self.two.get(b"t").addCallback(
            lambda reply: reply == (False, b"")))

    @inlineCallbacks
    def test_localIsLocal(self):
        """
        The local cache of one node is not seen by the other.
        """
        yield self.localOne.put(b"k", b"here")
        self.assertEqual((yield self.localOne.get(b"k")), (True, b"here"))
        self.assertEqual((yield self.localTwo.get(b"k")), (False, b""))

    @inlineCallbacks
    def test_redisDownThenBack(self):
        """
        With Redis stopped every call fails at once with an error naming
        the server (never a hang); once it is back on the same port the
        service reconnects by itself.
        """
        yield self.one.put(b"k", b"v")
        port = self.redis.port
        self.redis.stop()
        yield until(lambda: self.connected(self.one).addCallback(
            lambda up: not up))
        for call in (lambda: self.one.get(b"k"),
                     lambda: self.one.put(b"k", b"w"),
                     lambda: getattr(self.two, "del")(b"k")):
            started = time.monotonic()
            try:
                yield call()
            except BackendUnavailable as e:
                self.assertIn("127.0.0.1:{}".format(port), str(e))
                self.assertEqual(e.code, errno.ECONNREFUSED)
                self.assertLess(time.monotonic() - started, 10)
            else:
                self.fail("no error while Redis is down")
        self.restartRedis()
        yield until(lambda: self.connected(self.one))
        yield until(lambda: self.connected(self.two))
        yield self.one.put(b"k", b"again")
        self.assertEqual((yield self.two.get(b"k")), (True, b"again"))



class FrameworkClientTests(FrameworkSteps, TestCase):
    """
    The real Cocaine 0.12 framework client calls the local cache and the
    Redis cache of a node.
    """

    def test_cache(self):
        """
        0.12's get and put, on both backends: C{[false, ""]} when missing,
        C{[]} for put, C{[true, value]} with every byte intact.
        """
        for name in ("cache", "shared-cache"):
            self.assertEqual(self.step(name + " resolve"),
                             {"version": 1, "methods": ["get", "put",
                                                        "del"]})
            self.assertEqual(self.step(name + " get missing"),
                             {"value": [False, ""]})
            self.assertEqual(self.step(name + " put"), {"value": []})
            self.assertEqual(self.step(name + " get"),
                             {"value": [True, "\xff\x00value"]})


class ExampleTests(RedisNodes, TestCase):
    """
    C{examples/cache_client.py} and C{examples/elliptics_client.py} run
    against a node configured as their docstrings say.
    """

    def runExample(self, *args):
        import os
        import subprocess
        import sys
        root = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
        result = subprocess.run(
            [sys.executable] + list(args) + ["--port", str(self.node.port)],
            capture_output=True, text=True, timeout=60, cwd=root,
            env=dict(os.environ, PYTHONPATH=root))
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.splitlines()

    def setUp(self):
        self.startRedis()
        self.node, _ = self.startNode()

    def test_cacheClient(self):
        for service in ("cache", "shared-cache"):
            self.assertEqual(
                self.runExample("examples/cache_client.py", "--service", service),
                ["get missing: (False, b'')", "get: True \u0410\u043b\u0438"
                 "\u0441\u0430", "with ttl: (True, b'token')",
                 "after ttl: (False, b'')", "del: True", "del again: False"])

    def test_ellipticsClient(self):
        lines = self.runExample("examples/elliptics_client.py")
        self.assertIn("find user: ['profile']", lines)
        self.assertIn("bulk_read: {'profile': b'{\"name\": \"Alice\"}', "
                      "'session': b'token'}", lines)
        self.assertIn("after remove: storage: key 'profile' not found in "
                      "collection 'example'", lines)
