"""
Tests for L{cocaine.storage.postgres}, L{cocaine.storage.pgthreads} and the
C{postgres} plugin, with fakes (a real server: the tests in
L{tests.integration.test_postgres_storage}).
"""

import psycopg
from twisted.application.service import IService
from twisted.internet.defer import fail, succeed
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger, LogLevel, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import ConfigError
from cocaine.errors import (BackendUnavailable, InvalidName, KeyNotFound,
                            SystemError_)
from cocaine.storage import pgthreads
from cocaine.storage.pgthreads import (ThreadedRunner, _Connections,
                                       describe, translate)
from cocaine.storage.postgres import PostgresStorage
from services.postgres import postgres as plugin

DSN = "postgresql://cocaine:secret@db.example:6543/store"


class _Runner:
    """
    Records statements; answers from C{answers} (a list of results or
    exceptions, consumed in order; C{[]} when empty).
    """

    present = False

    def __init__(self, answers=()):
        self.statements = []
        self.answers = list(answers)

    def execute(self, statement, params=()):
        self.statements.append((statement, params))
        if not self.answers:
            if _text(statement).startswith("SELECT to_regclass"):
                return succeed([(self.present,)])
            return succeed([])
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            return fail(answer)
        return succeed(answer)


def _text(statement):
    return statement.as_string(None) if hasattr(statement, "as_string") \
        else statement


class StorageTests(SynchronousTestCase):
    """
    L{PostgresStorage} over a fake runner: which statements it sends and
    what it makes of their rows.
    """

    def setUp(self):
        self.runner = _Runner()
        self.storage = PostgresStorage(None, runner=self.runner,
                                       table="t")

    def result(self, d):
        return self.successResultOf(d)

    def test_isAService(self):
        self.assertTrue(IService.providedBy(self.storage))

    def test_schemaOnce(self):
        """
        The first call makes the table and the tag index; later calls do
        not.
        """
        self.result(self.storage.find("c", []))
        self.result(self.storage.find("c", []))
        texts = [_text(s) for s, _ in self.runner.statements]
        self.assertEqual(texts[0], "SELECT to_regclass(%s) IS NOT NULL")
        self.assertEqual(self.runner.statements[0][1], ('"t"',))
        self.assertIn('CREATE TABLE IF NOT EXISTS "t"', texts[1])
        self.assertIn("bytea", texts[1])
        self.assertIn("text[]", texts[1])
        self.assertIn("PRIMARY KEY (collection, key)", texts[1])
        self.assertEqual(texts[2], 'CREATE INDEX IF NOT EXISTS "t_tags" '
                         'ON "t" USING GIN (tags)')
        self.assertEqual(len(texts), 5)

    def test_tablePresent(self):
        """
        A table that is there already (made by an administrator, for a role
        that may not create one) is used as it is.
        """
        self.runner.present = True
        self.result(self.storage.find("c", []))
        texts = [_text(s) for s, _ in self.runner.statements]
        self.assertEqual(len(texts), 2)
        self.assertFalse(any("CREATE" in t for t in texts))

    def test_downAtStartIsLogged(self):
        """
        A server that is down at start does not stop the node; the schema
        is made at the first call that reaches it.
        """
        self.runner.answers = [BackendUnavailable("down")]
        self.result(self.storage.startService())
        self.assertEqual(len(self.flushLoggedErrors()), 0)
        self.result(self.storage.find("c", []))
        self.assertIn("CREATE TABLE", _text(self.runner.statements[2][0]))
        self.storage.stopService()

    def test_schemaRace(self):
        """
        Another node making the table at the same moment (a catalog
        conflict) is not an error: the statement runs again.
        """
        self.runner.answers = [[(False,)], SystemError_("duplicate key")]
        self.result(self.storage.find("c", []))
        texts = [_text(s) for s, _ in self.runner.statements]
        self.assertEqual(len(texts), 5)
        self.assertEqual(texts[1], texts[2])

    def test_readMissing(self):
        self.storage._schemaMade = True
        error = self.failureResultOf(self.storage.read("c", "k"),
                                     KeyNotFound).value
        self.assertEqual(str(error), "storage: key 'k' not found in "
                         "collection 'c'")

    def test_write(self):
        """
        A write is one upsert carrying the bytes and the tags once each.
        """
        self.storage._schemaMade = True
        self.result(self.storage.write("c", "k", bytearray(b"v"),
                                       ["a", "b", "a"]))
        [(statement, params)] = self.runner.statements
        self.assertIn("ON CONFLICT (collection, key) DO UPDATE",
                      _text(statement))
        self.assertEqual(params, ("c", "k", b"v", ["a", "b"]))
        self.assertIs(type(params[2]), bytes)

    def test_removeMissing(self):
        self.storage._schemaMade = True
        self.failureResultOf(self.storage.remove("c", "k"), KeyNotFound)

    def test_findSortsByCodePoint(self):
        """
        Keys come back in code point order whatever the server's collation.
        """
        self.storage._schemaMade = True
        self.runner.answers = [[("b",), ("\u00e9",), ("B",), ("a",)]]
        self.assertEqual(self.result(self.storage.find("c", ["t"])),
                         ["B", "a", "b", "\u00e9"])
        [(statement, params)] = self.runner.statements
        self.assertIn("tags @> %s::text[]", _text(statement))
        self.assertEqual(params, ("c", ["t"]))

    def test_findNulTag(self):
        """
        A tag holding NUL (which no stored tag can) finds nothing, without
        asking the server.
        """
        self.assertEqual(self.result(self.storage.find("c", ["a\0"])), [])
        self.assertEqual(self.runner.statements, [])

    def test_namesCheckedFirst(self):
        """
        A bad name fails before any statement is sent.
        """
        self.assertRaises(InvalidName, self.storage.read, "c", "../x")
        self.assertRaises(InvalidName, self.storage.write, ".c", "k", b"")
        self.assertRaises(InvalidName, self.storage.write, "c", "k", b"",
                          [""])
        self.assertRaises(InvalidName, self.storage.find, "a/b", [])
        self.assertEqual(self.runner.statements, [])

    def test_unavailablePassesThrough(self):
        self.storage._schemaMade = True
        self.runner.answers = [BackendUnavailable("storage: down")]
        self.failureResultOf(self.storage.read("c", "k"), BackendUnavailable)


