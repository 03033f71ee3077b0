# -*- test-case-name: tests.engine.test_session -*-
"""
One request to an app: the client's stream in, the worker's stream out.
Its lifecycle is one machine, L{SessionMachine}.

A L{Session} is the dispatch target of an C{enqueue} channel. Until a
worker takes it, the client's chunks are buffered; then they are forwarded
on the worker's channel as they come. A request that came whole (its one
chunk and close in the read of its opening, L{cocaine.rpc.server}) makes
a session whose request stream has ended: the worker gets the invoke,
the chunk and the close in one write. Both directions are independent: the
worker may answer before the request stream is closed. Every session ends
with close or error towards the client, exactly once.

The per-chunk path does not go through the machine (an input costs about
a microsecond, and a request has several chunks): each transition's
outputs choose where chunks go next (L{Session._toWorker} buffers, forwards
or drops a client's message; L{Session._toClient} forwards or drops the
worker's chunks that came in a row). Only the ends of the streams and the
rare events are inputs. The outputs that end the session towards the
client also count how it ended in the engine's
L{cocaine.engine.stats.AppStats}, once.

The worker's answer reaches the client through the session's base,
L{cocaine.engine.answer.SessionAnswer}, which also holds its fields.

This module is compiled (L{cocaine.compiled}) and L{Session} is an
extension type there (C{session.pxd}, on its base's C{answer.pxd}): its
fields are C struct members in its own methods and in the outputs of the
transitions every request takes, which name it as their C{session}'s
type. A request's whole path through the session then runs no bytecode:
its Python version was 8% of the node's instructions a request at 64 in
flight (docs/performance.md, twenty-fifth round). The input protocol,
L{SessionInputs}, is Python (L{cocaine.engine.sessioninputs}).
"""

from automat import TypeMachineBuilder

from cocaine.engine.answer import SessionAnswer
from cocaine.engine.sessioninputs import SessionInputs
from cocaine.errors import ClientDisconnected, DeadlineExpired, toWire
from cocaine.protocol.worker import CHUNK, CLOSE, ERROR
from cocaine.rpc.upstream import Upstream
from cocaine.statemachine import build, constructor, nameStates


def _drop(*args):
    """
    Where chunks go once nothing is to receive them.
    """


