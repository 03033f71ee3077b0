# -*- test-case-name: tests.unicorn.test_plugins -*-
"""
The C{unicorn} service plugin: Cocaine 0.12's configuration service over
a unicorn backend, args C{{"backend": <unicorns name>}} (default C{core}).
"""

import json

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _UnicornPlugin:
    name = "unicorn"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError, checkKeys
        checkKeys(path, args, ("backend",))
        backend = args.get("backend", "core")
        if backend not in config.unicorns:
            raise ConfigError(path + ".backend", "no unicorn named {} "
                              "(configured: {})".format(
                                  json.dumps(backend),
                                  ", ".join(sorted(config.unicorns))
                                  or "none; add a \"unicorns\" section"))

    def makeService(self, context, name, args):
        from cocaine.unicorn.service import UnicornService
        return UnicornService(context.unicorn(args.get("backend", "core")))


unicorn = _UnicornPlugin()
