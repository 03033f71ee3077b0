"""
L{cocaine.storage.postgres} against a real PostgreSQL
(L{tests.integration.postgres}): the rules every backend shares, the
pipelined runner (L{cocaine.storage.pgpipeline}), and a server restart or
pause (calls fail with a clear error within the timeout meanwhile and
recover by themselves; no acknowledged write is lost).
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import psycopg
from twisted.internet import reactor
from twisted.internet.defer import (
    CancelledError, Deferred, fail, gatherResults, succeed)
from twisted.internet.task import deferLater
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


class RunnerTests(TestCase):
    """
    The production runner (statements pipelined in the reactor's thread),
    with the real reactor.
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


class PipelineTests(TestCase):
    """
    What pipelining must not change: each statement is its own
    transaction and fails alone, statements spread over the connections,
    a cancelled call leaves the connection serving, and stopping lets
    what is in flight answer.
    """

    def setUp(self):
        self.server = sharedServer()
        self.storage = PostgresStorage(reactor, self.server.dsn(),
                                       table="pipelined", size=3, timeout=10)
        self.runner = self.storage.runner
        self.addCleanup(self.storage.stopService)
        return self.storage.startService()

    def _failed(self, d):
        return d.addCallbacks(lambda rows: ("ok", rows),
                              lambda f: ("failed", f.value))

    def test_errorFailsOnlyItsStatement(self):
        """
        A failing statement between two others in the same pipeline fails
        alone, with L{SystemError_} quoting the server; those around it
        answer.
        """
        async def go():
            results = await gatherResults([
                self._failed(self.runner.execute("SELECT %s::int", (1,))),
                self._failed(self.runner.execute("SELECT nosuch")),
                self._failed(self.runner.execute(
                    "SELECT %s, %s, %s", ("x", b"\x00y", ["a", 'b"\\'])))])
            self.assertEqual(results[0], ("ok", [(1,)]))
            self.assertEqual(results[1][0], "failed")
            self.assertIsInstance(results[1][1], SystemError_)
            self.assertIn('column "nosuch" does not exist',
                          str(results[1][1]))
            self.assertEqual(results[2], ("ok", [
                ("x", b"\x00y", '{"a","b\\"\\\\"}')]))
        return Deferred.fromCoroutine(go())

    def test_eachStatementCommits(self):
        """
        A write acknowledged before a failing statement in the same
        pipeline stays: every statement is a transaction of its own.
        """
        async def go():
            write = self.storage.write("c", "kept", b"v", [])
            bad = self._failed(self.runner.execute("SELECT 1/0"))
            await write
            outcome = await bad
            self.assertIn("division by zero", str(outcome[1]))
            self.assertEqual(self.server.sql(
                "SELECT value FROM pipelined WHERE key = 'kept'"),
                [(b"v",)])
        return Deferred.fromCoroutine(go())

    def test_spreadOverConnections(self):
        """
        Calls one at a time use one connection; many in flight open up to
        the pool's size.
        """
        async def go():
            for i in range(5):
                await self.storage.write("c", "k%d" % i, b"v", [])
            self.assertEqual(len(self.runner._connections), 1)
            await gatherResults([self.storage.read("c", "k%d" % (i % 5))
                                 for i in range(64)])
            self.assertEqual(len(self.runner._connections), 3)
            self.assertEqual(len(set(self.server.sql(
                "SELECT pid FROM pg_stat_activity WHERE application_name "
                "= '' AND datname = 'cocaine' AND pid <> "
                "pg_backend_pid()"))), 3)
        return Deferred.fromCoroutine(go())

    def test_cancelled(self):
        """
        A call cancelled while in flight fails with L{CancelledError} at
        once; its answer is dropped when it comes, and the connection
        serves the next call.
        """
        async def go():
            d = self.runner.execute("SELECT pg_sleep(0.2)")
            d.cancel()
            with self.assertRaises(CancelledError):
                await d
            self.assertEqual(await self.runner.execute("SELECT 7"), [(7,)])
        return Deferred.fromCoroutine(go())

    def test_unsendableFailsAlone(self):
        """
        A statement libpq refuses to send (too many parameters) fails
        alone; the connection serves the calls around it.
        """
        async def go():
            first = self.runner.execute("SELECT 1")
            bad = self._failed(self.runner.execute(
                "SELECT 1", tuple(range(70000))))
            self.assertEqual(await first, [(1,)])
            outcome = await bad
            self.assertIsInstance(outcome[1], SystemError_)
            self.assertIn("65535", str(outcome[1]))
            self.assertEqual(await self.runner.execute("SELECT 2"), [(2,)])
        return Deferred.fromCoroutine(go())

    def test_copyRefused(self):
        """
        A statement that starts a COPY (nothing of ours sends one) fails
        and drops its connection instead of holding the reactor; the next
        call is served.
        """
        async def go():
            outcome = await self._failed(self.runner.execute(
                "COPY (SELECT 1) TO STDOUT"))
            self.assertIsInstance(outcome[1], BackendUnavailable)
            self.assertIn("unexpected answer COPY_OUT", str(outcome[1]))
            self.assertEqual(await self.runner.execute("SELECT 3"), [(3,)])
        return Deferred.fromCoroutine(go())

    def test_nextAddress(self):
        """
        A dsn naming two addresses connects to the second when the first
        refuses, as libpq does.
        """
        dsn = "host=127.0.0.1,127.0.0.1 port=9,{} user=cocaine " \
              "dbname=cocaine".format(self.server.port)
        storage = PostgresStorage(reactor, dsn, table="pipelined", size=1,
                                  timeout=5)
        self.addCleanup(storage.stopService)

        async def go():
            await storage.startService()
            self.assertEqual(await storage.runner.execute("SELECT 4"),
                             [(4,)])
        return Deferred.fromCoroutine(go())

    def test_hostNameResolvedAside(self):
        """
        A host name is resolved outside the reactor's thread, and libpq is
        given the address (so it resolves nothing itself).
        """
        threads = []
        resolve = socket.getaddrinfo

        def recording(host, *args, **kwargs):
            if host == "localhost":
                threads.append(threading.current_thread())
            return resolve(host, *args, **kwargs)
        self.patch(socket, "getaddrinfo", recording)
        dsn = "host=localhost port={} user=cocaine dbname=cocaine".format(
            self.server.port)
        storage = PostgresStorage(reactor, dsn, table="pipelined", size=1,
                                  timeout=5)
        self.addCleanup(storage.stopService)

        async def go():
            await storage.startService()
            self.assertEqual(await storage.runner.execute("SELECT 5"),
                             [(5,)])
            [connection] = storage.runner._connections
            given = {option.keyword: option.val
                     for option in connection.pgconn.info}
            self.assertIn(given[b"hostaddr"], (b"127.0.0.1", b"::1"))
            self.assertTrue(threads)
            self.assertNotIn(threading.main_thread(), threads)
        return Deferred.fromCoroutine(go())

    def test_silentFirstHost(self):
        """
        A first host that takes the connection and never answers (a
        listening socket nobody accepts on) leaves time for the next:
        the call is answered by the second host.
        """
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        dsn = "host=127.0.0.1,127.0.0.1 port={},{} user=cocaine " \
              "dbname=cocaine".format(silent.getsockname()[1],
                                      self.server.port)
        storage = PostgresStorage(reactor, dsn, table="pipelined", size=1,
                                  timeout=4)
        self.addCleanup(storage.stopService)

        async def go():
            await storage.startService()
            self.assertEqual(await storage.runner.execute("SELECT 6"),
                             [(6,)])
            [connection] = storage.runner._connections
            self.assertEqual(connection.pgconn.port,
                             str(self.server.port).encode())
        return Deferred.fromCoroutine(go())

    def test_terminatedThenRetried(self):
        """
        A write whose backend is terminated while it waits (an
        administrator, a pooler) is sent again on a fresh connection, and
        its success is what the caller gets: not the first attempt's
        error.
        """
        async def go():
            await self.storage.write("c", "locked", b"old", [])
            holder = psycopg.connect(self.server.dsn())
            self.addCleanup(holder.close)
            holder.execute("SELECT * FROM pipelined WHERE key = 'locked' "
                           "FOR UPDATE")
            write = self.storage.write("c", "locked", b"new", [])
            [connection] = self.runner._connections
            backend = connection.pgconn.backend_pid
            # wait until the write waits on the row's lock
            for _ in range(100):
                if self.server.sql(
                        "SELECT wait_event_type FROM pg_stat_activity "
                        "WHERE pid = %s", (backend,)) == [("Lock",)]:
                    break
                await deferLater(reactor, 0.02)
            self.server.sql("SELECT pg_terminate_backend(%s)", (backend,))
            holder.commit()
            await write
            self.assertEqual(await self.storage.read("c", "locked"), b"new")
        return Deferred.fromCoroutine(go())

    def test_lateRetryFailsAlone(self):
        """
        A statement sent again after a lost connection keeps its first
        deadline: past it, it fails alone, and the statements sharing its
        new connection answer (the connection is stuck only when its
        oldest statement waited the whole timeout).
        """
        from cocaine.storage.pgcall import Call
        from cocaine.storage.pgstatements import compileStatement

        async def go():
            fresh = self.runner.execute("SELECT 1 FROM pg_sleep(0.4)")
            late = Call(compileStatement("SELECT 2 FROM pg_sleep(0.6)"), [], [], [],
                        reactor.seconds() + 0.1)
            late.retried = True
            self.runner._submit(late)
            outcome = await self._failed(late.deferred)
            self.assertIn("did not answer within 10 s", str(outcome[1]))
            self.assertEqual(await fresh, [(1,)])
            self.assertEqual(await self.runner.execute("SELECT 3"), [(3,)])
            self.assertEqual(len(self.runner._connections), 1)
        return Deferred.fromCoroutine(go())

    def test_stopLetsInFlightAnswer(self):
        """
        Stopping the backend while a statement runs lets it answer; the
        stop fires after, and later calls fail naming the server.
        """
        async def go():
            d = self.runner.execute("SELECT 1 FROM pg_sleep(0.2)")
            stopped = self.storage.stopService()
            self.assertFalse(stopped.called)
            self.assertEqual(await d, [(1,)])
            await stopped
            self.assertEqual(self.runner._connections, [])
            with self.assertRaises(BackendUnavailable):
                self.runner.execute("SELECT 1")
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

    def test_pausedServer(self):
        """
        A server that stops answering (its processes paused) fails the
        calls in flight with L{BackendUnavailable} within the timeout, not
        a hang; once it answers again, so do calls.
        """
        storage = PostgresStorage(reactor, self.server.dsn(), table="paused",
                                  size=1, timeout=1)
        self.addCleanup(storage.stopService)

        async def go():
            await storage.startService()
            await storage.write("c", "k", b"v", [])
            [connection] = storage.runner._connections
            # the server this test started and its backend serving us:
            # paused, then resumed, by PID
            paused = [self.server.process.pid, connection.pgconn.backend_pid]
            for pid in paused:
                os.kill(pid, signal.SIGSTOP)
            try:
                began = time.monotonic()
                outcomes = await gatherResults([
                    storage.read("c", "k").addErrback(lambda f: f.value)
                    for _ in range(3)])
                waited = time.monotonic() - began
            finally:
                for pid in paused:
                    os.kill(pid, signal.SIGCONT)
            for outcome in outcomes:
                self.assertIsInstance(outcome, BackendUnavailable)
                self.assertIn("did not answer within 1 s", str(outcome))
                self.assertIn("127.0.0.1:{}".format(self.server.port),
                              str(outcome))
            self.assertLess(waited, 4)
            self.assertEqual(await storage.read("c", "k"), b"v")
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
        header = ["write", "seq", "read", "seq", "write", "x16", "read",
                  "x16", "write", "x64", "read", "x64"]
        runners = ["pipeline", "threads", "adbapi", "asyncio", "direct"]
        self.assertEqual(lines[1].split(), ["calls/s"] + header)
        self.assertEqual([line.split()[0] for line in lines[2:7]], runners)
        self.assertEqual(lines[7].split(), ["us/call"] + header)
        self.assertEqual([line.split()[0] for line in lines[8:13]], runners)
        self.assertIn("pipeline / direct, write seq: ", result.stdout)