class Session(SessionAnswer):
    """
    One request to an app: its fields, and the worker's answer to it, are
    its L{SessionAnswer}'s.

    @ivar machine: its L{SessionMachine}.
    """

    #: Once the client has its answer, nothing it still sends matters
    #: (see L{cocaine.rpc.server}).
    finishedWithUpstream = True

    __slots__ = ()

    def __init__(self, engine, event, upstream, worker=None, whole=None):
        """
        @param worker: the worker that takes it at once, if one can.
        @param whole: the args of the one chunk of a client that sent its
            whole request at once (then its stream is ended), or L{None}.
        """
        self.engine = engine
        self.event = event
        self.upstream = upstream
        self.worker = None
        self.channel = None
        self._deadline = None
        self.enqueuedAt = engine.stats.now()
        # progress of the client's stream, for the engine's stall sweep:
        # _stall is (chunks seen, sweeps without a chunk), then True once
        # the session was ended for it
        self.chunks = 0
        self._stall = None
        # the worker's last chunks, sent with the end of its stream: args
        # lists, or frames relayed undecoded
        self._run = self._frames = None
        # how this session holds its worker (cocaine.engine.pacing)
        self._held = None
        self.relays = None
        if whole is None:
            if worker is None:
                self._pending = []
                self._toWorker = self._buffer
                self._toClient = _drop
                self.machine = _newMachine(self)
            else:
                self._take(worker)
                self.machine = _newMachine(self, _running)
            return
        self.chunks = 1
        if worker is None:
            self._pending = [(CHUNK, whole), (CLOSE, [])]
            self._toWorker = self._buffer
            self._toClient = _drop
            self.machine = _newMachine(self, _queuedEnded)
        else:
            # the invoke, the chunk and the close go in one write
            self._take(worker, whole)
            self.machine = _newMachine(self, _responding)

    def __repr__(self):
        return "<Session {!r} {}>".format(self.event,
                                          self.machine.stateName())

    # -- the client's side (dispatch target of enqueue) ---------------------

    def write(self, chunk):
        self.chunks += 1
        self._toWorker(CHUNK, [chunk])

    def close(self):
        self.machine.requestEnded(CLOSE, [])

    def writeClose(self, chunk):
        """
        The client's last chunk and its close, which one read brought
        together (L{cocaine.rpc.server.ServerProtocol}): on a worker, they
        go to it in one write; otherwise as L{write} and L{close} would go.
        """
        self.chunks += 1
        self.machine.requestEndedAfter([chunk])

    def error(self, *args):
        self.machine.requestEnded(ERROR, list(args))

    def connectionLost(self):
        """
        The client went away: a queued session leaves the queue; a running
        one has its request stream ended with an error so the worker can
        stop.
        """
        self.machine.clientLost()

    # -- the engine's and the worker's side ---------------------------------

    def assigned(self, worker):
        """
        C{worker} takes this session: invoke, then what the client sent.
        """
        self.machine.assigned(worker)

    def workerLost(self, worker):
        """
        The worker died or lost its connection before the response ended.
        """
        self.machine.workerLost(worker)

    def refuse(self, error):
        """
        End the session towards the client with C{error} before it was
        accepted (counted as rejected).
        """
        self.machine.refuse(error)

    def fail(self, error):
        """
        End the session towards the client with C{error}, if it was not
        answered yet.
        """
        self.machine.fail(error)

    @property
    def requestOpen(self):
        """
        Whether the client has not ended its request stream yet and the
        session is not over.
        """
        return self.machine.stateName() in ("queued", "running")

    def sweep(self, sweeps):
        """
        The engine's stall sweep: end the session with an error (to the
        client and the worker, as a deadline does) when its client's
        request stream stayed open without a chunk for C{sweeps}
        consecutive sweeps.

        @return: whether it was ended.
        """
        stall = self._stall
        if stall is None or stall[0] != self.chunks:
            self._stall = (self.chunks, 0)
            return False
        if stall[1] + 1 < sweeps:
            self._stall = (stall[0], stall[1] + 1)
            return False
        self._stall = True
        self.machine.expired(self.engine.profile.sessionIdleTimeout)
        return True

    def setDeadline(self, clock, seconds):
        self._deadline = clock.callLater(seconds, self.machine.expired,
                                         seconds)

    # -- where the client's chunks go (chosen by the machine's outputs) ------

    def _buffer(self, mtype, args):
        self._pending.append((mtype, args))

    def _forward(self, mtype, args):
        self.worker.send(self.channel, mtype, args)

    # -- what the outputs do -------------------------------------------------

    def _take(self, worker, whole=None):
        self.worker = worker
        if whole is None:
            self.channel = worker.assign(self)
        else:
            self.channel = worker.assign(self, whole)
        self._toWorker = self._forward
        # drivers, the HTTP gateway and the mesh bridge answer through
        # upstreams of their own, which take send (and the gateway's say
        # whether their client reads, as a client connection's do)
        upstream = self.upstream
        if type(upstream) is Upstream:
            self._toClient = self._answerArgs
            self.relays = upstream
        elif hasattr(upstream, "whenWritable"):
            self._toClient = self._answerPaced
        else:
            self._toClient = self._answer

    def _flush(self):
        pending, self._pending = self._pending, None
        for mtype, args in pending:
            self.worker.send(self.channel, mtype, args)

    def _cancelDeadline(self):
        deadline, self._deadline = self._deadline, None
        if deadline is not None and deadline.active():
            deadline.cancel()

    def _answered(self):
        # the client has its answer: nothing more goes to it, and what it
        # still sends goes nowhere
        if self._deadline is not None:
            self._cancelDeadline()
        if self._held is not None:
            self._unhold()
        self._toClient = self._toWorker = _drop
        self.relays = None

    def _over(self):
        # Finished: hand inputs to the shared finished machine, which
        # ignores them as this one would. The session and its machine
        # referred to each other, a cycle only the garbage collector
        # freed: its collections were a tenth of the node's work per
        # request (bench.paths); now the session goes when its last
        # holder lets go.
        self.machine = _FINISHED

    def _released(self, mtype=None, args=None):
        # the worker's side is over: its slot is free
        self.worker.finished(self.channel)
        self.engine.sessionFinished(self)

    def _deadlineError(self, seconds):
        if self._stall is True:
            return DeadlineExpired(
                "app {}: request {!r}: the client sent nothing for {:g}s "
                "and did not close its stream (session-idle-timeout)"
                .format(self.engine.name, self.event, seconds))
        return DeadlineExpired("app {}: request {!r} not answered within "
                               "{:g}s".format(self.engine.name, self.event,
                                              seconds))


