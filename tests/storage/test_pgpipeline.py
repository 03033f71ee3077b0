"""
Tests for L{cocaine.storage.pgstatements} and the parts of
L{cocaine.storage.pgpipeline} that need no server (the statements against
a real PostgreSQL are in C{tests/integration/test_postgres_storage.py}).
"""

from psycopg import OperationalError, pq, sql
from psycopg.conninfo import conninfo_attempts, conninfo_to_dict
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.test.proto_helpers import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import BackendUnavailable, SystemError_
from cocaine.storage import pgpipeline
from cocaine.storage.pgcall import Call
from cocaine.storage.pgpipeline import PipelinedRunner, _conninfo
from cocaine.storage.pgstatements import (
    BYTEA, arrayLiteral, compileStatement, encodeParams, loadRows)

#: nobody listens there: what the tests' clock decides is what happens
DSN = "postgresql://cocaine@127.0.0.1:9/cocaine"


def _split(params):
    """
    The attempts at once: the tests' hosts are addresses, nothing to
    resolve.
    """
    return succeed(conninfo_attempts(params))


class CompileTests(SynchronousTestCase):

    def test_numbered(self):
        """
        C{%s} placeholders are numbered in order; C{%%} is a literal C{%}.
        """
        self.assertEqual(
            compileStatement("SELECT %s, %s WHERE a LIKE 'x%%'"),
            b"SELECT $1, $2 WHERE a LIKE 'x%'")

    def test_composed(self):
        """
        A C{psycopg.sql} composition is rendered with its identifiers
        quoted.
        """
        statement = sql.SQL("SELECT value FROM {} WHERE key = %s").format(
            sql.Identifier("my table"))
        self.assertEqual(compileStatement(statement),
                         b'SELECT value FROM "my table" WHERE key = $1')

    def test_namedRefused(self):
        """
        A named placeholder is refused, naming the statement.
        """
        e = self.assertRaises(ValueError, compileStatement, "SELECT %(a)s")
        self.assertIn("SELECT %(a)s", str(e))


class ParamsTests(SynchronousTestCase):

    def test_types(self):
        """
        Bytes go as binary C{bytea}; text, numbers, booleans and tag
        lists as text; L{None} as NULL.
        """
        values, types, formats = encodeParams(
            ["t\u00fc", b"\x00b", bytearray(b"c"), 5, True, None, ["x"]])
        self.assertEqual(values, ["t\u00fc".encode(), b"\x00b", b"c", b"5",
                                  b"t", None, b'{"x"}'])
        self.assertEqual(types, [0, BYTEA, BYTEA, 0, 16, 0, 0])
        self.assertEqual(formats, [0, 1, 1, 0, 0, 0, 0])

    def test_arrayQuoting(self):
        """
        Tags are quoted in the array's text form: quotes and backslashes
        escaped, commas and braces kept inside the quotes.
        """
        self.assertEqual(arrayLiteral(['a"b', "c\\d", "e,{f}", ""]),
                         '{"a\\"b","c\\\\d","e,{f}",""}')

    def test_nulRefused(self):
        """
        Text holding NUL is refused, naming the parameter: libpq would
        send it cut short.
        """
        e = self.assertRaises(ValueError, encodeParams, ["a", "b\0c"])
        self.assertIn("parameter 2", str(e))
        self.assertRaises(ValueError, encodeParams, [["x\0"]])

    def test_otherTypeRefused(self):
        """
        A parameter of another type fails, naming the type.
        """
        e = self.assertRaises(TypeError, encodeParams, [1.5])
        self.assertIn("float", str(e))
        self.assertRaises(TypeError, encodeParams, [[1]])


class _Result:
    """
    A binary result as C{psycopg.pq.PGresult} presents it.
    """

    def __init__(self, types, rows, status=pq.ExecStatus.TUPLES_OK,
                 fields=None):
        self.types = types
        self.rows = rows
        self.status = status
        self.fields = fields or {}
        self.nfields = len(types)
        self.ntuples = len(rows)
        self.error_message = b"ERROR:  " + (self.fields.get(
            pq.DiagnosticField.MESSAGE_PRIMARY) or b"")

    def ftype(self, column):
        return self.types[column]

    def get_value(self, row, column):
        return self.rows[row][column]

    def error_field(self, field):
        return self.fields.get(field)


class LoadTests(SynchronousTestCase):

    def test_rows(self):
        """
        Binary fields are read by their column's type; NULL is L{None};
        a type not known stays bytes.
        """
        result = _Result([17, 25, 23, 20, 16, 2278], [
            (b"\x00v", b"k\xc3\xbc", b"\x00\x00\x00\x07",
             b"\xff" * 8, b"\x01", b""),
            (None, b"", b"\xff\xff\xff\xff", b"\x00" * 8, b"\x00", None)])
        self.assertEqual(loadRows(result), [
            (b"\x00v", "k\u00fc", 7, -1, True, b""),
            (None, "", -1, 0, False, None)])


