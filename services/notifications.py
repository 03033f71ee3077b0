# -*- test-case-name: tests.notifications.test_plugin,tests.test_plugins -*-
"""
The C{notifications} service plugin: publish/subscribe on named channels.
Args (all optional): C{backend} (C{"local"}, the default, or C{"redis"}),
C{url} (the Redis server, with C{redis}), C{prefix} (of the Redis
channels, default C{"cocaine:notifications:"}), C{max-pending} (messages
queued per subscriber that does not read, default 1000).
"""

import json

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin

_KEYS = ("backend", "url", "prefix", "max-pending")


@implementer(IPlugin, IServicePlugin)
class _NotificationsPlugin:
    name = "notifications"

    def validate(self, path, args, config):
        from cocaine.config import (
            ConfigError, checkInteger, checkKeys, describe)
        from cocaine.redis.args import checkRedisURL
        checkKeys(path, args, _KEYS)
        backend = args.get("backend", "local")
        if backend not in ("local", "redis"):
            raise ConfigError(path + ".backend", "{} is not local or redis"
                              .format(json.dumps(backend)))
        if backend == "redis":
            url = args.get("url")
            if not isinstance(url, str):
                raise ConfigError(path + ".url", "the Redis server's URL "
                                  "(redis://host:port/db) is required with "
                                  "backend redis")
            checkRedisURL(path + ".url", url)
        else:
            for key in ("url", "prefix"):
                if key in args:
                    raise ConfigError("{}.{}".format(path, key),
                                      "only with backend redis")
        prefix = args.get("prefix", "")
        if not isinstance(prefix, str) or len(prefix) > 256:
            raise ConfigError(path + ".prefix", "must be a string of at "
                              "most 256 characters, got {}".format(
                                  describe(prefix)))
        checkInteger(path + ".max-pending", args.get("max-pending", 1000), 1,
                     1000000)

    def makeService(self, context, name, args):
        from cocaine.notifications.hub import DEFAULT_MAX_PENDING
        from cocaine.notifications.relay import DEFAULT_PREFIX, RedisRelay
        from cocaine.notifications.service import NotificationsService
        def relay(onMessage, onLost):
            return RedisRelay(args["url"], context.reactor, onMessage,
                              onLost, args.get("prefix", DEFAULT_PREFIX))
        redis = args.get("backend", "local") == "redis"
        return NotificationsService(
            args.get("max-pending", DEFAULT_MAX_PENDING),
            relay if redis else None, context.reactor)


notifications = _NotificationsPlugin()
