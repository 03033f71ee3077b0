# -*- test-case-name: tests.http.test_config -*-
"""
The gateway's settings: the C{http} service's args, checked with errors
that name the key, and the same settings for the standalone proxy.

    {"port": 8080, "max-body": 67108864, "max-connections": 1024,
     "header-timeout": 10, "body-timeout": 30, "idle-timeout": 60,
     "timeout": 30, "timeouts": {"app": {"event": 5, "": 10}},
     "max-buffer": 33554432, "send-timeout": 60}
"""

from dataclasses import dataclass, field

from cocaine.config import ConfigError, describe

DEFAULT_PORT = 8080
DEFAULT_MAX_BODY = 64 * 2 ** 20
DEFAULT_MAX_BUFFER = 32 * 2 ** 20


@dataclass(frozen=True)
class Settings:
    """
    @ivar timeouts: C{{app: {event: seconds, "": app default}}}.
    """

    port: int = DEFAULT_PORT
    maxBody: int = DEFAULT_MAX_BODY
    maxConnections: int = 1024
    headerTimeout: float = 10.0
    bodyTimeout: float = 30.0
    idleTimeout: float = 60.0
    timeout: float = 30.0
    timeouts: dict = field(default_factory=dict)
    maxBuffer: int = DEFAULT_MAX_BUFFER
    sendTimeout: float = 60.0

    def factoryArguments(self):
        """
        The keyword arguments of the server's C{HTTPFactory}.
        """
        return dict(maxBody=self.maxBody,
                    maxConnections=self.maxConnections,
                    headerTimeout=self.headerTimeout,
                    bodyTimeout=self.bodyTimeout,
                    idleTimeout=self.idleTimeout,
                    maxBuffer=self.maxBuffer,
                    sendTimeout=self.sendTimeout,
                    holdWrites=True)


#: arg name: (attribute, kind, minimum)
_NUMBERS = {
    "port": ("port", int, 0),
    "max-body": ("maxBody", int, 0),
    "max-connections": ("maxConnections", int, 1),
    "header-timeout": ("headerTimeout", float, 0),
    "body-timeout": ("bodyTimeout", float, 0),
    "idle-timeout": ("idleTimeout", float, 0),
    "timeout": ("timeout", float, 0),
    "max-buffer": ("maxBuffer", int, 1),
    "send-timeout": ("sendTimeout", float, 0),
}

ALLOWED = frozenset(_NUMBERS) | {"timeouts"}


def _number(path, value, kind, minimum):
    if isinstance(value, bool) or not isinstance(
            value, (int,) if kind is int else (int, float)):
        raise ConfigError(path, "must be {} >= {}, got {}".format(
            "an integer" if kind is int else "a number of seconds",
            minimum, describe(value)))
    if value < minimum or (kind is float and value == 0
                           and not minimum):
        if kind is float:
            raise ConfigError(path, "must be a number of seconds > 0, got "
                              "{}".format(describe(value)))
        raise ConfigError(path, "must be an integer >= {}, got {}".format(
            minimum, describe(value)))
    return kind(value)


def parseSettings(path, args):
    """
    @param path: the key path of the args, for messages.
    @return: L{Settings}.
    @raise ConfigError: naming the key and the reason.
    """
    if not isinstance(args, dict):
        raise ConfigError(path, "must be a map, got {}".format(
            describe(args)))
    unknown = sorted(set(args) - ALLOWED)
    if unknown:
        raise ConfigError("{}.{}".format(path, unknown[0]),
                          "unknown key (allowed: {})".format(
                              ", ".join(sorted(ALLOWED))))
    values = {}
    for key, (attribute, kind, minimum) in _NUMBERS.items():
        if key in args:
            values[attribute] = _number("{}.{}".format(path, key), args[key],
                                        kind, minimum)
    if values.get("port", DEFAULT_PORT) > 65535:
        raise ConfigError(path + ".port", "must be a TCP port (0-65535), "
                          "got {}".format(describe(args["port"])))
    timeouts = args.get("timeouts", {})
    if not isinstance(timeouts, dict):
        raise ConfigError(path + ".timeouts", "must be a map of app to "
                          "{{event: seconds, \"\": default}}, got {}".format(
                              describe(timeouts)))
    checked = {}
    for app, events in timeouts.items():
        where = "{}.timeouts.{}".format(path, app)
        if not isinstance(events, dict):
            raise ConfigError(where, "must be a map of event to seconds "
                              "(\"\" for the app's default), got {}".format(
                                  describe(events)))
        checked[app] = {
            event: _number("{}.{}".format(where, event or '""'), seconds,
                           float, 0)
            for event, seconds in events.items()}
    values["timeouts"] = checked
    return Settings(**values)
