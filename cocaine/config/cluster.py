# -*- test-case-name: tests.test_config -*-
"""
The C{cluster} section: discovery (multicast, static, unicorn), peering
and the gateway (C{docs/cluster.md}).
"""

import ipaddress
import json
from dataclasses import dataclass

from cocaine.config.checks import (
    ConfigError, _address, _map, _port, _string, checkInteger, checkKeys,
    describe)
from cocaine.config.network import DEFAULT_LOCATOR_PORT


#: The multicast group of cluster announces unless configured.
DEFAULT_CLUSTER_GROUP = "239.0.100.53"


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
                              describe(discovery)))
    group = _address("cluster.group", value.get("group", defaults.group))
    if not ipaddress.ip_address(group).is_multicast or ":" in group:
        raise ConfigError("cluster.group", "must be an IPv4 multicast "
                          "address (224.0.0.0/4), got {}".format(
                              describe(group)))
    port = _port("cluster.port", value.get("port", defaults.port))
    if port == 0:
        raise ConfigError("cluster.port", "must be a port number 1-65535, "
                          "got 0")
    interval = value.get("interval", defaults.interval)
    if (type(interval) not in (int, float) or not interval > 0
            or interval != interval or interval > 3600):
        raise ConfigError("cluster.interval", "must be a number of seconds "
                          "above 0 and at most 3600, got {}".format(
                              describe(interval)))
    interface = value.get("interface")
    interface = defaults.interface if interface is None else _address(
        "cluster.interface", interface)
    if ":" in interface:
        raise ConfigError("cluster.interface", "must be an IPv4 address, "
                          "got {}".format(describe(interface)))
    ttl = checkInteger("cluster.ttl", value.get("ttl", defaults.ttl), 0, 255)
    loopback = value.get("loopback", defaults.loopback)
    if type(loopback) is not bool:
        raise ConfigError("cluster.loopback", "must be true or false, got "
                          "{}".format(describe(loopback)))
    rawPeers = value.get("peers", [])
    if not isinstance(rawPeers, list):
        raise ConfigError("cluster.peers", "must be an array of [host, "
                          "port], got {}".format(describe(rawPeers)))
    peers = []
    for i, peer in enumerate(rawPeers):
        path = "cluster.peers[{}]".format(i)
        if not isinstance(peer, list) or len(peer) != 2:
            raise ConfigError(path, "must be [host, port], got {}".format(
                describe(peer)))
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
    if secret is not None and (not isinstance(secret, str) or not secret):
        # a secret is never shown, not even a mistyped one
        raise ConfigError("cluster.secret", "must be a non-empty string")
    gateway = value.get("gateway", defaults.gateway)
    if gateway not in ("load-aware", "adhoc"):
        raise ConfigError("cluster.gateway", "must be \"load-aware\" or "
                          "\"adhoc\", got {}".format(describe(gateway)))
    bias = value.get("bias", defaults.bias)
    if (type(bias) not in (int, float) or not 0 <= bias <= 100
            or bias != bias):
        raise ConfigError("cluster.bias", "must be a number 0-100, got {}"
                          .format(describe(bias)))
    window = value.get("replay-window", defaults.replayWindow)
    if (type(window) not in (int, float) or window != window
            or not 1 <= window <= 3600):
        raise ConfigError("cluster.replay-window", "must be a number of "
                          "seconds 1-3600, got {}".format(describe(window)))
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
                          "seconds 1-3600, got {}".format(describe(lease)))
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
