# -*- test-case-name: tests.http.test_service,tests.http.test_config -*-
"""
The C{http} service plugin: the HTTP gateway to the node's apps
(docs/http.md). Args: C{{"port": 8080, "max-body": 67108864,
"max-connections": 1024, "header-timeout": 10, "body-timeout": 30,
"idle-timeout": 60, "timeout": 30, "timeouts": {app: {event: s, "": s}},
"max-buffer": 33554432, "send-timeout": 60}}.
Listens on C{network.bind}; needs the node service. Not an RPC service: it
joins the tree after the node, unpublished.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _HTTPPlugin:
    name = "http"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError
        from cocaine.http.config import parseSettings
        parseSettings(path, args)
        if not any(c.type == "node" for c in config.services.values()):
            raise ConfigError(path, "the HTTP gateway needs the node "
                              "service (a service of type \"node\")")

    def makeService(self, context, name, args):
        from cocaine.http.backends import NodeBackend
        from cocaine.http.config import parseSettings
        from cocaine.http.gateway import Gateway
        from cocaine.http.remote import RemoteApps
        from cocaine.http.service import GatewayService
        settings = parseSettings("services.{}.args".format(name), args)
        remote = RemoteApps(context.reactor)
        gateway = Gateway(context.reactor, NodeBackend(context, remote),
                          settings.timeouts, settings.timeout)
        return GatewayService(context.reactor, gateway,
                              context.config.network.bind, settings,
                              metrics=context.metrics, remote=remote,
                              label=name)


http = _HTTPPlugin()
