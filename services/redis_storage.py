# -*- test-case-name: tests.test_plugins -*-
"""
The C{redis} storage backend plugin: args C{{"url":
"redis://127.0.0.1:6379/0", "prefix": "cocaine:storage:"}}; values and
tags in one Redis, shared by every node that names it.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IStoragePlugin


@implementer(IPlugin, IStoragePlugin)
class _RedisStoragePlugin:
    name = "redis"

    def validate(self, path, args, config):
        from cocaine.redis.args import checkRedisArgs
        checkRedisArgs(path, args, ("url", "prefix"), "the redis storage")

    def makeBackend(self, context, name, args):
        from cocaine.redis.client import Redis
        from cocaine.redis.storage import DEFAULT_PREFIX, RedisStorage
        return RedisStorage(Redis(args["url"], context.reactor),
                            args.get("prefix", DEFAULT_PREFIX))


redis = _RedisStoragePlugin()
