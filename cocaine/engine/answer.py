# -*- test-case-name: tests.engine.test_session -*-
"""
How the worker's answer to a session reaches its client
(L{SessionAnswer}, the base of L{cocaine.engine.session.Session}, which
also holds the session's fields): the worker's messages as its
connection hands them over (one by one, chunks in a row, chunks and the
end together, or relayed undecoded), where the chunks go for each kind
of client, and the session's side of holding its worker while that
client does not read (the worker connection's side is
L{cocaine.engine.pacing.WorkerHolds}).

Compiled (L{cocaine.compiled}), L{SessionAnswer} is an extension type
(C{answer.pxd}) and the session's C{session.pxd} builds on it: an
extension type has one such base, and the session's methods and these
read the same fields as C struct members.
"""

from cocaine.errors import WorkerLost, fromWire, toWire
from cocaine.protocol.worker import CHUNK, CLOSE, ERROR
from cocaine.rpc.upstream import Upstream

#: A session's C{_held} after its hold on the worker ran out (until the
#: client reads again), and once the hold was let go
_EXPIRED = object()
_FREE = object()


class SessionAnswer:
    """
    A session's fields and the worker's side of its answer.

    @ivar event: the app event the client asked for.
    @ivar worker: the worker serving it, once assigned.
    @ivar channel: its channel on that worker.
    @ivar enqueuedAt: when the engine took it (its stats' clock).
    @ivar machine: its lifecycle's machine
        (L{cocaine.engine.session.SessionMachine}).
    @ivar relays: the client connection's L{Upstream} that the worker's
        chunk frames are relayed to undecoded
        (L{cocaine.engine.connection.WorkerConnection}), while they go
        there; L{None} when they go elsewhere or nowhere.
    @ivar _held: how it holds its worker: the worker's connection while
        held, L{_EXPIRED} once a hold ran out, L{_FREE} once let go,
        L{None} while never held.
    """

    __slots__ = ("engine", "event", "upstream", "worker", "channel",
                 "_pending", "_deadline", "enqueuedAt", "machine", "_toWorker",
                 "_toClient", "chunks", "_stall", "_run", "_frames", "_held",
                 "relays")

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

    # -- holding the worker while the client does not read -------------------

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
