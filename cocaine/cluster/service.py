# -*- test-case-name: tests.cluster.test_service -*-
"""
The cluster part of a node: discovery (multicast or static) reporting to
peering, which fills the locator's remote table.
"""

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from cocaine.cluster.announce import MulticastDiscovery
from cocaine.cluster.gateway import AdhocGateway, LoadAwareGateway
from cocaine.cluster.load import CpuSampler, LoadPublisher, nodeLoad
from cocaine.cluster.peering import Peering, locatorStreams
from cocaine.cluster.static import StaticDiscovery, locatorProbe
from cocaine.errors import StartupError


class ClusterService(Service):
    """
    Starts peering then discovery (after the locator listens: the announce
    carries its real port), stops them in reverse.
    """

    log = Logger()

    def __init__(self, reactor, cluster, uuid, registry, locator,
                 context=None, loadSource=None):
        """
        @param cluster: the config's L{cocaine.config.Cluster}; its
            C{discovery} is not L{None}.
        @param locator: the L{cocaine.locator.service.LocatorService}; its
            C{remote} table is filled, its C{onConnect} hooks used, its
            C{gateway} and C{loads} set.
        @param context: the node's L{cocaine.context.Context} whose node
            service's apps are measured; by default the parent service's
            C{context} once started.
        @param loadSource: C{() -> load report}, instead of measuring the
            context (tests).
        """
        self.setName("cluster")
        self.config = cluster
        self._registry = registry
        self._context = context
        self.loadSource = loadSource or self._measure
        self._cpu = CpuSampler(reactor, min(0.5, cluster.interval / 4.0))
        if cluster.gateway == "adhoc":
            locator.gateway = AdhocGateway()
        else:
            locator.gateway = LoadAwareGateway(
                locator.remote, self._localLoad, bias=cluster.bias)
        self.loads = locator.loads = LoadPublisher(
            reactor, uuid, self._localLoad, cluster.interval / 2.0)
        timeout = max(1.0, cluster.interval)
        self.peering = Peering(reactor, uuid, locator.remote,
                               cluster.interval,
                               locatorStreams(reactor, timeout),
                               forgotten=self._forgotten)
        locator.peering = self.peering
        if cluster.discovery == "multicast":
            self.discovery = MulticastDiscovery(
                reactor, cluster, uuid, self.endpoints, self.peering.heard)
        else:
            probe, close = locatorProbe(reactor, timeout)
            self.discovery = StaticDiscovery(
                reactor, uuid, cluster.peers, cluster.interval,
                self.peering.heard, probe, close, own=self.endpoints)
            locator.onConnect.append(self._knocked)

    def endpoints(self):
        """
        Our locator's endpoints, as announced.
        """
        entry = self._registry.lookup("locator")
        if entry is None:
            return []
        return [(e[0], e[1]) for e in entry[0]]

    def _measure(self):
        context = self._context
        if context is None:
            context = getattr(self.parent, "context", None)
        return nodeLoad(context, self._cpu)

    def _localLoad(self):
        return self.loadSource()

    def _knocked(self, uuid):
        if not self.peering.isLinked(uuid):
            self.discovery.poke()

    def _forgotten(self, uuid):
        forget = getattr(self.discovery, "forget", None)
        if forget is not None:
            forget(uuid)

    async def _start(self):
        self.peering.startService()
        try:
            await maybeDeferred(self.discovery.startService)
        except Exception as e:
            self.running = 0
            await maybeDeferred(self.discovery.stopService)
            await maybeDeferred(self.peering.stopService)
            raise StartupError("cluster: {}".format(e))
        self.log.info("cluster: {discovery} discovery, interval {interval}s",
                      discovery=self.config.discovery,
                      interval=self.config.interval)

    def startService(self):
        """
        A group that cannot be joined or a UDP port that cannot be bound
        ends start-up with L{StartupError}.
        """
        Service.startService(self)
        return Deferred.fromCoroutine(self._start())

    async def _stop(self):
        self.loads.stop()
        await maybeDeferred(self.discovery.stopService)
        await maybeDeferred(self.peering.stopService)

    def stopService(self):
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stop())
