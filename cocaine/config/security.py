# -*- test-case-name: tests.test_config -*-
"""
The C{authentications} and C{authorizations} sections
(C{docs/security.md}).
"""

from dataclasses import dataclass

from cocaine.config.checks import (
    ConfigError, _map, _seconds, _string, checkKeys, describe)


@dataclass(frozen=True)
class Authentication:
    """
    The C{authentications.core} entry: how callers prove who they are
    (C{docs/security.md}).

    @ivar type: C{"token"} or C{"promiscuous"}.
    @ivar secretFiles: the secret files of C{token} (the first signs the
        node's own tokens; every one verifies).
    """

    type: str
    secretFiles: tuple = ()


@dataclass(frozen=True)
class Authorization:
    """
    The C{authorizations} section: which ACLs are checked. Both are on by
    default once an authentication is configured.

    @ivar refresh: seconds between reloads of the event ACLs.
    @ivar cacheSeconds: how long a collection's ACL is cached.
    """

    event: bool = True
    storage: bool = True
    refresh: float = 10.0
    cacheSeconds: float = 60.0


def _authentications(value):
    """
    The C{authentications} section: one entry, C{core}, as in 0.12.
    """
    value = _map("authentications", value)
    if not value:
        return None
    checkKeys("authentications", value, ("core",))
    entry = _map("authentications.core", value["core"])
    checkKeys("authentications.core", entry, ("type", "args"))
    kind = entry.get("type")
    args = _map("authentications.core.args", entry.get("args", {}))
    path = "authentications.core"
    if kind == "promiscuous":
        checkKeys(path + ".args", args, ())
        return Authentication("promiscuous")
    if kind != "token":
        raise ConfigError(path + ".type", "must be \"token\" or "
                          "\"promiscuous\", got {}".format(describe(kind)))
    checkKeys(path + ".args", args, ("secret-file", "secret-files"))
    files = []
    if "secret-file" in args:
        files.append(_string(path + ".args.secret-file",
                             args["secret-file"]))
    extra = args.get("secret-files", [])
    if not isinstance(extra, list):
        raise ConfigError(path + ".args.secret-files", "must be an array "
                          "of paths, got {}".format(describe(extra)))
    for i, item in enumerate(extra):
        files.append(_string("{}.args.secret-files[{}]".format(path, i),
                             item))
    if not files:
        raise ConfigError(path + ".args.secret-file", "is required for "
                          "type \"token\"")
    return Authentication("token", tuple(files))


def _authorizations(value):
    """
    The C{authorizations} section, in 0.12's shape:
    C{{"event": {"type": "event"|"disabled"}, "storage": {"type":
    "storage"|"disabled"}}}; what it leaves out is on.
    """
    value = _map("authorizations", value)
    checkKeys("authorizations", value, ("event", "storage"))
    defaults = Authorization()
    result = {}
    for name, args in (("event", ("refresh",)),
                       ("storage", ("backend", "cache-duration"))):
        path = "authorizations." + name
        entry = _map(path, value.get(name, {"type": name}))
        checkKeys(path, entry, ("type", "args"))
        kind = entry.get("type", name)
        if kind not in (name, "disabled"):
            raise ConfigError(path + ".type", "must be \"{}\" or "
                              "\"disabled\", got {}".format(
                                  name, describe(kind)))
        result[name] = kind == name
        entryArgs = _map(path + ".args", entry.get("args", {}))
        checkKeys(path + ".args", entryArgs, args)
        if name == "event":
            result["refresh"] = _seconds(
                path + ".args.refresh",
                entryArgs.get("refresh", defaults.refresh), 0.1, 3600)
        else:
            backend = entryArgs.get("backend", "core")
            if backend != "core":
                raise ConfigError(path + ".args.backend", "must be "
                                  "\"core\" (ACLs live in the core "
                                  "storage), got {}".format(
                                      describe(backend)))
            result["cacheSeconds"] = _seconds(
                path + ".args.cache-duration",
                entryArgs.get("cache-duration", defaults.cacheSeconds),
                0, 3600)
    return Authorization(**result)
