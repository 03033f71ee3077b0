# -*- test-case-name: tests.driver.test_sockets -*-
"""
Socket server drivers: jobs from TCP clients.

  - C{native-server} C{{endpoint}}: our msgpack framing. The endpoint
    serves one protocol, L{NATIVE}: C{invoke(request)} is a job with
    C{request} as its one chunk, answered with the worker's chunks
    (C{write}), then C{close}, or C{error}. Any of our clients can call it:
    it is declared like every other service.
  - C{native-sink} C{{endpoint}}: the same without replies (C{push} is
    mute).
  - C{raw-socket-server} C{{endpoint, framing?}}: plain bytes. C{framing}
    says what one request is: C{close} (everything until the client shuts
    its sending side; the reply is written and the connection closed),
    C{line} (each line, without its newline; the reply follows, then a
    newline), or C{length-prefixed} (a 4-byte big-endian length, then that
    many bytes; the reply comes back framed the same way). An error is
    answered with the text C{error: <message>} framed like a reply.

C{endpoint} is C{tcp://HOST:PORT} (port 0: the OS picks one; the driver's
info tells which). A port that is taken fails the app's start.
"""

import struct

from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from zope.interface import implementer

from cocaine.driver.base import Driver
from cocaine.errors import DriverError
from cocaine.protocol.idl import Arg, MUTE, Message, STREAMING
from cocaine.protocol.idl import Protocol as Declaration
from cocaine.rpc.hosting import HostedService, ServerFactory

#: What a native-server or native-sink endpoint speaks.
NATIVE = Declaration("native", [
    Message("invoke", [Arg("request", "bytes")], upstream=STREAMING),
    Message("push", [Arg("request", "bytes")], upstream=MUTE),
])

FRAMINGS = ("close", "line", "length-prefixed")
MAX_REQUEST = 64 * 1024 * 1024


def parseEndpoint(path, args):
    """
    @return: C{(host, port)} from C{tcp://HOST:PORT}.
    @raise DriverError: naming the argument.
    """
    endpoint = args.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith("tcp://"):
        raise DriverError("{}.endpoint: must be tcp://HOST:PORT, got {!r}"
                          .format(path, endpoint))
    host, _, port = endpoint[len("tcp://"):].rpartition(":")
    host = host.strip("[]")
    try:
        port = int(port)
    except ValueError:
        port = -1
    if not host or not 0 <= port <= 65535:
        raise DriverError("{}.endpoint: must be tcp://HOST:PORT, got {!r}"
                          .format(path, endpoint))
    return host, port


class _Listening(Driver):
    """
    A driver that listens on a TCP endpoint.
    """

    def __init__(self, context, name, args):
        Driver.__init__(self, context, name, args)
        self.host, self.port = parseEndpoint("drivers." + name, args)
        self._port = None
        self.clients = set()

    def factory(self):
        raise NotImplementedError()

    def start(self):
        try:
            self._port = self.context.reactor.listenTCP(
                self.port, self.factory(), interface=self.host)
        except CannotListenError as e:
            raise DriverError("cannot listen on tcp://{}:{}: {}".format(
                self.host, self.port, getattr(e.socketError, "strerror",
                                              None) or e))
        self.port = self._port.getHost().port

    def stop(self):
        for client in list(self.clients):
            client.transport.loseConnection()
        if self._port is not None:
            port, self._port = self._port, None
            return port.stopListening()

    def info(self):
        return dict(Driver.info(self), endpoint="tcp://{}:{}".format(
            self.host, self.port), clients=len(self.clients))


class _NativeService:
    protocol = NATIVE
    version = 1

    def __init__(self, driver):
        self.driver = driver

    def invoke(self, upstream, request):
        if not self.driver.replies:
            upstream.error(DriverError("this endpoint takes push only"))
            return
        d = self.driver.submit([request], onChunk=lambda chunk: upstream.send(
            "write", chunk))
        d.addCallbacks(lambda _: upstream.send("close"), upstream.error)

    def push(self, request):
        self.driver.submit([request]).addErrback(lambda _: None)


class NativeServer(_Listening):
    type = "native-server"
    replies = True

    def factory(self):
        self.hosted = HostedService("{}/{}".format(self.context.app,
                                                  self.name),
                                    _NativeService(self), NATIVE, 1)
        # the hosted service tracks its connections
        self.clients = self.hosted.connections
        return ServerFactory(self.hosted)


class NativeSink(NativeServer):
    type = "native-sink"
    replies = False


@implementer(IHalfCloseableProtocol)
class RawConnection(Protocol):
    """
    One client of a raw-socket-server.
    """

    def __init__(self, driver):
        self.driver = driver
        self.buffer = b""
        self.busy = False
        self.queue = []

    def connectionMade(self):
        self.driver.clients.add(self)

    def connectionLost(self, reason):
        self.driver.clients.discard(self)

    def dataReceived(self, data):
        framing = self.driver.framing
        self.buffer += data
        if len(self.buffer) > MAX_REQUEST:
            self.transport.write(b"error: request too large\n")
            self.transport.loseConnection()
            return
        if framing == "line":
            *lines, self.buffer = self.buffer.split(b"\n")
            for line in lines:
                self._request(line.rstrip(b"\r"))
        elif framing == "length-prefixed":
            while len(self.buffer) >= 4:
                (size,) = struct.unpack(">I", self.buffer[:4])
                if size > MAX_REQUEST:
                    self._reply(b"error: request too large")
                    self.transport.loseConnection()
                    return
                if len(self.buffer) < 4 + size:
                    break
                request, self.buffer = (self.buffer[4:4 + size],
                                        self.buffer[4 + size:])
                self._request(request)

    def readConnectionLost(self):
        if self.driver.framing == "close":
            request, self.buffer = self.buffer, b""
            self._request(request, closeAfter=True)

    def writeConnectionLost(self):
        pass

    def _request(self, request, closeAfter=False):
        # one job at a time per connection, replies in request order
        self.queue.append((request, closeAfter))
        if not self.busy:
            self._next()

    def _next(self):
        if not self.queue:
            self.busy = False
            return
        self.busy = True
        request, closeAfter = self.queue.pop(0)
        d = self.driver.submit([request])
        d.addCallbacks(lambda chunks: self._reply(b"".join(chunks)),
                       lambda f: self._reply(("error: " + f.getErrorMessage())
                                             .encode("utf-8", "replace")))
        if closeAfter:
            d.addBoth(lambda _: self.transport.loseConnection())
        d.addBoth(lambda _: self._next())

    def _reply(self, data):
        framing = self.driver.framing
        if framing == "line":
            data += b"\n"
        elif framing == "length-prefixed":
            data = struct.pack(">I", len(data)) + data
        self.transport.write(data)


class RawSocketServer(_Listening):
    type = "raw-socket-server"

    def __init__(self, context, name, args):
        _Listening.__init__(self, context, name, args)
        self.framing = args.get("framing", "close")
        if self.framing not in FRAMINGS:
            raise DriverError("drivers.{}.framing: must be one of {}, got "
                              "{!r}".format(name, ", ".join(FRAMINGS),
                                            self.framing))

    def factory(self):
        driver = self

        class RawFactory(Factory):
            noisy = False

            def buildProtocol(self, addr):
                return RawConnection(driver)
        return RawFactory()

    def info(self):
        return dict(_Listening.info(self), framing=self.framing)
