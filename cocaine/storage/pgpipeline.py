# -*- test-case-name: tests.storage.test_pgpipeline -*-
"""
PostgreSQL statements pipelined on libpq's non-blocking connections, read
and written by the reactor itself: no thread of its own, no blocking
call.

Each connection (L{PgConnection}) runs in libpq's pipeline mode: a
statement is sent without waiting for the answers of the ones before it,
followed by a sync, so each statement is a transaction of its own
(autocommit) and an error fails that statement alone. libpq sends each
statement at its sync (a sync flushes); what the socket does not take
leaves when it is writable. The answers come back in order. The runner
opens up to C{size} connections, a new one when every open one has
L{SPREAD} statements waiting.

What the thread pool runner (L{cocaine.storage.pgthreads}) guarantees
holds here too:

  - the Deferred of every call fires within C{timeout} seconds of the
    call, whatever the server does. A statement past that deadline fails
    alone (its answer is dropped when it comes); a connection whose
    oldest statement has waited C{timeout} since it was sent is stuck:
    everything it has in flight fails as not answered in time, and it is
    dropped. Those are not sent again: the server may still run them
    when it wakes;
  - a connection the server closed (a restart) is dropped and the
    statements it had in flight are tried once more on a fresh one, so
    the first calls after a restart do not fail for nothing (within
    their first deadline);
  - a server that cannot be reached fails the call with
    L{BackendUnavailable} naming it, and the outage is logged once;
  - the server's own statement timeout (C{statement_timeout}) is the
    runner's.

A connection is made as psycopg's own connections are: the dsn is split
into one attempt per address (C{psycopg.conninfo.conninfo_attempts},
which keeps libpq's rules for several hosts, C{target_session_attrs} and
C{load_balance_hosts}), its host names resolved in the reactor's thread
pool, as Twisted's resolver does, so that libpq never resolves one in the
reactor's thread. The attempts are made in turn, each within the dsn's
C{connect_timeout} or, when it sets none, an equal share of the time
left: a first host that does not answer leaves time for the next.
"""

import os
from functools import partial

from collections import deque

from psycopg import errors, pq
from psycopg.conninfo import (conninfo_attempts, conninfo_to_dict,
                               make_conninfo, timeout_from_conninfo)
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

from cocaine.errors import BackendUnavailable, SystemError_
from cocaine.storage.pgcall import Call, libpqText
from cocaine.storage.pgconnection import PgConnection
from cocaine.storage.pgstatements import compileStatement, encodeParams
from cocaine.storage.pgthreads import describe, translate

log = Logger()

#: statements waiting on each open connection before the next is opened
SPREAD = 8

#: compiled statements kept (the backend has a handful)
MAX_STATEMENTS = 256

_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
_SQLSTATE = pq.DiagnosticField.SQLSTATE
_PRIMARY = pq.DiagnosticField.MESSAGE_PRIMARY


