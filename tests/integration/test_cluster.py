"""
Real nodes (twistd subprocesses) forming a cluster: three nodes with static
discovery on 127.0.0.1, and three with multicast discovery inside a network
namespace this test creates and deletes (never on a real network).
"""

import os
import shutil
import signal
import subprocess
import time

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest, TestCase

from cocaine.client import Locator, Service
from cocaine.errors import ServiceNotAvailable
from tests.integration import node as _node
from tests.integration.framework import frameworkPython
from tests.integration.lines import LineDriver
from tests.integration.node import ROOT, Node, freePort, waitUntil
from tests.integration.framework_report import readSteps

ECHO = os.path.join(ROOT, "examples", "apps", "echo")
FRAMEWORK_CLIENT = os.path.join(ROOT, "tests", "integration",
                                "framework_app_client.py")

#: The announce interval of these tests.
INTERVAL = 1.0

#: Scheduling slack for real processes on a busy machine.
SLACK = 1.0


def nodeConfig(cluster, port=0, echo=False):
    """
    A node with logging, storage and the node service (the echo app run
    from its directory when C{echo}) and the given C{cluster} section.
    """
    local = {"echo": {"path": ECHO, "profile": {"pool-limit": 1}}} if (
        echo) else {}
    return {"network": {"locator": port}, "cluster": cluster, "services": {
        "logging": {"type": "logging"},
        "storage": {"type": "storage"},
        "node": {"type": "node", "args": {"local": local,
                                          "drain-timeout": 2}}}}


async def echoThrough(locator, data):
    """
    Resolve echo at C{locator} with our client, call the endpoint it
    answered with, and return the reply's chunks and that endpoint.
    """
    service = Service("echo", locator, timeout=20)
    try:
        channel = await service.enqueue("echo")
        channel.write(data)
        channel.close()
        return [chunk async for chunk in channel], service.endpoints
    finally:
        await service.disconnect()


