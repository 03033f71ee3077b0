# -*- test-case-name: tests.storage.test_pgpipeline -*-
"""
One libpq connection of the PostgreSQL runner
(L{cocaine.storage.pgpipeline}), in pipeline mode and non-blocking, its
socket read and written by the reactor; its lifecycle is one machine
(L{PgConnectionMachine}, docs/machines.md).

The connection asks its runner for what is the runner's: the conninfo,
the server's name and the timeout, where a statement goes when it is sent
again (C{_submit}), how an answer is delivered (C{_done}) and what a
failure is (C{_failure}, C{_unavailable}); the runner is the one to
forget it (C{_forget}).
"""

import os
import struct
from collections import deque

import psycopg
from automat import TypeMachineBuilder
from psycopg import pq
from twisted.logger import Logger

from cocaine.errors import BackendUnavailable, SystemError_
from cocaine.statemachine import build, nameStates
from cocaine.storage.pgcall import PgConnectionInputs, libpqText
from cocaine.storage.pgstatements import loadRows
from cocaine.storage.pgthreads import firstLine

log = Logger()

_POLL_OK, _POLL_READING, _POLL_FAILED = (
    pq.PollingStatus.OK, pq.PollingStatus.READING, pq.PollingStatus.FAILED)
_TUPLES_OK, _SYNC = pq.ExecStatus.TUPLES_OK, pq.ExecStatus.PIPELINE_SYNC
#: a statement's answer that fails it, and those that carry no rows
_FAILED = frozenset([pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.BAD_RESPONSE,
                     pq.ExecStatus.PIPELINE_ABORTED])
