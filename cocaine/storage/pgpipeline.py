# -*- test-case-name: tests.storage.test_pgpipeline -*-
"""
PostgreSQL statements pipelined on libpq's non-blocking connections, read
and written by the reactor itself: no thread, no blocking call.

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

  - the Deferred of every call fires within C{timeout} seconds, whatever
    the server does: when a statement of a connection has waited that
    long, every statement the connection has in flight fails as not
    answered in time and the connection is dropped. They are not sent
    again: the server may still run them when it wakes;
  - a connection the server closed (a restart) is dropped and the
    statements it had in flight are tried once more on a fresh one, so
    the first calls after a restart do not fail for nothing (within
    their first deadline);
  - a server that cannot be reached fails the call with
    L{BackendUnavailable} naming it, and the outage is logged once;
  - the server's own statement timeout (C{statement_timeout}) is the
    runner's.

libpq resolves a host name while it starts connecting, in the reactor's
thread: give an address (or C{hostaddr}) for a server whose name the
resolver may be slow to answer.
"""

import os
import struct
from collections import deque
from typing import Protocol

import psycopg
from automat import TypeMachineBuilder
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from twisted.internet.defer import Deferred, gatherResults
from twisted.logger import Logger

from cocaine.errors import BackendUnavailable, SystemError_
from cocaine.statemachine import build, nameStates
from cocaine.storage.pgstatements import compile, encodeParams, loadRows
from cocaine.storage.pgthreads import describe

log = Logger()

#: statements waiting on each open connection before the next is opened
SPREAD = 8

#: compiled statements kept (the backend has a handful)
MAX_STATEMENTS = 256

_POLL_OK, _POLL_READING, _POLL_FAILED = (
    pq.PollingStatus.OK, pq.PollingStatus.READING, pq.PollingStatus.FAILED)
_TUPLES_OK, _SYNC, _ABORTED = (
    pq.ExecStatus.TUPLES_OK, pq.ExecStatus.PIPELINE_SYNC,
    pq.ExecStatus.PIPELINE_ABORTED)
#: a statement's answer that fails it, and those that carry no rows
_FAILED = frozenset([pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.BAD_RESPONSE,
                     _ABORTED])
_EMPTY = frozenset([pq.ExecStatus.COMMAND_OK, pq.ExecStatus.EMPTY_QUERY])
_SQLSTATE = pq.DiagnosticField.SQLSTATE
_PRIMARY = pq.DiagnosticField.MESSAGE_PRIMARY
_BINARY = pq.Format.BINARY

#: SQLSTATE classes of a server that cannot serve now (psycopg's
#: C{OperationalError}): connection exception, insufficient resources,
#: operator intervention (a shutdown, a statement timeout), system error
_UNAVAILABLE = frozenset([b"08", b"53", b"57", b"58"])


class Call:
    """
    One statement: what is sent, and its outcome once answered.

    @ivar deadline: when it must have answered (the reactor's seconds).
    @ivar retried: whether it was sent again after its connection was lost.
    @ivar outcome: its rows, or the exception it fails with.
    """

    __slots__ = ("command", "values", "types", "formats", "deferred",
                 "deadline", "retried", "outcome")

    def __init__(self, command, values, types, formats, deadline):
        self.command = command
        self.values = values
        self.types = types
        self.formats = formats
        self.deadline = deadline
        self.retried = False
        self.outcome = []
        self.deferred = Deferred(self._cancelled)

    def _cancelled(self, deferred):
        # the answer, when it comes, is dropped (see PipelinedRunner._done)
        pass


