# -*- test-case-name: tests.test_config -*-
"""
The C{network} section: where the node binds, its connection limits, and
C{network.tls}.
"""

from dataclasses import dataclass, replace

from cocaine.config.checks import (
    ConfigError, _address, _map, _port, _string, checkInteger, checkKeys,
    describe)


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


def _network(value):
    value = _map("network", value)
    checkKeys("network", value, ("bind", "advertise", "locator", "ports",
                                 "max-message") + _LIMIT_KEYS)
    ports = value.get("ports")
    if ports is not None:
        if (not isinstance(ports, list) or len(ports) != 2
                or not all(type(p) is int for p in ports)):
            raise ConfigError("network.ports", "must be [first, last] or "
                              "null, got {}".format(describe(ports)))
        first, last = (_port("network.ports[0]", ports[0]),
                       _port("network.ports[1]", ports[1]))
        if first == 0 or last < first:
            raise ConfigError("network.ports", "must be a range of ports "
                              "with 0 < first <= last, got {}".format(ports))
        ports = (first, last)
    maxMessage = value.get("max-message", DEFAULT_MAX_MESSAGE)
    if type(maxMessage) is not int or maxMessage < 1024:
        raise ConfigError("network.max-message", "must be a byte count of "
                          "at least 1024, got {}".format(describe(
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
                          .format(describe(seconds)))
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
                          .format(describe(endpoints)))
    return TLS(cert=value["cert"], key=value["key"], clientCA=clientCA,
               endpoints=endpoints)