class StaticClusterTests(TestCase):
    """
    Three nodes, each listing the other two locators.
    """

    timeout = 120

    def setUp(self):
        self.ports = [freePort() for _ in range(3)]
        self.nodes = []
        base = self.mktemp()
        for i, port in enumerate(self.ports):
            peers = [["127.0.0.1", p] for p in self.ports if p != port]
            self.nodes.append(Node(os.path.join(base, "abc"[i]), nodeConfig(
                {"discovery": "static", "interval": INTERVAL,
                 "peers": peers}, port, echo=(i == 0))))
        self.locators = []
        for port in self.ports:
            locator = Locator(reactor, [("127.0.0.1", port)], timeout=10)
            self.addCleanup(locator.disconnect)
            self.locators.append(locator)

    def startAll(self):
        for node in self.nodes:
            node.start()
            self.addCleanup(node.stop)

    async def clusterOf(self, i):
        return await self.locators[i].cluster()

    async def waitFor(self, predicate, timeout):
        """
        @return: the seconds it took for C{predicate()} to hold.
        """
        started = time.monotonic()
        deadline = started + timeout
        while True:
            if await predicate():
                return time.monotonic() - started
            if time.monotonic() > deadline:
                self.fail("condition not reached within {}s".format(
                    timeout))
            await deferLater(reactor, 0.05)

    def uuids(self):
        return [open(os.path.join(node.directory, "var", "data",
                                  "uuid")).read().strip()
                for node in self.nodes]

    async def fullMesh(self, uuids, ports):
        for i, (uuid, port) in enumerate(zip(uuids, ports)):
            expected = {u: ["127.0.0.1", p] for u, p in zip(uuids, ports)
                        if u != uuid}
            if await self.clusterOf(i) != expected:
                return False
        return True

    def echoThrough(self, i):
        return echoThrough(self.locators[i], b"through the cluster")

    async def test_joinResolveLoseRejoin(self):
        """
        Within one interval every node lists the other two; echo, running
        only on A, resolves at C and answers through C's answer; SIGKILL
        of A drops it from B and C within 3 x interval and echo is no
        longer available there; A restarted rejoins without restarting
        the others.
        """
        self.startAll()
        uuids = self.uuids()
        await self.waitFor(lambda: self.fullMesh(uuids, self.ports),
                           INTERVAL + SLACK)

        endpoints, version, graph = await self.locators[2].resolve("echo")
        echoA = (await self.locators[0].resolve("echo"))[0]
        self.assertEqual(endpoints, echoA)
        self.assertEqual(graph[0][0], "enqueue")
        chunks, used = await self.echoThrough(2)
        self.assertEqual(chunks, [b"through the cluster"])
        self.assertEqual(used, echoA)
        # C itself runs no echo
        self.assertEqual(await Service("node", self.locators[2]).list(), [])

        a = self.nodes[0]
        a.process.send_signal(signal.SIGKILL)
        a.process.wait()
        killed = time.monotonic()
        a.stop()

        async def gone():
            for i in (1, 2):
                if uuids[0] in await self.clusterOf(i):
                    return False
            return True
        await self.waitFor(gone, 3 * INTERVAL + SLACK)
        self.assertLessEqual(time.monotonic() - killed,
                             3 * INTERVAL + SLACK)
        for i in (1, 2):
            with self.assertRaises(ServiceNotAvailable):
                await self.locators[i].resolve("echo")

        a.start()
        await self.locators[0].disconnect()
        await self.waitFor(lambda: self.fullMesh(uuids, self.ports),
                           INTERVAL + 2 * SLACK)
        chunks, used = await self.echoThrough(1)
        self.assertEqual(chunks, [b"through the cluster"])

    async def test_realFrameworkClientThroughAnotherNode(self):
        """
        The real Cocaine 0.12 client, given only node C's locator, calls
        echo running on A through C's resolve answer.
        """
        python = frameworkPython()
        self.startAll()
        uuids = self.uuids()
        await self.waitFor(lambda: self.fullMesh(uuids, self.ports),
                           INTERVAL + SLACK)
        result = await deferToThread(subprocess.run, [
            python, "-E", FRAMEWORK_CLIENT, str(self.ports[2]), "echo"],
            cwd=ROOT, capture_output=True, text=True, timeout=90)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        steps = readSteps(result.stdout)
        self.assertEqual(steps["ping"], {"chunks": ["pong"]})
        self.assertEqual(steps["echo"], {"chunks": ["one", "two", "three"]})
        # echo has no "boom": the worker framework's "no handler" error
        self.assertEqual(steps["boom"]["error"], [42, 200])
        self.assertEqual(steps["ping again"], {"chunks": ["pong"]})
        self.assertEqual(await Service("node", self.locators[2]).list(), [])

    async def test_silentNodeDropped(self):
        """
        A node that stops answering without closing its connections
        (SIGSTOP: as good as a cut network) is dropped after 3 x interval
        of silence, and rejoins when it answers again (SIGCONT).
        """
        self.startAll()
        uuids = self.uuids()
        await self.waitFor(lambda: self.fullMesh(uuids, self.ports),
                           INTERVAL + SLACK)
        a = self.nodes[0]
        a.process.send_signal(signal.SIGSTOP)
        self.addCleanup(lambda: a.process and a.process.send_signal(
            signal.SIGCONT))
        stopped = time.monotonic()

        async def gone():
            for i in (1, 2):
                if uuids[0] in await self.clusterOf(i):
                    return False
            return True
        await self.waitFor(gone, 3 * INTERVAL + 2 * SLACK)
        # silence counts from the last answer, up to an interval before
        # the stop
        self.assertGreaterEqual(time.monotonic() - stopped,
                                2 * INTERVAL - 0.1)
        with self.assertRaises(ServiceNotAvailable):
            await self.locators[2].resolve("echo")
        a.process.send_signal(signal.SIGCONT)
        await self.waitFor(lambda: self.fullMesh(uuids, self.ports),
                           3 * INTERVAL + 2 * SLACK)
        chunks, used = await self.echoThrough(2)
        self.assertEqual(chunks, [b"through the cluster"])


#: A client that runs inside the namespace: one JSON request a line on
#: standard input, one JSON answer a line on standard output.
_CLIENT = r"""
import json, sys
from cocaine.client.blocking import connect
for line in sys.stdin:
    request = json.loads(line)
    try:
        if request["op"] == "cluster":
            locator = connect("locator", port=request["port"])
            try:
                result = locator.cluster(timeout=5)
            finally:
                locator.close()
        elif request["op"] == "resolve":
            locator = connect("locator", port=request["port"])
            try:
                result = locator.resolve(request["name"], timeout=5)
            finally:
                locator.close()
        elif request["op"] == "echo":
            echo = connect("echo", port=request["port"])
            try:
                channel = echo.enqueue("echo")
                channel.write(request["data"].encode())
                channel.close()
                result = [c.decode() for c in channel]
            finally:
                echo.close()
        elif request["op"] == "garbage":
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                         socket.inet_aton("127.0.0.1"))
            for data in [b"", b"\xc1\xc1", b"\x92\xa1x\x90" * 3,
                         b"\x93\xa1x\x91\x92\xa1h\x01\xc4\x01x"]:
                s.sendto(data, (request["group"], request["mport"]))
            s.close()
            result = None
        print(json.dumps({"ok": result}), flush=True)
    except Exception as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e)}),
              flush=True)
"""