class PipelinedRunner:
    """
    Runs statements pipelined on up to C{size} connections, in the
    reactor's thread.

    @ivar server: the server as messages name it (no password).
    @ivar conninfo: what libpq connects with (the dsn, with keepalives, a
        TCP timeout and the statement timeout added unless it sets them).
    """

    def __init__(self, reactor, dsn, size=4, timeout=5.0, splitter=None):
        """
        @param dsn: a libpq connection string or URI.
        @param size: connections at most.
        @param timeout: seconds a call may take in all, connecting
            included.
        @param splitter: takes the conninfo's parameters and returns a
            Deferred of its attempts (as C{conninfo_attempts}); by
            default C{conninfo_attempts} in the reactor's thread pool.
        """
        self.reactor = reactor
        self.dsn = dsn
        self.server = describe(dsn)
        self.size = size
        self.timeout = timeout
        self.conninfo = _conninfo(dsn, timeout)
        if splitter is None:
            splitter = partial(_inThreadPool, reactor, conninfo_attempts)
        self._splitter = splitter
        self._connections = []
        self._closing = []
        self._answered = deque()
        self._statements = {}
        self._started = False
        self._reachable = True

    def start(self):
        self._started = True

    def resolve(self):
        """
        @return: a Deferred of the attempts a new connection makes in
            turn: C{(conninfo, where, limit)}, C{conninfo} naming one
            address, C{where} naming it in messages, C{limit} the dsn's
            C{connect_timeout} in seconds, or L{None} when it sets none.
        """
        params = conninfo_to_dict(self.conninfo.decode("utf-8"))
        return self._splitter(params).addCallback(_attempts, params)

    def stop(self):
        """
        Stop taking statements; those in flight answer first.

        @return: a Deferred that fires once every connection is closed
            (within C{timeout}).
        """
        self._started = False
        waiting = []
        closing, self._connections = self._connections, []
        self._closing.extend(closing)
        for connection in list(self._closing):
            d = Deferred()
            connection.closedDeferreds.append(d)
            waiting.append(d)
            connection.machine.close()
        self._deliver()
        return gatherResults(waiting).addCallback(lambda _: None)

    def execute(self, statement, params=()):
        """
        @return: a Deferred of the statement's rows (a list of tuples);
            it fails with L{BackendUnavailable} (naming the server) when
            the server cannot be reached or does not answer within
            C{timeout}, with L{SystemError_} for any other database error.
        """
        if not self._started:
            raise BackendUnavailable("storage: {} is not started".format(
                self.server))
        command = self._compiled(statement)
        values, types, formats = encodeParams(params)
        call = Call(command, values, types, formats,
                    self.reactor.seconds() + self.timeout)
        self._submit(call)
        if self._answered:
            self._deliver()
        return call.deferred

    def _compiled(self, statement):
        statements = self._statements
        key = statement if isinstance(statement, str) else id(statement)
        found = statements.get(key)
        if found is not None and found[0] is statement:
            return found[1]
        command = compileStatement(statement)
        if len(statements) >= MAX_STATEMENTS:
            statements.clear()
        # the statement is kept with it, so its id is not reused meanwhile
        statements[key] = (statement, command)
        return command

    def _submit(self, call):
        if not self._started:
            call.outcome = self._unavailable("the storage stopped")
            self._done(call)
            return
        best = None
        for connection in self._connections:
            if best is None or connection.load < best.load:
                best = connection
        if best is None or (best.load >= SPREAD
                            and len(self._connections) < self.size):
            best = PgConnection(self)
            self._connections.append(best)
            best.machine.open()
        best.machine.submit(call)

    def _forget(self, connection):
        for connections in (self._connections, self._closing):
            if connection in connections:
                connections.remove(connection)

    def _done(self, call):
        """
        A statement answered (or failed): its Deferred fires at the next
        L{_deliver}.
        """
        self._answered.append(call)

    def _deliver(self):
        """
        Fire the Deferreds of the statements answered so far, in order.
        """
        answered = self._answered
        while answered:
            self._fire(answered.popleft())

    def _fire(self, call):
        d = call.deferred
        if d.called:
            return      # cancelled
        outcome = call.outcome
        if isinstance(outcome, Exception):
            if isinstance(outcome, BackendUnavailable) and self._reachable:
                # once per outage, not once per call
                self._reachable = False
                log.warn("{error}; calls fail until it is back",
                         error=str(outcome))
            d.errback(outcome)
        else:
            if not self._reachable:
                self._reachable = True
                log.info("storage: {server} answers again",
                         server=self.server)
            d.callback(outcome)

    def _unavailable(self, reason):
        return BackendUnavailable("storage: {} is unavailable: {}".format(
            self.server, reason))

    def _failure(self, result):
        """
        @return: the exception of a failed statement's result.
        """
        if result.status == _ABORTED:
            return SystemError_("storage: {} failed: the statement was "
                                "not run".format(self.server))
        state = (result.error_field(_SQLSTATE) or b"").decode("ascii",
                                                              "replace")
        text = libpqText(result.error_field(_PRIMARY) or result.error_message)
        try:
            # psycopg's class for the SQLSTATE: a server that cannot serve
            # now (a shutdown, a statement timeout) is its OperationalError
            kind = errors.lookup(state)
        except KeyError:
            kind = errors.DatabaseError
        return translate(kind(text), self.server, self.timeout)


def _conninfo(dsn, timeout):
    """
    @return: the conninfo bytes libpq connects with: C{dsn}, with UTF-8 as
        the client encoding, and TCP keepalives, a TCP user timeout and
        the statement timeout of C{timeout} seconds unless it sets them.
    """
    given = conninfo_to_dict(dsn)
    extra = {}
    if "keepalives" not in given:
        extra.update(keepalives=1, keepalives_idle=5, keepalives_interval=2,
                     keepalives_count=3)
    # what the parameters are sent in and the answers read in, whatever
    # the dsn says
    extra["client_encoding"] = "UTF8"
    if "tcp_user_timeout" not in given:
        extra["tcp_user_timeout"] = int(timeout * 1000)
    options = given.get("options") or ""
    if "statement_timeout" not in options:
        extra["options"] = (options + " -c statement_timeout={:d}".format(
            int(timeout * 1000))).strip()
    return make_conninfo(dsn, **extra).encode("utf-8")


def _inThreadPool(reactor, function, *args):
    return deferToThreadPool(reactor, reactor.getThreadPool(), function,
                             *args)


def _attempts(found, params):
    """
    @param found: the attempts C{conninfo_attempts} made of C{params}.
    @return: L{PipelinedRunner.resolve}'s attempts.
    """
    limit = None
    if params.get("connect_timeout") or os.environ.get("PGCONNECT_TIMEOUT"):
        # libpq's reading of it: at least 2 s, 0 for none
        limit = timeout_from_conninfo(params)
    made = []
    for attempt in found:
        host, address = attempt.get("host"), attempt.get("hostaddr")
        where = host or address or "the default socket"
        if address and address != where:
            where += " ({})".format(address)
        if attempt.get("port"):
            where += " port {}".format(attempt["port"])
        made.append((make_conninfo("", **attempt).encode("utf-8"), where,
                     limit))
    return made
