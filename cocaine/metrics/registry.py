# -*- test-case-name: tests.metrics.test_registry -*-
"""
The node's one metrics registry (L{Metrics}): components register
collectors (objects with C{collect()} yielding metric families, as
C{prometheus_client} defines them); C{/metrics}, the C{metrics} service and
the dashboard all read this one registry.
"""

from prometheus_client.registry import CollectorRegistry


class Metrics:
    """
    @ivar registry: the C{prometheus_client} L{CollectorRegistry}.
    """

    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=False)

    def register(self, collector):
        """
        Add C{collector} to the registry.

        @return: a function that removes it again.
        """
        self.registry.register(collector)

        def unregister():
            try:
                self.registry.unregister(collector)
            except KeyError:
                pass
        return unregister
