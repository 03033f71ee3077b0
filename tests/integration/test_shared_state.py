"""
Real nodes sharing one store (issue 16, "Shared state"): C{storages.core}
on one table of a real PostgreSQL (L{tests.integration.postgres}), or one
prefix of a real Redis. Apps, profiles and routing groups written once are
found by every node; each node's runlist and crashlogs carry its name;
C{start_app_cluster} does not copy the blobs to a peer on the same store.
"""

import json
import os
import subprocess
import sys
import time

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from cocaine.client import Locator, Service
from cocaine.client.deploy import upload
from cocaine.errors import CocaineError
from cocaine.protocol.framing import packValue, unpackValue
from tests.integration.apps012 import crasherApp
from tests.integration.node import ROOT, Node, environment, freePort
from tests.integration.postgres import sharedServer

ECHO = os.path.join(ROOT, "examples", "apps", "echo")
SECRET = "shared-state-secret"


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


class _SharedCase(TestCase):
    """
    Nodes on fixed loopback ports (so a restarted node keeps its port and
    its peers), each with its own directory (so its uuid), one store.
    """

    timeout = 120

    def storageConfig(self):
        raise NotImplementedError()

    def makeNodes(self, count, cluster=False):
        self.ports = [freePort() for _ in range(count)]
        base = self.mktemp()
        self.nodes = []
        for i, port in enumerate(self.ports):
            config = {
                "network": {"locator": port},
                "storages": {"core": self.storageConfig()},
                "services": {
                    "logging": {"type": "logging"},
                    "storage": {"type": "storage"},
                    "node": {"type": "node", "args": {"drain-timeout": 2}}}}
            if cluster:
                config["cluster"] = {
                    "discovery": "static", "interval": 1.0,
                    "secret": SECRET, "peers": [
                        ["127.0.0.1", p] for p in self.ports if p != port]}
            self.nodes.append(Node(os.path.join(base, "ab"[i]), config))
        for node in self.nodes:
            node.start()
            self.addCleanup(node.stop)
        self.uuids = [node.readUuid() for node in self.nodes]

    def restart(self, i):
        self.nodes[i].stop()
        self.nodes[i].start()

    def locator(self, i):
        locator = Locator(reactor, [("127.0.0.1", self.ports[i])],
                          timeout=20)
        self.addCleanup(locator.disconnect)
        return locator

    def service(self, name, i):
        service = Service(name, self.locator(i), timeout=20)
        self.addCleanup(service.disconnect)
        return service

    async def apps(self, i):
        return sorted(await self.service("node", i).list())

    async def waitFor(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while not await predicate():
            if time.monotonic() > deadline:
                self.fail("condition not reached within {}s".format(
                    timeout))
            await deferLater(reactor, 0.1)

    async def uploadEcho(self, i=0):
        await upload(self.service("storage", i), "echo", path=ECHO,
                     profile={"pool-limit": 1}, profileName="small")

    async def runlists(self, i=0):
        """
        C{{key: runlist}} of every runlist in the store, read through node
        C{i}.
        """
        storage = self.service("storage", i)
        return {key: _plain(unpackValue(await storage.read("runlists", key)))
                for key in await storage.find("runlists", ["runlist"])}

    async def checkRunlistsPerNode(self):
        """
        The app uploaded once through A is started on A and on B; paused
        on A, it leaves A's runlist only: after a restart B runs it again,
        A does not.
        """
        self.makeNodes(2)
        a, b = self.uuids
        await self.uploadEcho(0)
        await self.service("node", 0).start_app("echo", "small")
        await self.service("node", 1).start_app("echo", "small")
        await self.service("node", 0).pause_app("echo")
        self.assertEqual(await self.runlists(1), {
            "default@" + a: {}, "default@" + b: {"echo": "small"}})
        self.assertEqual(await self.apps(1), ["echo"])

        for i in (0, 1):
            self.restart(i)

        async def bRuns():
            return await self.apps(1) == ["echo"]
        await self.waitFor(bRuns, 20)
        self.assertEqual(await self.apps(0), [])
        self.assertEqual(_plain(await self.service("node", 1).list()),
                         ["echo"])


class PostgresSharedTests(_SharedCase):
    """
    Two nodes on one table of the shared PostgreSQL server.
    """

    def setUp(self):
        self.server = sharedServer()
        self.table = "t_shared_" + self.id().rsplit(".", 1)[-1].lower()[:40]
        self.server.sql("DROP TABLE IF EXISTS {}".format(self.table))

    def storageConfig(self):
        return {"type": "postgres", "args": {
            "dsn": self.server.dsn(), "table": self.table, "timeout": 5}}

    def rows(self, collection):
        """
        C{{key: xmin}} of a collection's rows: the transaction that last
        wrote each (an upsert of the same value still changes it).
        """
        return dict(self.server.sql(
            "SELECT key, xmin::text FROM {} WHERE collection = %s".format(
                self.table), (collection,)))

    async def test_runlistsPerNode(self):
        """
        Each node keeps its runlist at C{runlists/default@<its uuid>}.
        """
        await self.checkRunlistsPerNode()

    async def test_routingGroup(self):
        """
        A routing group written through A is found by B at its locator's
        refresh.
        """
        self.makeNodes(2)
        await self.service("storage", 0).write(
            "groups", "grp", packValue({"storage": 1}), ["group", "active"])
        locator = self.locator(1)
        with self.assertRaises(CocaineError):
            await locator.resolve("grp")
        await locator.refresh(["grp"])
        self.assertEqual(await locator.resolve("grp"),
                         await locator.resolve("storage"))

    def tool(self, port, *args):
        return subprocess.run(
            [sys.executable, "-m", "cocaine.tool", "--port", str(port)]
            + list(args), cwd=ROOT, env=environment(),
            capture_output=True, text=True, timeout=60)

    async def crashOnBoth(self):
        """
        Upload the crasher app once, start it on A and B and make a worker
        of each die; wait for both crashlogs.
        """
        self.makeNodes(2)
        await upload(self.service("storage", 0), "crasher",
                     path=crasherApp(self.mktemp()),
                     profile={"pool-limit": 1}, profileName="one")
        for i in (0, 1):
            await self.service("node", i).start_app("crasher", "one")
            crasher = self.service("crasher", i)
            channel = await crasher.enqueue("crash")
            channel.close()
            with self.assertRaises(CocaineError):
                [chunk async for chunk in channel]

        async def both():
            keys = await self.service("storage", 0).find("crashlogs",
                                                         ["crasher"])
            return {key.split(":")[1] for key in keys} == set(self.uuids)
        await self.waitFor(both, 20)

    async def test_crashlogsOfEachNode(self):
        """
        The crasher app, uploaded once, crashes on A and on B: each
        node's crashlogs carry its uuid; C{cocaine-tool crashlog list}
        through either node lists both, and C{view} by timestamp reads
        another node's.
        """
        await self.crashOnBoth()
        result = await deferToThread(self.tool, self.ports[1], "--json",
                                     "crashlog", "list", "crasher")
        self.assertEqual(result.returncode, 0, result.stderr)
        entries = json.loads(result.stdout)
        self.assertEqual({e["node"] for e in entries}, set(self.uuids))
        ofA = [e for e in entries if e["node"] == self.uuids[0]][0]
        result = await deferToThread(
            self.tool, self.ports[1], "crashlog", "view", "crasher",
            str(ofA["timestamp"]))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("crasher: about to fail on purpose", result.stdout)

    async def test_crashlogs012Tool(self):
        """
        Cocaine 0.12's C{cocaine-tool} lists the crashlogs of both nodes
        (the timestamp is the key up to its first C{:}), and views and
        removes one by its timestamp.
        """
        from tests.integration.tools import Tool, toolsSite
        toolsSite()
        await self.crashOnBoth()
        home = os.path.abspath(self.mktemp())
        os.makedirs(home)
        tool = Tool(self.ports[1], home)

        def run(*args):
            result = tool.run(*args)
            self.assertEqual(result.returncode, 0, result.stdout +
                             result.stderr[-2000:])
            return result.stdout

        keys = await self.service("storage", 0).find("crashlogs",
                                                     ["crasher"])
        listing = await deferToThread(run, "crashlog", "list", "--name",
                                      "crasher")
        for key in keys:
            stamp, _, rest = key.partition(":")
            self.assertIn(stamp, listing)
            self.assertIn(rest, listing)
        ofA = [k for k in keys if k.split(":")[1] == self.uuids[0]][0]
        stamp = ofA.partition(":")[0]
        self.assertIn("crasher: about to fail on purpose", await deferToThread(
            run, "crashlog", "view", "--name", "crasher", "--timestamp",
            stamp))
        await deferToThread(run, "crashlog", "remove", "--name", "crasher",
                            "--timestamp", stamp)
        self.assertEqual(sorted(await self.service("storage", 0).find(
            "crashlogs", ["crasher"])), sorted(set(keys) - {ofA}))

    async def test_clusterStartWithoutCopy(self):
        """
        C{start_app_cluster} on A starts the app on B without writing the
        blobs again (their rows keep the transaction that wrote them at
        upload), and says so in A's log; the cluster runlist is the one
        row both read. C{pause_app_cluster} stops it on both.
        """
        self.makeNodes(2, cluster=True)
        a, b = self.uuids

        async def linked():
            return (len(await self.locator(0).cluster()) == 1
                    and len(await self.locator(1).cluster()) == 1)
        await self.waitFor(linked, 10)
        await self.uploadEcho(0)
        before = {c: self.rows(c) for c in ("apps", "manifests",
                                            "profiles")}
        results = _plain(await self.service("node", 0).start_app_cluster(
            "echo", "small"))
        self.assertEqual(results, {a: "ok", b: "ok"})
        self.assertEqual(await self.apps(1), ["echo"])
        self.assertEqual({c: self.rows(c) for c in before}, before)
        self.assertIn("cluster-wide app echo on {}: it shares this node's "
                      "store, nothing copied".format(b), self.nodes[0].log())
        self.assertEqual(self.rows("nodes").keys(), {a})
        self.assertEqual(await self.runlists(1), {
            "cluster": {"echo": "small"}, "default@" + a: {"echo": "small"},
            "default@" + b: {"echo": "small"}})

        results = _plain(await self.service("node", 1).pause_app_cluster(
            "echo"))
        self.assertEqual(results, {a: "ok", b: "ok"})
        self.assertEqual(await self.apps(0), [])
        self.assertEqual(await self.apps(1), [])
        self.assertEqual((await self.runlists(0))["cluster"], {})


class RedisSharedTests(_SharedCase):
    """
    Two nodes on one prefix of a real Redis: the same per-node runlists.
    """

    def setUp(self):
        from tests.integration.redis import RedisServer
        self.redis = RedisServer(self.mktemp()).start()
        self.addCleanup(self.redis.stop)

    def storageConfig(self):
        return {"type": "redis", "args": {"url": self.redis.url,
                                          "prefix": "shared:"}}

    async def test_runlistsPerNode(self):
        """
        As on PostgreSQL: uploaded once, started on both, the runlists
        kept apart.
        """
        await self.checkRunlistsPerNode()
