"""
The HTTP server of L{cocaine.http.server} on a real loopback socket with the
real reactor: keep-alive, pipelining and a chunked echo, spoken to by a raw
client.
"""

import re

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from cocaine.http.server import HTTPFactory

_DATE = re.compile(rb"Date: [^\r]*\r\n")


class ChunkedEcho:
    """
    Answers with the request's body, in chunks of at most 3 bytes, and its
    target in a header.
    """

    def handleRequest(self, request, responder):
        responder.writeHead(200, [(b"X-Target", request.target)])
        body = request.body
        for i in range(0, len(body), 3):
            responder.write(body[i:i + 3])
        responder.finish()


def answer(target, body):
    """
    L{ChunkedEcho}'s answer, without its Date header.
    """
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 3]), body[i:i + 3])
                      for i in range(0, len(body), 3))
    return (b"HTTP/1.1 200 OK\r\nX-Target: " + target + b"\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")


class RawClient(Protocol):
    """
    Collects what the server sends, its Date headers taken out.
    """

    def __init__(self):
        self.received = b""
        self.lost = Deferred()
        self._waiting = None

    def dataReceived(self, data):
        self.received += data
        self._check()

    def connectionLost(self, reason):
        self.lost.callback(None)

    def receive(self, expected):
        """
        @return: a Deferred firing with what was received (without Date)
            once it is as long as C{expected}.
        """
        self._waiting = (len(expected), Deferred())
        waiting = self._waiting[1]
        self._check()
        return waiting

    def _check(self):
        if self._waiting is None:
            return
        length, waiting = self._waiting
        stripped = _DATE.sub(b"", self.received)
        if len(stripped) >= length:
            self._waiting = None
            self.received = b""
            waiting.callback(stripped)


class HTTPServerTests(TestCase):
    """
    A real listening port.
    """

    timeout = 20

    def setUp(self):
        self.factory = HTTPFactory(reactor, ChunkedEcho())
        self.port = reactor.listenTCP(0, self.factory, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)

    async def connect(self):
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1",
                                      self.port.getHost().port)
        client = await connectProtocol(endpoint, RawClient())
        self.addCleanup(
            lambda: Deferred.fromCoroutine(self.closed(client)))
        return client

    async def closed(self, client):
        client.transport.loseConnection()
        await client.lost
        for _ in range(100):
            if self.factory.connections == 0:
                return
            await deferLater(reactor, 0.01, lambda: None)
        self.fail("the server kept its connections")

    async def test_keepAlive(self):
        client = await self.connect()
        for i in range(3):
            target = b"/k/%d" % (i,)
            client.transport.write(b"POST " + target + b" HTTP/1.1\r\n"
                                   b"Content-Length: 7\r\n\r\nhello %d"
                                   % (i,))
            expected = answer(target, b"hello %d" % (i,))
            self.assertEqual(await client.receive(expected), expected)
        self.assertEqual(self.factory.connections, 1)

    async def test_pipelining(self):
        client = await self.connect()
        client.transport.write(
            b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
            b"POST /2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4\r\nchun\r\n3\r\nked\r\n0\r\n\r\n"
            b"POST /3 HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789")
        expected = (answer(b"/1", b"") + answer(b"/2", b"chunked")
                    + answer(b"/3", b"0123456789"))
        self.assertEqual(await client.receive(expected), expected)

    async def test_close(self):
        client = await self.connect()
        client.transport.write(b"GET /c HTTP/1.1\r\nConnection: close\r\n"
                               b"\r\n")
        await client.lost
        self.assertEqual(
            _DATE.sub(b"", client.received),
            b"HTTP/1.1 200 OK\r\nX-Target: /c\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"0\r\n\r\n")
