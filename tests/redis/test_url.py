"""
Tests for L{cocaine.redis.url}.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.redis.url import parseRedisURL


class ParseTests(SynchronousTestCase):

    def test_defaults(self):
        a = parseRedisURL("redis://127.0.0.1")
        self.assertEqual((a.host, a.port, a.db, a.username, a.password,
                          a.tls), ("127.0.0.1", 6379, 0, None, None, False))

    def test_everything(self):
        a = parseRedisURL("rediss://u:p%40ss@[::1]:6380/3")
        self.assertEqual((a.host, a.port, a.db, a.username, a.password,
                          a.tls), ("::1", 6380, 3, "u", "p@ss", True))

    def test_passwordOnly(self):
        a = parseRedisURL("redis://:secret@localhost:7000/1")
        self.assertEqual((a.username, a.password), (None, "secret"))

    def test_safeHidesPassword(self):
        a = parseRedisURL("redis://u:secret@h:1/2")
        self.assertEqual(a.safe, "redis://u:***@h:1/2")
        self.assertNotIn("secret", repr(a))

    def test_badURLsNamed(self):
        for url, words in [
                ("http://h", "scheme"), ("redis://h:99999", "port"),
                ("redis:///0", "no host"), ("redis://h/x", "database"),
                ("redis://h/0?a=1", "query"), (5, "URL string")]:
            with self.assertRaises(ValueError) as e:
                parseRedisURL(url)
            self.assertIn(words, str(e.exception))
            self.assertIn(repr(url) if isinstance(url, str) else "5",
                          str(e.exception))
