"""
A cluster beyond one LAN (issue 16), end to end with real processes: three
nodes on two IP subnets joined by a router, no multicast between them,
finding each other through unicorn on a real etcd and sharing apps
through a real PostgreSQL, both in a subnet of their own.

The topology (L{tests.integration.topology}), all made by the test in
network namespaces and deleted afterwards:

    subnet A 10.201.1.0/24      subnet B 10.201.2.0/24
    a1 .11, a2 .12 (a3 .13)     b1 .11
              \\                 /
               router (.1 on each, ip_forward on, no multicast routing)
                         |
    infrastructure 10.201.3.0/24: i .10, etcd and PostgreSQL

Nodes run in a1, a2, b1 (and a3) with C{storages.core} on the PostgreSQL,
C{unicorns.core} on the etcd and C{cluster.discovery} C{unicorn}. Clients
run in a1 (subnet A): ours (L{tests.integration.subnet_client}),
C{cocaine-tool} and the real Cocaine 0.12 framework's.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

from twisted.trial.unittest import TestCase

from cocaine.cluster.registration import FOLDER
from tests.integration.etcd import Etcd
from tests.integration.framework import frameworkPython
from tests.integration.framework_report import readSteps
from tests.integration.lines import LineDriver
from tests.integration.netns import NamespaceNode, inNamespace
from tests.integration.node import ROOT, environment, waitUntil
from tests.integration.postgres import PostgresServer
from tests.integration.topology import PREFIX, Subnets

#: The registration's TTL (kept alive every third of it) and the
#: interval of peering.
LEASE, INTERVAL = 3, 1.0

#: Scheduling slack for real processes on a busy machine.
SLACK = 7.0

#: Every node's locator port (each node has an address of its own).
LOCATOR = 10053

SECRET = "subnets-secret"

#: Where each host is: C{label: (subnet, host)}.
HOSTS = {"a1": (1, 11), "a2": (1, 12), "a3": (1, 13), "b1": (2, 11),
         "i": (3, 10)}

INTEGRATION = os.path.join(ROOT, "tests", "integration")

#: An app whose C{where} answers the address its worker's host routes
#: from toward the address sent: which namespace, so which node, served.
_WHERE = """#!{python}
import socket
import sys
sys.path.insert(0, {root!r})

from cocaine.worker import Worker


async def where(request, response):
    target = (await request.read()).decode()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((target, 9))
    address = s.getsockname()[0]
    s.close()
    response.write(address.encode())
    response.close()


Worker().run({{"where": where}})
"""

#: The real framework's client: resolve APP through the locator at
#: HOST:PORT, call its C{where} with TARGET.
_FRAMEWORK = """
import collections, collections.abc, sys
collections.MutableMapping = collections.abc.MutableMapping
sys.path.insert(0, {directory!r})
from tornado import gen
from tornado.ioloop import IOLoop
from cocaine.services import Service
from framework_report import readAll, report

host, port, app, target = sys.argv[1], int(sys.argv[2]), sys.argv[3], \\
    sys.argv[4]


@gen.coroutine
def main():
    service = Service(app, endpoints=[[host, port]])
    channel = yield service.enqueue("where")
    yield channel.tx.write(target.encode())
    yield channel.tx.close()
    report("where", chunks=(yield readAll(channel, 20)))


