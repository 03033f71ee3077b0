# -*- test-case-name: tests.storage.test_postgres -*-
"""
PostgreSQL statements run off the reactor thread: psycopg 3's blocking API
on a few connections, in a thread pool of this runner's own.

Why threads and not psycopg's asyncio API: the node runs Twisted's epoll
reactor, and an asyncio loop would need a thread of its own as well (or a
different reactor for the whole node); measured through the backend
(C{python -m bench.postgres}, figures in C{docs/performance.md}) the plain
thread pool is as fast or faster and has fewer moving parts.

Each call takes an idle connection (or opens one, bounded by the
runner's C{timeout}), runs one statement in autocommit and gives the
connection back. A connection found broken (the server restarted since it
was last used) is dropped and the statement is tried once more on a fresh
one, so the first call after a restart does not fail for nothing; a server
that is down fails the call at once with L{BackendUnavailable} naming it.
The Deferred of every call fires within C{timeout} seconds, whatever the
server does.
"""

import threading

import psycopg
from psycopg.conninfo import conninfo_to_dict
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from cocaine.errors import BackendUnavailable, SystemError_

log = Logger()


def describe(dsn):
    """
    Name a server for messages, without the password:
    C{PostgreSQL at 127.0.0.1:5432, database cocaine}.
    """
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "PostgreSQL (unparsable dsn)"
    host = params.get("host") or params.get("hostaddr") or "localhost"
    port = params.get("port") or "5432"
    where = "{}:{}".format(host, port)
    if host.startswith("/"):
        where = "socket {}/.s.PGSQL.{}".format(host, port)
    database = params.get("dbname") or params.get("user") or "(default)"
    return "PostgreSQL at {}, database {}".format(where, database)


class _Connections:
    """
    A stack of idle connections, shared by the runner's threads (used only
    from those threads).
    """

    def __init__(self, dsn, timeout):
        self.dsn = dsn
        self.timeout = timeout
        self._idle = []
        self._lock = threading.Lock()
        self._closed = False

    def _connect(self):
        given = conninfo_to_dict(self.dsn)
        extra = {}
        if "connect_timeout" not in given:
            extra["connect_timeout"] = max(1, int(round(self.timeout)))
        if "keepalives" not in given:
            extra.update(keepalives=1, keepalives_idle=5,
                         keepalives_interval=2, keepalives_count=3)
        if "tcp_user_timeout" not in given:
            extra["tcp_user_timeout"] = int(self.timeout * 1000)
        connection = psycopg.connect(self.dsn, autocommit=True, **extra)
        connection.execute("SET statement_timeout = {:d}".format(
            int(self.timeout * 1000)))
        return connection

    def _take(self):
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _give(self, connection):
        with self._lock:
            if not self._closed and not connection.broken \
                    and not connection.closed:
                self._idle.append(connection)
                return
        connection.close()

    def execute(self, sql, params):
        """
        Run one statement (in a runner thread).

        @return: its rows (a list of tuples; empty for a statement that
            returns none).
        """
        connection, reused = self._take()
        try:
            try:
                return _rows(connection.execute(sql, params))
            except psycopg.OperationalError:
                if not (reused and connection.broken):
                    raise
            # an idle connection the server dropped (a restart): once more
            # on a fresh one
            connection.close()
            connection = self._connect()
            return _rows(connection.execute(sql, params))
        finally:
            self._give(connection)

    def close(self):
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _rows(cursor):
    if cursor.description is None:
        return []
    return cursor.fetchall()


class ThreadedRunner:
    """
    Runs statements on up to C{size} connections in C{size} threads.
    """

    def __init__(self, reactor, dsn, size=4, timeout=5.0):
        """
        @param dsn: a libpq connection string or URI.
        @param size: connections (and threads) at most.
        @param timeout: seconds a call may take in all, queueing included.
        """
        self._reactor = reactor
        self.dsn = dsn
        self.server = describe(dsn)
        self.size = size
        self.timeout = timeout
        self._pool = None
        self._connections = None
        self._reachable = True

    def start(self):
        self._connections = _Connections(self.dsn, self.timeout)
        self._pool = ThreadPool(minthreads=0, maxthreads=self.size,
                                name="postgres")
        self._pool.start()

    def stop(self):
        """
        Wait for the calls in flight, close every connection.
        """
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.stop()
        self._connections.close()

    def execute(self, sql, params=()):
        """
        @return: a Deferred of the statement's rows; it fails with
            L{BackendUnavailable} (naming the server) when the server cannot
            be reached or does not answer within C{timeout}, with
            L{SystemError_} for any other database error.
        """
        if self._pool is None:
            raise BackendUnavailable("storage: {} is not started".format(
                self.server))
        d = deferToThreadPool(self._reactor, self._pool,
                              self._connections.execute, sql, params)
        d.addTimeout(self.timeout, self._reactor)
        d.addCallbacks(self._answered, self._translate)
        return d

    def _answered(self, rows):
        if not self._reachable:
            self._reachable = True
            log.info("storage: {server} answers again", server=self.server)
        return rows

    def _translate(self, failure):
        error = translate(failure.value, self.server, self.timeout)
        if isinstance(error, BackendUnavailable) and self._reachable:
            # once per outage, not once per call
            self._reachable = False
            log.warn("{error}; calls fail until it is back", error=str(error))
        raise error from failure.value


def translate(error, server, timeout):
    """
    The L{cocaine.errors} exception for a failed statement.
    """
    if isinstance(error, DeferredTimeout):
        return BackendUnavailable("storage: {} did not answer within {} s"
                                  .format(server, timeout))
    if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
        return BackendUnavailable("storage: {} is unavailable: {}".format(
            server, firstLine(error)))
    if isinstance(error, psycopg.Error):
        return SystemError_("storage: {} failed: {}".format(
            server, firstLine(error)))
    return error


def firstLine(error):
    """
    @return: the first line of C{error}'s text (its type's name when it
        has none): what an error message quotes of a database error.
    """
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
