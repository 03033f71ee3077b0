# -*- test-case-name: tests.engine.test_engine -*-
"""
The two channels between the node and a worker: its process (output and
exit, L{WorkerProcess}) and its connection to the app's UNIX socket
(L{WorkerConnection}), which translate bytes and process events into
calls on the L{cocaine.engine.worker.Worker}.
"""

from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.logger import Logger

from cocaine.compiled import isCompiled
from cocaine.engine.pacing import WorkerHolds
from cocaine.errors import FramingError
from cocaine.protocol import relay
from cocaine.protocol.framing import (
    Decoder, Encoder, packClosing, packMessage, packRequest)
from cocaine.protocol.relay import chunkRun, emptyAt
from cocaine.protocol.worker import (
    CHUNK, CLOSE, CONTROL_CHANNEL, ERROR, HANDSHAKE, INVOKE, text)
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


#: Whether a worker's chunk frames are relayed undecoded: where the
#: relay (L{cocaine.protocol.relay}) is compiled, whose typed byte loop
#: makes relaying a chunk a third of what decoding and packing it cost.
#: Run from its Python source, the loop costs more than msgpack's
#: decoder, and chunks are decoded (docs/performance.md, eighteenth
#: round).
RELAY = isCompiled(relay)

#: The most bytes of a chunk frame cut short that a worker connection
#: holds for the next read (L{WorkerConnection._relay}); the start of a
#: larger one is decoded.
HELD_MAX = 65536


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

    The chunks an app streams are relayed undecoded (where the relay is
    compiled, L{RELAY}): a read's first
    frames, while they are chunks of sessions whose client is a client
    connection (L{cocaine.engine.session.Session.relays}), go to those
    connections with only their channel changed
    (L{cocaine.protocol.relay.chunkRun}); a chunk frame cut short by
    the end of a read waits here for the next one, not in the decoder.
    So do chunks followed by their stream's close (an echo's answer), which
    end their session (L{cocaine.engine.session.Session.endFrames}). The
    rest of a read, from its first other frame, is decoded as before.
    A chunk costs the node under a third of what decoding and packing it
    again did (docs/performance.md, eighteenth round).
    """

    log = Logger()

    def __init__(self, engine, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.engine = engine
        self.worker = None
        self._decoder = Decoder(engine.maxMessage)
        # the start of a chunk frame that the last read cut short
        self._tail = None
        self._pack = Encoder().pack
        #: who holds this connection unread (L{cocaine.engine.pacing})
        self.holds = WorkerHolds(self, reactor)

    def send(self, channel, mtype, args):
        """
        Write one message to the worker.
        """
        writes.write(self.transport,
                     packMessage(self._pack, channel, mtype, args))

    def sendClosing(self, channel, mtype, args, endWith):
        """
        Write one message and a message C{endWith} without args after it
        (a stream's close), in one write to the worker.
        """
        writes.write(self.transport,
                     packClosing(self._pack, channel, mtype, args, endWith))

    def sendRequest(self, channel, event, args):
        """
        Write a whole request to the worker in one write: the invoke of
        C{event}, a chunk of C{args} and the close.
        """
        writes.write(self.transport,
                     packRequest(self._pack, channel, INVOKE, [event], CHUNK,
                                 args, CLOSE))

    @writes.batched
    def dataReceived(self, data):
        worker = self.worker
        if worker is not None and RELAY and (self._tail is not None
                                             or self._decoder.drained()):
            data = self._relay(worker, data)
            if not data:
                return
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

    def _relay(self, worker, data):
        """
        Relay the chunk frames that begin C{data} to their sessions'
        clients, and keep a chunk frame it cuts short for the next read.

        @return: the rest of C{data}, from its first frame that is not
            relayed, for the decoder.
        """
        tail = self._tail
        if tail is not None:
            self._tail = None
            data = tail + data
        size = len(data)
        limit = self._decoder.maxBuffer
        sessions = worker.sessions
        pos = 0
        while pos < size:
            channel, end, count, incomplete = chunkRun(data, pos, limit)
            if count and end < size and not incomplete:
                # chunks, then another message: when it is the stream's
                # close (every echo's answer ends so), the session ends
                # with them, relayed
                closed = emptyAt(data, end, channel, CLOSE)
                if closed >= 0:
                    session = sessions.get(channel)
                    if session is None or session.relays is None:
                        break
                    if pos == 0:
                        worker.heard()
                    try:
                        if not session.endFrames(data, pos, end):
                            break
                    except Exception:
                        # as a decoded end's failure: logged
                        self._failed(worker)
                    pos = closed
                    continue
                if count == 1:
                    # one chunk, then another message: decoded together
                    break
            if count:
                session = sessions.get(channel)
                if session is None:
                    break
                upstream = session.relays
                if upstream is None:
                    break
                if pos == 0:
                    worker.heard()
                try:
                    if not upstream.writeFrames(data, pos, end):
                        break
                    # the client's buffer full: the worker waits for it
                    session._pace()
                except Exception:
                    # as a decoded run's failure: logged, the run lost
                    self._failed(worker)
                pos = end
            elif incomplete and size - pos <= HELD_MAX:
                self._tail = data[pos:] if pos else data
                return b""
            else:
                # a larger frame cut short goes to the decoder, whose
                # buffer grows in place: held here, each read would copy
                # all of it again
                break
        return data[pos:] if pos else data

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
        self.holds.clear()
        self._tail = None
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
