# -*- test-case-name: tests.node.test_service,tests.test_plugins -*-
"""
The C{node} service plugin: app management. Args:
C{{"runlist": "default", "drain-timeout": 10, "local": {name: {"path": DIR,
"profile": NAME or MAP}}, "name": NODE, "shared-storage": BOOL}}.

C{name} (the node's uuid by default) and C{shared-storage} (by default
what the C{core} backend says: true for postgres and redis) decide the
keys of the node's own state on a shared storage (docs/cluster.md,
"Shared storage").
"""

import json
import re

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _NodePlugin:
    name = "node"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError, describe
        allowed = {"runlist", "local", "drain-timeout", "max-archive",
                   "max-unpacked", "name", "shared-storage"}
        unknown = sorted(set(args) - allowed)
        if unknown:
            raise ConfigError("{}.{}".format(path, unknown[0]),
                              "unknown key (allowed: {})".format(
                                  ", ".join(sorted(allowed))))
        runlist = args.get("runlist", "default")
        if not isinstance(runlist, str) or not runlist:
            raise ConfigError(path + ".runlist", "must be a non-empty "
                              "string, got {}".format(describe(runlist)))
        name = args.get("name")
        if name is not None and (not isinstance(name, str)
                                 or not _NODE_NAME.match(name)):
            raise ConfigError(path + ".name", "must be 1 to 100 letters, "
                              "digits, '.', '_' or '-', starting with a "
                              "letter or digit, got {}".format(
                                  json.dumps(name)))
        shared = args.get("shared-storage", False)
        if not isinstance(shared, bool):
            raise ConfigError(path + ".shared-storage", "must be true or "
                              "false, got {}".format(describe(shared)))
        timeout = args.get("drain-timeout", 10)
        if isinstance(timeout, bool) or not isinstance(
                timeout, (int, float)) or timeout < 0:
            raise ConfigError(path + ".drain-timeout",
                              "must be a number of seconds >= 0, got {}"
                              .format(describe(timeout)))
        for key in ("max-archive", "max-unpacked"):
            quota = args.get(key, 1024)
            if type(quota) is not int or quota < 1024:
                raise ConfigError("{}.{}".format(path, key), "must be a byte "
                                  "count of at least 1024, got {!r}".format(
                                      quota))
        local = args.get("local", {})
        if not isinstance(local, dict):
            raise ConfigError(path + ".local", "must be a map of app name "
                              "to {{path, profile}}, got {}".format(
                                  describe(local)))
        for name, spec in local.items():
            where = "{}.local.{}".format(path, name)
            if not isinstance(spec, dict):
                raise ConfigError(where, "must be a map {{path, profile}}, "
                                  "got {}".format(describe(spec)))
            if not isinstance(spec.get("path"), str) or not spec["path"]:
                raise ConfigError(where + ".path", "must be the app's "
                                  "directory, got {}".format(describe(
                                      spec.get("path"))))
            unknown = sorted(set(spec) - {"path", "profile"})
            if unknown:
                raise ConfigError("{}.{}".format(where, unknown[0]),
                                  "unknown key (allowed: path, profile)")
            profile = spec.get("profile")
            if profile is not None and not isinstance(profile, (str, dict)):
                raise ConfigError(where + ".profile", "must be a profile "
                                  "name or map, got {}".format(
                                      describe(profile)))

    def makeService(self, context, name, args):
        from cocaine.node.rpc import NodeRPC
        from cocaine.node.service import NodeService
        node = NodeService(context, runlist=args.get("runlist", "default"),
                           local=args.get("local"),
                           drainTimeout=args.get("drain-timeout", 10),
                           nodeName=args.get("name"),
                           sharedStorage=args.get("shared-storage"),
                           **_quotas(args))
        # other services (management, cluster, mesh) drive apps through it
        context.node = node
        return NodeRPC(node, node.cluster)


node = _NodePlugin()

#: A node's name: it goes into storage keys (C{runlists/<runlist>@<name>},
#: C{crashlogs/<time>:<name>:<worker>}), so no C{@}, C{:} or C{/}.
_NODE_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")


def _quotas(args):
    """
    The per-app quotas the node's C{args} set (issue 14).
    """
    quotas = {}
    if "max-archive" in args:
        quotas["maxArchive"] = args["max-archive"]
    if "max-unpacked" in args:
        quotas["maxUnpacked"] = args["max-unpacked"]
    return quotas
