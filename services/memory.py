# -*- test-case-name: tests.test_plugins,tests.test_runtime -*-
"""
The C{memory} storage backend plugin: no args; values vanish with the node.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IStoragePlugin


@implementer(IPlugin, IStoragePlugin)
class _MemoryPlugin:
    name = "memory"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError
        if args:
            raise ConfigError("{}.{}".format(path, sorted(args)[0]),
                              "unknown key (the memory storage takes none)")

    def makeBackend(self, context, name, args):
        from cocaine.storage.memory import MemoryStorage
        return MemoryStorage()


memory = _MemoryPlugin()
