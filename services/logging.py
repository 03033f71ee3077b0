# -*- test-case-name: tests.test_plugins,tests.test_runtime -*-
"""
The C{logging} service plugin. Verbosity and sinks come from the config's
top-level C{logging} section; args may override C{verbosity}.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _LoggingPlugin:
    name = "logging"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError, parsePriority
        unknown = sorted(set(args) - {"verbosity"})
        if unknown:
            raise ConfigError("{}.{}".format(path, unknown[0]),
                              "unknown key (allowed: verbosity)")
        if "verbosity" in args:
            parsePriority(path + ".verbosity", args["verbosity"])

    def makeService(self, context, name, args):
        from cocaine.config import parsePriority
        from cocaine.log.service import LoggingService
        from cocaine.log.sinks import FileSink, TwistdSink
        settings = context.config.logging
        sinks = [FileSink(s.path, key="logging.sinks[{}].path".format(i))
                 if s.type == "file" else TwistdSink()
                 for i, s in enumerate(settings.sinks)]
        verbosity = settings.verbosity
        if "verbosity" in args:
            verbosity = parsePriority("verbosity", args["verbosity"])
        return LoggingService(context.reactor, sinks, verbosity,
                              source=context.config.source)


logging = _LoggingPlugin()
