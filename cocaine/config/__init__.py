# -*- test-case-name: tests.test_config -*-
"""
The runtime configuration: one JSON file parsed into frozen objects.

Parsing is pure: L{parse} takes the decoded JSON and returns a L{Config} or
raises L{ConfigError} naming the key path and the reason
(C{services.storage.args.backend: no storage named "x"}). Every key and its
default is documented in C{docs/configuration.md}.
"""

import json
from dataclasses import dataclass, field
from types import MappingProxyType

from cocaine.config.checks import (
    NO_FILE, ConfigError, _map, _string, checkInteger, checkKeys, describe,
    parsePriority, withFile)
from cocaine.config.cluster import (
    DEFAULT_CLUSTER_GROUP, Cluster, _cluster, _clusterBackend)
from cocaine.config.network import (
    DEFAULT_FRAME_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_LOCATOR_PORT,
    DEFAULT_MAX_CHANNELS, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_PEER, DEFAULT_MAX_CONTAINER,
    DEFAULT_MAX_FRAME_OBJECTS, DEFAULT_MAX_LOCATOR_STREAMS,
    DEFAULT_MAX_MESSAGE, TLS, Network, _networkWithTLS)
from cocaine.config.security import (
    Authentication, Authorization, _authentications, _authorizations)


@dataclass(frozen=True)
class Paths:
    """
    Where the node keeps things. Relative paths are relative to the
    directory the node was started in.
    """

    data: str = "var/data"
    spool: str = "var/spool"
    runtime: str = "var/run"


@dataclass(frozen=True)
class Component:
    """
    One storage, unicorn or service entry: C{{type, args}}.
    """

    name: str
    type: str
    args: MappingProxyType = field(default_factory=lambda: MappingProxyType(
        {}))


@dataclass(frozen=True)
class Sink:
    """
    One logging sink: C{{"type": "twistd"}} or
    C{{"type": "file", "path": ...}}.
    """

    type: str
    path: str = None


@dataclass(frozen=True)
class Logging:
    """
    The node's logging: the verbosity of the logging service and its sinks.
    """

    verbosity: int = 1
    sinks: tuple = (Sink("twistd"),)


@dataclass(frozen=True)
class Config:
    """
    The whole parsed configuration.

    @ivar source: the file it came from, or L{NO_FILE} (C{"<defaults>"}).
    @ivar unicorns: C{{name: Component}}, the C{unicorns} section: the
        coordination backends (C{docs/unicorn.md}); none by default.
    """

    source: str
    paths: Paths
    network: Network
    storages: MappingProxyType
    services: MappingProxyType
    logging: Logging
    unicorns: MappingProxyType = field(
        default_factory=lambda: MappingProxyType({}))
    uuid: str = None
    cluster: Cluster = Cluster()
    authentication: Authentication = None
    authorization: Authorization = Authorization()
    insecure: bool = False


#: The embedded defaults: one node with file storage, logging and the node
#: service (apps of the runlist "default").
DEFAULTS = {
    "paths": {"data": "var/data", "spool": "var/spool",
              "runtime": "var/run"},
    "network": {"bind": "127.0.0.1", "locator": DEFAULT_LOCATOR_PORT},
    "storages": {"core": {"type": "files", "args": {}}},
    "services": {
        "logging": {"type": "logging"},
        "storage": {"type": "storage", "args": {"backend": "core"}},
        "node": {"type": "node", "args": {"runlist": "default"}},
    },
    "logging": {"verbosity": "info", "sinks": [{"type": "twistd"}]},
}


def _paths(value):
    value = _map("paths", value)
    checkKeys("paths", value, ("data", "spool", "runtime"))
    defaults = Paths()
    return Paths(**{key: _string("paths." + key, value.get(
        key, getattr(defaults, key))) for key in ("data", "spool", "runtime")})


def _components(section, value, required=()):
    value = _map(section, value)
    result = {}
    for name, entry in value.items():
        path = "{}.{}".format(section, name)
        if not name:
            raise ConfigError(section, "names must not be empty")
        entry = _map(path, entry)
        checkKeys(path, entry, ("type", "args"))
        if "type" not in entry:
            raise ConfigError(path + ".type", "is required")
        args = _map(path + ".args", entry.get("args", {}))
        result[name] = Component(name, _string(path + ".type", entry["type"]),
                                 MappingProxyType(dict(args)))
    for name in required:
        if name not in result:
            raise ConfigError("{}.{}".format(section, name), "is required")
    return MappingProxyType(result)


