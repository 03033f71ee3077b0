# -*- test-case-name: tests.node.test_rpc -*-
"""
The C{node} service (PROTOCOL.md section 5, node) over any
L{cocaine.interfaces.INode}: the real node's, or an in-memory one in
tests.
"""

from twisted.application.service import IService, Service
from twisted.internet.defer import maybeDeferred
from zope.interface import implementer

from cocaine.engine.service import DeadControl, PoolControl
from cocaine.errors import AppNotRunning, SpawnFailed
from cocaine.interfaces import IRPCService
from cocaine.protocol.services import NODE, NODE_VERSION


@implementer(IRPCService)
class NodeRPC(Service):
    """
    C{start_app}, C{pause_app}, C{list}, C{info}, C{control}; ours:
    C{trigger}, C{start_app_cluster}, C{pause_app_cluster}.

    It starts and stops its node with it when the node is a service.
    """

    protocol = NODE
    version = NODE_VERSION

    def __init__(self, node, cluster=None):
        """
        @param node: an L{cocaine.interfaces.INode}.
        @param cluster: the node's L{cocaine.cluster.deploy.ClusterApps},
            or L{None} when cluster-wide apps are not served.
        """
        self.node = node
        self.cluster = cluster

    def startService(self):
        Service.startService(self)
        if IService.providedBy(self.node):
            return self.node.startService()

    def stopService(self):
        Service.stopService(self)
        if IService.providedBy(self.node) and self.node.running:
            return self.node.stopService()

    def startApp(self, name, profile):
        return self.node.startApp(name, profile).addCallback(
            lambda _: None)

    def pauseApp(self, name):
        return maybeDeferred(self.node.pauseApp, name).addCallback(
            lambda _: None)

    def list(self):
        return (self.node.apps(),)

    def info(self, name, flags=None):
        return (self.node.info(name),)

    def control(self, upstream, name):
        try:
            self.node.info(name)
        except AppNotRunning as e:
            upstream.error(e)
            return DeadControl()
        return PoolControl(lambda size: self.node.pin(name, size), upstream)

    def trigger(self, name, driver, request=None):
        return maybeDeferred(self.node.trigger, name, driver,
                             request).addCallback(lambda answer: (answer,))

    async def startAppCluster(self, name, profile):
        """
        Ours: C{start_app} here and on every linked node (docs/cluster.md).

        @return: C{{uuid: "ok" or "error: ..."}}.
        """
        return (await self._cluster().start(name, profile),)

    async def pauseAppCluster(self, name):
        """
        Ours: C{pause_app} here and on every linked node.

        @return: C{{uuid: "ok" or "error: ..."}}.
        """
        return (await self._cluster().pause(name),)

    def _cluster(self):
        if self.cluster is None:
            raise SpawnFailed("cluster-wide apps need the node's own node "
                              "service")
        return self.cluster
