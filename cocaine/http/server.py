# -*- test-case-name: tests.http.test_server -*-
"""
The HTTP/1.1 server under the gateway: a Twisted protocol on the C parser
of C{httptools} (llhttp).

Why not C{twisted.web}: the gateway must answer at least half as many
requests a second as uWSGI does in front of the same apps (bench/ measures
it), and C{twisted.web}'s server spends most of a small request's time in
Python: it parses the head line by line in Python, builds a C{Request}
with dozens of attributes and C{Headers} objects per request, and resets a
timer on every read. Here llhttp parses; Python sees a few callbacks a
request, hands the handler a plain L{HTTPRequest} and a L{Responder}, and
writes each response head in one C{transport.write} (head and body in one
with L{Responder.respond}), with status lines and common headers
pre-encoded and the C{Date} header made at most once a second: about 8 us
of Python a small request, parsing and answering, without the reactor.

The connection itself is L{cocaine.http.channel.HTTPChannel}.
"""

from email.utils import formatdate

from twisted.internet.protocol import Factory

from cocaine.http.channel import HTTPChannel
from cocaine.http.request import HTTPRequest
from cocaine.http.responder import Responder

__all__ = ["HTTPRequest", "Responder", "HTTPChannel", "HTTPFactory"]


class HTTPFactory(Factory):
    """
    Makes an L{HTTPChannel} per connection and holds what they share.

    @ivar connections: how many connections are open now.
    @ivar serverLine: the C{Server} header line, or empty.
    """

    noisy = False

    def __init__(self, reactor, handler, maxBody=64 * 2**20,
                 maxHeaderBytes=64 * 1024, headerTimeout=10.0,
                 bodyTimeout=30.0, idleTimeout=60.0, maxConnections=1024,
                 serverName=None, maxBuffer=32 * 2**20, sendTimeout=60.0,
                 holdWrites=False):
        """
        @param handler: has C{handleRequest(request, responder)}, called
            once per complete request.
        @param maxBody: the largest request body, in bytes (413 beyond).
        @param maxHeaderBytes: the largest request head (request line and
            headers), in bytes (431 beyond); counted from the parsed
            fields, and from the bytes of a head still arriving.
        @param headerTimeout: seconds for a request's head to arrive.
        @param bodyTimeout: seconds between reads of a request's body.
        @param idleTimeout: seconds a keep-alive connection may wait for
            its next request.
        @param maxConnections: connections beyond this get a 503.
        @param serverName: the C{Server} header of every response, or
            L{None} for none.
        @param maxBuffer: the most bytes of a response written while the
            transport's write buffer is full (the client does not read)
            before the connection is aborted.
        @param sendTimeout: seconds the write buffer may stay full before
            the connection is aborted; L{None} for no limit.
        @param holdWrites: whether what is written while requests are read
            (to workers, to clients) waits for the end of the reactor's
            turn and leaves in one send per connection
            (L{cocaine.rpc.writes.holdForTurn}); the gateway does, for
            the workers' sake. Off, a test drives the server without
            turning the clock.
        """
        self.reactor = reactor
        self.handler = handler
        self.maxBody = maxBody
        self.maxHeaderBytes = maxHeaderBytes
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.maxBuffer = maxBuffer
        self.sendTimeout = sendTimeout
        self.holdWrites = holdWrites
        if isinstance(serverName, str):
            serverName = serverName.encode("ascii")
        self.serverLine = (b"Server: " + serverName + b"\r\n"
                           if serverName else b"")
        self.connections = 0
        self._dateAt = None
        self._dateLine = b""

    def buildProtocol(self, addr):
        return HTTPChannel(self, self.reactor)

    def dateLine(self):
        """
        The C{Date} header line, made again at most once a second.
        """
        now = int(self.reactor.seconds())
        if now != self._dateAt:
            self._dateAt = now
            self._dateLine = b"Date: %s\r\n" % (
                formatdate(now, usegmt=True).encode("ascii"),)
        return self._dateLine
