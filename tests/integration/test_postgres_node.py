"""
Real nodes with C{storages.core} on the C{postgres} backend and a real
PostgreSQL (L{tests.integration.postgres}): the storage service, app
deployment from that storage, two nodes sharing it, and a server restart
seen through the node.
"""

import errno
import os

from twisted.trial.unittest import TestCase

from cocaine.client.deploy import upload
from cocaine.errors import CATEGORY_SYSTEM, CocaineError, KeyNotFound
from cocaine.protocol.framing import unpackValue
from tests.integration.framework import frameworkPython, frameworkSteps
from tests.integration.node import (ROOT, Node, connectedService,
                                    startConnected)
from tests.integration.postgres import PostgresServer, sharedServer

ECHO = os.path.join(ROOT, "examples", "apps", "echo")


class _PostgresNodeCase(TestCase):

    timeout = 90

    def nodeConfig(self, dsn, table):
        return {
            "network": {"locator": 0},
            "storages": {"core": {"type": "postgres", "args": {
                "dsn": dsn, "table": table, "timeout": 5}}},
            "services": {
                "logging": {"type": "logging"},
                "storage": {"type": "storage"},
                "node": {"type": "node", "args": {"drain-timeout": 5}}}}

    def startNode(self, dsn, table):
        return startConnected(
            self, Node(self.mktemp(), self.nodeConfig(dsn, table)))

    def service(self, locator, name):
        return connectedService(self, locator, name)

    async def call(self, app, event, *chunks):
        channel = await app.enqueue(event)
        for chunk in chunks:
            channel.write(chunk)
        channel.close()
        return [chunk async for chunk in channel]


def _table(test):
    """
    A table of this test's own on the shared server.
    """
    return "t_" + test.id().rsplit(".", 1)[-1].lower()[:50]


class NodeOnPostgresTests(_PostgresNodeCase):
    """
    One shared server; a table per test.
    """

    def setUp(self):
        self.server = sharedServer()
        self.table = _table(self)
        self.server.sql("DROP TABLE IF EXISTS {}".format(self.table))

    async def test_storageService(self):
        """
        The node's storage service reads, writes, finds and removes in
        PostgreSQL: the rows are in the table, with bytea values and text
        tags.
        """
        node, locator = self.startNode(self.server.dsn(), self.table)
        storage = self.service(locator, "storage")
        await storage.write("c", "k1", b"\x00\xffvalue", ["a", "b"])
        await storage.write("c", "k2", b"two", ["b"])
        self.assertEqual(await storage.read("c", "k1"), b"\x00\xffvalue")
        self.assertEqual(await storage.find("c", ["b"]), ["k1", "k2"])
        self.assertEqual(await storage.find("c", ["a", "b"]), ["k1"])
        self.assertEqual(self.server.sql(
            "SELECT key, value, tags FROM {} WHERE collection = 'c' "
            "ORDER BY key".format(self.table)),
            [("k1", b"\x00\xffvalue", ["a", "b"]), ("k2", b"two", ["b"])])
        await storage.remove("c", "k1")
        with self.assertRaises(KeyNotFound) as caught:
            await storage.read("c", "k1")
        self.assertIn("'k1'", str(caught.exception))

    async def test_deployFromPostgres(self):
        """
        An app uploaded through the node's storage is started from it and
        answers; its runlist entry is in PostgreSQL too.
        """
        node, locator = self.startNode(self.server.dsn(), self.table)
        await upload(self.service(locator, "storage"), "echo", path=ECHO,
                     profile={"pool-limit": 1}, profileName="small")
        self.assertEqual(sorted(self.server.sql(
            "SELECT collection, key FROM {}".format(self.table))),
            [("apps", "echo"), ("manifests", "echo"),
             ("profiles", "small")])
        await self.service(locator, "node").start_app("echo", "small")
        echo = self.service(locator, "echo")
        self.assertEqual(await self.call(echo, "echo", b"via postgres"),
                         [b"via postgres"])
        [(runlist,)] = self.server.sql(
            "SELECT value FROM {} WHERE collection = 'runlists'".format(
                self.table))
        self.assertEqual(unpackValue(runlist), {b"echo": b"small"})

    async def test_sharedBetweenNodes(self):
        """
        Two nodes on the same table: an app uploaded once through the
        first is started on the second, which finds it in storage.
        """
        first, firstLocator = self.startNode(self.server.dsn(), self.table)
        second, secondLocator = self.startNode(self.server.dsn(),
                                               self.table)
        await upload(self.service(firstLocator, "storage"), "echo",
                     path=ECHO, profile={"pool-limit": 1},
                     profileName="small")
        self.assertEqual(await self.service(secondLocator, "storage").find(
            "apps", ["app"]), ["echo"])
        await self.service(secondLocator, "node").start_app("echo", "small")
        echo = self.service(secondLocator, "echo")
        self.assertEqual(await self.call(echo, "echo", b"x"), [b"x"])


