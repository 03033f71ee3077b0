# -*- test-case-name: tests.management.test_service,tests.test_plugins -*-
"""
The C{management} service plugin: the ZeroMQ-era JSON management plane
(PROTOCOL.md section 9). Args: C{{"endpoint": "tcp://127.0.0.1:5000",
"require-signature": false, "max-message": 1048576, "replay-window":
30}}. Needs the node service.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _ManagementPlugin:
    name = "management"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError, describe
        from cocaine.zeromq import EndpointError, checkEndpoint
        allowed = {"endpoint", "require-signature", "max-message",
                   "replay-window"}
        unknown = sorted(set(args) - allowed)
        if unknown:
            raise ConfigError("{}.{}".format(path, unknown[0]),
                              "unknown key (allowed: {})".format(
                                  ", ".join(sorted(allowed))))
        try:
            checkEndpoint(args.get("endpoint", "tcp://127.0.0.1:5000"))
        except EndpointError as e:
            raise ConfigError(path + ".endpoint", str(e))
        signed = args.get("require-signature", False)
        if not isinstance(signed, bool):
            raise ConfigError(path + ".require-signature",
                              "must be true or false, got {}".format(
                                  describe(signed)))
        size = args.get("max-message", 1024 * 1024)
        if type(size) is not int or not 1024 <= size <= 1024 ** 3:
            raise ConfigError(path + ".max-message", "must be a number of "
                              "bytes from 1024 to 1073741824, got {}"
                              .format(describe(size)))
        window = args.get("replay-window", 30)
        if (type(window) not in (int, float) or window != window
                or not 1 <= window <= 3600):
            raise ConfigError(path + ".replay-window", "must be a number of "
                              "seconds from 1 to 3600, got {}".format(
                                  describe(window)))
        if not any(c.type == "node" for c in config.services.values()):
            raise ConfigError(path, "the management plane needs the node "
                              "service (a service of type \"node\")")

    def makeService(self, context, name, args):
        from cocaine.management.service import (
            DEFAULT_ENDPOINT, DEFAULT_MAX_MESSAGE, DEFAULT_REPLAY_WINDOW,
            ManagementService)
        return ManagementService(
            context, endpoint=args.get("endpoint", DEFAULT_ENDPOINT),
            requireSignature=args.get("require-signature", False),
            maxMessage=args.get("max-message", DEFAULT_MAX_MESSAGE),
            replayWindow=float(args.get("replay-window",
                                        DEFAULT_REPLAY_WINDOW)))


management = _ManagementPlugin()
