# -*- test-case-name: tests.test_plugins,tests.test_config,tests.test_tap -*-
"""
The C{storage} service plugin: args C{{"backend": <storage name>}}
(default C{core}).
"""

import json

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _StoragePlugin:
    name = "storage"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError, checkKeys
        checkKeys(path, args, ("backend",))
        backend = args.get("backend", "core")
        if backend not in config.storages:
            raise ConfigError(path + ".backend", "no storage named {}".format(
                json.dumps(backend)))

    def makeService(self, context, name, args):
        from cocaine.storage.service import StorageService
        return StorageService(context.storage(args.get("backend", "core")))


storage = _StoragePlugin()
