"""
Tests for L{cocaine.rpc.memory}: a service served in memory, through its
declared protocol, as a plugin author would test one.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.service import AppService
from cocaine.node.rpc import NodeRPC
from cocaine.plugins import loadPlugins
from cocaine.testing import MemoryNode, ServiceHarness, memoryContext


class HarnessTests(SynchronousTestCase):

    def setUp(self):
        # a plugin built the way the node builds it, on an in-memory node
        self.context = memoryContext()
        plugin = loadPlugins().services["storage"]
        self.storage = ServiceHarness(plugin.makeService(
            self.context, "storage", {}), "storage")

    def test_primitive(self):
        self.assertEqual(self.storage.call("write", "c", "k", b"\x00v",
                                           ["t"]), [("value", [])])
        self.assertEqual(self.storage.call("read", "c", "k"),
                         [("value", [b"\x00v"])])
        self.assertEqual(self.storage.call("find", "c", ["t"]),
                         [("value", [["k"]])])

    def test_errorsAsClientsSeeThem(self):
        """
        Argument checks and the service's errors come back as the wire
        carries them.
        """
        (answer,) = self.storage.call("read", "c")
        self.assertEqual(answer, ("error", [
            [7, 2], "storage.read: expected 2 arguments, got 1"]))
        (answer,) = self.storage.call("read", "c", "missing")
        self.assertEqual(answer[0], "error")
        self.assertEqual(answer[1][0], [1, 2])

    def test_streams(self):
        """
        A channel with a dispatch: the request streamed in, the answer
        streamed back, here an app of an in-memory node through the app
        protocol.
        """
        node = self.context.node
        node.add("upper", lambda event, chunks: [c.upper() for c in chunks])

        class Engine:
            def enqueue(self, upstream, event, tag=None, headers=()):
                return node.enqueue("upper", upstream, event)

            def info(self):
                return node.info("upper")

            def pin(self, size):
                node.pin("upper", size)
        app = ServiceHarness(AppService(Engine()), "upper")
        channel = app.open("enqueue", "go")
        channel.send("write", b"a")
        channel.send("write", b"b")
        self.assertEqual(channel.received(), [])
        channel.send("close")
        self.assertEqual(channel.received(), [
            ("write", [b"A"]), ("write", [b"B"]), ("close", [])])

    def test_nodeProtocol(self):
        harness = ServiceHarness(NodeRPC(MemoryNode()), "node")
        self.assertEqual(harness.call("start_app", "echo", "small"),
                         [("value", [])])
        self.assertEqual(harness.call("list"), [("value", [["echo"]])])
        control = harness.open("control", "echo")
        control.send("write", 2)
        control.send("close")
        self.assertEqual(control.received(), [("value", [])])
