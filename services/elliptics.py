# -*- test-case-name: tests.elliptics.test_service,tests.test_plugins -*-
"""
The C{elliptics} service plugin: Cocaine 0.12's C{elliptics} protocol on
Redis. Args C{{"backend": "redis", "url": "redis://127.0.0.1:6379/0",
"prefix": "cocaine:storage:"}} (C{backend} may be left out: Redis is the
only one), or 0.12's C{{"source": STORAGE}} naming one of the node's
storages of type C{redis}, whose data it then shares.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _EllipticsPlugin:
    name = "elliptics"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError
        from cocaine.redis.args import checkRedisArgs
        if "source" in args:
            source = args["source"]
            if set(args) != {"source"}:
                raise ConfigError(path + ".source", "goes alone (the "
                                  "storage it names has the url and prefix)")
            storage = config.storages.get(source) \
                if isinstance(source, str) else None
            if storage is None or storage.type != "redis":
                raise ConfigError(path + ".source", "must name a storage of "
                                  "type redis, got {!r}".format(source))
            return
        if args.get("backend", "redis") != "redis":
            raise ConfigError(path + ".backend", 'must be "redis", got '
                              '{!r}'.format(args["backend"]))
        checkRedisArgs(path, args, ("backend", "url", "prefix"),
                       "the elliptics service")

    def makeService(self, context, name, args):
        from cocaine.elliptics.service import EllipticsService
        if "source" in args:
            return EllipticsService(context.storage(args["source"]),
                                    own=False)
        from cocaine.redis.client import Redis
        from cocaine.redis.storage import DEFAULT_PREFIX, RedisStorage
        return EllipticsService(
            RedisStorage(Redis(args["url"], context.reactor),
                         args.get("prefix", DEFAULT_PREFIX)))


elliptics = _EllipticsPlugin()
