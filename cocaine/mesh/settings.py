# -*- test-case-name: tests.mesh.test_settings -*-
"""
The C{mesh} settings of the bridge as a configuration gives them: the
segmentation (C{key}, C{namespace}, C{environment}) and the discovery
options of L{cocaine.mesh.discovery.DiscoveryOptions}, checked before the
node starts. A refusal is a L{cocaine.config.ConfigError} naming the key
and the value it refuses, the way the parser says its own (a C{secret}
or C{signingKey} is never shown); nothing is left for the components to
refuse with a Python message once they start.
"""

import inspect
import ipaddress
import math

from cocaine.config import ConfigError, checkInteger, checkKeys, describe
from cocaine.mesh.discovery import DiscoveryOptions

__all__ = ["SEGMENTATION", "DISCOVERY", "checkMesh"]

#: The segmentation keys: components pair only within the same ones.
SEGMENTATION = ("key", "namespace", "environment")

#: The discovery options (L{cocaine.mesh.discovery.DiscoveryOptions}).
DISCOVERY = ("port", "helloInterval", "checkInterval", "nodeTimeout",
             "broadcast", "multicast", "multicastTTL", "unicast", "address",
             "secret", "useHostNames", "helloReplyInterval", "signingKey",
             "signatureWindow")

#: The intervals, in seconds: those that may be 0 map to C{True}.
_SECONDS = {"helloInterval": False, "checkInterval": False,
            "nodeTimeout": False, "helloReplyInterval": True,
            "signatureWindow": False}

#: What discovery reaches beyond this host with; at most one of them.
_REACH = ("broadcast", "multicast", "unicast")

#: The discovery options' defaults.
_DEFAULTS = {name: parameter.default for name, parameter in
             inspect.signature(DiscoveryOptions).parameters.items()}


def checkMesh(path, value):
    """
    Refuse C{mesh} settings the bridge's components could not use.

    @param path: where C{value} is (C{"services.mesh_bridge.args.mesh"}).
    @param value: the settings as decoded from JSON.
    @raise ConfigError: naming the first unknown key, or the key whose
        value is refused and that value (never a secret's).
    """
    if not isinstance(value, dict):
        raise ConfigError(path, "must be a map, got {}".format(
            describe(value)))
    checkKeys(path, value, SEGMENTATION + DISCOVERY)

    def where(key):
        return "{}.{}".format(path, key)
    for key in SEGMENTATION:
        if not isinstance(value.get(key, ""), (str, type(None))):
            raise ConfigError(where(key), "must be a string or null, got {}"
                              .format(describe(value[key])))
    if "port" in value:
        checkInteger(where("port"), value["port"], 1, 65535)
    for key, zero in _SECONDS.items():
        if key in value:
            _seconds(where(key), value[key], zero)
    checkInterval = value.get("checkInterval", _DEFAULTS["checkInterval"])
    nodeTimeout = value.get("nodeTimeout", _DEFAULTS["nodeTimeout"])
    if nodeTimeout < checkInterval:
        # the one of the two that was given, nodeTimeout if both were
        if "nodeTimeout" in value:
            raise ConfigError(where("nodeTimeout"), "must be at least "
                              "checkInterval ({}), got {}".format(
                                  describe(checkInterval),
                                  describe(nodeTimeout)))
        raise ConfigError(where("checkInterval"), "must be at most "
                          "nodeTimeout ({}), got {}".format(
                              describe(nodeTimeout),
                              describe(checkInterval)))
    reach = [key for key in _REACH if value.get(key) is not None]
    if len(reach) > 1:
        raise ConfigError(path, "choose one of broadcast, multicast and "
                          "unicast, got {}".format(" and ".join(reach)))
    for key in ("broadcast", "address"):
        if value.get(key) is not None:
            _ipv4(where(key), value[key])
    if value.get("multicast") is not None:
        if not _ipv4(where("multicast"), value["multicast"]).is_multicast:
            raise ConfigError(where("multicast"), "must be an IPv4 multicast "
                              "address (224.0.0.0/4), got {}".format(
                                  describe(value["multicast"])))
    if "multicastTTL" in value:
        checkInteger(where("multicastTTL"), value["multicastTTL"], 0, 255)
    if value.get("unicast") is not None:
        _unicast(where("unicast"), value["unicast"])
    if not isinstance(value.get("useHostNames", False), bool):
        raise ConfigError(where("useHostNames"), "must be true or false, "
                          "got {}".format(describe(value["useHostNames"])))
    for key in ("secret", "signingKey"):
        secret = value.get(key)
        if secret is not None and (not isinstance(secret, str)
                                   or not secret):
            # a secret is never shown, not even a mistyped one
            raise ConfigError(where(key), "must be a non-empty string")


def _seconds(path, value, zero):
    if (type(value) not in (int, float) or not math.isfinite(value)
            or value < 0 or (value == 0 and not zero)):
        raise ConfigError(path, "must be a number of seconds {} 0, got {}"
                          .format(">=" if zero else ">", describe(value)))


def _ipv4(path, value):
    """
    @return: C{value} as an L{ipaddress.IPv4Address}.
    @raise ConfigError: it is not the text of one (discovery's sockets are
        IPv4).
    """
    if isinstance(value, str):
        try:
            return ipaddress.IPv4Address(value)
        except ValueError:
            pass
    raise ConfigError(path, "must be an IPv4 address, got {}".format(
        describe(value)))


def _unicast(path, value):
    addresses = value
    if isinstance(value, str):
        # as DiscoveryOptions reads it
        addresses = [u.strip() for u in value.split(",") if u.strip()]
    if not isinstance(addresses, list) or not addresses:
        raise ConfigError(path, "must be a non-empty list of IPv4 addresses "
                          "(or a comma-separated text of them), got {}"
                          .format(describe(value)))
    for i, address in enumerate(addresses):
        _ipv4("{}[{}]".format(path, i), address)
