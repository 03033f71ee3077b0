"""
Discovery through unicorn with real processes: a real etcd
(L{tests.integration.etcd}) and real nodes (twistd subprocesses) on
127.0.0.1 with C{"cluster": {"discovery": "unicorn", "backend": "core",
"lease": 3}}: they find each other through etcd, a dead node leaves
within the lease TTL, an etcd outage leaves the peers linked and
serving, and when etcd is back the registrations are there again and a
node started meanwhile is found.
"""

import os
import re
import shutil
import signal
import time

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from cocaine.client import Locator
from cocaine.cluster.registration import FOLDER
from cocaine.errors import ServiceNotAvailable
from tests.integration.etcd import Etcd
from tests.integration.node import Node
from tests.integration.test_cluster import ECHO, echoThrough

#: The registration's TTL (kept alive every second) and the interval.
LEASE, INTERVAL = 3, 1.0

#: Scheduling slack for real processes on a busy machine.
SLACK = 2.0


def nodeConfig(etcd, echo=False):
    local = {"echo": {"path": ECHO, "profile": {"pool-limit": 1}}} if (
        echo) else {}
    return {
        "network": {"locator": 0},
        "unicorns": {"core": {"type": "etcd", "args": {
            "endpoints": [etcd.url], "timeout": 2}}},
        "cluster": {"discovery": "unicorn", "backend": "core",
                    "lease": LEASE, "interval": INTERVAL},
        "services": {
            "logging": {"type": "logging"},
            "storage": {"type": "storage"},
            "node": {"type": "node", "args": {"local": local,
                                              "drain-timeout": 2}}}}


def registered(etcd):
    """
    The uuids registered in etcd now (read straight from its gateway).
    """
    return etcd.keys(FOLDER + "/")


class UnicornDiscoveryTests(TestCase):

    timeout = 180

    def setUp(self):
        self.base = os.path.abspath(self.mktemp())
        self.etcd = Etcd(os.path.join(self.base, "etcd")).start()
        self.addCleanup(self.etcd.stop)
        self.nodes = {}
        self.locators = {}

    def startNode(self, name, echo=False):
        node = Node(os.path.join(self.base, name),
                    nodeConfig(self.etcd, echo))
        node.start()
        self.addCleanup(node.stop)
        node.uuid = node.readUuid()
        self.nodes[name] = node
        locator = Locator(reactor, [("127.0.0.1", node.port)], timeout=10)
        self.addCleanup(locator.disconnect)
        self.locators[name] = locator
        return node

    async def waitFor(self, predicate, timeout):
        """
        @return: the seconds it took for C{await predicate()} to hold.
        """
        started = time.monotonic()
        while not await predicate():
            if time.monotonic() - started > timeout:
                self.fail("condition not reached within {}s".format(
                    timeout))
            await deferLater(reactor, 0.05, lambda: None)
        return time.monotonic() - started

    def mesh(self, *names):
        """
        A predicate: each of C{names} lists exactly the others with their
        locators.
        """
        async def check():
            for name in names:
                expected = {self.nodes[other].uuid: [
                    "127.0.0.1", self.nodes[other].port]
                    for other in names if other != name}
                if await self.locators[name].cluster() != expected:
                    return False
            return True
        return check

    async def test_findLoseOutageRecover(self):
        """
        Three nodes find each other through etcd alone (no multicast, no
        peer list) and echo, running only on A, answers through C. B
        SIGKILLed leaves: its registration is gone within the lease TTL.
        etcd stopped for twice the TTL: A and C keep each other and echo
        still answers through C; D, started meanwhile, is found once etcd
        is back, where A's and C's registrations are again.
        """
        for name in "abc":
            self.startNode(name, echo=(name == "a"))
        await self.waitFor(self.mesh("a", "b", "c"), 10)
        self.assertEqual(registered(self.etcd),
                         {self.nodes[n].uuid for n in "abc"})
        endpoints = (await self.locators["c"].resolve("echo"))[0]
        self.assertEqual(endpoints,
                         (await self.locators["a"].resolve("echo"))[0])
        chunks, _ = await echoThrough(self.locators["c"], b"via unicorn")
        self.assertEqual(chunks, [b"via unicorn"])

        b = self.nodes["b"]
        b.process.send_signal(signal.SIGKILL)
        b.process.wait()
        killed = time.monotonic()
        b.stop()
        await self.waitFor(self.mesh("a", "c"), SLACK)

        async def unregistered():
            return b.uuid not in await deferToThread(registered, self.etcd)
        await self.waitFor(unregistered, LEASE + SLACK)
        self.assertLessEqual(time.monotonic() - killed, LEASE + SLACK)

        self.etcd.stop()
        await deferLater(reactor, 2 * LEASE, lambda: None)
        self.assertTrue(await self.mesh("a", "c")())
        chunks, _ = await echoThrough(self.locators["c"], b"etcd is down")
        self.assertEqual(chunks, [b"etcd is down"])
        self.startNode("d")
        await deferLater(reactor, INTERVAL, lambda: None)
        # nobody can know of D yet
        self.assertTrue(await self.mesh("a", "c")())
        self.assertEqual(await self.locators["d"].cluster(), {})
        self.assertIn("cannot register", self.nodes["d"].log())
        self.assertIn("cannot keep lease", self.nodes["a"].log())

        self.etcd.start()
        await self.waitFor(self.mesh("a", "c", "d"), 10 + SLACK)
        self.assertEqual(registered(self.etcd),
                         {self.nodes[n].uuid for n in "acd"})
        with self.assertRaises(ServiceNotAvailable):
            await self.locators["d"].resolve("missing-service")
        chunks, _ = await echoThrough(self.locators["d"], b"found")
        self.assertEqual(chunks, [b"found"])

    async def test_etcdLostItsData(self):
        """
        etcd back empty (its data lost): every node registers again on a
        new lease, and the peers stay linked through it.
        """
        for name in "ab":
            self.startNode(name)
        await self.waitFor(self.mesh("a", "b"), 10)
        self.etcd.stop()
        shutil.rmtree(os.path.join(self.etcd.directory, "data"))
        self.etcd.start()
        # (not checked empty here: a node retrying every INTERVAL may
        # register again between etcd's start and a query; the two
        # leases in each node's log below show the data was gone)

        async def both():
            return await deferToThread(registered, self.etcd) == {
                self.nodes[n].uuid for n in "ab"}
        await self.waitFor(both, LEASE + SLACK)
        self.assertTrue(await self.mesh("a", "b")())
        for name in "ab":
            log = self.nodes[name].log()
            # registered twice, on two leases
            leases = set(re.findall(r"cluster: registered \S+ with "
                                    r"endpoints .* on lease (\d+)", log))
            self.assertEqual(len(leases), 2, log)
            self.assertNotIn(" left: ", log)
