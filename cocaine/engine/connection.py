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
from cocaine.protocol.worker import CONTROL_CHANNEL, HANDSHAKE, text
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


class WorkerConnection(Protocol):
    """
    A worker's connection to its app's UNIX socket. The first message must
    be the handshake C{[1, 0, [uuid]]} of a worker the engine spawned and
    still waits for, sent by that worker's process (the engine checks the
    peer's credentials, L{cocaine.engine.sockets}); anything else closes
    the connection.
    """

    log = Logger()

    def __init__(self, engine):
        self.engine = engine
        self.worker = None
        self._decoder = Decoder(engine.maxMessage)
        self._pack = Encoder().pack

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
        for channel, mtype, args, _ in messages:
            worker = self.worker
            if worker is None:
                if not self._handshake(channel, mtype, args):
                    return
                continue
            if not heard:
                heard = True
                worker.heard()
            try:
                worker.route(channel, mtype, args)
            except Exception:
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

    def __init__(self, engine):
        self.engine = engine

    def buildProtocol(self, addr):
        return WorkerConnection(self.engine)
