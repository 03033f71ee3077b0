"""
The C{unicorn} service on a real node with its C{etcd} backend on a real
etcd: called with the real Cocaine 0.12 framework and with our SDK, and
a lock whose node dies (SIGKILL) passes on when the node's lease expires.
"""

import os
import signal
import subprocess
import sys

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from cocaine.client import Service
from cocaine.errors import NodeExists
from cocaine.unicorn.etcd import EtcdUnicorn
from tests.integration.etcd import Etcd
from tests.integration.framework import frameworkSteps
from tests.integration.node import ROOT, Node, NodeClientMixin, environment
from tests.unicorn._behaviour import Recorder

_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "framework_unicorn.py")


class UnicornNodeTests(NodeClientMixin, TestCase):

    timeout = 180

    def setUp(self):
        directory = os.path.abspath(self.mktemp())
        self.etcd = Etcd(os.path.join(directory, "etcd")).start()
        self.addCleanup(self.etcd.stop)
        config = {
            "network": {"locator": 0},
            "unicorns": {"core": {"type": "etcd", "args": {
                "endpoints": [self.etcd.url], "prefix": "/node",
                "lease-ttl": 2}}},
            "services": {"logging": {"type": "logging"},
                         "unicorn": {"type": "unicorn",
                                     "args": {"backend": "core"}}}}
        self.startNode(Node(os.path.join(directory, "node"), config))
        self.unicorn = self.service("unicorn")

    async def call(self, method, *args):
        channel = await self.unicorn.invoke(method, args)
        try:
            return await channel.read()
        finally:
            channel.close()

    def test_realFramework(self):
        """
        The real 0.12 framework sees 0.12's graph and answers.
        """
        steps = frameworkSteps(self, _SCRIPT, self.node.port, timeout=150)
        graph = steps["resolve"]["graph"]
        self.assertEqual([graph[str(i)][0] for i in range(9)], [
            "subscribe", "children_subscribe", "put", "get", "create", "del",
            "remove", "increment", "lock"])
        self.assertEqual(steps["resolve"]["version"], 1)
        expected = {
            "get missing": {"value": [None, -1]},
            "create": {"value": True},
            "get": {"value": [{"k": "v"}, 0]},
            "put": {"value": [True, ["w", 1]]},
            "put stale": {"value": [False, ["w", 1]]},
            "increment": {"value": [2, 0]},
            "increment float": {"value": [2.5, 1]},
            "subscribe": {"chunks": [["w", 1], ["y", 2]]},
            "lock": {"held": True, "early": "TimeoutError",
                     "passed": True},
            "del": {"value": True},
            "remove": {"value": True},
            "get removed": {"value": [None, -1]},
        }
        for step, fields in expected.items():
            self.assertEqual(steps[step], fields, step)
        for step, code in (("create again", 9), ("root", 6),
                           ("del stale", 7)):
            self.assertEqual(steps[step]["error"], [0x0B, code], step)
        self.assertEqual(steps["children"]["value"][1], ["a", "n"])

    async def test_sdk(self):
        """
        Our SDK client: create, get, a stale put, node_exists.
        """
        self.assertTrue(await self.call("create", "/sdk/x", [1, "two"]))
        self.assertEqual(await self.call("get", "/sdk/x"),
                         [[1, "two"], 0])
        self.assertEqual(await self.call("put", "/sdk/x", 3, 5),
                         (False, [[1, "two"], 0]))
        with self.assertRaises(NodeExists):
            await self.call("create", "/sdk/x", 1)

    def test_example(self):
        """
        C{examples/unicorn_client.py} runs against the node.
        """
        result = subprocess.run(
            [sys.executable, os.path.join(ROOT, "examples",
                                          "unicorn_client.py"),
             "--port", str(self.node.port)],
            capture_output=True, text=True, timeout=60,
            env=environment())
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        for line in ("get: [None, -1]", "create: True",
                     "put: (True, [{'workers': 4}, 1])",
                     "put with a stale version: (False, [{'workers': 4}, 1])",
                     "subscribe, changed: [{'workers': 5}, 2]",
                     "increment: [1, 0]", "lock held: True",
                     "lock passed on: True", "remove: True", "del: True"):
            self.assertIn(line, lines, result.stdout)

    async def test_lockOfDisconnectedClient(self):
        """
        A client that goes away without closing its lock channel gives the
        lock up at once: the node (alive, its lease kept) deletes the key.
        """
        client = Service("unicorn", self.locator, timeout=20)
        channel = await client.invoke("lock", ["/drop"])
        self.assertIs(await channel.read(), True)
        children = await self.unicorn.invoke("children_subscribe", ["/drop"])
        self.addCleanup(children.close)
        count, names = await children.read()
        self.assertEqual(len(names), 1)
        await client.disconnect()
        count, names = await children.read()
        self.assertEqual(names, [])
        self.assertIsNone(self.node.process.poll())

    async def test_lockOfDeadNode(self):
        """
        A lock taken through a node that is killed (no chance to give it
        up) passes to the next waiter once the node's lease expires.
        """
        channel = await self.unicorn.invoke("lock", ["/dead"])
        self.assertIs(await channel.read(), True)
        other = EtcdUnicorn(reactor, [self.etcd.url], prefix="/node",
                            timeout=2)
        self.addCleanup(other.stopService)
        seen = Recorder()
        other.lock("/dead", seen.update, seen.fail)
        await deferLater(reactor, 1.0, lambda: None)
        self.assertEqual(seen.items, [])
        os.kill(self.node.process.pid, signal.SIGKILL)
        self.node.process.wait()
        for _ in range(200):
            if seen.items:
                break
            await deferLater(reactor, 0.05, lambda: None)
        self.assertEqual((seen.items, seen.errors), ([True], []))
