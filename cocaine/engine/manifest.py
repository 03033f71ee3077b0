# -*- test-case-name: tests.engine.test_manifest -*-
"""
App manifests and profiles (PROTOCOL.md section 7), parsed and checked.

Both arrive as decoded msgpack (text may be bytes) or JSON. Errors name the
field: C{profile 'default': pool-limit: must be a positive integer, got 0}.
"""

from dataclasses import dataclass, field
from types import MappingProxyType

from cocaine.errors import CocaineError, CATEGORY_NODE
from cocaine.isolate.scheduling import DEFAULT_POLICY, validateScheduling


class ManifestError(CocaineError):
    """
    A manifest or profile that cannot be used; the message names the field.
    """

    category = CATEGORY_NODE
    code = 8


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def plain(value):
    """
    Decoded msgpack with bytes text turned into str, recursively.
    """
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Manifest:
    """
    @ivar slave: the worker executable, relative to the app directory.
    @ivar environment: added to the worker's environment.
    @ivar drivers: C{{name: {type, ...}}} event drivers (or C{tasks}).
    @ivar pubsub: the endpoint app monitoring is published on, or L{None}.
    """

    slave: str
    environment: MappingProxyType = field(
        default_factory=lambda: MappingProxyType({}))
    drivers: MappingProxyType = field(
        default_factory=lambda: MappingProxyType({}))
    pubsub: str = None


def parseManifest(value, app):
    """
    @raise ManifestError: naming the field.
    """
    where = "manifest of app {!r}".format(app)
    value = plain(value)
    if not isinstance(value, dict):
        raise ManifestError("{}: must be a map".format(where))
    slave = value.get("slave")
    if not isinstance(slave, str) or not slave:
        raise ManifestError("{}: slave: must be the worker's path, got {!r}"
                            .format(where, slave))
    environment = value.get("environment", {}) or {}
    if not isinstance(environment, dict) or not all(
            isinstance(k, str) and isinstance(v, str)
            for k, v in environment.items()):
        raise ManifestError("{}: environment: must be a map of strings"
                            .format(where))
    drivers = value.get("drivers", value.get("tasks", {})) or {}
    if not isinstance(drivers, dict):
        raise ManifestError("{}: drivers: must be a map".format(where))
    pubsub = value.get("pubsub")
    if pubsub is not None:
        if not isinstance(pubsub, dict) or not isinstance(
                pubsub.get("endpoint"), str):
            raise ManifestError("{}: pubsub: must be {{\"endpoint\": ...}}"
                                .format(where))
        pubsub = pubsub["endpoint"]
    return Manifest(slave, MappingProxyType(dict(environment)),
                    MappingProxyType(dict(drivers)), pubsub)


@dataclass(frozen=True)
class Profile:
    """
    How an app's pool runs. Times are seconds.

    @ivar isolate: the profile's C{isolate} map; its C{type} is what this
        node runs (C{process} or C{thread}, see L{ISOLATE_TYPES}), the
        type as written stays in C{raw}.
    @ivar user: the user (name or uid) workers run as, or L{None} (the
        node's).
    @ivar group: the group (name or gid) workers run as, or L{None} (the
        user's primary group, else the node's).
    @ivar environment: added to the workers' environment (over the
        manifest's: the operator's word wins over the app's).
    @ivar scheduling: the CPU scheduling policy of the workers (ours,
        L{cocaine.isolate.scheduling}).
    """

    name: str = "default"
    poolLimit: int = 10
    queueLimit: int = 100
    concurrency: int = 10
    growThreshold: int = 5
    heartbeatTimeout: float = 30.0
    startupTimeout: float = 10.0
    idleTimeout: float = 600.0
    terminationTimeout: float = 5.0
    sessionIdleTimeout: float = 300.0
    crashlogLimit: int = 50
    logOutput: bool = False
    isolate: MappingProxyType = field(default_factory=lambda: MappingProxyType(
        {"type": "process", "args": {}}))
    rlimits: MappingProxyType = field(default_factory=lambda: MappingProxyType(
        {}))
    cgroups: MappingProxyType = field(default_factory=lambda: MappingProxyType(
        {}))
    raw: MappingProxyType = field(default_factory=lambda: MappingProxyType(
        {}))
    user: object = None
    group: object = None
    environment: MappingProxyType = field(
        default_factory=lambda: MappingProxyType({}))
    scheduling: str = DEFAULT_POLICY


_POSITIVE_INTS = {"pool-limit": "poolLimit", "queue-limit": "queueLimit",
                  "concurrency": "concurrency",
                  "grow-threshold": "growThreshold"}
_POSITIVE_TIMES = {"heartbeat-timeout": "heartbeatTimeout",
                   "startup-timeout": "startupTimeout",
                   "termination-timeout": "terminationTimeout"}


