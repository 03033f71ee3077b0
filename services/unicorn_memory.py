# -*- test-case-name: tests.unicorn.test_plugins -*-
"""
The C{memory} unicorn backend plugin (C{unicorns.X.type}): no args; the
tree lives and dies with the node.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IUnicornPlugin


@implementer(IPlugin, IUnicornPlugin)
class _MemoryUnicornPlugin:
    name = "memory"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError
        if args:
            raise ConfigError("{}.{}".format(path, sorted(args)[0]),
                              "unknown key (the memory unicorn takes none)")

    def makeBackend(self, context, name, args):
        from cocaine.unicorn.memory import MemoryUnicorn
        return MemoryUnicorn(context.reactor)


memoryUnicorn = _MemoryUnicornPlugin()
