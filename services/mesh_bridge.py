# -*- test-case-name: tests.mesh.test_bridge -*-
"""
The C{mesh_bridge} service plugin: running Cocaine apps advertised as cote
Responders, discovered cote Responders published at the locator (see
L{cocaine.mesh.bridge} and C{docs/mesh.md}). Args:
C{{"apps": {name: [event, ...] or {"events": [...], "encoding": "json" or
"msgpack", "name": responder name}}, "encoding": "json", "prefix": "mesh.",
"publish": true, "timeout": 30, "mesh": {"key": ..., "namespace": ...,
"environment": ..., discovery options ...}}}}; C{mesh} is checked by
L{cocaine.mesh.settings.checkMesh}.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin

ALLOWED = ("apps", "encoding", "prefix", "publish", "timeout", "mesh")
ENCODINGS = ("json", "msgpack")


@implementer(IPlugin, IServicePlugin)
class _MeshBridgePlugin:
    name = "mesh_bridge"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError, describe
        unknown = sorted(set(args) - set(ALLOWED))
        if unknown:
            raise ConfigError("{}.{}".format(path, unknown[0]),
                              "unknown key (allowed: {})".format(
                                  ", ".join(sorted(ALLOWED))))
        encoding = args.get("encoding", "json")
        if encoding not in ENCODINGS:
            raise ConfigError(path + ".encoding", "must be json or msgpack, "
                              "got {}".format(describe(encoding)))
        apps = args.get("apps", {})
        if not isinstance(apps, dict):
            raise ConfigError(path + ".apps",
                              "must be a map of app name to events, got {}"
                              .format(describe(apps)))
        for app, spec in apps.items():
            self._validateApp("{}.apps.{}".format(path, app), spec)
        prefix = args.get("prefix", "mesh.")
        if not isinstance(prefix, str):
            raise ConfigError(path + ".prefix", "must be a string, got {}"
                              .format(describe(prefix)))
        publish = args.get("publish", True)
        if not isinstance(publish, bool):
            raise ConfigError(path + ".publish", "must be true or false, "
                              "got {}".format(describe(publish)))
        timeout = args.get("timeout", 30)
        if (isinstance(timeout, bool)
                or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ConfigError(path + ".timeout",
                              "must be a number of seconds > 0, got {}"
                              .format(describe(timeout)))
        from cocaine.mesh.settings import checkMesh
        checkMesh(path + ".mesh", args.get("mesh", {}))

    def _validateApp(self, where, spec):
        from cocaine.config import ConfigError, describe
        events = spec.get("events") if isinstance(spec, dict) else spec
        if not isinstance(events, list) or not events or not all(
                isinstance(e, str) and e for e in events):
            raise ConfigError(where, "must be a non-empty list of event "
                              "names (or a map with one as events), got {}"
                              .format(describe(events)))
        if isinstance(spec, dict):
            bad = sorted(set(spec) - {"events", "encoding", "name"})
            if bad:
                raise ConfigError(
                    "{}.{}".format(where, bad[0]),
                    "unknown key (allowed: encoding, events, name)")
            encoding = spec.get("encoding", "json")
            if encoding not in ENCODINGS:
                raise ConfigError(where + ".encoding",
                                  "must be json or msgpack, got {}".format(
                                      describe(encoding)))

    def makeService(self, context, name, args):
        from cocaine.mesh.bridge import MeshBridge
        return MeshBridge(
            context, apps=args.get("apps"),
            encoding=args.get("encoding", "json"),
            prefix=args.get("prefix", "mesh."),
            publish=args.get("publish", True),
            timeout=args.get("timeout", 30), mesh=args.get("mesh"))


mesh_bridge = _MeshBridgePlugin()
