"""
The C{files} storage backend plugin: args C{{"path": DIR, "fsync": false}};
the path defaults to C{<paths.data>/storage}.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IStoragePlugin


@implementer(IPlugin, IStoragePlugin)
class _FilesPlugin:
    name = "files"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError
        unknown = sorted(set(args) - {"path", "fsync"})
        if unknown:
            raise ConfigError("{}.{}".format(path, unknown[0]),
                              "unknown key (allowed: fsync, path)")
        if "path" in args and (not isinstance(args["path"], str)
                               or not args["path"]):
            raise ConfigError(path + ".path", "must be a non-empty string")
        if not isinstance(args.get("fsync", False), bool):
            raise ConfigError(path + ".fsync", "must be true or false")

    def makeBackend(self, context, name, args):
        from cocaine.storage.files import FileStorage
        return FileStorage(context.reactor,
                           args.get("path") or context.dataPath("storage"),
                           fsync=args.get("fsync", False))


files = _FilesPlugin()
