"""
Tests for L{cocaine.redis.args}.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import ConfigError
from cocaine.redis.args import checkRedisArgs


class CheckRedisArgsTests(SynchronousTestCase):

    def check(self, args):
        checkRedisArgs("storages.s.args", args, ("url", "prefix"), "it")

    def test_valid(self):
        self.check({"url": "redis://127.0.0.1:6379/0"})
        self.check({"url": "rediss://u:p@h/2", "prefix": ""})

    def test_invalid(self):
        for args, path, words in (
                ({}, "storages.s.args.url", "required"),
                ({"url": "http://h"}, "storages.s.args.url", "scheme"),
                ({"url": "redis://h/x"}, "storages.s.args.url", "database"),
                ({"url": "redis://h", "prefix": 5},
                 "storages.s.args.prefix", "string"),
                ({"url": "redis://h", "db": 1}, "storages.s.args.db",
                 "allowed: prefix, url")):
            e = self.assertRaises(ConfigError, self.check, args)
            self.assertEqual(e.path, path)
            self.assertIn(words, e.reason)