IOLoop.current().run_sync(main, timeout=60)
"""


def whereApp(directory):
    """
    Write the C{where} app into C{directory}/where.

    @return: its directory.
    """
    path = os.path.join(os.path.abspath(directory), "where")
    os.makedirs(path)
    worker = os.path.join(path, "worker.py")
    with open(worker, "w") as f:
        f.write(_WHERE.format(python=sys.executable, root=ROOT))
    os.chmod(worker, 0o755)
    with open(os.path.join(path, "manifest.json"), "w") as f:
        f.write('{"slave": "worker.py"}\n')
    return path


class SubnetClusterTests(TestCase):
    """
    The routed topology with etcd and PostgreSQL started in the
    infrastructure namespace; each test starts the nodes it needs.
    """

    timeout = 150

    def setUp(self):
        self.net = Subnets(os.getpid())
        # cleanups run last-in first-out: the namespaces go after every
        # process started in them, whatever failed
        self.addCleanup(self.net.delete)
        self.net.create()
        for subnet in (1, 2, 3):
            self.net.addSubnet(subnet)
        self.spaces = {}
        self.base = os.path.abspath(self.mktemp())
        os.makedirs(self.base)
        self.addCleanup(shutil.rmtree, self.base, True)
        infra, address = self.space("i")
        self.etcd = Etcd(os.path.join(self.base, "etcd"), host=address,
                         namespace=infra).start()
        self.addCleanup(self.etcd.stop)
        self.postgres = PostgresServer(host=address, namespace=infra,
                                       clients=[PREFIX + ".0.0/16"])
        self.addCleanup(self.postgres.remove)
        self.postgres.start()
        self.nodes = {}
        self.clients = {}

    def space(self, label):
        """
        The namespace and address of host C{label}, made at first use.
        """
        if label not in self.spaces:
            subnet, host = HOSTS[label]
            self.spaces[label] = self.net.addHost(subnet, host, label)
        return self.spaces[label]

    def nodeConfig(self, address):
        return {
            "network": {"locator": LOCATOR, "bind": address},
            # a private namespace: protected mode needs saying so
            "insecure": True,
            "storages": {"core": {"type": "postgres", "args": {
                "dsn": self.postgres.dsn(), "timeout": 5}}},
            "unicorns": {"core": {"type": "etcd", "args": {
                "endpoints": [self.etcd.url], "timeout": 2}}},
            "cluster": {"discovery": "unicorn", "backend": "core",
                        "lease": LEASE, "interval": INTERVAL,
                        "secret": SECRET},
            "services": {
                "logging": {"type": "logging"},
                "storage": {"type": "storage"},
                "node": {"type": "node", "args": {"drain-timeout": 2}}}}

    def startNode(self, label):
        namespace, address = self.space(label)
        node = NamespaceNode(namespace, address,
                             os.path.join(self.base, label),
                             self.nodeConfig(address))
        node.start(timeout=30)
        self.addCleanup(node.stop)
        node.uuid = node.readUuid()
        self.nodes[label] = node
        return node

    def client(self, label, name=None):
        """
        Our client running in host C{label}'s namespace (one per C{name}).
        """
        key = (label, name)
        if key not in self.clients:
            process = LineDriver(inNamespace(self.space(label)[0], [
                sys.executable, os.path.join(INTEGRATION,
                                             "subnet_client.py")]))
            self.clients[key] = process
            self.addCleanup(process.stop)
        return self.clients[key]

    def ask(self, node, op, via="a1", **request):
        """
        Send C{op} through C{node}'s locator from host C{via}.
        """
        return self.client(via).ask(op=op, host=node.address,
                                    port=node.port, **request)

    def waitFor(self, predicate, timeout):
        return waitUntil(self, predicate, timeout, step=0.2)

    def mesh(self, *labels):
        """
        Whether each node of C{labels} lists exactly the others in its
        C{cluster()}, asked from subnet A.
        """
        nodes = [self.nodes[label] for label in labels]
        for node in nodes:
            expected = {other.uuid: [other.address, other.port]
                        for other in nodes if other is not node}
            try:
                if self.ask(node, "cluster") != expected:
                    return False
            except RuntimeError:
                return False
        return True

    def registered(self):
        """
        The uuids registered in etcd now, read straight from its gateway
        (in the infrastructure namespace).
        """
        return self.etcd.keys(FOLDER + "/")

    def uuids(self, *labels):
        return {self.nodes[label].uuid for label in labels}

    def tool(self, node, *args, via="a1"):
        return subprocess.run(inNamespace(self.space(via)[0], [
            sys.executable, "-m", "cocaine.tool", "--host", node.address,
            "--port", str(node.port)] + list(args)), cwd=ROOT,
            env=environment(), capture_output=True, text=True, timeout=90)

    def framework(self, node, app="where", via="a1"):
        """
        The real Cocaine 0.12 client, run in host C{via}, resolving C{app}
        through C{node}'s locator and calling its C{where}.

        @return: the chunks it got.
        """
        python = frameworkPython()
        result = subprocess.run(inNamespace(self.space(via)[0], [
            python, "-E", "-c", _FRAMEWORK.format(directory=INTEGRATION),
            node.address, str(node.port), app, self.etcd.host]),
            cwd=self.base, capture_output=True, text=True, timeout=90)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        return readSteps(result.stdout)["where"]["chunks"]

    def test_discoveryCallsAndFaults(self):
        """
        a1, a2 (subnet A) and b1 (subnet B) find each other through
        unicorn although multicast does not cross the router. The app
        uploaded once through a1 and started cluster-wide is called by
        the real 0.12 client in subnet A on b1: resolved at b1, then at
        a1 once subnet A's nodes paused it (the gateway picks b1). a2
        SIGKILLed leaves the others' view within the lease; with etcd
        stopped the nodes keep serving, and a3, started meanwhile, is
        found once etcd is back.
        """
        # the real client first: when it cannot be had, skip before
        # anything runs
        frameworkPython()
        a1, a2, b1 = (self.startNode(label) for label in ("a1", "a2", "b1"))
        self.waitFor(lambda: self.mesh("a1", "a2", "b1"), LEASE + SLACK)
        self.assertEqual(self.registered(), self.uuids("a1", "a2", "b1"))

        # no multicast path between the subnets: nothing routes it, and
        # a datagram from a1 reaches a2 (same subnet) but not b1
        self.assertEqual(self.net.multicastRouting(), ("0", ""))
        self.assertEqual(self.net.multicastReaches(
            a1.namespace, [a2.namespace, b1.namespace]),
            {a2.namespace: True, b1.namespace: False})

        result = self.tool(a1, "app", "upload", whereApp(self.base))
        self.assertEqual(result.returncode, 0, result.stderr)
        result = self.tool(a1, "app", "start", "where", "--cluster")
        self.assertEqual((result.returncode, result.stdout, result.stderr),
                         (0, "app where running on 3 nodes\n", ""))
        # uploaded once: one archive in the shared store, none copied
        self.assertEqual(self.postgres.sql(
            "SELECT count(*) FROM cocaine_storage WHERE collection = "
            "'apps'"), [(1,)])
        self.assertEqual(a1.log().count("it shares this node's store, "
                                        "nothing copied"), 2)

        # the real 0.12 client in subnet A, through b1's locator
        self.assertEqual(self.framework(b1), [b1.address])
        # subnet A's nodes pause it: resolved at a1, it goes to b1
        for node in (a1, a2):
            result = self.tool(node, "app", "stop", "where")
            self.assertEqual(result.returncode, 0, result.stderr)

        def resolvedToB():
            endpoints = self.ask(a1, "resolve", name="where")[0]
            return {host for host, _ in endpoints} == {b1.address}
        self.waitFor(resolvedToB, INTERVAL + SLACK)
        self.assertEqual(self.framework(a1), [b1.address])

        a2.process.send_signal(signal.SIGKILL)
        a2.process.wait()
        a2.stop()
        self.waitFor(lambda: self.mesh("a1", "b1"), LEASE + SLACK)
        self.waitFor(lambda: self.registered() == self.uuids("a1", "b1"),
                     LEASE + SLACK)

        self.etcd.stop()
        # longer than the lease: the nodes cannot keep theirs meanwhile
        time.sleep(LEASE + 1)
        self.assertTrue(self.mesh("a1", "b1"))
        answer = self.ask(a1, "call", name="where", event="where",
                          data=self.etcd.host, timeout=20)
        self.assertEqual(answer["chunks"], [b1.address])
        self.assertEqual(self.framework(b1), [b1.address])
        a3 = self.startNode("a3")
        self.assertTrue(self.mesh("a1", "b1"))
        # nobody can know of a3 yet, nor a3 of anybody
        self.assertEqual(self.ask(a3, "cluster"), {})

        self.etcd.start()
        self.waitFor(lambda: self.mesh("a1", "b1", "a3"),
                     2 * LEASE + SLACK)
        self.assertEqual(self.registered(), self.uuids("a1", "b1", "a3"))
        self.assertIn("cannot keep lease", a1.log())

    def test_postgresRestart(self):
        """
        Writes through a1 are acknowledged; PostgreSQL stopped, a storage
        call fails at once naming the server; restarted, calls work again
        and every acknowledged write, before and during the outage, is
        read back through b1 on the other subnet.
        """
        a1, b1 = self.startNode("a1"), self.startNode("b1")
        before = ["k{}".format(i) for i in range(20)]
        for key in before:
            self.assertIsNone(self.ask(a1, "write", collection="acks",
                                       key=key, value=key))
        writer = self.client("a1", "writer")
        writer.send(op="writes", host=a1.address, port=a1.port,
                    collection="acks", prefix="w", after=5, limit=60,
                    timeout=10)
        self.assertEqual(writer.receive(), "writing")

        self.postgres.stop()
        server = "PostgreSQL at {}:{}".format(self.postgres.host,
                                              self.postgres.port)
        with self.assertRaises(RuntimeError) as caught:
            self.ask(a1, "write", collection="acks", key="lost",
                     value="lost")
        self.assertIn(server, str(caught.exception))
        with self.assertRaises(RuntimeError) as caught:
            self.ask(b1, "read", collection="acks", key="k0")
        self.assertIn(server, str(caught.exception))

        self.postgres.start()

        def readable():
            try:
                return self.ask(b1, "read", collection="acks",
                                key="k0") == "k0"
            except RuntimeError:
                return False
        self.waitFor(readable, 5 + SLACK)
        written = writer.receive()
        self.assertTrue(written["errors"])
        for error in written["errors"]:
            self.assertIn(server, error)
        for key in before + written["acked"]:
            self.assertEqual(self.ask(b1, "read", collection="acks",
                                      key=key), key)