def _logging(value):
    value = _map("logging", value)
    checkKeys("logging", value, ("verbosity", "sinks"))
    verbosity = parsePriority("logging.verbosity", value.get("verbosity", 1))
    rawSinks = value.get("sinks", [{"type": "twistd"}])
    if not isinstance(rawSinks, list):
        raise ConfigError("logging.sinks", "must be an array, got {}".format(
            describe(rawSinks)))
    sinks = []
    for i, sink in enumerate(rawSinks):
        path = "logging.sinks[{}]".format(i)
        sink = _map(path, sink)
        checkKeys(path, sink, ("type", "path"))
        kind = sink.get("type")
        if kind == "twistd":
            sinks.append(Sink("twistd"))
        elif kind == "file":
            sinks.append(Sink("file", _string(path + ".path",
                                              sink.get("path"))))
        else:
            raise ConfigError(path + ".type", "must be \"twistd\" or "
                              "\"file\", got {}".format(describe(kind)))
    return Logging(verbosity=verbosity, sinks=tuple(sinks))


def parse(value, source=NO_FILE):
    """
    Build a L{Config} from decoded JSON.

    Sections that are missing take the embedded defaults (L{DEFAULTS});
    a section that is present replaces its default whole.

    @raise ConfigError: naming the key path and the reason.
    """
    value = _map("", value)
    checkKeys("", value, ("paths", "network", "storages", "services",
                          "logging", "uuid", "cluster", "authentications",
                          "authorizations", "insecure", "unicorns"))
    merged = dict(DEFAULTS)
    merged.update(value)
    uuid = value.get("uuid")
    if uuid is not None:
        uuid = _string("uuid", uuid)
    insecure = value.get("insecure", False)
    if type(insecure) is not bool:
        raise ConfigError("insecure", "must be true or false, got {}"
                          .format(describe(insecure)))
    unicorns = _components("unicorns", value.get("unicorns", {}))
    return Config(
        source=source,
        paths=_paths(merged["paths"]),
        network=_networkWithTLS(merged["network"]),
        storages=_components("storages", merged["storages"], ("core",)),
        services=_components("services", merged["services"]),
        unicorns=unicorns,
        logging=_logging(merged["logging"]),
        uuid=uuid,
        cluster=_clusterBackend(_cluster(value.get("cluster", {})),
                                unicorns),
        authentication=_authentications(value.get("authentications", {})),
        authorization=_authorizations(value.get("authorizations", {})),
        insecure=insecure)


def load(path):
    """
    Read and parse the configuration file at C{path}.

    @raise ConfigError: with C{path} named in the reason when the file is
        missing, not JSON, or not a valid configuration.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError("", "cannot read config {}: {}".format(
            path, e.strerror or e))
    try:
        value = json.loads(data)
    except ValueError as e:
        raise ConfigError("", "config {} is not valid JSON: {}".format(
            path, e))
    try:
        return parse(value, source=path)
    except ConfigError as e:
        raise e.withFile(path)


#: What the package offers, the sections' modules included.
__all__ = [
    "ConfigError", "NO_FILE", "withFile", "describe", "checkInteger",
    "checkKeys", "parsePriority", "parse", "load", "DEFAULTS", "Config",
    "Paths", "Component", "Sink", "Logging", "Network", "TLS", "Cluster",
    "Authentication", "Authorization", "DEFAULT_LOCATOR_PORT",
    "DEFAULT_MAX_MESSAGE", "DEFAULT_MAX_CONTAINER",
    "DEFAULT_MAX_FRAME_OBJECTS", "DEFAULT_MAX_CHANNELS",
    "DEFAULT_IDLE_TIMEOUT", "DEFAULT_FRAME_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS", "DEFAULT_MAX_CONNECTIONS_PER_PEER",
    "DEFAULT_MAX_LOCATOR_STREAMS", "DEFAULT_CLUSTER_GROUP"]