def parseProfile(value, name="default"):
    """
    Build a L{Profile}; missing fields take the defaults of PROTOCOL.md
    section 7.

    @raise ManifestError: naming the field.
    """
    where = "profile {!r}".format(name)
    value = plain(value if value is not None else {})
    if not isinstance(value, dict):
        raise ManifestError("{}: must be a map".format(where))
    fields = {"name": name, "raw": MappingProxyType(dict(value))}
    for key, attr in _POSITIVE_INTS.items():
        if key in value:
            v = value[key]
            if type(v) is not int or v <= 0:
                raise ManifestError("{}: {}: must be a positive integer, "
                                    "got {!r}".format(where, key, v))
            fields[attr] = v
    for key, attr in _POSITIVE_TIMES.items():
        if key in value:
            fields[attr] = _seconds(where, key, value[key], positive=True)
    if "idle-timeout" in value:
        fields["idleTimeout"] = _seconds(where, "idle-timeout",
                                         value["idle-timeout"])
    if "session-idle-timeout" in value:
        # ours (issue 14): a request stream open without a chunk from its
        # client for this long is ended; null turns it off
        v = value["session-idle-timeout"]
        fields["sessionIdleTimeout"] = None if v is None else _seconds(
            where, "session-idle-timeout", v, positive=True)
    if "crashlog-limit" in value:
        v = value["crashlog-limit"]
        if type(v) is not int or v < 0:
            raise ManifestError("{}: crashlog-limit: must be an integer >= 0,"
                                " got {!r}".format(where, v))
        fields["crashlogLimit"] = v
    if "log-output" in value:
        if not isinstance(value["log-output"], bool):
            raise ManifestError("{}: log-output: must be true or false"
                                .format(where))
        fields["logOutput"] = value["log-output"]
    if "grow-threshold" not in value:
        fields["growThreshold"] = max(
            1, fields.get("queueLimit", 100) // fields.get("poolLimit", 10)
            // 2)
    fields["isolate"] = MappingProxyType(_isolate(where, value.get(
        "isolate", {"type": "process", "args": {}})))
    for key in ("rlimits", "cgroups"):
        v = value.get(key, {}) or {}
        if not isinstance(v, dict):
            raise ManifestError("{}: {}: must be a map".format(where, key))
        fields[key] = MappingProxyType(dict(v))
    fields.update(_account(where, value))
    try:
        fields["scheduling"] = validateScheduling(value.get("scheduling"))
    except ValueError as e:
        raise ManifestError("{}: {}".format(where, e)) from None
    return Profile(**fields)


def _account(where, value):
    """
    The profile's C{user}, C{group} and C{environment} fields.
    """
    fields = {}
    for key in ("user", "group"):
        v = value.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not (
                isinstance(v, str) and v or type(v) is int and v >= 0):
            raise ManifestError("{}: {}: must be a name or a number >= 0, "
                                "got {!r}".format(where, key, v))
        fields[key] = v
    environment = value.get("environment", {}) or {}
    if not isinstance(environment, dict) or not all(
            isinstance(k, str) and isinstance(v, str)
            for k, v in environment.items()):
        raise ManifestError("{}: environment: must be a map of strings"
                            .format(where))
    fields["environment"] = MappingProxyType(dict(environment))
    return fields


#: The isolate types a profile may name, and what each means here. Cocaine
#: 0.12 registers its in-node process isolate as C{legacy_process}
#: (cocaine-plugins v0.12 C{node/src/module.cpp}; C{process} there is the
#: external isolate daemon), and cocaine-tools starts apps with it: both
#: are our process isolate.
ISOLATE_TYPES = {"process": "process", "legacy_process": "process",
                 "thread": "thread"}


def _isolate(where, isolate):
    """
    The profile's C{isolate} map with its type as this node runs it
    (C{process} or C{thread}); the other keys as given.
    """
    if not isinstance(isolate, dict):
        raise ManifestError("{}: isolate: must be a map, got {!r}".format(
            where, isolate))
    given = isolate.get("type", "process")
    if not isinstance(given, str) or given not in ISOLATE_TYPES:
        raise ManifestError("{}: isolate: type must be one of {}, got {!r}"
                            .format(where, ", ".join(
                                '"{}"'.format(t) for t in ISOLATE_TYPES),
                                given))
    return dict(isolate, type=ISOLATE_TYPES[given])


def _seconds(where, key, v, positive=False):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (
            positive and v <= 0):
        raise ManifestError("{}: {}: must be a {} number of seconds, got {!r}"
                            .format(where, key, "positive" if positive
                                    else "non-negative", v))
    return float(v)


def profileWire(profile):
    """
    The profile as app info shows it: its name and the fields in force.
    """
    return {"name": profile.name, "pool-limit": profile.poolLimit,
            "queue-limit": profile.queueLimit,
            "concurrency": profile.concurrency,
            "grow-threshold": profile.growThreshold,
            "heartbeat-timeout": profile.heartbeatTimeout,
            "startup-timeout": profile.startupTimeout,
            "idle-timeout": profile.idleTimeout,
            "termination-timeout": profile.terminationTimeout,
            "session-idle-timeout": profile.sessionIdleTimeout,
            "crashlog-limit": profile.crashlogLimit,
            "log-output": profile.logOutput,
            "scheduling": profile.scheduling,
            "isolate": dict(profile.isolate)}
