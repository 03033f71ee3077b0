# -*- test-case-name: tests.test_config -*-
"""
Reading one value of the configuration: the error that names its key
path, and the checks every section and plugin shares.
"""

import ipaddress
import json


_PRIORITIES = {"debug": 0, "info": 1, "warning": 2, "error": 3}

#: The C{source} of a configuration read from no file: the embedded
#: defaults, or decoded JSON handed to C{parse}.
NO_FILE = "<defaults>"


def withFile(reason, source):
    """
    C{reason} naming the configuration file it is about, the way every
    refusal of a file ends: C{"must be ..., got "x" (in /etc/c.json)"}.

    @param source: the file (C{Config.source}); L{NO_FILE} adds nothing.
    """
    if source == NO_FILE:
        return reason
    return "{} (in {})".format(reason, source)


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

    def withFile(self, source):
        """
        @return: this refusal naming the file it is about (L{withFile}).
        """
        return ConfigError(self.path, withFile(self.reason, source))


def describe(value):
    """
    A refused value as a message shows it, after C{got}: JSON for a
    scalar (C{"x"}, C{true}, C{5}), C{a map} or C{an array} otherwise.
    Plugins name what they refuse with it, the way parsing does.
    """
    return json.dumps(value) if not isinstance(value, (dict, list)) else (
        "a map" if isinstance(value, dict) else "an array")


def _map(path, value):
    if not isinstance(value, dict):
        raise ConfigError(path, "must be a map, got {}".format(
            describe(value)))
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
            low, high, describe(value)))
    return value


def _string(path, value):
    if not isinstance(value, str) or not value:
        raise ConfigError(path, "must be a non-empty string, got {}".format(
            describe(value)))
    return value


def _port(path, value):
    if type(value) is not int or not 0 <= value <= 65535:
        raise ConfigError(path, "must be a port number 0-65535, got {}"
                          .format(describe(value)))
    return value


def _address(path, value):
    value = _string(path, value)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(path, "must be an IP address, got {}".format(
            describe(value)))
    return value


def parsePriority(path, value):
    if type(value) is int and 0 <= value <= 3:
        return value
    if isinstance(value, str) and value in _PRIORITIES:
        return _PRIORITIES[value]
    raise ConfigError(path, "must be one of {} or 0-3, got {}".format(
        ", ".join(_PRIORITIES), describe(value)))


def _seconds(path, value, low, high):
    if (type(value) not in (int, float) or value != value
            or not low <= value <= high):
        raise ConfigError(path, "must be a number of seconds {}-{}, got {}"
                          .format(low, high, describe(value)))
    return float(value)
