# -*- test-case-name: tests.test_runtime -*-
"""
What a plugin is given to build its service: the node's reactor, config,
registry and storages.
"""

import os


class Context:
    """
    @ivar reactor: the reactor everything runs on.
    @ivar config: the parsed L{cocaine.config.Config}.
    @ivar registry: the locator's L{cocaine.locator.registry.Registry}.
    @ivar storages: C{{name: IStorageBackend}} as configured.
    @ivar unicorns: C{{name: IUnicornBackend}} as configured (the
        C{unicorns} section).
    @ivar node: the node service (apps), an L{cocaine.interfaces.INode},
        when one is configured.
    @ivar plugins: the L{cocaine.plugins.Plugins} found.
    @ivar guard: the L{cocaine.auth.guard.Guard} every service host is
        given, or L{None} when auth is off.
    @ivar metrics: the node's L{cocaine.metrics.registry.Metrics}, where
        components register their collectors.
    """

    def __init__(self, reactor, config, registry, plugins=None,
                 metrics=None):
        self.reactor = reactor
        self.metrics = metrics
        self.config = config
        self.registry = registry
        self.plugins = plugins
        self.storages = {}
        self.unicorns = {}
        self.uuid = None
        self.locator = None
        self.node = None
        self.guard = None

    def storage(self, name):
        """
        The storage backend called C{name}.

        @raise KeyError: no such storage.
        """
        return self.storages[name]

    def unicorn(self, name):
        """
        The unicorn backend called C{name}.

        @raise KeyError: no such unicorn.
        """
        return self.unicorns[name]

    def dataPath(self, *parts):
        """
        A path under the data directory.
        """
        return os.path.join(self.config.paths.data, *parts)