_builder = TypeMachineBuilder(SessionInputs, Session)
#: waiting for a worker; the client's stream is open
_queued = _builder.state("queued")
#: waiting for a worker; the client already ended its stream
_queuedEnded = _builder.state("queuedEnded")
#: on a worker; both streams open
_running = _builder.state("running")
#: on a worker; the client ended its stream, the worker answers
_responding = _builder.state("responding")
#: the client has its answer or is gone; the worker still holds it
_orphaned = _builder.state("orphaned")
#: over
_finished = _builder.state("finished")

nameStates([_queued, _queuedEnded, _running, _responding, _orphaned,
            _finished], SessionInputs.stateName)


# -- waiting for a worker -----------------------------------------------------

@_queued.upon(SessionInputs.requestEnded).to(_queuedEnded)
def _bufferEnd(inputs, session: Session, mtype, args):
    session._pending.append((mtype, args))


@_queued.upon(SessionInputs.requestEndedAfter).to(_queuedEnded)
def _bufferLast(inputs, session: Session, args):
    session._pending.append((CHUNK, args))
    session._pending.append((CLOSE, []))


@_queued.upon(SessionInputs.assigned).to(_running)
@_queuedEnded.upon(SessionInputs.assigned).to(_responding)
def _start(inputs, session: Session, worker):
    session._take(worker)
    session._flush()


@_queued.upon(SessionInputs.clientLost).to(_finished)
@_queuedEnded.upon(SessionInputs.clientLost).to(_finished)
def _abandoned(inputs, session: Session):
    session.engine.stats.disconnected += 1
    session._answered()
    session.engine.sessionAbandoned(session)
    session._over()


@_queued.upon(SessionInputs.refuse).to(_finished)
@_queuedEnded.upon(SessionInputs.refuse).to(_finished)
def _refused(inputs, session: Session, error):
    session.engine.stats.rejected += 1
    session._answered()
    session.upstream.error(error)
    session._over()


@_queued.upon(SessionInputs.fail).to(_finished)
@_queuedEnded.upon(SessionInputs.fail).to(_finished)
def _failedWaiting(inputs, session: Session, error):
    session.engine.stats.failed(session.enqueuedAt)
    session._answered()
    session.upstream.error(error)
    session._over()


@_queued.upon(SessionInputs.expired).to(_finished)
@_queuedEnded.upon(SessionInputs.expired).to(_finished)
def _expiredWaiting(inputs, session: Session, seconds):
    session.engine.stats.timeout += 1
    session._answered()
    session.upstream.error(session._deadlineError(seconds))
    session.engine.sessionAbandoned(session)
    session._over()


# -- on a worker --------------------------------------------------------------

@_running.upon(SessionInputs.requestEnded).to(_responding)
def _endRequest(inputs, session: Session, mtype, args):
    session.worker.send(session.channel, mtype, args)


@_running.upon(SessionInputs.requestEndedAfter).to(_responding)
def _endRequestAfter(inputs, session: Session, args):
    session.worker.sendClosing(session.channel, CHUNK, args, CLOSE)


