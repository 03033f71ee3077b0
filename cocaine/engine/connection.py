# -*- test-case-name: tests.engine.test_engine -*-
"""
The two channels between the node and a worker: its process (output and
exit, L{WorkerProcess}) and its connection to the app's UNIX socket
(L{WorkerConnection}), which translate bytes and process events into
calls on the L{cocaine.engine.worker.Worker}.
"""

from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.logger import Logger

from cocaine.errors import FramingError
from cocaine.protocol.framing import Decoder, Encoder
from cocaine.protocol.worker import (
    CHUNK, CLOSE, CONTROL_CHANNEL, ERROR, HANDSHAKE, text)
from cocaine.rpc import writes


class WorkerProcess(ProcessProtocol):
    """
    The process side of a worker: its output and its exit.
    """

    def __init__(self, worker):
        self.worker = worker

    def outReceived(self, data):
        self.worker.output.feed(1, data)

    def errReceived(self, data):
        self.worker.output.feed(2, data)

    def processEnded(self, reason):
        self.worker.output.flush()
        self.worker.processEnded(reason.value)


#: With fewer sessions than this running in the app, what a worker's
#: replies write (to the clients) waits for the end of the reactor's turn
#: (L{cocaine.rpc.writes.holdForTurn}; Twisted runs it before its next
#: C{epoll}), so the replies of every worker read in one turn leave in one
#: send per client: 17% less server CPU per request with 8 in flight
#: (docs/performance.md). With a deep pipeline, starting the client on its
#: own CPU early matters more: holding cost 13% of the requests/s with 64
#: in flight, so it is not done there. Nor with one session running: its
#: client is the only one a read can answer, and holding would cost a
#: timer and a turn of the reactor per request.
HOLD_BELOW = 16


class WorkerConnection(Protocol):
    """
    A worker's connection to its app's UNIX socket. The first message must
    be the handshake C{[1, 0, [uuid]]} of a worker the engine spawned and
    still waits for, sent by that worker's process (the engine checks the
    peer's credentials, L{cocaine.engine.sockets}); anything else closes
    the connection.
    """

    log = Logger()

    def __init__(self, engine, reactor=None):
        """
        @param reactor: the reactor whose turn holds what answering this
            worker writes (L{HOLD_BELOW}); L{None} to send at the end of
            each read.
        """
        self.engine = engine
        self.worker = None
        self._reactor = reactor
        self._decoder = Decoder(engine.maxMessage)
        self._pack = Encoder().pack

    def send(self, channel, mtype, args):
        """
        Write one message to the worker.
        """
        writes.write(self.transport, self._pack([channel, mtype, args]))

    @writes.batched
    def dataReceived(self, data):
        if (self._reactor is not None
                and 1 < len(self.engine.running) < HOLD_BELOW):
            writes.holdForTurn(self._reactor)
        try:
            messages = self._decoder.feed(data)
        except FramingError as e:
            self.log.warn("app {app}: framing error from worker {uuid}: "
                          "{reason}", app=self.engine.name,
                          uuid=getattr(self.worker, "uuid", "?"),
                          reason=str(e))
            self._deliver(e.messages)
            self.transport.abortConnection()
            return
        self._deliver(messages)

    def _deliver(self, messages):
        heard = False
        # chunks in a row for one session (each of one value): they go to
        # it together, so a stream's chunks that one read brought cost
        # one call down to the client's connection and one write
        run = runSession = None
        for channel, mtype, args, _ in messages:
            worker = self.worker
            if worker is None:
                if not self._handshake(channel, mtype, args):
                    return
                continue
            if not heard:
                heard = True
                worker.heard()
            # a session's message goes straight to it (Worker.route's
            # lookup, inlined: once per chunk of every stream); the
            # control channel's and unknown channels' through route
            session = worker.sessions.get(channel)
            if run is not None:
                if session is runSession:
                    if mtype == CHUNK and len(args) == 1:
                        run.append(args)
                        continue
                    if mtype == CLOSE or mtype == ERROR:
                        # the run and the end of the stream together
                        # (Session.endAfter)
                        last, run = run, None
                        try:
                            session.endAfter(last, mtype, args)
                        except Exception:
                            self._failed(worker)
                        continue
                try:
                    runSession.chunksFromWorker(run)
                except Exception:
                    self._failed(worker)
                run = None
            try:
                if session is not None and channel != CONTROL_CHANNEL:
                    if mtype == CHUNK and len(args) == 1:
                        run, runSession = [args], session
                    else:
                        session.fromWorker(worker, channel, mtype, args)
                else:
                    worker.route(channel, mtype, args)
            except Exception:
                self._failed(worker)
        if run is not None:
            try:
                runSession.chunksFromWorker(run)
            except Exception:
                self._failed(self.worker)

    def _failed(self, worker):
        self.log.failure("app {app}: worker {uuid} message",
                         app=self.engine.name, uuid=worker.uuid)

    def _handshake(self, channel, mtype, args):
        uuid = text(args[0]) if args else None
        worker = None
        if channel == CONTROL_CHANNEL and mtype == HANDSHAKE and uuid:
            worker = self.engine.workerByUuid(uuid)
        # the uuid names a worker; only the process the node spawned for
        # it (its peer credentials) may take it
        if worker is not None and not self.engine.admits(worker,
                                                         self.transport):
            self.transport.abortConnection()
            return False
        if worker is None or not worker.handshake(self):
            self.log.warn("app {app}: connection without a valid handshake "
                          "(uuid {uuid!r}); closing", app=self.engine.name,
                          uuid=uuid)
            self.transport.abortConnection()
            return False
        self.worker = worker
        return True

    def connectionLost(self, reason):
        # Forget the worker: it and this connection referred to each other,
        # a cycle only a full garbage collection freed, and it kept this
        # connection's msgpack buffers (over half a MiB) alive per recycled
        # worker until then.
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.connectionLost()


class WorkerListener(Factory):
    """
    Accepts worker connections on the app's socket.
    """

    noisy = False

    def __init__(self, engine, reactor=None):
        self.engine = engine
        self.reactor = reactor

    def buildProtocol(self, addr):
        return WorkerConnection(self.engine, self.reactor)
