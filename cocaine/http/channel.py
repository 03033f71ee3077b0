# -*- test-case-name: tests.http.test_server -*-
"""
One HTTP connection of the server (L{cocaine.http.server}).

A connection goes through three phases, following the parser: C{IDLE}
(between requests), C{HEAD} (a request begun, its headers not all read),
C{BODY} (its body being read). They are an attribute set by the parser's
callbacks rather than an Automat machine: a machine input per callback
would double the Python work of a request. One timer per connection,
re-armed lazily (a deadline attribute; the timer only moves when it fires
early or must fire sooner), enforces the header timeout (from the first
byte of a request, or from the connection for the first), the body timeout
(between reads of the body) and the idle timeout (between a response and
the next request); none runs while a response is outstanding.

Requests are parsed as they arrive and queued; the handler gets the next
only when the previous response finished, so pipelined requests are
answered in order. Reading pauses when L{PIPELINE_DEPTH} requests wait, and
while the transport's write buffer is full (the connection is the
transport's producer, and passes pause and resume on to the producer a
handler registers on its L{Responder}).

A client that does not read cannot make the server buffer without bound
(a handler without a producer, as the gateway, cannot be paused: its app
writes on): while the write buffer is full, the bytes of the response
written meanwhile are counted, and past the factory's C{maxBuffer}, or
when the buffer stays full for C{sendTimeout} seconds, the connection is
aborted (its buffer dropped), which tells the handler the client went
away. The server's own error responses
(400, 408, 413, 431, 505, 503) take their turn in the same queue, then the
connection closes.
"""

from collections import deque

from httptools import (HttpParserCallbackError, HttpParserError,
                       HttpParserUpgrade, HttpRequestParser)
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.http.request import HTTPRequest
from cocaine.http.responder import CONTINUE, Responder, errorResponse
from cocaine.rpc import writes
from cocaine.rpc.flow import WritableWaiters

log = Logger()

#: The phases of a connection (see the module's docstring).
IDLE, HEAD, BODY = range(3)

#: The versions we serve, as llhttp names them.
VERSIONS = {"1.1": b"1.1", "1.0": b"1.0"}

#: How many complete requests may wait behind the one being answered
#: before the connection stops reading.
PIPELINE_DEPTH = 8

_INTERNAL_ERROR = [(b"Content-Type", b"text/plain; charset=utf-8"),
                   (b"X-Error-Generated-By", b"cocaine")]


class _Abort(Exception):
    """
    Raised in a parser callback to stop parsing: an error response is
    queued.
    """


class _ServerError:
    """
    An error response the server owes, queued in turn with the requests.
    """

    __slots__ = ("code", "message", "method")

    def __init__(self, code, message, method):
        self.code = code
        self.message = message
        self.method = method


