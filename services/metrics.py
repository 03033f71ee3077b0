# -*- test-case-name: tests.metrics.test_service,tests.test_plugins -*-
"""
The C{metrics} service plugin: Cocaine 0.12's C{metrics} service
(C{fetch}) over the node's metrics registry, the same figures as
C{/metrics}. No args.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _MetricsPlugin:
    name = "metrics"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError
        if args:
            raise ConfigError("{}.{}".format(path, sorted(args)[0]),
                              "unknown key (the metrics service takes none)")

    def makeService(self, context, name, args):
        from cocaine.metrics.registry import Metrics
        from cocaine.metrics.service import MetricsService
        if context.metrics is None:
            # a context built without one (tests): a registry of its own
            context.metrics = Metrics()
        return MetricsService(context.metrics)


metrics = _MetricsPlugin()