class FrameworkOnPostgresTests(_PostgresNodeCase):
    """
    The real Cocaine 0.12 Python framework's storage client against a node
    whose storage is PostgreSQL.
    """

    timeout = 400

    def test_frameworkClient(self):
        """
        The framework's write, read (512 KiB, every byte value), find,
        remove and its errors come out as with the files backend.
        """
        frameworkPython()
        server = sharedServer()
        table = _table(self)
        server.sql("DROP TABLE IF EXISTS {}".format(table))
        node = Node(self.mktemp(), self.nodeConfig(server.dsn(), table))
        node.start()
        self.addCleanup(node.stop)
        steps = frameworkSteps(self, os.path.join(
            ROOT, "tests", "integration", "framework_client.py"), node.port)
        self.assertEqual(steps["read"], {"intact": True,
                                         "size": 512 * 1024})
        self.assertEqual(sorted(steps["find x"]["value"]),
                         ["blob", "other"])
        self.assertEqual(steps["find x y"]["value"], ["blob"])
        self.assertEqual(steps["read removed"]["error"],
                         [1, errno.ENOENT])
        self.assertEqual(steps["escape"]["error"], [1, errno.EINVAL])
        self.assertEqual(steps["own locator read"]["value"], "2")
        self.assertEqual(server.sql(
            "SELECT key, value FROM {} WHERE collection = 'fw'".format(
                table)), [("other", b"2")])


class NodeOutageTests(_PostgresNodeCase):
    """
    A server of the test's own, restarted under a running node.
    """

    def setUp(self):
        self.server = PostgresServer().start()
        self.addCleanup(self.server.remove)

    async def test_restartThroughNode(self):
        """
        While PostgreSQL is down, storage calls through the node fail with
        an error naming the server (ECONNREFUSED in the system category),
        within the backend's timeout; when it is back they work again with
        nothing restarted, and the writes acknowledged before are there. A
        running app keeps serving throughout.
        """
        node, locator = self.startNode(self.server.dsn(), "cocaine_storage")
        storage = self.service(locator, "storage")
        await upload(storage, "echo", path=ECHO, profile={"pool-limit": 1},
                     profileName="small")
        await self.service(locator, "node").start_app("echo", "small")
        for i in range(10):
            await storage.write("acked", "k%d" % i, b"v%d" % i, ["t"])
        self.server.stop()
        for call in (lambda: storage.read("acked", "k1"),
                     lambda: storage.write("acked", "new", b"x", []),
                     lambda: storage.find("acked", ["t"])):
            with self.assertRaises(CocaineError) as caught:
                await call()
            error = caught.exception
            self.assertEqual((error.category, error.code),
                             (CATEGORY_SYSTEM, errno.ECONNREFUSED))
            self.assertIn("PostgreSQL at 127.0.0.1:{}".format(
                self.server.port), str(error))
        echo = self.service(locator, "echo")
        self.assertEqual(await self.call(echo, "echo", b"up"), [b"up"])
        self.server.start()
        self.assertEqual(await storage.find("acked", ["t"]),
                         ["k%d" % i for i in range(10)])
        for i in range(10):
            self.assertEqual(await storage.read("acked", "k%d" % i),
                             b"v%d" % i)
        await storage.write("acked", "after", b"a", [])
        self.assertEqual(await storage.read("acked", "after"), b"a")
