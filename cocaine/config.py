# -*- test-case-name: tests.test_config -*-
"""
The runtime configuration: one JSON file parsed into frozen objects.

Parsing is pure: L{parse} takes the decoded JSON and returns a L{Config} or
raises L{ConfigError} naming the key path and the reason
(C{services.storage.args.backend: no storage named "x"}). Every key and its
default is documented in C{docs/configuration.md}.
"""

import ipaddress
import json
from dataclasses import dataclass, field, replace
from types import MappingProxyType

#: The locator's port unless configured.
DEFAULT_LOCATOR_PORT = 10053

#: The largest frame a connection may buffer (a 64 MiB value fits).
DEFAULT_MAX_MESSAGE = 128 * 1024 * 1024

#: Connection limits (issue 14; docs/security-limits.md): elements of one
#: msgpack array or map in a request, small values one large frame may
#: make, open channels per connection, seconds without a byte and without
#: an open channel, seconds one frame may take to arrive, connections in
#: total and per peer address, C{locator.connect} streams on the node.
DEFAULT_MAX_CONTAINER = 65536
DEFAULT_MAX_FRAME_OBJECTS = 262144
DEFAULT_MAX_CHANNELS = 1024
DEFAULT_IDLE_TIMEOUT = 600.0
DEFAULT_FRAME_TIMEOUT = 60.0
DEFAULT_MAX_CONNECTIONS = 4096
DEFAULT_MAX_CONNECTIONS_PER_PEER = 1024
DEFAULT_MAX_LOCATOR_STREAMS = 4096

#: The multicast group of cluster announces unless configured.
DEFAULT_CLUSTER_GROUP = "239.0.100.53"

_PRIORITIES = {"debug": 0, "info": 1, "warning": 2, "error": 3}


class ConfigError(ValueError):
    """
    A configuration that cannot be used.

    @ivar path: the key path (C{"network.locator"}), or C{""} for the file.
    @ivar reason: what is wrong with it.
    """

    def __init__(self, path, reason):
        ValueError.__init__(self, path, reason)
        self.path = path
        self.reason = reason

    def __str__(self):
        return "{}: {}".format(self.path, self.reason) if self.path else (
            self.reason)


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
class Network:
    """
    Where the node listens.

    @ivar ports: C{(first, last)} for the services other than the locator,
        or L{None} for ports the OS assigns.
    """

    bind: str = "127.0.0.1"
    advertise: str = None
    tls: "TLS" = None
    locator: int = DEFAULT_LOCATOR_PORT
    ports: tuple = None
    maxMessage: int = DEFAULT_MAX_MESSAGE
    maxContainer: int = DEFAULT_MAX_CONTAINER
    maxFrameObjects: int = DEFAULT_MAX_FRAME_OBJECTS
    maxChannels: int = DEFAULT_MAX_CHANNELS
    writeBufferMax: int = None
    idleTimeout: float = DEFAULT_IDLE_TIMEOUT
    frameTimeout: float = DEFAULT_FRAME_TIMEOUT
    maxConnections: int = DEFAULT_MAX_CONNECTIONS
    maxConnectionsPerPeer: int = DEFAULT_MAX_CONNECTIONS_PER_PEER
    maxLocatorStreams: int = DEFAULT_MAX_LOCATOR_STREAMS

    @property
    def writeLimit(self):
        """
        The bytes a connection may queue for a peer that does not read
        before it is dropped: C{write-buffer-max}, or C{max-message}.
        """
        if self.writeBufferMax is None:
            return self.maxMessage
        return self.writeBufferMax

    @property
    def advertised(self):
        """
        The address published in resolve answers.
        """
        if self.advertise:
            return self.advertise
        if self.bind in ("0.0.0.0", "::", ""):
            return "127.0.0.1"
        return self.bind


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
class Cluster:
    """
    Cluster discovery and peering (C{docs/cluster.md}).

    @ivar discovery: C{"multicast"}, C{"static"}, C{"unicorn"} or L{None}
        (off).
    @ivar peers: C{((host, port), ...)}: the locators of the other nodes,
        for static discovery.
    @ivar secret: the HMAC key of multicast announces, or L{None}.
    @ivar gateway: C{"load-aware"} (ours) or C{"adhoc"} (Cocaine's): who
        answers C{resolve} of a name remote nodes publish.
    @ivar bias: how much busier (in load score) the local node may be
        than the least-loaded peer before the load-aware gateway sends a
        resolve to that peer.
    @ivar replayWindow: with a secret, seconds a signed announce is
        accepted either side of our clock (C{replay-window}).
    @ivar maxUnlinked: nodes heard but not linked tracked at most; the
        oldest is forgotten for a new one (C{max-unlinked}).
    @ivar maxReportApps: apps of one peer's load report kept at most
        (C{max-report-apps}).
    @ivar backend: with unicorn discovery, the name of the C{unicorns}
        entry nodes register in.
    @ivar lease: with unicorn discovery, the TTL in seconds of a node's
        registration (kept alive every third of it).
    """

    discovery: str = None
    group: str = DEFAULT_CLUSTER_GROUP
    port: int = DEFAULT_LOCATOR_PORT
    interval: float = 5.0
    interface: str = "127.0.0.1"
    ttl: int = 1
    loopback: bool = True
    peers: tuple = ()
    secret: str = None
    gateway: str = "load-aware"
    bias: float = 0.1
    replayWindow: float = 30.0
    maxUnlinked: int = 64
    maxReportApps: int = 256
    backend: str = "core"
    lease: int = 5


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


