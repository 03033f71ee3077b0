"""
The C{management} service plugin: the ZeroMQ-era JSON management plane
(PROTOCOL.md section 9). Args: C{{"endpoint": "tcp://127.0.0.1:5000",
"require-signature": false}}. Needs the node service.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _ManagementPlugin:
    name = "management"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError
        from cocaine.zeromq import EndpointError, checkEndpoint
        allowed = {"endpoint", "require-signature"}
        unknown = sorted(set(args) - allowed)
        if unknown:
            raise ConfigError("{}.{}".format(path, unknown[0]),
                              "unknown key (allowed: {})".format(
                                  ", ".join(sorted(allowed))))
        try:
            checkEndpoint(args.get("endpoint", "tcp://127.0.0.1:5000"))
        except EndpointError as e:
            raise ConfigError(path + ".endpoint", str(e))
        if not isinstance(args.get("require-signature", False), bool):
            raise ConfigError(path + ".require-signature",
                              "must be true or false")
        if not any(c.type == "node" for c in config.services.values()):
            raise ConfigError(path, "the management plane needs the node "
                              "service (a service of type \"node\")")

    def makeService(self, context, name, args):
        from cocaine.management.service import (
            DEFAULT_ENDPOINT, ManagementService)
        return ManagementService(
            context, endpoint=args.get("endpoint", DEFAULT_ENDPOINT),
            requireSignature=args.get("require-signature", False),
            maxMessageSize=context.config.network.zmqMaxMessage)


management = _ManagementPlugin()