class ConninfoTests(SynchronousTestCase):

    def test_added(self):
        """
        Keepalives, a TCP user timeout and the statement timeout are the
        runner's timeout unless the dsn sets them.
        """
        params = conninfo_to_dict(_conninfo(DSN, 2.5).decode())
        self.assertEqual(params["keepalives"], "1")
        self.assertEqual(params["tcp_user_timeout"], "2500")
        self.assertEqual(params["options"], "-c statement_timeout=2500")
        self.assertEqual(params["client_encoding"], "UTF8")
        self.assertEqual(params["host"], "127.0.0.1")

    def test_kept(self):
        """
        What the dsn sets is kept, but for the client encoding (the
        parameters are sent in UTF-8); other options are kept beside the
        statement timeout.
        """
        params = conninfo_to_dict(_conninfo(
            DSN + "?keepalives=0&tcp_user_timeout=9&options=-c%20a%3Db"
            "&client_encoding=LATIN1", 1).decode())
        self.assertEqual(params["client_encoding"], "UTF8")
        self.assertEqual(params["keepalives"], "0")
        self.assertEqual(params["tcp_user_timeout"], "9")
        self.assertEqual(params["options"],
                         "-c a=b -c statement_timeout=1000")


class FailureTests(SynchronousTestCase):

    def setUp(self):
        self.runner = PipelinedRunner(Clock(), DSN)

    def _failure(self, state, message, status=pq.ExecStatus.FATAL_ERROR):
        return self.runner._failure(_Result([], [], status, {
            pq.DiagnosticField.SQLSTATE: state,
            pq.DiagnosticField.MESSAGE_PRIMARY: message}))

    def test_unavailable(self):
        """
        A server shutting down, out of resources or cancelling a statement
        at its timeout is L{BackendUnavailable}, naming the server.
        """
        for state in (b"57P01", b"57014", b"53300", b"08006"):
            e = self._failure(state, b"gone")
            self.assertIsInstance(e, BackendUnavailable)
            self.assertEqual(str(e), "storage: PostgreSQL at 127.0.0.1:9, "
                             "database cocaine is unavailable: gone")

    def test_other(self):
        """
        Any other error is L{SystemError_} with the server's message.
        """
        e = self._failure(b"42703", b'column "x" does not exist')
        self.assertIsInstance(e, SystemError_)
        self.assertIn('failed: column "x" does not exist', str(e))
        e = self._failure(None, None, pq.ExecStatus.PIPELINE_ABORTED)
        self.assertIsInstance(e, SystemError_)