@dataclass(frozen=True)
class Config:
    """
    The whole parsed configuration.

    @ivar source: the file it came from, or C{"<defaults>"}.
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


def _describe(value):
    return json.dumps(value) if not isinstance(value, (dict, list)) else (
        "a map" if isinstance(value, dict) else "an array")


def _map(path, value):
    if not isinstance(value, dict):
        raise ConfigError(path, "must be a map, got {}".format(
            _describe(value)))
    return value


def checkKeys(path, value, allowed):
    """
    Refuse a key of the map C{value} not in C{allowed}: what components
    and plugins check their args with.

    @param path: where C{value} is (C{""} at the top), for messages.
    @raise ConfigError: naming the first unknown key and the allowed ones.
    """
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ConfigError(
            "{}.{}".format(path, unknown[0]) if path else unknown[0],
            "unknown key (allowed: {})".format(", ".join(sorted(allowed))))


def checkInteger(path, value, low, high):
    """
    Refuse a C{value} that is not an integer from C{low} to C{high}
    (booleans are not integers here).

    @return: C{value}.
    @raise ConfigError: at C{path}, saying the range.
    """
    if type(value) is not int or not low <= value <= high:
        raise ConfigError(path, "must be an integer {}-{}, got {}".format(
            low, high, _describe(value)))
    return value


def _string(path, value):
    if not isinstance(value, str) or not value:
        raise ConfigError(path, "must be a non-empty string, got {}".format(
            _describe(value)))
    return value


def _port(path, value):
    if type(value) is not int or not 0 <= value <= 65535:
        raise ConfigError(path, "must be a port number 0-65535, got {}"
                          .format(_describe(value)))
    return value


def _address(path, value):
    value = _string(path, value)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(path, "must be an IP address, got {}".format(
            _describe(value)))
    return value


def parsePriority(path, value):
    if type(value) is int and 0 <= value <= 3:
        return value
    if isinstance(value, str) and value in _PRIORITIES:
        return _PRIORITIES[value]
    raise ConfigError(path, "must be one of {} or 0-3, got {}".format(
        ", ".join(_PRIORITIES), _describe(value)))


def _paths(value):
    value = _map("paths", value)
    checkKeys("paths", value, ("data", "spool", "runtime"))
    defaults = Paths()
    return Paths(**{key: _string("paths." + key, value.get(
        key, getattr(defaults, key))) for key in ("data", "spool", "runtime")})


def _network(value):
    value = _map("network", value)
    checkKeys("network", value, ("bind", "advertise", "locator", "ports",
                                 "max-message") + _LIMIT_KEYS)
    ports = value.get("ports")
    if ports is not None:
        if (not isinstance(ports, list) or len(ports) != 2
                or not all(type(p) is int for p in ports)):
            raise ConfigError("network.ports", "must be [first, last] or "
                              "null, got {}".format(_describe(ports)))
        first, last = (_port("network.ports[0]", ports[0]),
                       _port("network.ports[1]", ports[1]))
        if first == 0 or last < first:
            raise ConfigError("network.ports", "must be a range of ports "
                              "with 0 < first <= last, got {}".format(ports))
        ports = (first, last)
    maxMessage = value.get("max-message", DEFAULT_MAX_MESSAGE)
    if type(maxMessage) is not int or maxMessage < 1024:
        raise ConfigError("network.max-message", "must be a byte count of "
                          "at least 1024, got {}".format(_describe(
                              maxMessage)))
    advertise = value.get("advertise")
    return Network(
        bind=_address("network.bind", value.get("bind", "127.0.0.1")),
        advertise=None if advertise is None else _address(
            "network.advertise", advertise),
        locator=_port("network.locator", value.get(
            "locator", DEFAULT_LOCATOR_PORT)),
        ports=ports, maxMessage=maxMessage,
        **_limits(value, maxMessage))


_LIMIT_KEYS = ("max-container", "max-frame-objects", "max-channels",
               "write-buffer-max", "idle-timeout", "frame-timeout",
               "max-connections", "max-connections-per-peer",
               "max-locator-streams")


def _limitCount(value, key, default, least=1, most=2 ** 31):
    return checkInteger("network." + key, value.get(key, default), least,
                        most)


def _limitSeconds(value, key, default):
    path = "network." + key
    seconds = value.get(key, default)
    if seconds is None:
        return None
    if (type(seconds) not in (int, float) or seconds != seconds
            or not 0 < seconds <= 86400):
        raise ConfigError(path, "must be a number of seconds above 0 and "
                          "at most 86400, or null (no timeout), got {}"
                          .format(_describe(seconds)))
    return float(seconds)


def _limits(value, maxMessage):
    """
    The connection limits of the C{network} section, validated.
    """
    count, seconds = _limitCount, _limitSeconds
    writeMax = value.get("write-buffer-max")
    if writeMax is not None:
        writeMax = count(value, "write-buffer-max", None, least=256 * 1024,
                         most=2 ** 40)
    total = count(value, "max-connections", DEFAULT_MAX_CONNECTIONS)
    perPeer = count(value, "max-connections-per-peer",
                    min(total, DEFAULT_MAX_CONNECTIONS_PER_PEER))
    if perPeer > total:
        raise ConfigError("network.max-connections-per-peer", "must be at "
                          "most max-connections ({}), got {}".format(
                              total, perPeer))
    return dict(
        maxContainer=count(value, "max-container", DEFAULT_MAX_CONTAINER,
                           least=16),
        maxFrameObjects=count(value, "max-frame-objects",
                              DEFAULT_MAX_FRAME_OBJECTS, least=1024),
        maxChannels=count(value, "max-channels", DEFAULT_MAX_CHANNELS),
        writeBufferMax=writeMax,
        idleTimeout=seconds(value, "idle-timeout", DEFAULT_IDLE_TIMEOUT),
        frameTimeout=seconds(value, "frame-timeout", DEFAULT_FRAME_TIMEOUT),
        maxConnections=total, maxConnectionsPerPeer=perPeer,
        maxLocatorStreams=count(value, "max-locator-streams",
                                DEFAULT_MAX_LOCATOR_STREAMS))


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
            _describe(rawSinks)))
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
                              "\"file\", got {}".format(_describe(kind)))
    return Logging(verbosity=verbosity, sinks=tuple(sinks))


_CLUSTER_KEYS = ("discovery", "group", "port", "interval", "interface",
                 "ttl", "loopback", "peers", "secret", "gateway", "bias",
                 "replay-window", "max-unlinked", "max-report-apps",
                 "backend", "lease")


def _cluster(value):
    """
    The C{cluster} section; L{Cluster} defaults for what it leaves out.
    """
    value = _map("cluster", value)
    checkKeys("cluster", value, _CLUSTER_KEYS)
    defaults = Cluster()
    discovery = value.get("discovery")
    if discovery not in (None, "multicast", "static", "unicorn"):
        raise ConfigError("cluster.discovery", "must be \"multicast\", "
                          "\"static\", \"unicorn\" or null, got {}".format(
                              _describe(discovery)))
    group = _address("cluster.group", value.get("group", defaults.group))
    if not ipaddress.ip_address(group).is_multicast or ":" in group:
        raise ConfigError("cluster.group", "must be an IPv4 multicast "
                          "address (224.0.0.0/4), got {}".format(
                              _describe(group)))
    port = _port("cluster.port", value.get("port", defaults.port))
    if port == 0:
        raise ConfigError("cluster.port", "must be a port number 1-65535, "
                          "got 0")
    interval = value.get("interval", defaults.interval)
    if (type(interval) not in (int, float) or not interval > 0
            or interval != interval or interval > 3600):
        raise ConfigError("cluster.interval", "must be a number of seconds "
                          "above 0 and at most 3600, got {}".format(
                              _describe(interval)))
    interface = value.get("interface")
    interface = defaults.interface if interface is None else _address(
        "cluster.interface", interface)
    if ":" in interface:
        raise ConfigError("cluster.interface", "must be an IPv4 address, "
                          "got {}".format(_describe(interface)))
    ttl = checkInteger("cluster.ttl", value.get("ttl", defaults.ttl), 0, 255)
    loopback = value.get("loopback", defaults.loopback)
    if type(loopback) is not bool:
        raise ConfigError("cluster.loopback", "must be true or false, got "
                          "{}".format(_describe(loopback)))
    rawPeers = value.get("peers", [])
    if not isinstance(rawPeers, list):
        raise ConfigError("cluster.peers", "must be an array of [host, "
                          "port], got {}".format(_describe(rawPeers)))
    peers = []
    for i, peer in enumerate(rawPeers):
        path = "cluster.peers[{}]".format(i)
        if not isinstance(peer, list) or len(peer) != 2:
            raise ConfigError(path, "must be [host, port], got {}".format(
                _describe(peer)))
        host = _string(path + "[0]", peer[0])
        peerPort = _port(path + "[1]", peer[1])
        if peerPort == 0:
            raise ConfigError(path + "[1]", "must be a port number 1-65535, "
                              "got 0")
        peers.append((host, peerPort))
    if discovery == "static" and not peers:
        raise ConfigError("cluster.peers", "static discovery needs at least "
                          "one peer [host, port]")
    secret = value.get("secret")
    if secret is not None:
        secret = _string("cluster.secret", secret)
    gateway = value.get("gateway", defaults.gateway)
    if gateway not in ("load-aware", "adhoc"):
        raise ConfigError("cluster.gateway", "must be \"load-aware\" or "
                          "\"adhoc\", got {}".format(_describe(gateway)))
    bias = value.get("bias", defaults.bias)
    if (type(bias) not in (int, float) or not 0 <= bias <= 100
            or bias != bias):
        raise ConfigError("cluster.bias", "must be a number 0-100, got {}"
                          .format(_describe(bias)))
    window = value.get("replay-window", defaults.replayWindow)
    if (type(window) not in (int, float) or window != window
            or not 1 <= window <= 3600):
        raise ConfigError("cluster.replay-window", "must be a number of "
                          "seconds 1-3600, got {}".format(_describe(window)))
    caps = {}
    for key, low, high in (("max-unlinked", 1, 100000),
                           ("max-report-apps", 1, 100000)):
        caps[_CLUSTER_FIELDS[key]] = checkInteger(
            "cluster." + key,
            value.get(key, getattr(defaults, _CLUSTER_FIELDS[key])), low,
            high)
    backend = _string("cluster.backend",
                      value.get("backend", defaults.backend))
    lease = value.get("lease", defaults.lease)
    if type(lease) is not int or not 1 <= lease <= 3600:
        raise ConfigError("cluster.lease", "must be an integer number of "
                          "seconds 1-3600, got {}".format(_describe(lease)))
    return Cluster(discovery=discovery, group=group, port=port,
                   interval=float(interval), interface=interface, ttl=ttl,
                   loopback=loopback, peers=tuple(peers), secret=secret,
                   gateway=gateway, bias=float(bias),
                   replayWindow=float(window), backend=backend,
                   lease=lease, **caps)


def _clusterBackend(cluster, unicorns):
    """
    With unicorn discovery, C{cluster.backend} must name a C{unicorns}
    entry.
    """
    if cluster.discovery == "unicorn" and cluster.backend not in unicorns:
        raise ConfigError("cluster.backend", "no unicorn named {} "
                          "(configured: {})".format(
                              json.dumps(cluster.backend),
                              ", ".join(sorted(unicorns)) or
                              "none; add a \"unicorns\" section"))
    return cluster


_CLUSTER_FIELDS = {"max-unlinked": "maxUnlinked",
                   "max-report-apps": "maxReportApps"}


def _seconds(path, value, low, high):
    if (type(value) not in (int, float) or value != value
            or not low <= value <= high):
        raise ConfigError(path, "must be a number of seconds {}-{}, got {}"
                          .format(low, high, _describe(value)))
    return float(value)


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
                          "\"promiscuous\", got {}".format(_describe(kind)))
    checkKeys(path + ".args", args, ("secret-file", "secret-files"))
    files = []
    if "secret-file" in args:
        files.append(_string(path + ".args.secret-file",
                             args["secret-file"]))
    extra = args.get("secret-files", [])
    if not isinstance(extra, list):
        raise ConfigError(path + ".args.secret-files", "must be an array "
                          "of paths, got {}".format(_describe(extra)))
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
                                  name, _describe(kind)))
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
                                      _describe(backend)))
            result["cacheSeconds"] = _seconds(
                path + ".args.cache-duration",
                entryArgs.get("cache-duration", defaults.cacheSeconds),
                0, 3600)
    return Authorization(**result)


def parse(value, source="<defaults>"):
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
                          .format(_describe(insecure)))
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
        raise ConfigError(e.path, "{} (in {})".format(e.reason, path))


@dataclass(frozen=True)
class TLS:
    """
    C{network.tls}: every native endpoint of the node listens with TLS.

    @ivar cert: the server certificate (PEM; the chain may follow it).
    @ivar key: its private key (PEM, unencrypted).
    @ivar clientCA: CA certificates (PEM) client certificates must chain
        to, or L{None}; when set, clients must present one.
    @ivar endpoints: which endpoints: C{"all"}, the only value so far.
    """

    cert: str
    key: str
    clientCA: str = None
    endpoints: str = "all"


def _networkWithTLS(value):
    value = dict(_map("network", value))
    tls = value.pop("tls", None)
    network = _network(value)
    if tls is None:
        return network
    return replace(network, tls=_tls(tls))


def _pemFile(path, value, what):
    """
    Read the PEM file a key names.

    @return: its bytes.
    """
    import os
    value = _string(path, value)
    try:
        with open(value, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError(path, "cannot read {} {}: {}".format(
            what, value, e.strerror or e))
    if b"-----BEGIN" not in data:
        raise ConfigError(path, "{} is not a PEM file ({})".format(
            value, what))
    if what == "private key":
        mode = os.stat(value).st_mode & 0o777
        if mode & 0o007:
            raise ConfigError(path, "{} is readable or writable by others "
                              "(mode {:o}); chmod 600 (or 640) it".format(
                                  value, mode))
    return data


def _tls(value):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    path = "network.tls"
    value = _map(path, value)
    checkKeys(path, value, ("cert", "key", "client-ca", "endpoints"))
    for key in ("cert", "key"):
        if key not in value:
            raise ConfigError("{}.{}".format(path, key), "is required")
    cert = _pemFile(path + ".cert", value["cert"], "certificate")
    key = _pemFile(path + ".key", value["key"], "private key")
    try:
        certificate = x509.load_pem_x509_certificates(cert)[0]
    except ValueError as e:
        raise ConfigError(path + ".cert", "{}: not a PEM certificate ({})"
                          .format(value["cert"], e))
    try:
        privateKey = serialization.load_pem_private_key(key, None)
    except (ValueError, TypeError) as e:
        raise ConfigError(path + ".key", "{}: not an unencrypted PEM "
                          "private key ({})".format(value["key"], e))

    def public(k):
        return k.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    if public(privateKey.public_key()) != public(certificate.public_key()):
        raise ConfigError(path + ".key", "{} is not the key of the "
                          "certificate {}".format(value["key"],
                                                  value["cert"]))
    clientCA = value.get("client-ca")
    if clientCA is not None:
        data = _pemFile(path + ".client-ca", clientCA, "CA certificate")
        try:
            x509.load_pem_x509_certificates(data)
        except ValueError as e:
            raise ConfigError(path + ".client-ca", "{}: not a PEM "
                              "certificate ({})".format(clientCA, e))
    endpoints = value.get("endpoints", "all")
    if endpoints != "all":
        raise ConfigError(path + ".endpoints", 'must be "all", got {}'
                          .format(_describe(endpoints)))
    return TLS(cert=value["cert"], key=value["key"], clientCA=clientCA,
               endpoints=endpoints)
