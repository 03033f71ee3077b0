# -*- test-case-name: tests.urlfetch.test_service,tests.test_plugins -*-
"""
The C{urlfetch} service plugin: Cocaine 0.12's URL fetcher
(C{get}/C{post}) on treq. Args: C{{"connections-limit": 10, "max-body":
67108864, "deny": ["169.254.0.0/16", "fe80::/10"]}} (all optional).
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _UrlfetchPlugin:
    name = "urlfetch"

    def validate(self, path, args, config):
        from cocaine.urlfetch.service import parseSettings
        parseSettings(path, args)

    def makeService(self, context, name, args):
        from cocaine.urlfetch.service import UrlfetchService, parseSettings
        settings = parseSettings("services.{}.args".format(name), args)
        return UrlfetchService(context.reactor, settings)


urlfetch = _UrlfetchPlugin()
