# -*- test-case-name: tests.health.test_services,tests.test_plugins -*-
"""
The C{echo} service plugin: Cocaine 0.12's C{echo} (C{ping(text) ->
[text]}), what 0.12 health checks call. No args.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _EchoPlugin:
    name = "echo"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError
        if args:
            raise ConfigError("{}.{}".format(path, sorted(args)[0]),
                              "unknown key (the echo service takes none)")

    def makeService(self, context, name, args):
        from cocaine.health.services import EchoService
        return EchoService()


echo = _EchoPlugin()
