"""
Tests for L{cocaine.cache.lru}.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.cache.lru import DEFAULT_MAX_SIZE, LocalCache


class LocalCacheTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()

    def test_default(self):
        """
        The default bound is 0.12's: a million entries, no byte bound.
        """
        cache = LocalCache(self.clock)
        self.assertEqual((cache.maxSize, cache.maxBytes),
                         (DEFAULT_MAX_SIZE, None))
        self.assertEqual(DEFAULT_MAX_SIZE, 1000000)

    def test_putGet(self):
        """
        A value comes back; a missing key is L{None}; a put replaces.
        """
        cache = LocalCache(self.clock)
        self.assertIsNone(cache.get(b"k"))
        cache.put(b"k", b"v1")
        cache.put(b"k", b"v2")
        self.assertEqual(cache.get(b"k"), b"v2")
        self.assertEqual((cache.size, cache.bytes), (1, 3))

    def test_emptyValue(self):
        """
        An empty value is a hit, not a miss.
        """
        cache = LocalCache(self.clock)
        cache.put(b"k", b"")
        self.assertEqual(cache.get(b"k"), b"")

    def test_maxSizeEvictsLeastRecentlyUsed(self):
        """
        Past C{maxSize} entries the least recently used one goes; a C{get}
        makes an entry recently used.
        """
        cache = LocalCache(self.clock, maxSize=2)
        cache.put(b"a", b"1")
        cache.put(b"b", b"2")
        cache.get(b"a")
        cache.put(b"c", b"3")
        self.assertIsNone(cache.get(b"b"))
        self.assertEqual(cache.get(b"a"), b"1")
        self.assertEqual(cache.get(b"c"), b"3")
        self.assertEqual((cache.size, cache.evictions), (2, 1))

    def test_maxBytesEvicts(self):
        """
        Past C{maxBytes} (keys plus values) the least recently used
        entries go until the rest fits.
        """
        cache = LocalCache(self.clock, maxBytes=10)
        cache.put(b"a", b"1234")     # 5
        cache.put(b"b", b"1234")     # 10
        cache.put(b"c", b"12345678")  # 9: both others go
        self.assertEqual(cache.size, 1)
        self.assertEqual(cache.bytes, 9)
        self.assertEqual(cache.evictions, 2)
        self.assertEqual(cache.get(b"c"), b"12345678")

    def test_replaceCountsBytesOnce(self):
        """
        Replacing an entry counts only its new size.
        """
        cache = LocalCache(self.clock, maxBytes=10)
        for _ in range(5):
            cache.put(b"a", b"12345")
        self.assertEqual((cache.size, cache.bytes, cache.evictions),
                         (1, 6, 0))

    def test_tooLarge(self):
        """
        An entry larger than C{maxBytes} on its own is refused, saying so,
        and the cache is left as it was.
        """
        cache = LocalCache(self.clock, maxBytes=4)
        cache.put(b"a", b"1")
        e = self.assertRaises(ValueError, cache.put, b"big", b"12")
        self.assertIn("5 bytes", str(e))
        self.assertIn("max-bytes 4", str(e))
        self.assertEqual(cache.get(b"a"), b"1")

    def test_ttl(self):
        """
        An entry with a TTL is there until its time, then gone.
        """
        cache = LocalCache(self.clock)
        cache.put(b"k", b"v", ttl=10)
        self.clock.advance(9.9)
        self.assertEqual(cache.get(b"k"), b"v")
        self.clock.advance(0.1)
        self.assertIsNone(cache.get(b"k"))
        self.assertEqual((cache.size, cache.bytes), (0, 0))

    def test_putWithoutTTLClearsIt(self):
        """
        A put without TTL over an entry with one keeps the new value for
        ever; the old expiry does not apply to it.
        """
        cache = LocalCache(self.clock)
        cache.put(b"k", b"v", ttl=1)
        cache.put(b"k", b"w")
        self.clock.advance(5)
        self.assertEqual(cache.reap(), 0)
        self.assertEqual(cache.get(b"k"), b"w")

    def test_reap(self):
        """
        L{LocalCache.reap} drops the expired entries only, without a
        C{get}.
        """
        cache = LocalCache(self.clock)
        cache.put(b"a", b"1", ttl=1)
        cache.put(b"b", b"2", ttl=3)
        cache.put(b"c", b"3")
        self.clock.advance(2)
        self.assertEqual(cache.reap(), 1)
        self.assertEqual((cache.size, cache.bytes), (2, 4))
        self.clock.advance(2)
        self.assertEqual(cache.reap(), 1)
        self.assertEqual(cache.get(b"c"), b"3")

    def test_heapStaysBounded(self):
        """
        Putting the same key again and again with a TTL does not grow the
        expiry heap without bound.
        """
        cache = LocalCache(self.clock)
        for i in range(10000):
            cache.put(b"k", b"v", ttl=100)
        self.assertLess(len(cache._expiries), 100)
        self.clock.advance(100)
        self.assertEqual(cache.reap(), 1)

    def test_delete(self):
        """
        C{delete} says whether there was a live entry.
        """
        cache = LocalCache(self.clock)
        cache.put(b"k", b"v")
        cache.put(b"t", b"v", ttl=1)
        self.assertTrue(cache.delete(b"k"))
        self.assertFalse(cache.delete(b"k"))
        self.clock.advance(1)
        self.assertFalse(cache.delete(b"t"))
        self.assertEqual((cache.size, cache.bytes), (0, 0))
