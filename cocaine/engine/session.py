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

The worker's answer reaches the client through the session too
(L{Session.fromWorker} and its kin, called by the worker's connection):
a client connection's upstream takes a run of chunks in one write, or the
frames undecoded with the close. While that client's buffer is full the
session holds its worker (L{cocaine.engine.pacing}).

This module is compiled (L{cocaine.compiled}) and L{Session} is an
extension type there (C{session.pxd}): its fields are C struct members in
its own methods and in the outputs of the transitions every request
takes, which name it as their C{session}'s type. A request's whole path
through the session then runs no bytecode: its Python version was 8% of
the node's instructions a request at 64 in flight (docs/performance.md,
twenty-fifth round). The input protocol, L{SessionInputs}, is Python
(L{cocaine.engine.sessioninputs}).
"""

from automat import TypeMachineBuilder

from cocaine.engine.sessioninputs import SessionInputs
from cocaine.errors import (ClientDisconnected, DeadlineExpired, WorkerLost,
                            fromWire, toWire)
from cocaine.protocol.worker import CHUNK, CLOSE, ERROR
from cocaine.rpc.upstream import Upstream
from cocaine.statemachine import build, constructor, nameStates


def _drop(*args):
    """
    Where chunks go once nothing is to receive them.
    """


#: A session's C{_held} after its hold on the worker ran out (until the
#: client reads again), and once the hold was let go
_EXPIRED = object()
_FREE = object()


class Session:
    """
    @ivar event: the app event the client asked for.
    @ivar worker: the worker serving it, once assigned.
    @ivar channel: its channel on that worker.
    @ivar enqueuedAt: when the engine took it (its stats' clock).
    @ivar machine: its L{SessionMachine}.
    @ivar relays: the client connection's L{Upstream} that the worker's
        chunk frames are relayed to undecoded
        (L{cocaine.engine.connection.WorkerConnection}), while they go
        there; L{None} when they go elsewhere or nowhere.
    @ivar _held: how it holds its worker: the worker's connection while
        held, L{_EXPIRED} once a hold ran out, L{_FREE} once let go,
        L{None} while never held.
    """

    #: Once the client has its answer, nothing it still sends matters
    #: (see L{cocaine.rpc.server}).
    finishedWithUpstream = True

    __slots__ = ("engine", "event", "upstream", "worker", "channel",
                 "_pending", "_deadline", "enqueuedAt", "machine", "_toWorker",
                 "_toClient", "chunks", "_stall", "_run", "_frames", "_held",
                 "relays")

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


    # -- the worker's answer, from its connection ----------------------------

    def fromWorker(self, worker, channel, mtype, args):
        """
        A message of the worker's response stream.
        """
        if mtype == CHUNK:
            self._toClient((args,))
        elif mtype == CLOSE or mtype == ERROR:
            self.machine.responseEnded(mtype, args)

    def chunksFromWorker(self, run):
        """
        Chunks of the worker's response stream that came in a row: a list
        of their args lists, each of one value. A client connection's
        upstream takes them in one write.
        """
        self._toClient(run)

    def endAfter(self, run, mtype, args):
        """
        Chunks of the worker's response stream that came in a row (as for
        L{chunksFromWorker}), then its end, all in one read (the end of
        every request that one read answers whole). When the end is a
        close and the client is a client connection, the chunks and the
        close are packed together (L{Upstream.closeAfter}): five Python
        calls fewer than the chunks and the end one after the other,
        which is what any other end or upstream gets; the end is handled
        even when sending the chunks fails.

        @param run: the chunks' args lists, each of one value.
        @param mtype: the end: L{CLOSE} or L{ERROR}.
        @param args: the end's args.
        """
        if mtype == CLOSE and type(self.upstream) is Upstream:
            self._run = run
            try:
                self.machine.responseEnded(mtype, args)
            finally:
                # taken by _done, or not wanted in any other state
                self._run = None
            return
        try:
            self._toClient(run)
        finally:
            self.machine.responseEnded(mtype, args)

    def endFrames(self, data, start, end):
        """
        Chunk frames of the worker's response stream in C{data[start:end]}
        (L{cocaine.protocol.relay.chunkRun}), then its close, all in one
        read: relayed to a client connection's upstream undecoded, with
        the close, in one write (L{Upstream.closeAfterFrames}).

        @return: whether the session took them; L{False} when they cannot
            go to its client so (nothing was done: decode them).
        """
        upstream = self.relays
        if upstream is None or not upstream.relayable:
            return False
        self._frames = (data, start, end)
        try:
            self.machine.responseEnded(CLOSE, [])
        finally:
            # taken by _done, or not wanted in any other state
            self._frames = None
        return True

    # -- where the worker's chunks go (chosen by the machine's outputs) ------

    def _answer(self, run):
        # a chunk each, even when the worker sent its write without one
        send = self.upstream.send
        for args in run:
            send("write", args[0] if args else b"")

    def _answerArgs(self, run):
        # a client connection's upstream (the hot path of every chunk an
        # app streams): the worker's args lists go on as they are, a run
        # of them in one write
        upstream = self.upstream
        if len(run) > 1:
            upstream.writeChunks(run)
        elif len(run[0]) == 1:
            upstream.writeArgs(run[0])
        else:
            self._answer(run)
        # the client's buffer full: the worker waits for it
        self._pace()

    def _answerPaced(self, run):
        # an upstream that says whether its client reads (the HTTP
        # gateway's)
        self._answer(run)
        self._pace()

    # -- the end of the answer ------------------------------------------------

    def _reply(self, mtype, args):
        # the end of the worker's stream to the client, when it came alone
        # (with chunks before it, _done sends them together)
        upstream = self.upstream
        if mtype == CLOSE:
            if type(upstream) is Upstream:
                upstream.close()
            else:
                upstream.send("close")
        else:
            upstream.send("error", *toWire(fromWire(args)))

    def _lost(self, worker):
        self.upstream.error(WorkerLost(
            "app {}: the worker serving {!r} was lost ({})".format(
                self.engine.name, self.event, worker.reason or "unknown")))

    # -- holding the worker while the client does not read --------------------
    # (cocaine.engine.pacing: the worker connection's side)

    def _pace(self):
        """
        After a write to the client: hold the worker if the client's
        buffer is full and this session does not hold it yet.
        """
        held = self._held
        if (held is None or held is _FREE) and not self.upstream.writable:
            self._hold()

    def _hold(self):
        # a client that goes away meanwhile ends the session (its
        # connectionLost, whether or not it had ended its request: see
        # cocaine.rpc.server), which lets go
        connection = self.worker.connection
        if connection is None:
            return
        self._held = connection
        connection.holds.hold(self)
        self.upstream.whenWritable(self._unhold)

    def _unhold(self):
        """
        The client read what waited for it, or the session is over: the
        worker is read again (as far as this session goes).
        """
        held, self._held = self._held, _FREE
        if held is not None and held is not _EXPIRED and held is not _FREE:
            held.holds.release(self)

    def holdExpired(self):
        """
        The worker's connection was left unread for this session as long
        as it may be (L{HOLD_LIMIT}): the client's replies are buffered
        from now on, until it reads again.
        """
        if self._held is not None and self._held is not _FREE:
            self._held = _EXPIRED


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
