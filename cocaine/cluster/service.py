# -*- test-case-name: tests.cluster.test_service -*-
"""
The cluster part of a node: discovery (multicast, static or through
unicorn) reporting to peering, which fills the locator's remote table.
"""

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from cocaine.cluster.announce import MulticastDiscovery
from cocaine.cluster.gateway import AdhocGateway, LoadAwareGateway
from cocaine.cluster.load import CpuSampler, LoadPublisher, nodeLoad
from cocaine.cluster.peering import Peering, locatorStreams
from cocaine.cluster.static import StaticDiscovery, locatorProbe
from cocaine.cluster.unicorn import UnicornDiscovery
from cocaine.errors import StartupError
from cocaine.ordered import OrderedMultiService


class ClusterService(OrderedMultiService):
    """
    Starts peering then discovery (after the locator listens: the announce
    carries its real port), stops them in reverse: one ordered tree.
    """

    log = Logger()

    def __init__(self, reactor, cluster, uuid, registry, locator,
                 context=None, loadSource=None, unicorn=None):
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
        @param unicorn: with unicorn discovery, the backend to register
            in; by default the context's C{unicorns} entry the config
            names.
        """
        OrderedMultiService.__init__(self)
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
        # peers' reports: clamped, at most this many apps
        locator.remote.maxReportApps = cluster.maxReportApps
        self.loads = locator.loads = LoadPublisher(
            reactor, uuid, self._localLoad, cluster.interval / 2.0)
        timeout = max(1.0, cluster.interval)
        self.peering = Peering(reactor, uuid, locator.remote,
                               cluster.interval,
                               locatorStreams(reactor, timeout),
                               forgotten=self._forgotten,
                               maxUnlinked=cluster.maxUnlinked)
        locator.peering = self.peering
        if cluster.discovery == "multicast":
            self.discovery = MulticastDiscovery(
                reactor, cluster, uuid, self.endpoints, self.peering.heard)
        elif cluster.discovery == "unicorn":
            if unicorn is None:
                unicorn = context.unicorn(cluster.backend)
            self.discovery = UnicornDiscovery(
                reactor, uuid, unicorn, self.endpoints, self.peering.heard,
                self.peering.left, self.peering.isLinked, cluster.interval,
                cluster.lease)
        else:
            probe, close = locatorProbe(reactor, timeout)
            self.discovery = StaticDiscovery(
                reactor, uuid, cluster.peers, cluster.interval,
                self.peering.heard, probe, close, own=self.endpoints)
            locator.onConnect.append(self._knocked)
        self.peering.setServiceParent(self)
        _DiscoveryStep(self.discovery).setServiceParent(self)

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

    def startService(self):
        """
        Peering, then discovery; a group that cannot be joined or a UDP
        port that cannot be bound ends start-up with L{StartupError}, and
        peering stops again.
        """
        d = OrderedMultiService.startService(self)
        if self.config.discovery == "unicorn":
            d.addCallback(lambda _: self.log.info(
                "cluster: unicorn discovery in {backend}, lease {lease}s, "
                "interval {interval}s", discovery=self.config.discovery,
                backend=self.config.backend, lease=self.config.lease,
                interval=self.config.interval))
            return d
        d.addCallback(lambda _: self.log.info(
            "cluster: {discovery} discovery, interval {interval}s",
            discovery=self.config.discovery, interval=self.config.interval))
        return d

    def stopService(self):
        self.loads.stop()
        return OrderedMultiService.stopService(self)


class _DiscoveryStep(Service):
    """
    Discovery in the cluster's tree: when it cannot start it releases what
    it took, and says why as a L{StartupError}.
    """

    def __init__(self, discovery):
        self.setName("discovery")
        self.discovery = discovery

    def startService(self):
        Service.startService(self)
        return Deferred.fromCoroutine(self._start())

    async def _start(self):
        try:
            await maybeDeferred(self.discovery.startService)
        except Exception as e:
            self.running = 0
            await maybeDeferred(self.discovery.stopService)
            raise StartupError("cluster: {}".format(e))

    def stopService(self):
        Service.stopService(self)
        return maybeDeferred(self.discovery.stopService)
