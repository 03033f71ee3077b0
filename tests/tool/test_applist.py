"""
C{app list}: alone, and on a node linked with others: in process with
fake nodes, in a subprocess against peers that refuse or never answer,
and with two real nodes linked on loopback.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import SynchronousTestCase

from cocaine.client import Locator
from cocaine.errors import CallTimeout, NotConnected
from cocaine.tool import applist, peers
from tests.integration import test_cluster
from tests.integration.node import Node, freePort
from tests.tool.fakes import FakeContext, FakeService, arguments
from tests.tool.support import ROOT, ToolTestCase


def _node(apps, stored=(), cluster=None, uuid="own"):
    """
    The fake services of a node running C{apps} (C{{name: state}}), with
    C{stored} apps in storage, linked with C{cluster}.
    """
    def info(name):
        return {"state": apps[name]}
    return {"node": FakeService(list=lambda: sorted(apps), info=info),
            "storage": FakeService(find=lambda c, tags: list(stored)),
            "locator": FakeService(uuid=lambda: uuid,
                                   cluster=lambda: dict(cluster or {}))}


class InProcessTests(SynchronousTestCase):
    """
    L{applist.listApps} over fake nodes; peers reached through
    L{peers.askEach} as always, their contexts faked by port.
    """

    def setUp(self):
        self.peers = {}

        @contextmanager
        def peerContext(ctx, host, port):
            peer = self.peers[port]
            if isinstance(peer, Exception):
                raise peer
            yield FakeContext(peer)
        self.patch(peers, "peerContext", peerContext)

    def test_alone(self):
        """
        No linked nodes: the list as it always was, and nobody else is
        asked.
        """
        services = _node({"local": "running"}, ["echo"])
        ctx = FakeContext(services, json=True)
        applist.listApps(ctx, arguments())
        self.assertEqual(json.loads(ctx.out), [
            {"name": "echo", "uploaded": True, "running": False,
             "state": "stopped"},
            {"name": "local", "uploaded": False, "running": True,
             "state": "running"}])
        ctx = FakeContext(services)
        applist.listApps(ctx, arguments())
        lines = ctx.out.splitlines()
        self.assertEqual(lines[0].strip(), "apps")
        self.assertRegex(ctx.cells, r"echo\s+stopped\s+yes\s+\n")
        self.assertRegex(ctx.cells, r"local\s+running\s+no \(local\)\s+\n")
        self.assertNotIn("running on", ctx.out)
        self.assertEqual(ctx.warnings, [])

        ctx = FakeContext(_node({}))
        applist.listApps(ctx, arguments())
        self.assertEqual(ctx.out, "no apps\n")

    def cluster(self, json):
        self.peers = {
            10054: _node({"echo": "running", "big": "running"}, uuid="b"),
            10055: _node({"echo": "broken"}, uuid="c"),
            10056: NotConnected("cannot connect to locator at "
                                "127.0.0.1:10056: Connection refused"),
            10057: CallTimeout("node.list did not answer within 10s")}
        linked = {b"b": [b"127.0.0.1", 10054], "c": ["127.0.0.1", 10055],
                  "d": ["127.0.0.1", 10056], "e": ["127.0.0.1", 10057]}
        ctx = FakeContext(_node({"echo": "running"}, ["echo", "idle"],
                                linked), json=json)
        applist.listApps(ctx, arguments())
        return ctx

    def test_clusterJSON(self):
        """
        Every app any node runs, with the nodes that run it; this node's
        state and storage as before.
        """
        ctx = self.cluster(json=True)
        self.assertEqual(json.loads(ctx.out), [
            {"name": "big", "uploaded": False, "running": False,
             "state": "stopped", "nodes": {"b": ["127.0.0.1", 10054]}},
            {"name": "echo", "uploaded": True, "running": True,
             "state": "running", "nodes": {
                 "own": ["127.0.0.1", 10053], "b": ["127.0.0.1", 10054],
                 "c": ["127.0.0.1", 10055]}},
            {"name": "idle", "uploaded": True, "running": False,
             "state": "stopped", "nodes": {}}])
        self.assertEqual(ctx.warnings, [
            "node d at 127.0.0.1:10056 did not answer (connection "
            "refused); its apps are not listed",
            "node e at 127.0.0.1:10057 did not answer (node.list did not "
            "answer within 10s); its apps are not listed"])

    def test_clusterTable(self):
        ctx = self.cluster(json=False)
        self.assertEqual(ctx.out.splitlines()[0].strip(), "apps")
        self.assertRegex(ctx.cells, r"app\s+state\s+uploaded\s+running on")
        self.assertRegex(ctx.cells, r"big\s+-\s+no\s+127\.0\.0\.1:10054\s+\n")
        self.assertRegex(ctx.cells, r"echo\s+running\s+yes\s+this node, "
                         r"127\.0\.0\.1:10054, 127\.0\.0\.1:10055\s+\n")
        self.assertRegex(ctx.cells, r"idle\s+stopped\s+yes\s+-\s+\n")
        self.assertEqual(len(ctx.warnings), 2)

    def test_programmingErrorsRaised(self):
        """
        What is not about reaching a node (a bug) is not passed off as a
        node that did not answer.
        """
        self.peers = {10054: {}}
        ctx = FakeContext(_node({}, cluster={"b": ["127.0.0.1", 10054]}))
        self.assertRaises(KeyError, applist.listApps, ctx, arguments())


#: Runs C{app list} in a subprocess on a fake node whose locator lists
#: the peers given as JSON: the peers are reached for real.
DEAD_PEERS = textwrap.dedent("""
    import json, sys
    from cocaine.tool import applist
    from tests.tool.fakes import FakeContext, FakeService, arguments

    linked = json.loads(sys.argv[1])
    ctx = FakeContext({
        "node": FakeService(list=lambda: ["echo"],
                            info=lambda name: {"state": "running"}),
        "storage": FakeService(find=lambda c, tags: []),
        "locator": FakeService(uuid=lambda: "own",
                               cluster=lambda: linked)},
        json=True, timeout=float(sys.argv[2]))
    applist.listApps(ctx, arguments())
    print(json.dumps({"out": json.loads(ctx.out),
                      "warnings": ctx.warnings}))