class Namespace:
    """
    A network namespace with only loopback up and a multicast route on it.
    """

    def __init__(self, name):
        self.name = name
        self.created = False

    def create(self):
        if shutil.which("ip") is None:
            raise SkipTest("multicast cluster test: no `ip` command")
        result = subprocess.run(["ip", "netns", "add", self.name],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise SkipTest("multicast cluster test needs `ip netns add` "
                           "(root or CAP_SYS_ADMIN): " + (
                               result.stderr.strip() or "not permitted"))
        self.created = True
        for command in (["link", "set", "lo", "up"],
                        ["route", "add", "224.0.0.0/4", "dev", "lo"]):
            subprocess.run(["ip", "-n", self.name] + command, check=True,
                           capture_output=True)

    def delete(self):
        if self.created:
            subprocess.run(["ip", "netns", "del", self.name],
                           capture_output=True)
            self.created = False

    def prefix(self):
        return ["ip", "netns", "exec", self.name]


class MulticastClusterTests(TestCase):
    """
    Three nodes with multicast discovery in a network namespace made for
    the test (loopback only), plus one with the wrong secret.
    """

    timeout = 120
    secret = "cluster-secret"

    def setUp(self):
        self.ns = Namespace("cocaine-test-{}".format(os.getpid()))
        # delete the namespace whatever happens, even if create fails
        # half-way; cleanups run last-in first-out, so it goes after the
        # nodes and the client
        self.addCleanup(self.ns.delete)
        self.ns.create()
        original = _node.twistdCommand
        self.patch(_node, "twistdCommand",
                   lambda *args: self.ns.prefix() + original(*args))
        self.client = LineDriver(
            self.ns.prefix() + [_node.sys.executable, "-c", _CLIENT])
        self.addCleanup(self.client.stop)
        self.base = self.mktemp()

    def ask(self, **request):
        return self.client.ask(**request)

    def startNode(self, name, echo=False, secret=None):
        node = Node(os.path.join(self.base, name), nodeConfig(
            {"discovery": "multicast", "interval": INTERVAL,
             "interface": "127.0.0.1", "ttl": 0,
             "secret": secret or self.secret}, echo=echo))
        node.start()
        self.addCleanup(node.stop)
        node.uuid = node.readUuid()
        return node

    def waitFor(self, predicate, timeout):
        return waitUntil(self, predicate, timeout)

    def mesh(self, nodes):
        for node in nodes:
            expected = {other.uuid: ["127.0.0.1", other.port]
                        for other in nodes if other is not node}
            if self.ask(op="cluster", port=node.port) != expected:
                return False
        return True

    def test_discoveryResolveLoss(self):
        """
        Within one interval each node lists the other two; echo running
        only on A resolves at C and answers through it; a node with
        another secret stays out; garbage on the group changes nothing;
        SIGKILL of A drops it from B and C within 3 x interval.
        """
        a = self.startNode("a", echo=True)
        b = self.startNode("b")
        c = self.startNode("c")
        nodes = [a, b, c]
        self.waitFor(lambda: self.mesh(nodes), INTERVAL + SLACK)

        endpoints = self.ask(op="resolve", port=c.port, name="echo")[0]
        self.assertEqual(endpoints,
                         self.ask(op="resolve", port=a.port, name="echo")[0])
        self.assertEqual(self.ask(op="echo", port=c.port, data="hi"),
                         ["hi"])

        outsider = self.startNode("d", secret="another-secret")
        self.ask(op="garbage", group="239.0.100.53", mport=10053)
        time.sleep(2 * INTERVAL + 0.5)
        self.assertEqual(self.ask(op="cluster", port=outsider.port), {})
        self.assertTrue(self.mesh(nodes))

        a.process.send_signal(signal.SIGKILL)
        a.process.wait()
        a.stop()

        def gone():
            return all(a.uuid not in self.ask(op="cluster", port=n.port)
                       for n in (b, c))
        self.waitFor(gone, 3 * INTERVAL + SLACK)
        with self.assertRaises(RuntimeError) as caught:
            self.ask(op="resolve", port=c.port, name="echo")
        self.assertIn("ServiceNotAvailable", str(caught.exception))
