# -*- test-case-name: tests.health.test_services,tests.test_plugins -*-
"""
The C{uniresis} service plugin: Cocaine 0.12's C{uniresis}
(C{cpu_count}, C{memory_count}, C{uuid}). Args: C{{"restrictions":
{"cpu": N, "mem": bytes}}} (optional) lower the figures it answers.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _UniresisPlugin:
    name = "uniresis"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError, describe
        unknown = sorted(set(args) - {"restrictions"})
        if unknown:
            raise ConfigError("{}.{}".format(path, unknown[0]),
                              "unknown key (allowed: restrictions; 0.12's "
                              "unicorn registration is not supported)")
        restrictions = args.get("restrictions", {})
        if not isinstance(restrictions, dict):
            raise ConfigError(path + ".restrictions",
                              "must be a map {{\"cpu\": N, \"mem\": bytes}}, "
                              "got {}".format(describe(restrictions)))
        where = path + ".restrictions"
        unknown = sorted(set(restrictions) - {"cpu", "mem"})
        if unknown:
            raise ConfigError("{}.{}".format(where, unknown[0]),
                              "unknown key (allowed: cpu, mem)")
        for key, value in restrictions.items():
            if type(value) is not int or value < 1:
                raise ConfigError("{}.{}".format(where, key),
                                  "must be an integer >= 1, got {!r}"
                                  .format(value))

    def makeService(self, context, name, args):
        from cocaine.health.services import UniresisService
        restrictions = args.get("restrictions", {})
        return UniresisService.restricted(context.uuid,
                                          restrictions.get("cpu"),
                                          restrictions.get("mem"))


uniresis = _UniresisPlugin()