""")


class DeadPeerTests(ToolTestCase):
    """
    Peers that refuse the connection or accept it and never answer, on
    loopback: named, within the timeout, while the others are listed.
    """

    startNode = False

    def test_deadPeers(self):
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        refused = freePort()
        linked = {"refused": ["127.0.0.1", refused],
                  "silent": ["127.0.0.1", silent.getsockname()[1]]}
        started = time.monotonic()
        result = self.listWithPeers(linked, 1)
        elapsed = time.monotonic() - started
        self.assertEqual(result["out"], [
            {"name": "echo", "uploaded": False, "running": True,
             "state": "running", "nodes": {"own": ["127.0.0.1", 10053]}}])
        refusedLine, silentLine = result["warnings"]
        self.assertEqual(refusedLine, "node refused at 127.0.0.1:{} did "
                         "not answer (connection refused); its apps are not "
                         "listed".format(refused))
        self.assertRegex(silentLine, r"^node silent at 127\.0\.0\.1:\d+ "
                         r"did not answer \(.*within 1(\.0)?s\); its apps are "
                         r"not "
                         r"listed$")
        # both asked at once, each within the timeout; most of the time
        # is the interpreter starting
        self.assertLess(elapsed, 12)

    def listWithPeers(self, linked, timeout):
        """
        Run L{DEAD_PEERS} with C{linked} and C{--timeout}.

        @return: its output and warnings.
        """
        process = subprocess.run(
            [sys.executable, "-c", DEAD_PEERS, json.dumps(linked),
             str(timeout)], capture_output=True, env=self.env(), cwd=ROOT,
            timeout=60)
        self.assertEqual(process.returncode, 0, process.stderr)
        return json.loads(process.stdout)


class ClusterTests(ToolTestCase):
    """
    Two real nodes, each listing the other as its static peer: B runs
    echo from its directory, A runs nothing.
    """

    startNode = False
    timeout = 90

    def setUp(self):
        ToolTestCase.setUp(self)
        ports = [freePort(), freePort()]
        self.nodes = []
        for i, port in enumerate(ports):
            config = test_cluster.nodeConfig(
                {"discovery": "static", "interval": test_cluster.INTERVAL,
                 "peers": [["127.0.0.1", p] for p in ports if p != port]},
                port, echo=(i == 1))
            node = Node(os.path.join(self.home, "ab"[i]), config).start()
            self.addCleanup(node.stop)
            self.nodes.append(node)

    def uuid(self, node):
        return node.readUuid()

    async def linked(self):
        locator = Locator(reactor, [("127.0.0.1", self.nodes[0].port)],
                          timeout=10)
        self.addCleanup(locator.disconnect)
        deadline = time.monotonic() + test_cluster.INTERVAL + 10
        while not await locator.cluster():
            self.assertLess(time.monotonic(), deadline, "never linked")
            await deferLater(reactor, 0.1)

    async def test_appsOfTheCluster(self):
        """
        C{app list} on A shows echo, which runs on B only, and where.
        """
        await self.linked()
        a, b = self.nodes
        port = self.nodes[0].port
        self.assertEqual(self.json("app", "list", port=port), [
            {"name": "echo", "uploaded": False, "running": False,
             "state": "stopped",
             "nodes": {self.uuid(b): ["127.0.0.1", b.port]}}])
        out = self.ok("app", "list", port=port).out
        self.assertIn("running on", out)
        self.assertRegex(out, r"echo\W+-\W+no\W+127\.0\.0\.1:{}\W".format(
            b.port))
        # B's own list: echo runs there
        value = self.json("app", "list", port=b.port)
        self.assertEqual(value[0]["nodes"],
                         {self.uuid(b): ["127.0.0.1", b.port]})
        self.assertEqual(value[0]["state"], "running")

        # cluster --load on A: B's echo with the gateway's score
        load = self.json("cluster", "--load", port=port)
        self.assertEqual(sorted(load), sorted([self.uuid(a), self.uuid(b)]))
        self.assertIsInstance(
            load[self.uuid(b)]["apps"]["echo"]["score"], float)
        self.assertEqual(load[self.uuid(a)]["apps"], {})

