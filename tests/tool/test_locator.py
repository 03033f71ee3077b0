"""
C{locate}, C{cluster} and C{uuid} against a real node.
"""

import os

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
