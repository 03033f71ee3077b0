"""
C{locate}, C{cluster} and C{uuid} against a real node, and C{cluster
--load} in process.
"""

import json
import os

from twisted.trial.unittest import SynchronousTestCase

from cocaine.protocol.load import CPU_WEIGHT, score
from cocaine.tool import locator, peers
from tests.tool.fakes import FakeContext, FakeService, arguments
from tests.tool.support import ToolTestCase


class LocatorCommandTests(ToolTestCase):

    def test_uuid(self):
        with open(os.path.join(self.node.directory, "var", "data",
                               "uuid")) as f:
            expected = f.read().strip()
        self.assertEqual(self.ok("uuid").out, expected + "\n")
        self.assertEqual(self.json("uuid"), {"uuid": expected})

    def test_locate(self):
        out = self.ok("locate", "storage").out
        for text in ("storage", "endpoints", "127.0.0.1:", "version 1",
                     "0 read", "1 write", "2 remove", "3 find",
                     "dispatch: terminal", "upstream: primitive"):
            self.assertIn(text, out)
        value = self.json("locate", "storage")
        self.assertEqual(value["name"], "storage")
        self.assertEqual(value["version"], 1)
        [[host, port]] = value["endpoints"]
        self.assertEqual(host, "127.0.0.1")
        self.assertIsInstance(port, int)
        self.assertEqual([value["graph"][str(i)][0] for i in range(4)],
                         ["read", "write", "remove", "find"])

    def test_locateNestedProtocol(self):
        """
        The locator's publish switches to a protocol of its own: the tree
        shows its messages.
        """
        out = self.ok("locate", "locator").out
        self.assertIn("4 publish", out)
        self.assertIn("0 discard", out)
        self.assertIn("upstream: streaming", out)

    def test_locateUnknown(self):
        self.assertEqual(
            self.fails("locate", "nosuch"),
            "cocaine-tool: locate nosuch: service 'nosuch' is not available")

    def test_cluster(self):
        self.assertEqual(self.ok("cluster").out, "no linked nodes\n")
        self.assertEqual(self.json("cluster"), {})


class ClusterLoadTests(SynchronousTestCase):
    """
    C{cluster --load} with a fake node and peers, in process.
    """

    def setUp(self):
        self.report = {"cpu": 50.0, "apps": {"echo": {
            "queue": 1, "busy": 1, "sessions": 1, "capacity": 4,
            "concurrency": 1}}}
        self.asked = []

        def askEach(ctx, nodes, question):
            self.asked.append((dict(nodes), question))
            return {"own": (("own", ["echo", "node"], self.report), None),
                    "peer": (None, "connection refused")}
        self.patch(peers, "askEach", askEach)

    def context(self, json):
        return FakeContext({"locator": FakeService(
            uuid=lambda: "own",
            cluster=lambda: {b"peer": [b"127.0.0.1", 10054]})}, json=json)

    def test_theGatewaysScore(self):
        """
        Each app's score is L{cocaine.protocol.load.score} of the node's
        report, CPU share included: what the gateway compares.
        """
        expected = score(self.report, "echo")
        self.assertAlmostEqual(expected, 2 / 4 + CPU_WEIGHT * 0.5)
        ctx = self.context(json=True)
        locator.cluster(ctx, arguments(load=True))
        self.assertEqual(self.asked, [({"own": ("127.0.0.1", 10053),
                                        "peer": ("127.0.0.1", 10054)},
                                       peers.nodeLoad)])
        shown = json.loads(ctx.out)
        self.assertEqual(shown["own"]["apps"]["echo"]["score"], expected)
        self.assertEqual(shown["own"]["self"], True)
        self.assertEqual(shown["own"]["cpu"], 50.0)
        self.assertEqual(shown["peer"], {"endpoint": ["127.0.0.1", 10054],
                                         "error": "connection refused"})

        ctx = self.context(json=False)
        locator.cluster(ctx, arguments(load=True))
        self.assertIn("echo 1+1/4 ({:.2f})".format(expected), ctx.out)
        self.assertIn("own (this node)", ctx.out)
        self.assertIn("unreachable: connection refused", ctx.out)
