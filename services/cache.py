# -*- test-case-name: tests.cache.test_service,tests.test_plugins -*-
"""
The C{cache} service plugin (Cocaine 0.12's C{cache}, with ours added).

Node-local: C{{"max-size": ENTRIES, "max-bytes": BYTES}} (0.12's
C{max-size}, default 1,000,000; C{max-bytes} off unless given).
Distributed: C{{"backend": "redis", "url": "redis://127.0.0.1:6379/0",
"prefix": "cocaine:cache:"}}.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin

_LOCAL = ("backend", "max-size", "max-bytes")
_REDIS = ("backend", "url", "prefix")


@implementer(IPlugin, IServicePlugin)
class _CachePlugin:
    name = "cache"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError
        backend = args.get("backend", "local")
        if backend == "redis":
            from cocaine.redis.args import checkRedisArgs
            checkRedisArgs(path, args, _REDIS, "the redis backend")
            return
        if backend != "local":
            raise ConfigError(path + ".backend",
                              'must be "local" or "redis", got {!r}'.format(
                                  backend))
        unknown = sorted(set(args) - set(_LOCAL))
        if unknown:
            raise ConfigError("{}.{}".format(path, unknown[0]),
                              "unknown key for the local backend (allowed: "
                              "{})".format(", ".join(_LOCAL)))
        for key in ("max-size", "max-bytes"):
            value = args.get(key, 1)
            if type(value) is not int or value < 1:
                raise ConfigError("{}.{}".format(path, key),
                                  "must be an integer >= 1, got {!r}".format(
                                      value))

    def makeService(self, context, name, args):
        from cocaine.cache.service import (
            DEFAULT_PREFIX, LocalCacheService, RedisCacheService)
        if args.get("backend", "local") == "redis":
            from cocaine.redis.client import Redis
            return RedisCacheService(Redis(args["url"], context.reactor),
                                     args.get("prefix", DEFAULT_PREFIX))
        from cocaine.cache.lru import DEFAULT_MAX_SIZE
        return LocalCacheService(context.reactor,
                                 args.get("max-size", DEFAULT_MAX_SIZE),
                                 args.get("max-bytes"))


cache = _CachePlugin()
