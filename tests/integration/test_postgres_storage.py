"""
L{cocaine.storage.postgres} against a real PostgreSQL
(L{tests.integration.postgres}): the rules every backend shares, the
threaded runner, and a server restart (calls fail with a clear error
meanwhile and recover by themselves; no acknowledged write is lost).
"""

import subprocess
import sys

import psycopg
from twisted.internet import reactor
from twisted.internet.defer import Deferred, fail, gatherResults, succeed
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from cocaine.errors import BackendUnavailable, KeyNotFound, SystemError_
from cocaine.interfaces import IStorageBackend
from cocaine.storage.pgthreads import describe, translate
from cocaine.storage.postgres import PostgresStorage
from tests.integration.node import ROOT, environment
from tests.integration.postgres import PostgresServer, sharedServer
from tests.storage._behaviour import StorageBehaviourMixin


class _SynchronousRunner:
    """
    Runs each statement at once on one connection, in this thread: the
    shared behaviour suite wants results that are already there.
    """

    def __init__(self, dsn):
        self.server = describe(dsn)
        self.connection = psycopg.connect(dsn, autocommit=True)

    def execute(self, statement, params=()):
        try:
            cursor = self.connection.execute(statement, params)
        except psycopg.Error as e:
            return fail(translate(e, self.server, 0))
        return succeed(cursor.fetchall() if cursor.description else [])

    def close(self):
        self.connection.close()


