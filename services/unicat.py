# -*- test-case-name: tests.test_plugins -*-
"""
The C{unicat} service plugin (0.12's): C{grant}/C{revoke} rights on
storage collections (C{docs/security.md}). No args; ACLs live in the
core storage.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _UnicatPlugin:
    name = "unicat"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError
        if args:
            raise ConfigError("{}.{}".format(path, sorted(args)[0]),
                              "unknown key (unicat takes no args)")

    def makeService(self, context, name, args):
        from cocaine.auth.unicat import UnicatService
        return UnicatService(context.storage("core"),
                             getattr(context, "guard", None))


unicat = _UnicatPlugin()