class DescribeTests(SynchronousTestCase):

    def test_uri(self):
        """
        Host, port and database, never the password.
        """
        self.assertEqual(describe(DSN),
                         "PostgreSQL at db.example:6543, database store")

    def test_defaults(self):
        self.assertEqual(describe("dbname=x"),
                         "PostgreSQL at localhost:5432, database x")

    def test_socket(self):
        self.assertEqual(describe("host=/run/pg dbname=x"),
                         "PostgreSQL at socket /run/pg/.s.PGSQL.5432, "
                         "database x")


class TranslateTests(SynchronousTestCase):

    def test_operational(self):
        error = translate(psycopg.OperationalError("connection refused\n"
                                                   "more"), "PG", 5)
        self.assertIsInstance(error, BackendUnavailable)
        self.assertEqual(str(error), "storage: PG is unavailable: "
                         "connection refused")

    def test_otherDatabaseError(self):
        error = translate(psycopg.DataError("bad"), "PG", 5)
        self.assertIs(type(error), SystemError_)

    def test_other(self):
        error = ValueError("x")
        self.assertIs(translate(error, "PG", 5), error)


class _NeverPool:
    """
    A thread pool whose work never finishes.
    """

    def __init__(self):
        self.calls = []

    def callInThreadWithCallback(self, onResult, f, *args, **kwargs):
        self.calls.append((onResult, f, args))


class _Reactor(MemoryReactorClock):
    """
    A clock whose "other threads" call back at once.
    """

    def callFromThread(self, f, *args, **kwargs):
        f(*args, **kwargs)


class RunnerTimeoutTests(SynchronousTestCase):

    def test_timeout(self):
        """
        A statement that does not finish within the timeout (a server that
        hangs, or every connection busy) fails the call with
        L{BackendUnavailable} naming the server.
        """
        clock = MemoryReactorClock()
        runner = ThreadedRunner(clock, DSN, timeout=3)
        runner._pool = _NeverPool()
        runner._connections = _Connections(DSN, 3)
        d = runner.execute("SELECT 1")
        self.assertNoResult(d)
        clock.advance(3)
        error = self.failureResultOf(d, BackendUnavailable).value
        self.assertEqual(str(error), "storage: PostgreSQL at db.example:6543,"
                         " database store did not answer within 3 s")

    def test_outageLoggedOnce(self):
        """
        The first failing call of an outage is logged as a warning, the
        next ones not; the first answer after it is logged too.
        """
        events = []
        self.patch(pgthreads, "log", Logger(observer=events.append))
        clock = _Reactor()
        runner = ThreadedRunner(clock, DSN, timeout=1)
        runner._pool = _NeverPool()
        runner._connections = _Connections(DSN, 1)
        for _ in range(3):
            d = runner.execute("SELECT 1")
            clock.advance(1)
            self.failureResultOf(d, BackendUnavailable)
        self.assertEqual([e["log_level"] for e in events], [LogLevel.warn])
        self.assertIn("did not answer within 1 s", formatEvent(events[0]))
        d = runner.execute("SELECT 1")
        onResult, f, args = runner._pool.calls[-1]
        onResult(True, [(1,)])
        self.assertEqual(self.successResultOf(d), [(1,)])
        self.assertEqual(formatEvent(events[-1]), "storage: PostgreSQL at "
                         "db.example:6543, database store answers again")

    def test_notStarted(self):
        runner = ThreadedRunner(MemoryReactorClock(), DSN)
        self.assertRaises(BackendUnavailable, runner.execute, "SELECT 1")


