"""
Discovery through unicorn across subnets, with no multicast between them:
network namespaces this test creates (and deletes) joined by a router
namespace, each leaf on a /24 of its own routed through it (the router
forwards unicast only): node A on 10.232.1.0/24, node B on
10.232.2.0/24, etcd on 10.232.3.0/24. The nodes find each other through
etcd alone, and the real Cocaine 0.12 client in B's namespace, given only
B's locator, calls echo running on A on the other subnet.
"""

import os
import shutil
import subprocess
import sys

from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.etcd import Etcd
from tests.integration.framework import frameworkPython
from tests.integration.framework_report import readSteps
from tests.integration.lines import LineDriver
from tests.integration.netns import NamespaceNode, inNamespace
from tests.integration.node import ROOT, waitUntil
from tests.integration.test_cluster import ECHO
from tests.integration.test_cluster_netns import _CLIENT, _FRAMEWORK, _ip

#: The lease (kept alive every second) and the interval of these nodes.
LEASE, INTERVAL = 3, 1.0


class RoutedNetwork:
    """
    A router namespace and leaf namespaces, each leaf on a subnet of its
    own (C{10.232.<k>.0/24}: the leaf is C{.1}, the router C{.254}), with
    its default route through the router.
    """

    def __init__(self, tag):
        self.router = "cocaine-uc-{}-r".format(tag)
        self.tag = tag
        self.names = []

    def _add(self, name):
        result = _ip("netns", "add", name, check=False)
        if result.returncode != 0:
            raise SkipTest("routed namespace tests need `ip netns add` "
                           "(root or CAP_SYS_ADMIN): " + (
                               result.stderr.strip() or "not permitted"))
        self.names.append(name)

    def create(self):
        if shutil.which("ip") is None:
            raise SkipTest("routed namespace tests: no `ip` command")
        self._add(self.router)
        _ip("-n", self.router, "link", "set", "lo", "up")
        result = subprocess.run(inNamespace(self.router, [
            "sysctl", "-qw", "net.ipv4.ip_forward=1"]),
            capture_output=True, text=True)
        if result.returncode != 0:
            raise SkipTest("cannot turn forwarding on in a namespace: "
                           + result.stderr.strip())

    def addLeaf(self, k):
        """
        Leaf namespace on subnet C{k}.

        @return: its name and address.
        """
        name = "cocaine-uc-{}-{}".format(self.tag, k)
        address = "10.232.{}.1".format(k)
        self._add(name)
        # made in the router and one end moved at once: nothing is ever
        # in the host's namespace
        _ip("-n", self.router, "link", "add", "r{}".format(k), "type",
            "veth", "peer", "name", "eth0", "netns", name)
        _ip("-n", self.router, "addr", "add",
            "10.232.{}.254/24".format(k), "dev", "r{}".format(k))
        _ip("-n", self.router, "link", "set", "r{}".format(k), "up")
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "addr", "add", address + "/24", "dev", "eth0")
        _ip("-n", name, "link", "set", "eth0", "up")
        _ip("-n", name, "route", "add", "default", "via",
            "10.232.{}.254".format(k))
        return name, address

    def delete(self):
        while self.names:
            _ip("netns", "del", self.names.pop(), check=False)


class NamespaceEtcd(Etcd):
    """
    An L{Etcd} run inside a namespace, on that namespace's address.
    """

    def __init__(self, directory, namespace, address):
        Etcd.__init__(self, directory, host=address, namespace=namespace)
        self.address = address


class SubnetsTests(TestCase):

    timeout = 180

    def setUp(self):
        self.net = RoutedNetwork(os.getpid())
        self.addCleanup(self.net.delete)
        self.net.create()
        self.base = os.path.abspath(self.mktemp())
        self.leaves = {k: self.net.addLeaf(k) for k in (1, 2, 3)}
        self.etcd = NamespaceEtcd(os.path.join(self.base, "etcd"),
                                  *self.leaves[3]).start()
        self.addCleanup(self.etcd.stop)
        self.clients = {}

    def ask(self, k, **request):
        if k not in self.clients:
            client = LineDriver(inNamespace(self.leaves[k][0],
                                            [sys.executable, "-c", _CLIENT]))
            self.addCleanup(client.stop)
            self.clients[k] = client
        return self.clients[k].ask(**request)

    def startNode(self, k, echo=False):
        name, address = self.leaves[k]
        local = {"echo": {"path": ECHO, "profile": {"pool-limit": 1}}} if (
            echo) else {}
        config = {
            "network": {"locator": 0, "bind": address},
            "insecure": True,
            "unicorns": {"core": {"type": "etcd", "args": {
                "endpoints": [self.etcd.url], "timeout": 2}}},
            "cluster": {"discovery": "unicorn", "backend": "core",
                        "lease": LEASE, "interval": INTERVAL},
            "services": {
                "logging": {"type": "logging"},
                "storage": {"type": "storage"},
                "node": {"type": "node", "args": {"local": local}}}}
        node = NamespaceNode(name, address,
                             os.path.join(self.base, "n{}".format(k)), config)
        node.start()
        self.addCleanup(node.stop)
        node.uuid = node.readUuid()
        return node

    def test_acrossSubnets(self):
        """
        A on one subnet and B on another, no multicast between them: each
        lists the other through etcd; echo, only on A, resolves at B to
        A's address, and the real 0.12 client in B's namespace, given B's
        locator, calls it over the router.
        """
        a = self.startNode(1, echo=True)
        b = self.startNode(2)

        def mesh():
            return (self.ask(1, op="cluster", host=a.address,
                             port=a.port) == {b.uuid: [b.address, b.port]}
                    and self.ask(2, op="cluster", host=b.address,
                                 port=b.port) == {a.uuid: [a.address,
                                                           a.port]})
        waitUntil(self, mesh, 15)
        endpoints = self.ask(2, op="resolve", host=b.address, port=b.port,
                             name="echo")[0]
        self.assertEqual(endpoints[0][0], a.address)
        answer = self.ask(2, op="call", name="echo", host=b.address,
                          port=b.port, event="echo", data="routed",
                          timeout=20)
        self.assertEqual(answer["chunks"], ["routed"])
        self.assertEqual(answer["served"][0], a.address)

        python = frameworkPython()
        result = subprocess.run(inNamespace(self.leaves[2][0], [
            python, "-E", "-c", _FRAMEWORK.format(directory=os.path.join(
                ROOT, "tests", "integration")),
            b.address, str(b.port), "echo"]),
            cwd=ROOT, capture_output=True, text=True, timeout=90)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        steps = readSteps(result.stdout)
        self.assertEqual(steps["ping"], {"chunks": ["pong"]})
        self.assertEqual(steps["echo"], {"chunks": ["one", "two", "three"]})