class RunnerTests(SynchronousTestCase):
    """
    The runner with a clock and a reactor that never polls: libpq starts
    connecting for real (to a port nobody listens on), and only the clock
    decides what happens next.
    """

    def setUp(self):
        self.reactor = MemoryReactorClock()
        self.runner = PipelinedRunner(self.reactor, DSN, size=2, timeout=2,
                                      splitter=_split)
        self.runner.start()
        self.addCleanup(self._stop)

    def _stop(self):
        self.runner.stop()
        self.reactor.advance(10)

    def _call(self, statement, params=()):
        """
        A call whose outcome the test does not look at.
        """
        return self.runner.execute(statement, params).addErrback(
            lambda f: f.trap(BackendUnavailable))

    def test_notStarted(self):
        """
        A call before C{start} fails at once, naming the server.
        """
        runner = PipelinedRunner(self.reactor, DSN)
        e = self.assertRaises(BackendUnavailable, runner.execute, "SELECT 1")
        self.assertIn("127.0.0.1:9", str(e))

    def test_connectTimeout(self):
        """
        A server that does not answer while connecting fails the calls
        waiting for it within the timeout; the connection is dropped.
        """
        d = self.runner.execute("SELECT %s", ("x",))
        [connection] = self.runner._connections
        self.assertEqual(connection.state, "connecting")
        self.assertEqual(self.reactor.getWriters(), [connection])
        self.reactor.advance(1.9)
        self.assertNoResult(d)
        self.reactor.advance(0.1)
        e = self.failureResultOf(d, BackendUnavailable).value
        self.assertIn("did not answer within 2 s", str(e))
        self.assertEqual(self.runner._connections, [])
        self.assertEqual(connection.state, "closed")
        self.assertEqual(self.reactor.getWriters(), [])
        self.assertEqual(connection.fileno(), -1)

    def _port(self, connection):
        return connection.pgconn.port.decode()

    def test_eachAddressItsShare(self):
        """
        With several hosts and no C{connect_timeout}, each address gets an
        equal share of the time left: a first host that does not answer
        leaves time for the next; when none answers, the call fails
        naming each.
        """
        runner = PipelinedRunner(
            self.reactor, "host=127.0.0.1,127.0.0.2 port=9,10 user=cocaine "
            "dbname=cocaine", size=1, timeout=4, splitter=_split)
        runner.start()
        d = runner.execute("SELECT 1")
        [connection] = runner._connections
        self.assertEqual(self._port(connection), "9")
        self.reactor.advance(1.9)
        self.assertEqual(self._port(connection), "9")
        self.reactor.advance(0.1)
        self.assertEqual(connection.state, "connecting")
        self.assertEqual(self._port(connection), "10")
        self.assertEqual(self.reactor.getWriters(), [connection])
        self.reactor.advance(2)
        message = str(self.failureResultOf(d, BackendUnavailable).value)
        self.assertIn("127.0.0.1 port 9 did not answer within 2 s", message)
        self.assertIn("127.0.0.2 port 10 did not answer in time", message)
        self.assertEqual(connection.state, "closed")
        self.assertEqual(self.reactor.getWriters(), [])

    def test_connectTimeoutEach(self):
        """
        The dsn's C{connect_timeout} bounds each address's attempt.
        """
        runner = PipelinedRunner(
            self.reactor, "host=127.0.0.1,127.0.0.1,127.0.0.1 port=9,10,11 "
            "connect_timeout=2 user=cocaine", size=1, timeout=10,
            splitter=_split)
        runner.start()
        d = runner.execute("SELECT 1")
        [connection] = runner._connections
        ports = [self._port(connection)]
        for _ in range(2):
            self.reactor.advance(2)
            ports.append(self._port(connection))
        self.assertEqual(ports, ["9", "10", "11"])
        self.reactor.advance(2)
        self.assertIn("port 11 did not answer within 2 s",
                      str(self.failureResultOf(d, BackendUnavailable).value))
        runner.stop()

    def test_resolvingTimesOut(self):
        """
        A resolver that does not answer fails the calls within the
        timeout; its late answer is ignored.
        """
        resolving = Deferred()
        runner = PipelinedRunner(self.reactor, DSN, timeout=2,
                                 splitter=lambda params: resolving)
        runner.start()
        d = runner.execute("SELECT 1")
        [connection] = runner._connections
        self.assertEqual(self.reactor.getWriters(), [])
        self.reactor.advance(2)
        self.assertIn("its host name was not resolved within 2 s",
                      str(self.failureResultOf(d, BackendUnavailable).value))
        resolving.callback(conninfo_attempts(conninfo_to_dict(DSN)))
        self.assertEqual(connection.state, "closed")
        self.assertEqual(self.reactor.getWriters(), [])

    def test_unresolvable(self):
        """
        A host name that does not resolve fails the calls with why.
        """
        runner = PipelinedRunner(
            self.reactor, DSN, timeout=2, splitter=lambda params: fail(
                OperationalError("failed to resolve host 'db.invalid'")))
        runner.start()
        self.assertIn("is unavailable: failed to resolve host 'db.invalid'",
                      str(self.failureResultOf(runner.execute("SELECT 1"),
                                               BackendUnavailable).value))

    def test_spread(self):
        """
        A connection takes L{pgpipeline.SPREAD} calls before the next is
        opened, up to the pool's size.
        """
        for _ in range(pgpipeline.SPREAD):
            self._call("SELECT 1")
        self.assertEqual(len(self.runner._connections), 1)
        for _ in range(pgpipeline.SPREAD * 3):
            self._call("SELECT 1")
        self.assertEqual([c.load for c in self.runner._connections],
                         [pgpipeline.SPREAD * 2] * 2)

    def test_stopFailsQueued(self):
        """
        Stopping while connecting fails what waits, and later calls.
        """
        d = self.runner.execute("SELECT 1")
        stopped = self.runner.stop()
        self.assertIsNone(self.successResultOf(stopped))
        self.assertIn("the storage stopped", str(
            self.failureResultOf(d, BackendUnavailable).value))
        self.assertRaises(BackendUnavailable, self.runner.execute, "SELECT 1")

    def test_compiledOnce(self):
        """
        A statement is compiled once and kept while it lives.
        """
        statement = sql.SQL("SELECT %s")
        self._call(statement, (1,))
        [(kept, command)] = self.runner._statements.values()
        self.assertIs(kept, statement)
        self.assertEqual(command, b"SELECT $1")

    def test_outageLoggedOnce(self):
        """
        The first call that finds the server unreachable logs it; the
        others do not; the first that answers after says so.
        """
        events = []
        self.patch(pgpipeline, "log", Logger(observer=events.append))
        for outcome in (BackendUnavailable("down"), BackendUnavailable("down"),
                        [(1,)], [(2,)]):
            call = Call(b"SELECT 1", [], [], [], 0)
            call.outcome = outcome
            call.deferred.addErrback(lambda f: None)
            self.runner._done(call)
        self.runner._deliver()
        self.assertEqual([e["log_level"].name for e in events],
                         ["warn", "info"])

    def test_cancelledDropped(self):
        """
        The answer of a cancelled call is dropped.
        """
        call = Call(b"SELECT 1", [], [], [], 0)
        call.deferred.cancel()
        self.failureResultOf(call.deferred)
        self.runner._done(call)
        self.runner._deliver()