class PgConnectionInputs(Protocol):
    """
    What happens to one connection of the runner.
    """

    def open(self) -> None:
        "Start connecting."

    def readable(self) -> None:
        "The socket has something to read."

    def writable(self) -> None:
        "The socket takes more."

    def connected(self) -> None:
        "libpq made the connection."

    def submit(self, call: Call) -> None:
        "Run a statement."

    def lost(self, reason: str, retry: bool) -> None:
        """
        The connection failed, the server closed it, or a statement did
        not answer in time; the statements it still holds are sent again
        on another connection if C{retry}, once each.
        """

    def drained(self) -> None:
        "The last statement in flight answered."

    def tick(self) -> None:
        "The timer fired: a deadline (connecting, or a statement's) is due."

    def close(self) -> None:
        "The runner stops."

    def stateName(self) -> str:
        "The name of the state it is in."


class PgConnection:
    """
    One libpq connection: its data, its socket's registration with the
    reactor (it is the reactor's reader and writer for that socket), and
    what its machine's outputs do. Everything that happens to it goes to
    L{machine}.

    @ivar pgconn: libpq's connection (C{psycopg.pq.PGconn}), or L{None}
        before connecting and once finished.
    @ivar inflight: the statements sent, in the order they answer.
    @ivar queued: the statements submitted while connecting.
    """

    def __init__(self, runner):
        self.runner = runner
        self.reactor = runner.reactor
        self.pgconn = None
        self.inflight = deque()
        self.queued = []
        self._fd = -1
        self._reading = self._writing = False
        self.connectBy = None
        self._timer = None
        self.reason = None
        self.closedDeferreds = []
        self.machine = PgConnectionMachine(self)

    @property
    def load(self):
        """
        Statements in flight or queued on it.
        """
        return len(self.inflight) + len(self.queued)

    @property
    def state(self):
        return self.machine.stateName()

    # -- the reactor's reader and writer -------------------------------------

    def fileno(self):
        return self._fd

    def logPrefix(self):
        return "postgres"

    # Each way in from the reactor makes its input, then delivers the
    # answers it completed: the callers' callbacks run outside the
    # machine's transition (a call they make on this connection is then
    # not postponed behind it).

    def doRead(self):
        self.machine.readable()
        self.runner._deliver()

    def doWrite(self):
        self.machine.writable()
        self.runner._deliver()

    def connectionLost(self, reason):
        # the reactor dropped the descriptor: the socket hung up or failed
        # (or a read raised). libpq reads why, or (connecting) goes on to
        # the dsn's next address with a new socket.
        self._reading = self._writing = False
        self.machine.readable()
        if self.machine.stateName() in ("open", "closing"):
            self.machine.lost(reason.getErrorMessage(), True)
        self.runner._deliver()

    def _tick(self):
        self._timer = None
        self.machine.tick()
        self.runner._deliver()

    def _follow(self, socket):
        """
        Watch libpq's socket C{socket} through a duplicate of our own: libpq
        closes its descriptor when the connection fails, and the reactor
        must not be left watching a number that may be reused meanwhile.
        Ours stays open (and registered) until L{_release}.
        """
        self._watch(False, False)
        if self._fd != -1:
            os.close(self._fd)
            self._fd = -1
        self._fd = os.dup(socket)

    def _watch(self, read, write):
        reactor = self.reactor
        if read != self._reading:
            self._reading = read
            (reactor.addReader if read else reactor.removeReader)(self)
        if write != self._writing:
            self._writing = write
            (reactor.addWriter if write else reactor.removeWriter)(self)

    def _wake(self, when):
        """
        Have the timer fire at C{when} (the reactor's seconds) at the
        latest.
        """
        timer = self._timer
        if timer is not None:
            if timer.getTime() <= when:
                return
            timer.cancel()
        self._timer = self.reactor.callLater(
            max(when - self.reactor.seconds(), 0), self._tick)

    def _timedOut(self):
        return BackendUnavailable("storage: {} did not answer within {} s"
                                  .format(self.runner.server,
                                          self.runner.timeout))

    # -- what the outputs do -------------------------------------------------

    def _startConnecting(self, inputs):
        runner = self.runner
        pgconn = self.pgconn = pq.PGconn.connect_start(runner.conninfo)
        pgconn.notice_handler = _notice
        if pgconn.status == pq.ConnStatus.BAD:
            inputs.lost(_text(pgconn.error_message), False)
            return
        self.connectBy = self.reactor.seconds() + runner.timeout
        self._wake(self.connectBy)
        # libpq's rule: poll as if the socket were writable first
        self._follow(pgconn.socket)
        self._watch(False, True)

    def _pollConnecting(self, inputs):
        pgconn = self.pgconn
        # the socket may change while connecting (another address)
        self._watch(False, False)
        status = pgconn.connect_poll()
        if status == _POLL_OK:
            self._follow(pgconn.socket)
            inputs.connected()
        elif status == _POLL_FAILED:
            inputs.lost(_text(pgconn.error_message), False)
        else:
            self._follow(pgconn.socket)
            self._watch(status == _POLL_READING, status != _POLL_READING)

    def _queue(self, call):
        self.queued.append(call)
        # a statement sent again keeps its first deadline
        self._wake(call.deadline)

    def _tickConnecting(self, inputs):
        now = self.reactor.seconds()
        if now >= self.connectBy:
            inputs.lost("it did not answer within {} s".format(
                self.runner.timeout), False)
            return
        waiting = []
        for call in self.queued:
            if call.deadline <= now:
                # sent again after a lost connection, with little time left
                call.outcome = self._timedOut()
                self.runner._done(call)
            else:
                waiting.append(call)
        self.queued = waiting
        self._wake(min([self.connectBy] + [c.deadline for c in waiting]))

    def _startPipeline(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pgconn = self.pgconn
        pgconn.nonblocking = 1
        pgconn.enter_pipeline_mode()
        self._watch(True, False)
        queued, self.queued = self.queued, []
        for call in queued:
            self._send(call)

    def _send(self, call):
        pgconn = self.pgconn
        try:
            pgconn.send_query_params(call.command, call.values, call.types,
                                     call.formats, _BINARY)
        except (psycopg.Error, ValueError, TypeError) as e:
            if pgconn.status == pq.ConnStatus.BAD:
                self.queued.append(call)
                self.machine.lost(_firstLine(e), True)
                return
            # this statement alone could not be sent (too many parameters)
            call.outcome = SystemError_("storage: {} failed: {}".format(
                self.runner.server, _firstLine(e)))
            self.runner._done(call)
            return
        self.inflight.append(call)
        try:
            # a sync sends what is queued (libpq flushes at each)
            pgconn.pipeline_sync()
            more = pgconn.flush()
        except psycopg.Error as e:
            self.machine.lost(_firstLine(e), True)
            return
        if more:
            self._watch(True, True)
        timer = self._timer
        if timer is None or call.deadline < timer.getTime():
            self._wake(call.deadline)

    def _flush(self, inputs):
        try:
            more = self.pgconn.flush()
        except psycopg.Error as e:
            inputs.lost(_firstLine(e), True)
            return
        self._watch(True, bool(more))

    def _tickOpen(self, inputs):
        if not self.inflight:
            return
        now = self.reactor.seconds()
        first = min(call.deadline for call in self.inflight)
        if first > now:
            self._wake(first)
            return
        # the answers come in order: the connection is stuck, and what it
        # was sent may still run when the server wakes, so nothing of it
        # is sent again elsewhere
        calls = list(self.inflight)
        self.inflight.clear()
        for call in calls:
            call.outcome = self._timedOut()
            self.runner._done(call)
        inputs.lost("a statement did not answer within {} s".format(
            self.runner.timeout), False)

    def _readAnswers(self, inputs):
        pgconn = self.pgconn
        try:
            pgconn.consume_input()
        except psycopg.Error as e:
            inputs.lost(_firstLine(e), True)
            return
        try:
            self._handleResults(inputs)
        except Exception:
            # a fault of ours: what this connection holds fails, and the
            # reactor goes on
            log.failure("storage: reading the answers of {server} failed",
                        server=self.runner.server)
            inputs.lost("its answers could not be read", False)
            return
        if pgconn.status == pq.ConnStatus.BAD:
            inputs.lost(_text(pgconn.error_message), True)

    def _handleResults(self, inputs):
        pgconn = self.pgconn
        inflight = self.inflight
        done = self.runner._done
        ends = 0
        while inflight and not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                # the end of one statement's results; its sync follows
                ends += 1
                if ends > 1:
                    break
                continue
            ends = 0
            status = result.status
            if status == _SYNC:
                done(inflight.popleft())
            elif status == _TUPLES_OK:
                try:
                    inflight[0].outcome = loadRows(result)
                except (ValueError, struct.error) as e:
                    inflight[0].outcome = SystemError_(
                        "storage: {} failed: its answer could not be read: "
                        "{}".format(self.runner.server, e))
            elif status in _FAILED:
                inflight[0].outcome = self.runner._failure(result)
            elif status not in _EMPTY:
                # COPY, or anything else no statement of ours asks for
                inputs.lost("unexpected answer {}".format(
                    pq.ExecStatus(status).name), False)
                return

    def _release(self, reason, retry):
        """
        Let go of the socket and of every statement: sent again once if
        C{retry}, failed otherwise.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.reason = reason
        self._watch(False, False)
        if self.pgconn is not None:
            self.pgconn.finish()
            self.pgconn = None
        if self._fd != -1:
            os.close(self._fd)
            self._fd = -1
        calls = list(self.inflight) + self.queued
        self.inflight.clear()
        self.queued = []
        self.runner._forget(self)
        for call in calls:
            if retry and not call.retried:
                call.retried = True
                call.outcome = []
                self.runner._submit(call)
            else:
                call.outcome = self.runner._unavailable(reason)
                self.runner._done(call)
        closed, self.closedDeferreds = self.closedDeferreds, []
        for d in closed:
            d.callback(None)


def _notice(result):
    log.debug("storage: PostgreSQL says {notice}",
              notice=_text(result.error_message).strip())


def _text(data):
    text = data.decode("utf-8", "replace").strip() if data else ""
    return text.splitlines()[0] if text else "unknown error"


def _firstLine(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


_builder = TypeMachineBuilder(PgConnectionInputs, PgConnection)
_new = _builder.state("new")
_connecting = _builder.state("connecting")
_open = _builder.state("open")
_closing = _builder.state("closing")
_closed = _builder.state("closed")

nameStates([_new, _connecting, _open, _closing, _closed],
           PgConnectionInputs.stateName)


@_new.upon(PgConnectionInputs.open).to(_connecting)
def _open_(inputs, connection):
    connection._startConnecting(inputs)


@_connecting.upon(PgConnectionInputs.readable).loop()
@_connecting.upon(PgConnectionInputs.writable).loop()
def _poll(inputs, connection):
    connection._pollConnecting(inputs)


@_connecting.upon(PgConnectionInputs.connected).to(_open)
def _ready(inputs, connection):
    connection._startPipeline()


@_connecting.upon(PgConnectionInputs.submit).loop()
def _queue(inputs, connection, call):
    connection._queue(call)


@_connecting.upon(PgConnectionInputs.tick).loop()
def _connectingDue(inputs, connection):
    connection._tickConnecting(inputs)


@_open.upon(PgConnectionInputs.tick).loop()
@_closing.upon(PgConnectionInputs.tick).loop()
def _statementsDue(inputs, connection):
    connection._tickOpen(inputs)


@_open.upon(PgConnectionInputs.submit).loop()
def _sendNow(inputs, connection, call):
    connection._send(call)


@_open.upon(PgConnectionInputs.readable).loop()
def _read(inputs, connection):
    connection._readAnswers(inputs)


@_closing.upon(PgConnectionInputs.readable).loop()
def _readToTheEnd(inputs, connection):
    connection._readAnswers(inputs)
    if not connection.inflight and connection.pgconn is not None:
        inputs.drained()


@_open.upon(PgConnectionInputs.writable).loop()
@_closing.upon(PgConnectionInputs.writable).loop()
def _write(inputs, connection):
    connection._flush(inputs)


@_connecting.upon(PgConnectionInputs.lost).to(_closed)
@_open.upon(PgConnectionInputs.lost).to(_closed)
@_closing.upon(PgConnectionInputs.lost).to(_closed)
def _gone(inputs, connection, reason, retry):
    connection._release(reason, retry)


@_new.upon(PgConnectionInputs.close).to(_closed)
@_connecting.upon(PgConnectionInputs.close).to(_closed)
@_closing.upon(PgConnectionInputs.drained).to(_closed)
def _finish(inputs, connection):
    connection._release("the storage stopped", False)


@_open.upon(PgConnectionInputs.close).to(_closing)
def _closeOpen(inputs, connection):
    # what is in flight answers first (its Deferreds fire within timeout)
    if not connection.inflight:
        inputs.drained()


@_closing.upon(PgConnectionInputs.submit).loop()
@_closed.upon(PgConnectionInputs.submit).loop()
def _refuse(inputs, connection, call):
    call.outcome = connection.runner._unavailable(
        connection.reason or "the storage stopped")
    connection.runner._done(call)


_open.upon(PgConnectionInputs.drained).loop().returns(None)
_closing.upon(PgConnectionInputs.close).loop().returns(None)
_new.upon(PgConnectionInputs.tick).loop().returns(None)
for _input in (PgConnectionInputs.readable, PgConnectionInputs.writable,
               PgConnectionInputs.lost, PgConnectionInputs.drained,
               PgConnectionInputs.close, PgConnectionInputs.connected,
               PgConnectionInputs.tick):
    _closed.upon(_input).loop().returns(None)

PgConnectionMachine = build(_builder)


class PipelinedRunner:
    """
    Runs statements pipelined on up to C{size} connections, in the
    reactor's thread.

    @ivar server: the server as messages name it (no password).
    @ivar conninfo: what libpq connects with (the dsn, with keepalives, a
        TCP timeout and the statement timeout added unless it sets them).
    """

    def __init__(self, reactor, dsn, size=4, timeout=5.0):
        """
        @param dsn: a libpq connection string or URI.
        @param size: connections at most.
        @param timeout: seconds a call may take in all, connecting
            included.
        """
        self.reactor = reactor
        self.dsn = dsn
        self.server = describe(dsn)
        self.size = size
        self.timeout = timeout
        self.conninfo = _conninfo(dsn, timeout)
        self._connections = []
        self._closing = []
        self._answered = deque()
        self._statements = {}
        self._started = False
        self._reachable = True

    def start(self):
        self._started = True

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
        for connection in closing:
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
        command = compile(statement)
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
        state = result.error_field(_SQLSTATE) or b""
        text = _text(result.error_field(_PRIMARY) or result.error_message)
        if state[:2] in _UNAVAILABLE:
            return self._unavailable(text)
        return SystemError_("storage: {} failed: {}".format(self.server,
                                                            text))


def _conninfo(dsn, timeout):
    """
    @return: the conninfo bytes libpq connects with: C{dsn}, with UTF-8 as
        the client encoding, TCP keepalives, a TCP user timeout and the
        statement timeout of C{timeout} seconds unless it sets them.
    """
    given = conninfo_to_dict(dsn)
    extra = {}
    if "keepalives" not in given:
        extra.update(keepalives=1, keepalives_idle=5, keepalives_interval=2,
                     keepalives_count=3)
    if "client_encoding" not in given:
        # what the parameters are sent in and the answers read in
        extra["client_encoding"] = "UTF8"
    if "tcp_user_timeout" not in given:
        extra["tcp_user_timeout"] = int(timeout * 1000)
    options = given.get("options") or ""
    if "statement_timeout" not in options:
        extra["options"] = (options + " -c statement_timeout={:d}".format(
            int(timeout * 1000))).strip()
    return make_conninfo(dsn, **extra).encode("utf-8")
