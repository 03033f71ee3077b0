# -*- test-case-name: tests.chrono.test_service,tests.test_plugins -*-
"""
The C{chrono} service plugin: Cocaine 0.12's timers (C{notify_after},
C{notify_every}, C{cancel}, C{restart}) on the node's reactor. No args.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _ChronoPlugin:
    name = "chrono"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError
        if args:
            raise ConfigError("{}.{}".format(path, sorted(args)[0]),
                              "unknown key (the chrono service takes none)")

    def makeService(self, context, name, args):
        from cocaine.chrono.service import ChronoService
        return ChronoService(context.reactor)


chrono = _ChronoPlugin()
