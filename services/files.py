# -*- test-case-name: tests.test_plugins,tests.test_config -*-
"""
The C{files} storage backend plugin: args C{{"path": DIR, "fsync": false,
"cache": BYTES}}; the path defaults to C{<paths.data>/storage}, the read
cache to 32 MiB (0 turns it off).
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IStoragePlugin


@implementer(IPlugin, IStoragePlugin)
class _FilesPlugin:
    name = "files"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError, describe
        unknown = sorted(set(args) - {"path", "fsync", "cache"})
        if unknown:
            raise ConfigError("{}.{}".format(path, unknown[0]),
                              "unknown key (allowed: cache, fsync, path)")
        cache = args.get("cache", 0)
        if type(cache) is not int or cache < 0:
            raise ConfigError(path + ".cache", "must be a byte count >= 0, "
                              "got {!r}".format(cache))
        if "path" in args and (not isinstance(args["path"], str)
                               or not args["path"]):
            raise ConfigError(path + ".path", "must be a non-empty string, "
                              "got {}".format(describe(args["path"])))
        fsync = args.get("fsync", False)
        if not isinstance(fsync, bool):
            raise ConfigError(path + ".fsync", "must be true or false, got "
                              "{}".format(describe(fsync)))

    def makeBackend(self, context, name, args):
        from cocaine.storage.files import FileStorage
        return FileStorage(context.reactor,
                           args.get("path") or context.dataPath("storage"),
                           fsync=args.get("fsync", False),
                           cacheBytes=args.get("cache", 32 * 1024 * 1024))


files = _FilesPlugin()
