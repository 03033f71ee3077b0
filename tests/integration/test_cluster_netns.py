"""
Real nodes (twistd subprocesses), each in a network namespace of its own
that the test creates: a hub namespace holds a bridge, every node
namespace is joined to it by a veth pair whose outer end lives in the hub
(nothing is ever created in the host's namespace), addresses come from
10.231.X.0/24 and exist only inside those namespaces, and each node
namespace routes 224.0.0.0/4 over its veth. Discovery is multicast on the
namespace's address with the test's own group and port, and every node
binds its services to that address, so peers reach them over the bridge.

Clients run inside the namespaces too (C{ip netns exec}): a small client
of ours per namespace (one JSON request a line), the real Cocaine 0.12
framework client, and C{cocaine-tool}. Every namespace (and with it every
veth and the bridge) is deleted in cleanup, also when a test fails; the
tests skip, saying why, when C{ip netns add} is not permitted.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.framework import frameworkPython
from tests.integration.lines import LineDriver
from tests.integration.netns import NamespaceNode, inNamespace
from tests.integration.node import ROOT, environment, waitUntil
from tests.integration.test_cluster import ECHO, INTERVAL, SLACK, nodeConfig
from tests.integration.framework_report import readSteps

#: One client per namespace: one JSON request a line on standard input,
#: one JSON answer a line on standard output.
_CLIENT = r"""
import json, socket, sys, threading, time
from cocaine.client.blocking import connect


def call(request):
    service = connect(request["name"], host=request["host"],
                      port=request["port"], timeout=request["timeout"])
    started = time.monotonic()
    try:
        channel = service.enqueue(request["event"])
        channel.write(request["data"].encode())
        channel.close()
        chunks = [c.decode() for c in channel]
        return {"chunks": chunks,
                "served": list(service._service.endpoints[0]),
                "seconds": time.monotonic() - started}
    except Exception as e:
        return {"error": type(e).__name__,
                "seconds": time.monotonic() - started}
    finally:
        try:
            service.close(timeout=2)
        except Exception:
            pass


for line in sys.stdin:
    request = json.loads(line)
    try:
        if request["op"] in ("cluster", "resolve"):
            locator = connect("locator", host=request["host"],
                              port=request["port"])
            try:
                if request["op"] == "cluster":
                    result = locator.cluster(timeout=5)
                else:
                    result = locator.resolve(request["name"], timeout=5)
            finally:
                locator.close()
        elif request["op"] == "call":
            result = call(request)
        elif request["op"] == "burst":
            # request["count"] calls at once, each spaced request["gap"]
            results = [None] * request["count"]

            def one(i):
                results[i] = call(request)
            threads = []
            for i in range(request["count"]):
                t = threading.Thread(target=one, args=(i,))
                t.start()
                threads.append(t)
                time.sleep(request.get("gap", 0))
            for t in threads:
                t.join()
            result = results
        elif request["op"] == "pin":
            # request["count"] requests on ONE connection (resolved once)
            service = connect("echo", host=request["host"],
                              port=request["port"], timeout=60)
            try:
                channels = []
                for _ in range(request["count"]):
                    channel = service.enqueue("slow")
                    channel.write(request["data"].encode())
                    channel.close()
                    channels.append(channel)
                served = list(service._service.endpoints[0])
                print(json.dumps({"ok": served}), flush=True)
                result = [[c.decode() for c in ch] for ch in channels]
            finally:
                service.close()
        elif request["op"] == "garbage":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                         socket.inet_aton(request["interface"]))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            for data in [b"", b"\xc1\xc1", b"\x92\xa1x\x90" * 3,
                         b"\x93\xa1x\x91\x92\xa1h\x01\xc4\x01x",
                         b"\x92\xd9\x24" + b"u" * 36 + b"\x91\x92\xa1h\xcd",
                         bytes(range(256)) * 4]:
                s.sendto(data, (request["group"], request["mport"]))
            s.close()
            result = None
        print(json.dumps({"ok": result}), flush=True)
    except Exception as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e)}),
              flush=True)
"""

#: The real framework's client, pointed at a node's address rather than
#: 127.0.0.1 (it is reused unchanged: only its C{Service} is wrapped).
_FRAMEWORK = r"""
import sys
sys.path.insert(0, {directory!r})
host, port, app = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.argv = ["framework_app_client.py", str(port), app]
import framework_app_client as client
from tornado.ioloop import IOLoop
original = client.Service
client.Service = lambda name, endpoints: original(
    name, endpoints=[[host, port]])
