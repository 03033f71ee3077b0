# -*- test-case-name: tests.driver.test_zeromq_sockets -*-
"""
Our ZeroMQ sockets over txZMQ: bound ROUTER, PULL, PUB and REP-style
sockets and a connecting SUB, each with one callback for what arrives.

pyzmq is imported by the calls that need it, not with this module: the
node imports it for app monitoring whether or not an app publishes, and
pyzmq with its libzmq and libsodium is about 6 MB of a node's memory.
"""

from twisted.logger import Logger

from cocaine.zeromq._factory import shared


class ZeroMQError(Exception):
    """
    A socket could not be bound or connected; the message names the
    endpoint and the reason (C{cannot bind tcp://127.0.0.1:5000: Address
    already in use}).
    """


def splitEnvelope(frames):
    """
    Split a message a ROUTER received into its envelope and its body.

    The envelope is the peer's identity and, when the peer is a REQ socket
    (or anything sending the same empty delimiter frame), every frame up to
    and including the first empty one; without a delimiter it is the
    identity alone (a DEALER that sends none).

    @return: C{(envelope, body)}, both lists of frames.
    """
    for index in range(1, len(frames)):
        if frames[index] == b"":
            return frames[:index + 1], frames[index + 1:]
    return frames[:1], frames[1:]


class Socket:
    """
    One ZeroMQ socket on the process's shared context.

    @ivar endpoint: where it is bound or connected, as ZeroMQ reports it
        (with the real port when C{*} was asked for); L{None} before that.
    @ivar closed: whether L{close} was called.
    """

    log = Logger()

    def __init__(self, socketType, onMessage=None, highWaterMark=None,
                 subscriptions=(), maxMessageSize=None):
        """
        @param socketType: a C{zmq} socket type (C{zmq.ROUTER}, ...).
        @param onMessage: called with each received message's frames.
        @param highWaterMark: the send and receive high-water marks (queued
            messages per peer); ZeroMQ's default (1000) when L{None}.
        @param subscriptions: prefixes a SUB socket subscribes to.
        @param maxMessageSize: C{zmq.MAXMSGSIZE}: a peer sending a larger
            message is disconnected without it being buffered; unlimited
            when L{None}. Set before binding, as ZeroMQ needs.
        """
        import zmq
        from cocaine.zeromq._connection import Connection
        # what send catches, kept so that sending imports nothing
        self._sendError = zmq.ZMQError
        self.endpoint = None
        self.closed = False
        self._onMessage = onMessage
        factory = shared.acquire()
        try:
            self._connection = Connection(factory, socketType,
                                          self._received)
        except Exception:
            shared.release()
            raise
        try:
            socket = self._connection.socket
            if highWaterMark is not None:
                socket.set(zmq.SNDHWM, highWaterMark)
                socket.set(zmq.RCVHWM, highWaterMark)
            for prefix in subscriptions:
                socket.set(zmq.SUBSCRIBE, prefix)
            if maxMessageSize is not None:
                socket.set(zmq.MAXMSGSIZE, maxMessageSize)
        except Exception:
            self.close()
            raise

    def bind(self, endpoint):
        """
        @raise ZeroMQError: naming the endpoint and the reason; the socket
            is closed then.
        """
        self._attach("bind", endpoint)
        return self

    def connect(self, endpoint):
        """
        @raise ZeroMQError: naming the endpoint and the reason; the socket
            is closed then.
        """
        self._attach("connect", endpoint)
        return self

    def _attach(self, how, endpoint):
        import zmq
        from txzmq import ZmqEndpoint
        try:
            self._connection.addEndpoints([ZmqEndpoint(how, endpoint)])
            last = self._connection.socket.get(zmq.LAST_ENDPOINT)
        except zmq.ZMQError as e:
            self.close()
            raise ZeroMQError("cannot {} {}: {}".format(
                how, endpoint, zmq.strerror(e.errno)))
        self.endpoint = last.decode("utf-8", "replace") if last else endpoint

    def _received(self, frames):
        if self._onMessage is None:
            return
        try:
            self._onMessage(frames)
        except Exception:
            self.log.failure("ZeroMQ message on {endpoint} not handled",
                             endpoint=self.endpoint)

    def send(self, frames):
        """
        Send one multipart message without blocking.

        @param frames: a list of bytes.
        @return: whether ZeroMQ took it (a closed socket, a full queue or
            an unroutable peer drop it).
        """
        if self.closed:
            return False
        try:
            self._connection.send(list(frames))
        except self._sendError as e:
            self.log.warn("ZeroMQ message on {endpoint} dropped: {reason}",
                          endpoint=self.endpoint, reason=e.strerror)
            return False
        return True

    def close(self):
        """
        Close the socket; the last socket closed shuts the context down.
        Calling it again does nothing.
        """
        if self.closed:
            return
        self.closed = True
        connection, self._connection = self._connection, None
        try:
            connection.shutdown()
        finally:
            shared.release()


class ReplySocket:
    """
    REP semantics over a ROUTER (as txZMQ's REP does): each request is
    handed to C{onRequest(body, reply)}; C{reply(frames)} answers it, once,
    whenever the answer is ready, so requests are served concurrently.
    """

    def __init__(self, endpoint, onRequest, maxMessageSize=None):
        import zmq
        self._onRequest = onRequest
        self.socket = Socket(zmq.ROUTER, self._received,
                             maxMessageSize=maxMessageSize).bind(endpoint)
        self.endpoint = self.socket.endpoint

    def _received(self, frames):
        envelope, body = splitEnvelope(frames)
        answered = []

        def reply(answer):
            if not answered:
                answered.append(True)
                self.socket.send(envelope + list(answer))
        self._onRequest(body, reply)

    def close(self):
        self.socket.close()


def bindRouter(endpoint, onMessage, highWaterMark=None):
    """
    A ROUTER bound at C{endpoint}; C{onMessage(frames)} gets the peer's
    identity first. Answer with C{socket.send(envelope + frames)}.
    """
    import zmq
    return Socket(zmq.ROUTER, onMessage, highWaterMark).bind(endpoint)


def bindPull(endpoint, onMessage, highWaterMark=None):
    """
    A PULL bound at C{endpoint}.
    """
    import zmq
    return Socket(zmq.PULL, onMessage, highWaterMark).bind(endpoint)


def bindPublisher(endpoint):
    """
    A PUB bound at C{endpoint}: C{send(frames)} publishes.
    """
    import zmq
    return Socket(zmq.PUB).bind(endpoint)


def connectSubscriber(endpoint, onMessage, subscriptions=(b"",)):
    """
    A SUB connecting to a publisher at C{endpoint}, subscribed to each of
    C{subscriptions} (prefixes; C{b""} is everything).
    """
    import zmq
    return Socket(zmq.SUB, onMessage,
                  subscriptions=subscriptions).connect(endpoint)


def bindReply(endpoint, onRequest, maxMessageSize=None):
    """
    A L{ReplySocket} bound at C{endpoint} (messages up to
    C{maxMessageSize} bytes, when given).
    """
    return ReplySocket(endpoint, onRequest, maxMessageSize)