@_running.upon(SessionInputs.responseEnded).to(_finished)
@_responding.upon(SessionInputs.responseEnded).to(_finished)
def _done(inputs, session: Session, mtype, args):
    if mtype == CLOSE:
        session.engine.stats.succeeded(session.enqueuedAt)
    else:
        session.engine.stats.failed(session.enqueuedAt)
    # _answered, _released and _over inlined: every request ends here
    if session._deadline is not None:
        session._cancelDeadline()
    if session._held is not None:
        session._unhold()
    session._toClient = session._toWorker = _drop
    session.relays = None
    try:
        frames = session._frames
        run = session._run
        if frames is not None:
            # the last chunk frames and the close, relayed undecoded
            # (endFrames)
            session._frames = None
            session.upstream.closeAfterFrames(*frames)
        elif run is not None:
            # the last chunks and the close, packed together (endAfter
            # sets a run only for a close to an Upstream)
            session._run = None
            session.upstream.closeAfter(run)
        else:
            session._reply(mtype, args)
    finally:
        # the worker's slot is freed even when the client's upstream
        # fails (a driver's or the gateway's callback raising)
        session.worker.finished(session.channel)
        session.engine.sessionFinished(session)
        session.machine = _FINISHED


@_running.upon(SessionInputs.workerLost).to(_finished)
@_responding.upon(SessionInputs.workerLost).to(_finished)
def _workerGone(inputs, session: Session, worker):
    session.engine.stats.failed(session.enqueuedAt)
    session._answered()
    session._lost(worker)
    session.engine.sessionFinished(session)
    session._over()


@_running.upon(SessionInputs.clientLost).to(_orphaned)
def _clientGone(inputs, session: Session):
    session.engine.stats.disconnected += 1
    # the worker is told, so its handler can stop
    session.worker.send(session.channel, ERROR, toWire(
        ClientDisconnected("client disconnected")))
    session._answered()


@_responding.upon(SessionInputs.clientLost).to(_orphaned)
def _clientGoneAnswering(inputs, session: Session):
    session.engine.stats.disconnected += 1
    session._answered()


@_running.upon(SessionInputs.expired).to(_orphaned)
def _expiredRunning(inputs, session: Session, seconds):
    session.engine.stats.timeout += 1
    error = session._deadlineError(seconds)
    session.worker.send(session.channel, ERROR, toWire(error))
    session._answered()
    session.upstream.error(error)


@_responding.upon(SessionInputs.expired).to(_orphaned)
def _expiredAnswering(inputs, session: Session, seconds):
    session.engine.stats.timeout += 1
    session._answered()
    session.upstream.error(session._deadlineError(seconds))


# -- the client is answered or gone; the worker still holds it ----------------

@_orphaned.upon(SessionInputs.responseEnded).to(_finished)
def _releasedLate(inputs, session: Session, mtype, args):
    session._released()
    session._over()


@_orphaned.upon(SessionInputs.workerLost).to(_finished)
def _lostLate(inputs, session: Session, worker):
    session.engine.sessionFinished(session)
    session._over()


# -- what no longer matters ---------------------------------------------------

_ignored = {
    _queuedEnded: [SessionInputs.requestEnded,
                   SessionInputs.requestEndedAfter],
    _running: [SessionInputs.fail, SessionInputs.refuse],
    _responding: [SessionInputs.requestEnded,
                  SessionInputs.requestEndedAfter, SessionInputs.fail,
                  SessionInputs.refuse],
    _orphaned: [SessionInputs.requestEnded, SessionInputs.requestEndedAfter,
                SessionInputs.clientLost, SessionInputs.expired,
                SessionInputs.fail, SessionInputs.refuse],
    _finished: [SessionInputs.requestEnded, SessionInputs.requestEndedAfter,
                SessionInputs.responseEnded, SessionInputs.workerLost,
                SessionInputs.clientLost, SessionInputs.expired,
                SessionInputs.fail, SessionInputs.refuse],
}
for _state, _inputs in _ignored.items():
    for _input in _inputs:
        _state.upon(_input).loop().returns(None)

#: The lifecycle of one request to an app.
SessionMachine = build(_builder)

#: C{SessionMachine(session, state)} on a short path (one a request).
_newMachine = constructor(SessionMachine)


class _Nobody:
    """
    The core of L{_FINISHED}: nothing is left to do, so nothing is read.
    """


#: The machine of every finished session: a L{SessionMachine} in its
#: finished state, where every input is ignored (and C{assigned} raises,
#: as it would on the session's own).
_FINISHED = SessionMachine(_Nobody(), _finished)