IOLoop.current().run_sync(client.main, timeout=60)
"""


def _ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True,
                          text=True, check=check)


class Network:
    """
    A hub namespace with a bridge and node namespaces joined to it.

    @ivar names: every namespace created, to delete.
    """

    def __init__(self, tag):
        self.tag = tag
        self.hub = "cocaine-cl-{}-hub".format(tag)
        self.names = []
        self.subnet = "10.231.{}".format(tag % 250 + 1)
        self.group = "239.231.{}.1".format(tag % 250 + 1)
        self.mport = 20000 + tag % 20000

    def _add(self, name):
        result = _ip("netns", "add", name, check=False)
        if result.returncode != 0:
            raise SkipTest("cluster namespace tests need `ip netns add` "
                           "(root or CAP_SYS_ADMIN): " + (
                               result.stderr.strip() or "not permitted"))
        self.names.append(name)

    def create(self):
        if shutil.which("ip") is None:
            raise SkipTest("cluster namespace tests: no `ip` command")
        self._add(self.hub)
        try:
            _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        except subprocess.CalledProcessError as e:
            raise SkipTest("cannot create a bridge in a namespace: "
                           + e.stderr.strip())
        _ip("-n", self.hub, "link", "set", "br0", "up")
        _ip("-n", self.hub, "link", "set", "lo", "up")

    def addNode(self, n):
        """
        Namespace C{n} (1..249) joined to the bridge.

        @return: its name and address.
        """
        name = "cocaine-cl-{}-{}".format(self.tag, n)
        address = "{}.{}".format(self.subnet, n)
        self._add(name)
        # both ends are made in the hub and one moved at once: no
        # interface ever exists in the host's namespace
        _ip("-n", self.hub, "link", "add", "h{}".format(n), "type", "veth",
            "peer", "name", "eth0", "netns", name)
        _ip("-n", self.hub, "link", "set", "h{}".format(n), "master", "br0")
        _ip("-n", self.hub, "link", "set", "h{}".format(n), "up")
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "addr", "add", address + "/24", "dev", "eth0")
        _ip("-n", name, "link", "set", "eth0", "up")
        _ip("-n", name, "route", "add", "224.0.0.0/4", "dev", "eth0")
        return name, address

    def cut(self, n):
        """
        Cut namespace C{n} off the bridge (its veth down in the hub).
        """
        _ip("-n", self.hub, "link", "set", "h{}".format(n), "down")

    def delete(self):
        # deleting a namespace deletes its veth ends and with them their
        # peers; the bridge goes with the hub
        while self.names:
            _ip("netns", "del", self.names.pop(), check=False)


class NamespaceClusterTests(TestCase):
    """
    Nodes A, B, C (and D, E when a test needs them), one namespace each.
    """

    timeout = 180
    secret = "netns-secret"

    def setUp(self):
        self.net = Network(os.getpid())
        # runs last (cleanups are last-in first-out): after the nodes and
        # the clients, whatever failed before
        self.addCleanup(self.net.delete)
        self.net.create()
        self.base = self.mktemp()
        self.spaces = {}
        self.clients = {}

    def space(self, n):
        if n not in self.spaces:
            self.spaces[n] = self.net.addNode(n)
        return self.spaces[n]

    def client(self, n):
        """
        Our client running in namespace C{n}.
        """
        if n not in self.clients:
            process = LineDriver(inNamespace(self.space(n)[0],
                                             [sys.executable, "-c", _CLIENT]))
            self.clients[n] = process
            self.addCleanup(process.stop)
        return self.clients[n]

    def ask(self, n, **request):
        return self.client(n).ask(**request)

    def startNode(self, n, echo=False, secret=None):
        name, address = self.space(n)
        config = nodeConfig(
            {"discovery": "multicast", "interval": INTERVAL,
             "group": self.net.group, "port": self.net.mport,
             "interface": address, "ttl": 1,
             "secret": secret or self.secret}, echo=echo)
        config["network"]["bind"] = address
        # a private namespace: protected mode needs saying so
        config["insecure"] = True
        node = NamespaceNode(name, address,
                             os.path.join(self.base, "n{}".format(n)),
                             config)
        node.start()
        self.addCleanup(node.stop)
        node.uuid = node.readUuid()
        return node

    def waitFor(self, predicate, timeout):
        return waitUntil(self, predicate, timeout)

    def cluster(self, node, via):
        return self.ask(via, op="cluster", host=node.address,
                        port=node.port)

    def mesh(self, nodes):
        """
        Each node's cluster() lists exactly the others (asked from the
        namespace of the first node, over the bridge).
        """
        for node in nodes:
            expected = {other.uuid: [other.address, other.port]
                        for other in nodes if other is not node}
            if self.cluster(node, 1) != expected:
                return False
        return True

    def resolve(self, node, name, via=1):
        return self.ask(via, op="resolve", host=node.address,
                        port=node.port, name=name)

    def call(self, node, via, event="echo", data="hi", timeout=20):
        return self.ask(via, op="call", name="echo", host=node.address,
                        port=node.port, event=event, data=data,
                        timeout=timeout)

    def test_joinRealClientSecretGarbage(self):
        """
        Three nodes in three namespaces: started at once, each cluster()
        lists the two others within one interval (plus scheduling slack);
        echo, running only on A, resolves at C to A's address and the
        real Cocaine 0.12 client, run in C's namespace with only C's
        locator, calls it; a node with another secret stays out; garbage
        sent to the group from B's namespace changes nothing.
        """
        nodes = [self.startNode(1, echo=True), self.startNode(2),
                 self.startNode(3)]
        a, b, c = nodes
        self.waitFor(lambda: self.mesh(nodes), INTERVAL + SLACK)

        endpoints = self.resolve(c, "echo", via=3)[0]
        self.assertEqual(endpoints, self.resolve(a, "echo", via=1)[0])
        self.assertEqual(endpoints[0][0], a.address)
        answer = self.call(c, via=3, data="over the bridge")
        self.assertEqual(answer["chunks"], ["over the bridge"])
        self.assertEqual(answer["served"][0], a.address)

        python = frameworkPython()
        result = subprocess.run(inNamespace(self.space(3)[0], [
            python, "-E", "-c", _FRAMEWORK.format(directory=os.path.join(
                ROOT, "tests", "integration")),
            c.address, str(c.port), "echo"]),
            cwd=ROOT, capture_output=True, text=True, timeout=90)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        steps = readSteps(result.stdout)
        self.assertEqual(steps["ping"], {"chunks": ["pong"]})
        self.assertEqual(steps["echo"], {"chunks": ["one", "two", "three"]})
        self.assertEqual(steps["boom"]["error"], [42, 200])

        outsider = self.startNode(4, secret="another-secret")
        self.ask(2, op="garbage", group=self.net.group,
                 mport=self.net.mport, interface=b.address)
        time.sleep(2 * INTERVAL + 0.5)
        self.assertEqual(self.cluster(outsider, 4), {})
        self.assertTrue(self.mesh(nodes))
        self.assertEqual(self.call(b, via=2, data="still")["chunks"],
                         ["still"])
        for node in nodes + [outsider]:
            self.assertIsNone(node.process.poll())

    def test_loadSpreadAndLossMidLoad(self):
        """
        Echo on A and B, none on C. With A's single worker pinned by slow
        requests, most of a burst resolved through C (and A) is served by
        B. Then, with slow requests through C in flight on both, B is
        killed: every request ends, with a reply or an error, within its
        timeout; B leaves every cluster() within 3 x interval and new
        requests go to A.
        """
        nodes = [self.startNode(1, echo=True), self.startNode(2, echo=True),
                 self.startNode(3)]
        a, b, c = nodes
        self.waitFor(lambda: self.mesh(nodes), INTERVAL + SLACK)
        echoA = self.resolve(a, "echo")[0]
        echoB = self.resolve(b, "echo")[0]
        self.assertNotEqual(echoA, echoB)

        # pin A: slow requests resolved at A, while idle its own
        # (four slow requests on one connection resolved at A while idle,
        # so all four are A's: 4 of its 10 session slots)
        pinner = self.client(1)
        pinner.send(**{
            "op": "pin", "count": 4, "host": a.address, "port": a.port,
            "data": "6000"})
        self.assertEqual(pinner.receive(),
                         echoA[0])
        self.waitFor(lambda: self.resolve(c, "echo", via=3)[0] == echoB,
                     INTERVAL + SLACK)
        burst = self.ask(3, op="burst", count=20, name="echo",
                         host=c.address, port=c.port, event="echo",
                         data="x", timeout=20, gap=0.02)
        served = [tuple(r["served"]) for r in burst if "served" in r]
        self.assertEqual(len(served), 20, burst)
        onB = sum(1 for s in served if s[0] == b.address)
        self.assertGreaterEqual(onB, 15, burst)
        pinned = pinner.receive()
        self.assertEqual(pinned, [["done"]] * 4)

        # node loss mid-load: 12 slow (2 s) requests through C, timeout 8
        loader = self.client(3)
        loader.send(**{
            "op": "burst", "count": 12, "name": "echo", "host": c.address,
            "port": c.port, "event": "slow", "data": "2000", "timeout": 8,
            "gap": 0.05})
        time.sleep(1.0)
        b.process.send_signal(signal.SIGKILL)
        b.process.wait()
        b.stop()
        started = time.monotonic()
        results = loader.receive()
        self.assertLess(time.monotonic() - started, 8 + 2 * SLACK)
        self.assertEqual(len(results), 12)
        for r in results:
            # a reply or an error, within the timeout (none hangs)
            self.assertTrue(r.get("chunks") == ["done"] or "error" in r, r)
            self.assertLess(r["seconds"], 8 + SLACK, r)
        self.assertTrue(any("error" in r for r in results) or all(
            r["served"][0] == a.address for r in results), results)

        self.waitFor(lambda: all(
            b.uuid not in self.cluster(n, 1) for n in (a, c)),
            3 * INTERVAL + SLACK)
        for _ in range(5):
            answer = self.call(c, via=3, data="after")
            self.assertEqual(answer["chunks"], ["after"])
            self.assertEqual(answer["served"][0], a.address)

    def test_deployLateJoinerCut(self):
        """
        echo uploaded to A and started with C{cocaine-tool app start
        --cluster} (run in A's namespace) runs on A, B, C; D, started
        later in a fourth namespace, gets it and serves it; C{cocaine-tool
        cluster --load} shows all four with their load and apps; D's namespace
        cut off the bridge leaves every cluster() within 3 x interval and
        rejoins when reconnected.
        """
        nodes = [self.startNode(n) for n in (1, 2, 3)]
        a = nodes[0]
        self.waitFor(lambda: self.mesh(nodes), INTERVAL + 2 * SLACK)

        def tool(*args):
            return subprocess.run(inNamespace(self.space(1)[0], [
                sys.executable, "-m", "cocaine.tool", "--host", a.address,
                "--port", str(a.port)] + list(args)), cwd=ROOT,
                env=environment(), capture_output=True, text=True,
                timeout=90)
        result = tool("app", "upload", ECHO)
        self.assertEqual(result.returncode, 0, result.stderr)
        result = tool("app", "start", "echo", "--cluster")
        self.assertEqual((result.returncode, result.stdout, result.stderr),
                         (0, "app echo running on 3 nodes\n", ""))
        for i, node in enumerate(nodes, 1):
            answer = self.call(node, via=i, event="ping", data="")
            self.assertEqual(answer["chunks"], ["pong"])

        d = self.startNode(4)
        self.waitFor(lambda: self.mesh(nodes + [d]), INTERVAL + 2 * SLACK)

        def dServes():
            try:
                return self.resolve(d, "echo", via=4)[0][0][0] == d.address
            except RuntimeError:
                return False
        self.waitFor(dServes, 2 * INTERVAL + 3 * SLACK)
        self.assertEqual(self.call(d, via=4, event="ping", data="")
                         ["chunks"], ["pong"])

        # cocaine-tool cluster --load: every node, its CPU and its apps
        result = tool("--json", "cluster", "--load")
        self.assertEqual(result.returncode, 0, result.stderr)
        shown = json.loads(result.stdout)
        everyone = nodes + [d]
        self.assertEqual(sorted(shown), sorted(n.uuid for n in everyone))
        for n in everyone:
            entry = shown[n.uuid]
            self.assertEqual(entry["endpoint"], [n.address, n.port])
            self.assertEqual(entry["self"], n is a)
            self.assertIn("echo", entry["services"])
            self.assertEqual(sorted(entry["apps"]), ["echo"])
            self.assertIsInstance(entry["cpu"], (int, float))
            self.assertIsInstance(entry["apps"]["echo"]["score"], float)
        self.assertIn("(this node)", tool("cluster", "--load").stdout)

        self.net.cut(4)
        self.waitFor(lambda: all(d.uuid not in self.cluster(n, 1)
                                 for n in nodes), 3 * INTERVAL + 2 * SLACK)
        _ip("-n", self.net.hub, "link", "set", "h4", "up")
        self.waitFor(lambda: self.mesh(nodes + [d]), 3 * INTERVAL + 3 * SLACK)
