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

    def test_tlsFiles(self):
        """
        A C{rediss://} URL's query names the CA's, the client
        certificate's and its key's files, with redis-py's keys.
        """
        a = parseRedisURL("rediss://h:6380/1?ssl_ca_certs=/etc/r/ca.pem"
                          "&ssl_certfile=/etc/r/c.pem&ssl_keyfile=/k%20.pem")
        self.assertEqual((a.caFile, a.certFile, a.keyFile),
                         ("/etc/r/ca.pem", "/etc/r/c.pem", "/k .pem"))
        self.assertEqual(a.safe, "rediss://h:6380/1")
        b = parseRedisURL("rediss://h")
        self.assertEqual((b.caFile, b.certFile, b.keyFile),
                         (None, None, None))

    def test_badTLSQueriesNamed(self):
        """
        A query on a plain URL, an unknown or repeated key, a key without
        a file, a key file without its certificate and a query that is not
        pairs are errors naming the URL and what is wrong.
        """
        for url, words in [
                ("redis://h/0?ssl_ca_certs=/ca.pem", "only rediss://"),
                ("rediss://h/0?ssl_ca=/ca.pem", "unknown query key "
                 "'ssl_ca' (allowed: ssl_ca_certs, ssl_certfile, "
                 "ssl_keyfile)"),
                ("rediss://h/0?ssl_ca_certs=/a&ssl_ca_certs=/b",
                 "ssl_ca_certs is given twice"),
                ("rediss://h/0?ssl_ca_certs=", "names no file"),
                ("rediss://h/0?ssl_keyfile=/k.pem", "needs ssl_certfile"),
                ("rediss://h/0?ssl_ca_certs", "key=value pairs"),
                ("rediss://h/0#x", "fragment")]:
            with self.assertRaises(ValueError) as e:
                parseRedisURL(url)
            self.assertIn(words, str(e.exception))
            self.assertIn(repr(url), str(e.exception))

    def test_errorsHidePassword(self):
        """
        An error about a URL with a password names it without the
        password.
        """
        for url in ["redis://app:s3cret@h:99999/0", "redis://:s3cret@h/x",
                    "redis://app:s3cret@h/0?ssl_ca_certs=/a",
                    "rediss://app:s3cret@h/0?ssl_keyfile=/k",
                    "rediss://app:s3cret@h/0#x"]:
            with self.assertRaises(ValueError) as e:
                parseRedisURL(url)
            self.assertNotIn("s3cret", str(e.exception))
            self.assertIn(":***@h", str(e.exception))

    def test_passwordWithSeparatorNotShown(self):
        """
        A password holding an unescaped C{/}, C{#} or C{?} cuts the URL
        short where it stands; the error still does not show it.
        """
        for url in ["redis://:s3/cret@h/0", "redis://app:s3#cret@h",
                    "redis://app:s3?cret@h:1/0"]:
            with self.assertRaises(ValueError) as e:
                parseRedisURL(url)
            self.assertNotIn("s3", str(e.exception))
            self.assertIn(":***@h", str(e.exception))
