"""
Cluster-wide apps with real nodes (twistd subprocesses, static discovery
on 127.0.0.1): deployed once on A with C{cocaine-tool app start --cluster}
the app runs on B and C; D, started later, gets it; C{app stop --cluster}
stops it everywhere and C{app remove --cluster} removes its files.
"""

import os
import subprocess
import sys

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from cocaine.client import Locator, Service
from cocaine.protocol.framing import packValue, unpackValue
from cocaine.client.deploy import packDirectory
from tests.integration import test_cluster
from tests.integration.node import ROOT, Node, environment, freePort

INTERVAL = test_cluster.INTERVAL
SLACK = test_cluster.SLACK


class ClusterDeployTests(TestCase):
    """
    A, B, C running, D configured in everyone's peers but started later.
    """

    timeout = 150

    def setUp(self):
        self.ports = [freePort() for _ in range(4)]
        self.nodes = []
        base = self.mktemp()
        for i, port in enumerate(self.ports):
            peers = [["127.0.0.1", p] for p in self.ports if p != port]
            self.nodes.append(Node(
                os.path.join(base, "abcd"[i]), test_cluster.nodeConfig(
                    {"discovery": "static", "interval": INTERVAL,
                     "peers": peers, "secret": "deploy-secret"}, port)))
        self.locators = []
        for port in self.ports:
            locator = Locator(reactor, [("127.0.0.1", port)], timeout=20)
            self.addCleanup(locator.disconnect)
            self.locators.append(locator)

    waitFor = test_cluster.StaticClusterTests.waitFor

    def start(self, i):
        self.nodes[i].start()
        self.addCleanup(self.nodes[i].stop)

    def service(self, name, i):
        service = Service(name, self.locators[i], timeout=20)
        self.addCleanup(service.disconnect)
        return service

    async def apps(self, i):
        return list(await self.service("node", i).list())

    def tool(self, *args):
        return subprocess.run(
            [sys.executable, "-m", "cocaine.tool", "--port",
             str(self.ports[0])] + list(args), cwd=ROOT,
            env=environment(), capture_output=True, text=True, timeout=90)

    async def ping(self, i):
        """
        Call echo's C{ping} resolved at node C{i}.

        @return: the chunks and the endpoints used.
        """
        echo = self.service("echo", i)
        channel = await echo.enqueue("ping")
        channel.close()
        return [chunk async for chunk in channel], echo.endpoints

    async def clusterRunlist(self, i):
        value = unpackValue(await self.service("storage", i).read(
            "runlists", "cluster"))
        return {k.decode() if isinstance(k, bytes) else k: v
                for k, v in value.items()}

    async def test_deployEverywhereLateJoinerPause(self):
        for i in range(3):
            self.start(i)

        async def linked():
            for i in range(3):
                if len(await self.locators[i].cluster()) != 2:
                    return False
            return True
        await self.waitFor(linked, INTERVAL + 2 * SLACK)

        storage = self.service("storage", 0)
        await storage.write("manifests", "echo",
                            packValue({"slave": "worker.py"}), ["app"])
        await storage.write("apps", "echo", packValue(packDirectory(
            test_cluster.ECHO)), ["app"])

        result = await deferToThread(self.tool, "app", "start", "echo",
                                     "--cluster")
        self.assertEqual((result.returncode, result.stdout, result.stderr),
                         (0, "app echo running on 3 nodes\n", ""))
        for i in range(3):
            self.assertEqual(await self.apps(i), ["echo"])
            self.assertEqual(await self.clusterRunlist(i), {"echo": {}})
        # each node has a files storage of its own: the blobs were copied
        # (a peer on the same store would be logged and skipped)
        self.assertNotIn("nothing copied", self.nodes[0].log())
        for i in (1, 2):
            self.assertEqual(await self.service("storage", i).find(
                "apps", ["app"]), ["echo"])
        # B's echo is B's own copy, served there
        chunks, used = await self.ping(1)
        self.assertEqual(chunks, [b"pong"])
        self.assertEqual(used, (await self.locators[1].resolve("echo"))[0])
        self.assertNotEqual(used, (await self.locators[0].resolve(
            "echo"))[0])

        # D joins later and is sent the app it lacks
        self.start(3)

        async def dRuns():
            return await self.apps(3) == ["echo"]
        await self.waitFor(dRuns, 2 * INTERVAL + 3 * SLACK)
        self.assertEqual(await self.clusterRunlist(3), {"echo": {}})
        self.assertEqual((await self.ping(3))[0], [b"pong"])

        async def allLinked():
            return len(await self.locators[0].cluster()) == 3
        await self.waitFor(allLinked, INTERVAL + SLACK)
        result = await deferToThread(self.tool, "--json", "app", "stop",
                                     "echo", "--cluster")
        self.assertEqual(result.returncode, 0, result.stderr)
        for i in range(4):
            self.assertEqual(await self.apps(i), [])
            self.assertEqual(await self.clusterRunlist(i), {})

        # and its files removed from every node's storage
        result = await deferToThread(self.tool, "app", "remove", "echo",
                                     "--cluster")
        self.assertEqual((result.returncode, result.stdout, result.stderr),
                         (0, "app echo removed from 4 of 4 nodes\n", ""))
        for i in range(4):
            self.assertEqual(list(await self.service("storage", i).find(
                "manifests", ["app"])), [])
