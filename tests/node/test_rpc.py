"""
Tests for L{cocaine.node.rpc}: the C{node} protocol over any
L{cocaine.interfaces.INode}, here the in-memory one.
"""

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import AppNotRunning, SpawnFailed
from cocaine.node.rpc import NodeRPC
from cocaine.rpc.hosting import HostedService
from cocaine.testing import FakeUpstream, MemoryNode


class NodeRPCTests(SynchronousTestCase):

    def setUp(self):
        self.node = MemoryNode()
        self.rpc = NodeRPC(self.node)

    def test_servesTheProtocol(self):
        """
        Every message of the node protocol has its handler.
        """
        HostedService("node", self.rpc, self.rpc.protocol, self.rpc.version)

    def test_startListInfoPause(self):
        self.assertIsNone(self.successResultOf(self.rpc.startApp(
            "echo", "small")))
        self.assertEqual(self.rpc.list(), (["echo"],))
        self.assertEqual(self.rpc.info("echo", "extra")[0]["state"],
                         "running")
        self.assertIsNone(self.successResultOf(self.rpc.pauseApp("echo")))
        self.assertEqual(self.rpc.list(), ([],))
        self.failureResultOf(self.rpc.pauseApp("echo"), AppNotRunning)

    def test_control(self):
        """
        Each int pins the pool; closing answers C{value []}.
        """
        self.node.add("echo")
        upstream = FakeUpstream()
        target = self.rpc.control(upstream, "echo")
        target.write(3)
        self.assertEqual(self.node.info("echo")["pool"]["pinned"], 3)
        target.write(-1)
        self.assertIsNone(self.node.info("echo")["pool"]["pinned"])
        target.close()
        self.assertEqual(upstream.sent, [("value",)])

    def test_controlNotRunning(self):
        upstream = FakeUpstream()
        target = self.rpc.control(upstream, "ghost")
        target.write(3)
        target.close()
        self.assertEqual(upstream.sent, [
            ("error", [0x51FF, 4], "app 'ghost' is not running")])

    def test_trigger(self):
        self.node.add("echo")
        self.failureResultOf(self.rpc.trigger("echo", "tick"), SpawnFailed)

    def test_clusterNeedsTheNode(self):
        """
        Cluster-wide apps need the node's own cluster part.
        """
        self.failureResultOf(Deferred.fromCoroutine(
            self.rpc.startAppCluster("echo", {})), SpawnFailed)
