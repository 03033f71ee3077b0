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
    CHUNK, CLOSE, CONTROL_CHANNEL, ERROR, HANDSHAKE, HEARTBEAT, text)
from cocaine.rpc import writes

#: The longest a worker's connection is left unread for one session whose
#: client does not read its replies (L{WorkerConnection.hold}), in
#: seconds; never more than a third of the worker's heartbeat-timeout.
HOLD_LIMIT = 10.0

#: While a worker's connection is held, or was within this many seconds,
#: the node sends the worker a heartbeat this often: the worker's own
#: heartbeats wait unread behind its output, and the real 0.12 framework
#: leaves when one goes unanswered for 5 s (any heartbeat it receives
#: stops that timer, ours too).
HOLD_HEARTBEAT = 1.0


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


class WorkerConnection(Protocol):
    """
    A worker's connection to its app's UNIX socket. The first message must
    be the handshake C{[1, 0, [uuid]]} of a worker the engine spawned and
    still waits for, sent by that worker's process (the engine checks the
    peer's credentials, L{cocaine.engine.sockets}); anything else closes
    the connection.

    What answering one read writes (to the clients) leaves at the end of
    that read, one send per client: a client whose replies came from one
    worker starts on them while the node reads the other worker. Holding
    them for the reactor's turn instead, to join every worker's replies
    in one send per client, cost 6-20% of the requests/s with 2 to 12 in
    flight once the workers ran under C{SCHED_BATCH}: the client's CPU
    waited for the whole round (docs/performance.md, ninth round).
    """

    log = Logger()

    def __init__(self, engine, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.engine = engine
        self.worker = None
        self._reactor = reactor
        self._decoder = Decoder(engine.maxMessage)
        self._pack = Encoder().pack
        #: C{{session: timer}}: the sessions whose clients' buffers are
        #: full, for which this connection is not read
        self._holds = {}
        #: the heartbeats sent while holds come and go (L{HOLD_HEARTBEAT})
        self._keepAlive = None
        self._heldSinceBeat = False

    # -- flow control from the clients back to the worker --------------------

    def hold(self, session):
        """
        Stop reading the worker while C{session}'s client does not take
        what it is sent (its connection's write buffer is full): the
        worker's writes then wait in its own socket and process (an app
        that awaits C{drain} is paced), not in the node's memory, and a
        client that reads slower than the app writes gets the whole
        stream rather than being dropped at C{write-buffer-max}. The
        worker's other sessions wait meanwhile: there is one connection
        per worker and 0.12's protocol has no flow control per channel.

        The hold ends with L{release} (the client read, or the session
        ended), or after L{HOLD_LIMIT} (a third of the heartbeat timeout
        at most), when the session is told (C{holdExpired}) so that a
        client that stopped reading does not stall the worker: its
        replies are buffered again, and it is dropped past
        C{write-buffer-max} as before.
        """
        holds = self._holds
        if session in holds:
            return
        if not holds and self.transport is not None:
            self.transport.pauseProducing()
        limit = min(HOLD_LIMIT,
                    self.engine.profile.heartbeatTimeout / 3.0)
        holds[session] = self._reactor.callLater(limit, self._expired,
                                                 session, limit)
        self._heldSinceBeat = True
        if self._keepAlive is None:
            self._keepAlive = self._reactor.callLater(HOLD_HEARTBEAT,
                                                      self._beat)

    def _beat(self):
        """
        Send the worker a heartbeat while it is held, or was held since
        the last one: a slow client's holds come and go, and the worker's
        heartbeat can wait behind its output through many of them.
        """
        self._keepAlive = None
        if not (self._holds or self._heldSinceBeat):
            return
        self._heldSinceBeat = False
        if self.worker is not None:
            self.send(CONTROL_CHANNEL, HEARTBEAT, [])
        self._keepAlive = self._reactor.callLater(HOLD_HEARTBEAT,
                                                  self._beat)

    def release(self, session):
        """
        End C{session}'s hold (L{hold}); the worker is read again once no
        session holds it.
        """
        timer = self._holds.pop(session, None)
        if timer is None:
            return
        if timer.active():
            timer.cancel()
        if not self._holds and self.transport is not None:
            self.transport.resumeProducing()

    def _expired(self, session, limit):
        del self._holds[session]
        self.log.info("app {app}: a client has read nothing for {limit:g} "
                      "s of a stream from worker {uuid}; the worker is "
                      "read again and the client's replies are buffered "
                      "(up to write-buffer-max)", app=self.engine.name,
                      limit=limit, uuid=getattr(self.worker, "uuid", "?"))
        if not self._holds and self.transport is not None:
            self.transport.resumeProducing()
        session.holdExpired()

    def send(self, channel, mtype, args):
        """
        Write one message to the worker.
        """
        writes.write(self.transport, self._pack([channel, mtype, args]))

    @writes.batched
    def dataReceived(self, data):
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
        holds, self._holds = self._holds, {}
        timers = list(holds.values())
        if self._keepAlive is not None:
            timers.append(self._keepAlive)
            self._keepAlive = None
        for timer in timers:
            if timer.active():
                timer.cancel()
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