class PostgresBehaviourTests(StorageBehaviourMixin, SynchronousTestCase):
    """
    The shared backend rules, for L{PostgresStorage} on a real server (the
    same SQL as in production, run synchronously).
    """

    def makeBackend(self):
        server = sharedServer()
        if getattr(self, "runner", None) is None:
            self.runner = _SynchronousRunner(server.dsn())
            self.addCleanup(self.runner.close)
        storage = PostgresStorage(None, runner=self.runner,
                                  table="behaviour")
        self.successResultOf(Deferred.fromCoroutine(storage.ensureSchema()))
        self.runner.execute("TRUNCATE behaviour")
        return storage

    def test_interface(self):
        self.assertTrue(verifyObject(IStorageBackend, self.storage))

    def test_schema(self):
        """
        Values are C{bytea}, tags C{text[]} under a GIN index, and the
        primary key is C{(collection, key)}.
        """
        server = sharedServer()
        columns = dict(server.sql(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'behaviour'"))
        self.assertEqual(columns, {"collection": "text", "key": "text",
                                   "value": "bytea", "tags": "ARRAY"})
        indexes = [row[0] for row in server.sql(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'behaviour'")]
        self.assertTrue(any("USING gin (tags)" in i for i in indexes),
                        indexes)
        self.assertTrue(any("(collection, key)" in i for i in indexes),
                        indexes)

    def test_longTagsAreFine(self):
        """
        Unlike the files backend, a tag of any length can be stored and
        found.
        """
        tag = "\u00fc" * 300
        self.call("write", "c", "k", b"v", [tag])
        self.assertEqual(self.call("find", "c", [tag]), ["k"])


class ThreadedTests(TestCase):
    """
    The production runner: statements in threads, with the real reactor.
    """

    def setUp(self):
        self.server = sharedServer()
        self.storage = PostgresStorage(reactor, self.server.dsn(),
                                       table="threaded", size=3, timeout=10)
        self.server.sql("DROP TABLE IF EXISTS threaded")
        self.addCleanup(self.storage.stopService)
        return self.storage.startService()

    def test_madeOnStart(self):
        """
        Starting makes the table and its index.
        """
        self.assertEqual(self.server.sql(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'threaded'"),
            [(2,)])

    async def _manyCalls(self):
        values = {"k%d" % i: bytes([i]) * (100 + i) for i in range(40)}
        await gatherResults([self.storage.write("c", key, value, ["t"])
                             for key, value in values.items()])
        read = await gatherResults([self.storage.read("c", key)
                                    for key in values])
        self.assertEqual(read, list(values.values()))
        self.assertEqual(await self.storage.find("c", ["t"]), sorted(values))
        await self.storage.remove("c", "k0")
        with self.assertRaises(KeyNotFound):
            await self.storage.read("c", "k0")

    def test_manyCallsInFlight(self):
        """
        Forty writes and reads in flight at once on three connections each
        land whole.
        """
        return Deferred.fromCoroutine(self._manyCalls())

    def test_largeValue(self):
        """
        A value of 8 MiB round-trips.
        """
        blob = bytes(range(256)) * (32 * 1024)

        async def go():
            await self.storage.write("c", "big", blob, [])
            self.assertEqual(await self.storage.read("c", "big"), blob)
        return Deferred.fromCoroutine(go())

    def test_roleWithoutCreate(self):
        """
        A role that may not create tables uses the table an administrator
        made for it (PostgreSQL 15 grants no CREATE on C{public} to
        others).
        """
        self.server.sql("DROP ROLE IF EXISTS limited")
        self.server.sql("CREATE ROLE limited LOGIN")
        self.addCleanup(self.server.sql, "DROP ROLE limited")
        self.server.sql("GRANT SELECT, INSERT, UPDATE, DELETE ON threaded "
                        "TO limited")
        self.addCleanup(self.server.sql, "REVOKE ALL ON threaded FROM "
                        "limited")
        dsn = self.server.dsn().replace("//cocaine@", "//limited@")
        storage = PostgresStorage(reactor, dsn, table="threaded")
        self.addCleanup(storage.stopService)

        async def go():
            await storage.startService()
            await storage.write("c", "k", b"v", ["t"])
            self.assertEqual(await storage.find("c", ["t"]), ["k"])
            with self.assertRaises(SystemError_) as caught:
                await PostgresStorage(None, runner=storage.runner,
                                      table="other").read("c", "k")
            self.assertIn("permission denied", str(caught.exception))
        return Deferred.fromCoroutine(go())

    def test_sharedBetweenBackends(self):
        """
        Two backends on the same server (two nodes) see each other's
        writes and tags.
        """
        other = PostgresStorage(reactor, self.server.dsn(), table="threaded")
        other.startService()
        self.addCleanup(other.stopService)

        async def go():
            await self.storage.write("apps", "echo", b"archive", ["app"])
            self.assertEqual(await other.read("apps", "echo"), b"archive")
            self.assertEqual(await other.find("apps", ["app"]), ["echo"])
        return Deferred.fromCoroutine(go())


class OutageTests(TestCase):
    """
    A server of its own, stopped and restarted on the same port.
    """

    def setUp(self):
        self.server = PostgresServer().start()
        self.addCleanup(self.server.remove)
        self.storage = PostgresStorage(reactor, self.server.dsn(), size=2,
                                       timeout=5)
        self.addCleanup(self.storage.stopService)
        return self.storage.startService()

    def test_restart(self):
        """
        While the server is down, each call fails with L{BackendUnavailable}
        naming the server (not a hang); once it is back, calls work again
        without anything being done, and every write acknowledged before
        the restart is there.
        """
        async def go():
            for i in range(20):
                await self.storage.write("c", "k%d" % i, b"v%d" % i, ["t"])
            self.server.stop()
            for method, args in (("read", ("c", "k1")),
                                 ("write", ("c", "new", b"x", [])),
                                 ("find", ("c", ["t"])),
                                 ("remove", ("c", "k2"))):
                with self.assertRaises(BackendUnavailable) as caught:
                    await getattr(self.storage, method)(*args)
                message = str(caught.exception)
                self.assertIn("PostgreSQL at 127.0.0.1:{}".format(
                    self.server.port), message)
                self.assertIn("database cocaine", message)
            self.server.start()
            self.assertEqual(await self.storage.read("c", "k1"), b"v1")
            self.assertEqual(await self.storage.find("c", ["t"]),
                             sorted("k%d" % i for i in range(20)))
            for i in range(20):
                self.assertEqual(await self.storage.read("c", "k%d" % i),
                                 b"v%d" % i)
        return Deferred.fromCoroutine(go())

    def test_restartBetweenCalls(self):
        """
        After a restart between two calls, the next call succeeds at once
        on every pooled connection (a connection the server dropped is
        replaced, the statement tried again).
        """
        async def go():
            await gatherResults([self.storage.read("c", "k")
                                 .addErrback(lambda f: f.trap(KeyNotFound))
                                 for _ in range(4)])
            self.server.restart()
            await gatherResults([self.storage.write("c", "k%d" % i, b"v", [])
                                 for i in range(4)])
            self.assertEqual(await self.storage.find("c", []),
                             ["k0", "k1", "k2", "k3"])
        return Deferred.fromCoroutine(go())

    def test_downAtStart(self):
        """
        A backend started while the server is down starts anyway; its
        calls fail until the server is there, then the table is made and
        they work.
        """
        async def go():
            self.storage.stopService()
            self.server.stop()
            storage = PostgresStorage(reactor, self.server.dsn(),
                                      table="late", timeout=5)
            await storage.startService()
            self.addCleanup(storage.stopService)
            with self.assertRaises(BackendUnavailable):
                await storage.read("c", "k")
            self.server.start()
            await storage.write("c", "k", b"v", [])
            self.assertEqual(await storage.read("c", "k"), b"v")
        return Deferred.fromCoroutine(go())


class BenchTests(TestCase):

    timeout = 300

    def test_quickRun(self):
        """
        C{python -m bench.postgres} prints a row per runner and the ratio
        against direct queries.
        """
        result = subprocess.run(
            [sys.executable, "-m", "bench.postgres", "--calls", "50",
             "--runs", "1"], cwd=ROOT, env=environment(),
            capture_output=True, text=True, timeout=240)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        lines = result.stdout.splitlines()
        self.assertEqual(lines[1].split(), ["calls/s", "write", "seq",
                                            "read", "seq", "write", "x16",
                                            "read", "x16"])
        self.assertEqual([line.split()[0] for line in lines[2:6]],
                         ["threads", "adbapi", "asyncio", "direct"])
        self.assertIn("threads / direct, write seq: ", result.stdout)
