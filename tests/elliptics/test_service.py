"""
Tests for L{cocaine.elliptics.service} and the C{elliptics} plugin (its
behaviour on a real Redis: L{tests.integration.test_elliptics}).
"""

from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.config import ConfigError, parse
from cocaine.elliptics.service import EllipticsService
from cocaine.errors import CATEGORY_DISPATCH, INVALID_ARGUMENT
from cocaine.interfaces import IRPCService
from cocaine.protocol.elliptics import ELLIPTICS, ELLIPTICS_VERSION
from cocaine.protocol.services import STORAGE
from cocaine.rpc.memory import ServiceHarness
from services.elliptics import elliptics as plugin


class _RecordingStorage:
    """
    Records the calls and answers them at once.
    """

    def __init__(self):
        self.calls = []
        self.started = self.stopped = False

    def startService(self):
        self.started = True

    def stopService(self):
        self.stopped = True

    def read(self, collection, key):
        self.calls.append(("read", collection, key))
        return succeed(b"value")

    def write(self, *args):
        self.calls.append(("write",) + args)
        return succeed(None)

    def readMany(self, collection, keys):
        self.calls.append(("readMany", collection, keys))
        return succeed({keys[0]: b"v"})

    def find(self, collection, tags):
        self.calls.append(("find", collection, tags))
        return succeed(["k"])

    def remove(self, collection, key):
        self.calls.append(("remove", collection, key))
        return succeed(None)


class EllipticsServiceTests(SynchronousTestCase):

    def setUp(self):
        self.storage = _RecordingStorage()
        self.service = EllipticsService(self.storage)
        self.harness = ServiceHarness(self.service, "elliptics")

    def test_protocol(self):
        """
        0.12's ids: storage's four, then cache_read, cache_write,
        bulk_read, read_latest; version 1.
        """
        self.assertTrue(verifyObject(IRPCService, self.service))
        self.assertEqual(ELLIPTICS_VERSION, 1)
        self.assertEqual(
            [m.name for m in ELLIPTICS.messages],
            [m.name for m in STORAGE.messages]
            + ["cache_read", "cache_write", "bulk_read", "read_latest"])
        self.assertEqual(ELLIPTICS.graph()[0], STORAGE.graph()[0])

    def test_reads(self):
        """
        read, cache_read and read_latest all read the one value.
        """
        for name in ("read", "cache_read", "read_latest"):
            self.assertEqual(self.harness.call(name, "ns", "k"),
                             [("value", [b"value"])])
        self.assertEqual(self.storage.calls, [("read", "ns", "k")] * 3)

    def test_cacheWrite(self):
        """
        cache_write's TTL is seconds (0, the default, for ever); the
        storage gets milliseconds and no tags.
        """
        self.assertEqual(self.harness.call("cache_write", "ns", "k", b"v"),
                         [("value", [])])
        self.harness.call("cache_write", "ns", "k", b"v", 5)
        self.assertEqual(self.storage.calls,
                         [("write", "ns", "k", b"v", [], 0),
                          ("write", "ns", "k", b"v", [], 5000)])

    def test_cacheWriteBadTTL(self):
        """
        A negative or non-integer TTL is an invalid argument naming it.
        """
        for ttl in (-1, 1.5, "1"):
            [(name, [[category, code], message])] = self.harness.call(
                "cache_write", "ns", "k", b"v", ttl)
            self.assertEqual((name, category, code),
                             ("error", CATEGORY_DISPATCH, INVALID_ARGUMENT))
            self.assertIn("'ttl'", message)
        self.assertEqual(self.storage.calls, [])

    def test_bulkRead(self):
        """
        bulk_read answers one map.
        """
        self.assertEqual(self.harness.call("bulk_read", "ns", ["a", "b"]),
                         [("value", [{"a": b"v"}])])

    def test_storageMethods(self):
        """
        write, find and remove go to the storage as the storage service's.
        """
        self.harness.call("write", "ns", "k", b"v", ["t"])
        self.assertEqual(self.harness.call("find", "ns", ["t"]),
                         [("value", [["k"]])])
        self.harness.call("remove", "ns", "k")
        self.assertEqual(self.storage.calls,
                         [("write", "ns", "k", b"v", ["t"]),
                          ("find", "ns", ["t"]), ("remove", "ns", "k")])

    def test_ownStorage(self):
        """
        Its own storage starts and stops with it; a node's storage does
        not.
        """
        self.service.startService()
        self.service.stopService()
        self.assertEqual((self.storage.started, self.storage.stopped),
                         (True, True))
        other = _RecordingStorage()
        service = EllipticsService(other, own=False)
        service.startService()
        service.stopService()
        self.assertEqual((other.started, other.stopped), (False, False))


class PluginTests(SynchronousTestCase):

    def setUp(self):
        self.config = parse({"storages": {
            "core": {"type": "files"},
            "shared": {"type": "redis", "args": {"url": "redis://h/0"}}}})

    def validate(self, args):
        plugin.validate("services.e.args", args, self.config)

    def test_valid(self):
        for args in ({"url": "redis://127.0.0.1:6379/0"},
                     {"backend": "redis", "url": "redis://h",
                      "prefix": "p:"},
                     {"source": "shared"}):
            self.validate(args)

    def test_invalid(self):
        for args, path in (
                ({}, "services.e.args.url"),
                ({"backend": "elliptics", "url": "redis://h"},
                 "services.e.args.backend"),
                ({"url": "redis://h", "nodes": []}, "services.e.args.nodes"),
                ({"source": "core"}, "services.e.args.source"),
                ({"source": "nope"}, "services.e.args.source"),
                ({"source": "shared", "url": "redis://h"},
                 "services.e.args.source")):
            e = self.assertRaises(ConfigError, self.validate, args)
            self.assertEqual(e.path, path, args)

    def test_make(self):
        clock = Clock()

        class Context:
            reactor = clock

            def storage(self, name):
                return shared
        shared = _RecordingStorage()
        service = plugin.makeService(Context(), "e", {"url": "redis://h:9"})
        self.assertEqual(service.storage.redis.address.port, 9)
        service = plugin.makeService(Context(), "e", {"source": "shared"})
        self.assertIs(service.storage, shared)