class _Cursor:
    description = [("x",)]

    def fetchall(self):
        return [(1,)]


class _Connection:
    """
    A psycopg connection that fails C{failures} statements (breaking).
    """

    def __init__(self, failures=0):
        self.failures = failures
        self.broken = False
        self.closed = False
        self.executed = 0

    def execute(self, statement, params):
        self.executed += 1
        if self.failures:
            self.failures -= 1
            self.broken = True
            raise psycopg.OperationalError("server closed the connection")
        return _Cursor()

    def close(self):
        self.closed = True


class ConnectionsTests(SynchronousTestCase):
    """
    L{_Connections}: idle connections reused, a dropped one replaced once.
    """

    def setUp(self):
        self.made = []
        self.fresh = []
        self.connections = _Connections(DSN, 5)
        self.connections._connect = self.connect

    def connect(self):
        connection = self.fresh.pop(0) if self.fresh else _Connection()
        self.made.append(connection)
        return connection

    def test_reused(self):
        self.assertEqual(self.connections.execute("q", ()), [(1,)])
        self.assertEqual(self.connections.execute("q", ()), [(1,)])
        self.assertEqual(len(self.made), 1)

    def test_droppedIdleReplaced(self):
        """
        An idle connection the server dropped fails once; the statement
        runs again on a new connection and the broken one is closed.
        """
        self.connections.execute("q", ())
        self.made[0].failures = 1
        self.assertEqual(self.connections.execute("q", ()), [(1,)])
        self.assertTrue(self.made[0].closed)
        self.assertEqual(len(self.made), 2)
        self.assertEqual(self.connections._idle, [self.made[1]])

    def test_freshFailureNotRetried(self):
        """
        A new connection that fails is not tried again: the server is
        down, the call fails at once.
        """
        self.fresh = [_Connection(failures=1)]
        self.assertRaises(psycopg.OperationalError,
                          self.connections.execute, "q", ())
        self.assertEqual(len(self.made), 1)
        self.assertEqual(self.connections._idle, [])

    def test_closeClosesIdle(self):
        self.connections.execute("q", ())
        self.connections.close()
        self.assertTrue(self.made[0].closed)


class PluginTests(SynchronousTestCase):

    def check(self, args):
        plugin.validate("storages.core.args", args, None)

    def refused(self, args):
        return self.assertRaises(ConfigError, self.check, args)

    def test_valid(self):
        self.check({"dsn": DSN})
        self.check({"dsn": "host=127.0.0.1 dbname=x", "table": "s_1",
                    "pool": 8, "timeout": 2.5})

    def test_refused(self):
        self.assertEqual(self.refused({}).path, "storages.core.args.dsn")
        self.assertEqual(self.refused({"dsn": DSN, "x": 1}).path,
                         "storages.core.args.x")
        for key, value in (("table", "a-b"), ("table", "x" * 59),
                           ("table", 3), ("pool", 0), ("pool", True),
                           ("pool", 65), ("timeout", 0), ("timeout", "1")):
            error = self.refused({"dsn": DSN, key: value})
            self.assertEqual(error.path, "storages.core.args." + key)

    def test_badDsnNotEchoed(self):
        error = self.refused({"dsn": "nonsense with secret"})
        self.assertEqual(error.path, "storages.core.args.dsn")
        self.assertNotIn("secret", str(error))

    def test_makeBackend(self):
        class Context:
            reactor = MemoryReactorClock()
        backend = plugin.makeBackend(Context(), "core", {
            "dsn": DSN, "table": "s", "pool": 2, "timeout": 1})
        self.assertIsInstance(backend, PostgresStorage)
        self.assertEqual(backend.table, "s")
        self.assertEqual((backend.runner.size, backend.runner.timeout),
                         (2, 1.0))
        self.assertEqual(backend.runner.dsn, DSN)