_EMPTY = frozenset([pq.ExecStatus.COMMAND_OK, pq.ExecStatus.EMPTY_QUERY])
_BINARY = pq.Format.BINARY


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
        self.attemptBy = None
        self.attemptWhere = None
        self.attemptLimit = None
        self.attempts = []
        self.failures = []
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
        self.connectBy = self.reactor.seconds() + runner.timeout
        self._wake(self.connectBy)
        # host names are resolved aside, not by libpq in the reactor's
        # thread; the Deferred may fire after this connection closed
        resolving = runner.resolve()
        resolving.addCallbacks(self._resolved, self._unresolved)

    def _resolved(self, attempts):
        self.machine.resolved(attempts)
        self.runner._deliver()

    def _unresolved(self, failure):
        self.machine.lost(firstLine(failure.value), False)
        self.runner._deliver()

    def _firstAttempt(self, inputs, attempts):
        self.attempts = list(attempts)
        self._nextAttempt(inputs)

    def _nextAttempt(self, inputs, failure=None):
        """
        Give up the attempt under way (that failed with C{failure}, a
        text naming where it went) and start the next, with its share of
        the time left; once none is left, the connection is lost with why
        each failed.

        @return: whether an attempt is under way.
        """
        if failure is not None:
            self.failures.append(failure)
        self._dropSocket()
        now = self.reactor.seconds()
        while self.attempts:
            (conninfo, where, limit), rest = self.attempts[0], self.attempts[1:]
            self.attempts = rest
            pgconn = pq.PGconn.connect_start(conninfo)
            if pgconn.status == pq.ConnStatus.BAD:
                self.failures.append(libpqText(pgconn.error_message))
                pgconn.finish()
                continue
            pgconn.notice_handler = _notice
            self.pgconn = pgconn
            if limit is None:
                # the dsn sets no connect_timeout: each address left gets
                # an equal share of the time left
                limit = (self.connectBy - now) / (len(rest) + 1)
            self.attemptBy = now + limit
            self.attemptWhere, self.attemptLimit = where, limit
            self._wake(min(self.attemptBy, self.connectBy))
            # libpq's rule: poll as if the socket were writable first
            self._follow(pgconn.socket)
            self._watch(False, True)
            return True
        inputs.lost("; ".join(self.failures) or "no address to connect to",
                    False)
        return False

    def _dropSocket(self):
        self._watch(False, False)
        if self.pgconn is not None:
            self.pgconn.finish()
            self.pgconn = None
        if self._fd != -1:
            os.close(self._fd)
            self._fd = -1

    def _pollConnecting(self, inputs):
        pgconn = self.pgconn
        if pgconn is None:
            return      # still resolving
        # the socket may change while connecting (another address)
        self._watch(False, False)
        status = pgconn.connect_poll()
        if status == _POLL_OK:
            self._follow(pgconn.socket)
            inputs.connected()
        elif status == _POLL_FAILED:
            self._nextAttempt(inputs, libpqText(pgconn.error_message))
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
            if self.pgconn is None:
                reason = "its host name was not resolved within {} s".format(
                    self.runner.timeout)
            elif self.failures:
                reason = "; ".join(self.failures + [
                    "{} did not answer in time".format(self.attemptWhere)])
            else:
                reason = "it did not answer within {} s".format(
                    self.runner.timeout)
            inputs.lost(reason, False)
            return
        if self.pgconn is not None and now >= self.attemptBy:
            if not self._nextAttempt(inputs, "{} did not answer within {:g} s"
                                     .format(self.attemptWhere,
                                             self.attemptLimit)):
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
        due = [self.connectBy] + [c.deadline for c in waiting]
        if self.pgconn is not None:
            due.append(self.attemptBy)
        self._wake(min(due))

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
                self.machine.lost(firstLine(e), True)
                return
            # this statement alone could not be sent (too many parameters)
            call.outcome = SystemError_("storage: {} failed: {}".format(
                self.runner.server, firstLine(e)))
            self.runner._done(call)
            return
        call.sentAt = self.reactor.seconds()
        self.inflight.append(call)
        try:
            # a sync sends what is queued (libpq flushes at each)
            pgconn.pipeline_sync()
            more = pgconn.flush()
        except psycopg.Error as e:
            self.machine.lost(firstLine(e), True)
            return
        if more:
            self._watch(True, True)
        self._wake(call.deadline)

    def _flush(self, inputs):
        try:
            more = self.pgconn.flush()
        except psycopg.Error as e:
            inputs.lost(firstLine(e), True)
            return
        self._watch(True, bool(more))

    def _tickOpen(self, inputs):
        """
        Two deadlines: each statement's own (a statement sent again after
        a lost connection keeps its first), past which it fails alone,
        its answer dropped when it comes; and the connection's, C{timeout}
        after its oldest unanswered statement was sent, past which it is
        stuck.
        """
        inflight = self.inflight
        if not inflight:
            return
        now = self.reactor.seconds()
        timeout = self.runner.timeout
        if inflight[0].sentAt + timeout <= now:
            # the answers come in order, and what it was sent may still
            # run when the server wakes: nothing of it is sent again
            calls = list(inflight)
            inflight.clear()
            for call in calls:
                call.outcome = self._timedOut()
                self.runner._done(call)
            inputs.lost("a statement did not answer within {} s".format(
                timeout), False)
            return
        when = inflight[0].sentAt + timeout
        for call in inflight:
            if call.deferred.called:
                continue
            if call.deadline <= now:
                call.outcome = self._timedOut()
                self.runner._done(call)
            elif call.deadline < when:
                when = call.deadline
        self._wake(when)

    def _readAnswers(self, inputs):
        pgconn = self.pgconn
        try:
            pgconn.consume_input()
        except psycopg.Error as e:
            inputs.lost(firstLine(e), True)
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
            inputs.lost(libpqText(pgconn.error_message), True)

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
        self.attempts = []
        self._dropSocket()
        calls = list(self.inflight) + self.queued
        self.inflight.clear()
        self.queued = []
        self.runner._forget(self)
        for call in calls:
            if call.deferred.called:
                # failed at its own deadline, or cancelled: not sent again
                continue
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
              notice=libpqText(result.error_message))


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


@_connecting.upon(PgConnectionInputs.resolved).loop()
def _attempt(inputs, connection, attempts):
    connection._firstAttempt(inputs, attempts)


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
    if not connection.inflight:
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
for _input in (PgConnectionInputs.resolved,
               PgConnectionInputs.readable, PgConnectionInputs.writable,
               PgConnectionInputs.lost, PgConnectionInputs.drained,
               PgConnectionInputs.close, PgConnectionInputs.connected,
               PgConnectionInputs.tick):
    _closed.upon(_input).loop().returns(None)

PgConnectionMachine = build(_builder)