@implementer(IPushProducer)
class HTTPChannel(Protocol):
    """
    One HTTP connection. The parser calls its C{on_*} methods.

    @ivar peer: C{(host, port)} of the client.
    """

    def __init__(self, factory, reactor):
        self.factory = factory
        self._reactor = reactor
        self.peer = ("", 0)
        self._parser = None
        self._phase = IDLE
        self._url = b""
        self._headers = None
        self._body = None
        self._bodySize = 0
        self._headSize = 0
        self._headFed = 0
        self._completed = 0
        self._method = None
        self._version = None
        self._keepAlive = True
        self._expect = False
        self._pendingContinue = False
        self._queue = deque()
        self._active = None
        self._pumping = False
        self._broken = False
        self._closing = False
        self._writeFull = False
        self._writable = WritableWaiters(log, "a writable callback failed")
        self._readingStopped = False
        self._producer = None
        self._streaming = True
        self._timer = None
        self._timerAt = 0.0
        self._deadline = None
        self._deadlineKind = IDLE
        self._backlog = 0
        self._pausedAt = 0.0
        self._sendTimer = None
        self._stalled = False

    # -- the connection

    def connectionMade(self):
        factory = self.factory
        factory.connections += 1
        peer = self.transport.getPeer()
        self.peer = (getattr(peer, "host", ""), getattr(peer, "port", 0))
        if factory.connections > factory.maxConnections:
            log.debug("HTTP connection from {peer} refused: {connections} "
                      "open", peer=self.peer,
                      connections=factory.connections)
            self._closing = True
            writes.write(self.transport, errorResponse(
                503, "too many connections", factory.dateLine(),
                factory.serverLine))
            self.transport.loseConnection()
            return
        try:
            self.transport.setTcpNoDelay(True)
        except (AttributeError, OSError):
            pass
        self._parser = HttpRequestParser(self)
        self.transport.registerProducer(self, True)
        self._arm(HEAD, factory.headerTimeout)
        log.debug("HTTP connection from {peer}", peer=self.peer)

    def dataReceived(self, data):
        if self._broken or self._closing:
            return
        if self.factory.holdWrites:
            writes.holdForTurn(self._reactor)
        phase = self._phase
        completed = self._completed
        parser = self._parser
        while True:
            try:
                parser.feed_data(data)
            except HttpParserUpgrade as e:
                # We switch to no other protocol: the request was a plain
                # one; a fresh parser reads on from where this one stopped.
                self._parser = parser = HttpRequestParser(self)
                data = data[e.args[0]:]
                if data and not self._broken:
                    continue
            except HttpParserCallbackError:
                if not self._broken:
                    log.failure("HTTP parser callback failed")
                    self._error(500, "internal server error")
            except HttpParserError as e:
                message = str(e.args[0]) if e.args else "malformed"
                if "version" in message.lower():
                    self._error(505, "HTTP version not supported")
                else:
                    self._error(400, "bad request: " + message)
            break
        if (self._phase == HEAD and phase != BODY
                and self._completed == completed and not self._broken):
            # A head arriving in pieces: bound what the parser buffers of
            # a line it has not finished.
            self._headFed += len(data)
            if self._headFed > self.factory.maxHeaderBytes:
                self._error(431, "request headers too large")
        self._pump()

    def connectionLost(self, reason):
        self.factory.connections -= 1
        self._closing = True
        self._deadline = None
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()
        timer, self._sendTimer = self._sendTimer, None
        if timer is not None and timer.active():
            timer.cancel()
        self._queue.clear()
        self._writable.clear()
        active, self._active = self._active, None
        self._producer = None
        if active is not None:
            active._connectionLost()
        log.debug("HTTP connection from {peer} closed", peer=self.peer)

    # -- the parser's callbacks

    def on_message_begin(self):
        self._phase = HEAD
        self._url = b""
        self._headers = []
        self._body = []
        self._bodySize = self._headSize = self._headFed = 0
        self._expect = False

    def on_url(self, url):
        self._url += url
        self._headSize += len(url)
        if self._headSize > self.factory.maxHeaderBytes:
            self._error(431, "request line too long")
            raise _Abort()

    def on_header(self, name, value):
        size = self._headSize + len(name) + len(value) + 4
        self._headSize = size
        if size > self.factory.maxHeaderBytes:
            self._error(431, "request headers too large")
            raise _Abort()
        if self._phase == BODY:
            return      # a trailer after a chunked body: dropped
        self._headers.append((name, value))
        length = len(name)
        if length == 14 and name.lower() == b"content-length":
            if int(value) > self.factory.maxBody:
                self._error(413, "request body too large")
                raise _Abort()
        elif length == 6 and name.lower() == b"expect":
            self._expect = value.lower() == b"100-continue"

    def on_headers_complete(self):
        parser = self._parser
        version = VERSIONS.get(parser.get_http_version())
        if version is None:
            self._error(505, "HTTP version not supported")
            raise _Abort()
        self._version = version
        self._method = parser.get_method()
        self._keepAlive = parser.should_keep_alive()
        self._phase = BODY
        if self._expect and version == b"1.1":
            if self._active is None and not self._queue:
                writes.write(self.transport, CONTINUE)
            else:
                self._pendingContinue = True

    def on_body(self, body):
        size = self._bodySize + len(body)
        if size > self.factory.maxBody:
            self._error(413, "request body too large")
            raise _Abort()
        self._bodySize = size
        self._body.append(body)

    def on_message_complete(self):
        self._phase = IDLE
        self._completed += 1
        self._pendingContinue = False
        body = self._body
        self._queue.append(HTTPRequest(
            self._method, self._url, self._version, self._headers,
            body[0] if len(body) == 1 else b"".join(body), self.peer,
            self._keepAlive))
        if len(self._queue) >= PIPELINE_DEPTH:
            self._updateReading()

    # -- answering in turn

    def _pump(self):
        """
        Hand the next request to the handler (or write the next error
        response) while no response is outstanding; then set the timer for
        what the connection waits for.
        """
        if self._pumping:
            return
        self._pumping = True
        queue = self._queue
        try:
            while self._active is None and queue and not self._closing:
                item = queue.popleft()
                if type(item) is HTTPRequest:
                    self._dispatch(item)
                else:
                    self._sendError(item)
        finally:
            self._pumping = False
        if self._closing:
            return
        if self._active is not None:
            self._deadline = None
        else:
            factory = self.factory
            phase = self._phase
            if phase == IDLE:
                self._arm(IDLE, factory.idleTimeout)
            elif phase == HEAD:
                if self._deadline is None or self._deadlineKind != HEAD:
                    self._arm(HEAD, factory.headerTimeout)
            else:
                if self._pendingContinue:
                    self._pendingContinue = False
                    writes.write(self.transport, CONTINUE)
                self._arm(BODY, factory.bodyTimeout)
        if self._readingStopped or len(queue) >= PIPELINE_DEPTH:
            self._updateReading()

    def _dispatch(self, request):
        responder = Responder(self, request)
        self._active = responder
        try:
            self.factory.handler.handleRequest(request, responder)
        except Exception:
            log.failure("the HTTP handler failed on {method} {target}",
                        method=request.method, target=request.target)
            if responder.headWritten:
                responder.abort()
            else:
                responder.respond(500, _INTERNAL_ERROR,
                                  b"internal server error\n")

    def _responseFinished(self, responder, keepAlive):
        """
        Called by the active L{Responder} when its response is complete (or
        aborted: C{keepAlive} false).
        """
        if responder is not self._active:
            return
        self._active = None
        if self._producer is not None:
            self._unregisterProducer()
        if not keepAlive:
            self._closing = True
            self._closeWhenSent()
            return
        self._pump()

    def _closeWhenSent(self):
        """
        Close the connection once what was written has been sent. The
        connection stops being the transport's producer first: were it
        paused when the buffer drains, Twisted would resume it instead of
        closing, and the connection would stay open for good (a client
        reading to the end of an HTTP/1.0 or C{Connection: close} response
        waited for ever).
        """
        self.transport.unregisterProducer()
        self.transport.loseConnection()

    def _error(self, code, message):
        """
        Stop reading and queue the error response C{code}.
        """
        if self._broken:
            return
        self._broken = True
        log.debug("HTTP {code} to {peer}: {message}", code=code,
                  peer=self.peer, message=message)
        method = self._method if self._phase == BODY else None
        self._queue.append(_ServerError(code, message, method))
        self._updateReading()

    def _sendError(self, error):
        factory = self.factory
        self._closing = True
        writes.write(self.transport, errorResponse(
            error.code, error.message, factory.dateLine(),
            factory.serverLine, body=error.method != b"HEAD"))
        self._closeWhenSent()

    # -- the timer

    def _arm(self, kind, seconds):
        """
        Set the deadline of the connection's one timer.

        @param seconds: from now; L{None} for none.
        """
        if seconds is None:
            self._deadline = None
            return
        when = self._reactor.seconds() + seconds
        self._deadline = when
        self._deadlineKind = kind
        timer = self._timer
        if timer is None:
            self._timer = self._reactor.callLater(seconds, self._expired)
            self._timerAt = when
        elif self._timerAt > when:
            timer.reset(seconds)
            self._timerAt = when

    def _expired(self):
        self._timer = None
        deadline = self._deadline
        if deadline is None or self._closing:
            return
        now = self._reactor.seconds()
        if now < deadline:
            self._timer = self._reactor.callLater(deadline - now,
                                                  self._expired)
            self._timerAt = deadline
            return
        self._deadline = None
        if self._deadlineKind == IDLE or self._phase == IDLE:
            log.debug("HTTP connection from {peer} idle: closing",
                      peer=self.peer)
            self._closing = True
            self._closeWhenSent()
        elif self._phase == HEAD:
            self._error(408, "request headers not received in time")
            self._pump()
        else:
            self._error(408, "request body not received in time")
            self._pump()

    # -- flow control

    def _updateReading(self):
        stop = (self._broken or self._writeFull
                or len(self._queue) >= PIPELINE_DEPTH)
        if stop != self._readingStopped:
            self._readingStopped = stop
            if stop:
                self.transport.pauseProducing()
            elif not self._closing:
                self.transport.resumeProducing()

    def pauseProducing(self):
        """
        The transport's write buffer is full: stop reading requests and
        pause the response's producer.
        """
        if not self._writeFull:
            self._writeFull = True
            self._backlog = 0
            self._pausedAt = self._reactor.seconds()
            timeout = self.factory.sendTimeout
            if self._sendTimer is None and timeout is not None:
                self._sendTimer = self._reactor.callLater(
                    timeout, self._sendExpired)
        self._updateReading()
        if self._producer is not None and self._streaming:
            self._producer.pauseProducing()

    def resumeProducing(self):
        """
        The transport's write buffer drained.
        """
        self._writeFull = False
        self._updateReading()
        if self._producer is not None and self._streaming:
            self._producer.resumeProducing()
        self._writable.fire(lambda: not self._writeFull)

    def whenWritable(self, callback):
        """
        Call C{callback()} once the client has read what waited for it (at
        once when nothing does); forgotten if the connection drops first.
        """
        self._writable.add(self._writeFull, callback)

    def stopProducing(self):
        """
        The connection is gone.
        """
        producer, self._producer = self._producer, None
        if producer is not None and self._streaming:
            producer.stopProducing()

    # -- clients that do not read

    def _backlogged(self, size):
        """
        The response writes C{size} more bytes while the write buffer is
        full.

        @return: whether to write them: false once the connection was cut.
        """
        if self._stalled:
            return False
        backlog = self._backlog + size
        self._backlog = backlog
        if backlog > self.factory.maxBuffer:
            self._stall("more than {} bytes waiting for it".format(
                self.factory.maxBuffer))
            return False
        return True

    def _sendExpired(self):
        self._sendTimer = None
        if not self._writeFull or self._stalled:
            return
        timeout = self.factory.sendTimeout
        left = self._pausedAt + timeout - self._reactor.seconds()
        if left > 0:
            self._sendTimer = self._reactor.callLater(left,
                                                      self._sendExpired)
            return
        self._stall("its write buffer full for {:g} s".format(timeout))

    def _stall(self, reason):
        """
        Abort the connection of a client that does not read: what it was
        sent is dropped and the handler learns it went away.
        """
        self._stalled = True
        self._closing = True
        log.info("HTTP client {peer} does not read ({reason}): connection "
                 "aborted", peer=self.peer, reason=reason)
        transport = self.transport
        abort = getattr(transport, "abortConnection", None)
        if abort is not None:
            abort()
        else:
            transport.loseConnection()

    def _registerProducer(self, producer, streaming):
        if self._producer is not None:
            raise RuntimeError("a producer is already registered")
        self._producer = producer
        self._streaming = streaming
        if streaming:
            if self._writeFull:
                producer.pauseProducing()
        else:
            # A pull producer is driven by the transport itself.
            self.transport.unregisterProducer()
            self.transport.registerProducer(producer, False)

    def _unregisterProducer(self):
        if self._producer is None:
            return
        self._producer = None
        if not self._streaming:
            self._streaming = True
            self.transport.unregisterProducer()
            self._writeFull = False
            if not self._closing:
                self.transport.registerProducer(self, True)
