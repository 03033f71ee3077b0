# -*- test-case-name: tests.engine.test_session -*-
"""
How the worker's answer to a session reaches its client
(L{SessionAnswer}, mixed into L{cocaine.engine.session.Session}): the
worker's messages as its connection hands them over (one by one, chunks
in a row, chunks and the end together, or relayed undecoded), and where
the chunks go for each kind of client.

It uses the session's C{machine}, C{upstream}, C{relays}, C{engine},
C{event}, C{_toClient}, C{_run}, C{_frames} and C{_pace}.
"""

from cocaine.errors import WorkerLost, fromWire, toWire
from cocaine.protocol.worker import CHUNK, CLOSE, ERROR
from cocaine.rpc.upstream import Upstream


class SessionAnswer:
    """
    The worker's side of a session's answer.
    """

    __slots__ = ()

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
