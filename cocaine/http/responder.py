# -*- test-case-name: tests.http.test_server -*-
"""
The answer to one request: L{Responder} frames a response on the
connection (Content-Length, chunked or close-delimited), and the bytes the
server writes itself (status lines, its own error responses).
"""

from http import HTTPStatus

from twisted.logger import Logger

from cocaine.rpc import writes

log = Logger()

#: The status line of every code the standard library knows.
STATUS_LINES = {
    int(status): b"HTTP/1.1 %d %s\r\n" % (int(status),
                                          status.phrase.encode("ascii"))
    for status in HTTPStatus}

CRLF = b"\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
CHUNKED = b"Transfer-Encoding: chunked\r\n"
CLOSE = b"Connection: close\r\n"
KEEP_ALIVE = b"Connection: keep-alive\r\n"
LAST_CHUNK = b"0\r\n\r\n"
GENERATED = b"X-Error-Generated-By: cocaine\r\n"
TEXT = b"Content-Type: text/plain; charset=utf-8\r\n"

#: Headers about the connection rather than the response: the server
#: writes its own, those of a handler are dropped.
HOP_BY_HOP = frozenset([b"connection", b"keep-alive", b"transfer-encoding",
                        b"te", b"trailer", b"upgrade", b"proxy-connection"])

#: How a response's body is delimited.
NO_BODY, LENGTH, CHUNKS, UNTIL_CLOSE = range(4)


def statusLine(code):
    """
    @return: the status line of C{code}, L{bytes} with its CRLF.
    """
    line = STATUS_LINES.get(code)
    if line is None:
        if not 100 <= code <= 999:
            raise ValueError("not an HTTP status code: {!r}".format(code))
        line = b"HTTP/1.1 %d Unknown\r\n" % (code,)
    return line


def errorResponse(code, message, date, server=b"", body=True):
    """
    A whole response the server makes itself: a short text saying what was
    wrong, C{X-Error-Generated-By: cocaine} and C{Connection: close}.

    @param message: L{str}, one line.
    @param date: the C{Date} header line.
    @param server: the C{Server} header line, or empty.
    @param body: false for the answer to a HEAD request.
    @return: L{bytes}.
    """
    text = message.encode("utf-8") + b"\n"
    return b"".join([
        statusLine(code), date, server, TEXT,
        b"Content-Length: %d\r\n" % (len(text),), GENERATED, CLOSE, CRLF,
        text if body else b""])


class Responder:
    """
    Writes the response to one request; the server makes one per request and
    hands it to the handler with the request.

    The server adds C{Date} (unless the handler gave one), C{Server} when
    it has a name and C{Connection} as needed; it drops hop-by-hop headers
    the handler gives (L{HOP_BY_HOP}) and frames the body itself: with the
    handler's C{Content-Length} when there is one, chunked otherwise on
    HTTP/1.1, until the connection closes on HTTP/1.0. A HEAD request, a
    1xx, 204 or 304 never gets a body.

    Once the client has gone, every call is silently ignored.

    @ivar headWritten: whether L{writeHead} (or L{respond}) was called.
    @ivar finished: whether the response is complete (L{finish}, L{respond}
        or L{abort}).
    """

    __slots__ = ("_channel", "_keepAlive", "_http11", "_isHead", "_mode",
                 "_remaining", "_lost", "_lostCallbacks", "headWritten",
                 "finished")

    def __init__(self, channel, request):
        """
        @param channel: the connection's L{HTTPChannel
            <cocaine.http.server.HTTPChannel>}.
        @param request: the L{HTTPRequest
            <cocaine.http.request.HTTPRequest>} to answer.
        """
        self._channel = channel
        self._keepAlive = request.keepAlive
        self._http11 = request.version == b"1.1"
        self._isHead = request.method == b"HEAD"
        self._mode = NO_BODY
        self._remaining = 0
        self._lost = False
        self._lostCallbacks = None
        self.headWritten = False
        self.finished = False

    def _head(self, code, headers, bodyLength=None):
        """
        The response head, with the body's framing decided.

        @param bodyLength: the length of the whole body when it is known
            (L{respond}): used when the headers carry no Content-Length.
        """
        if self.headWritten:
            raise RuntimeError("the response head was already written")
        self.headWritten = True
        channel = self._channel
        lines = [statusLine(code)]
        keepAlive = self._keepAlive
        noBody = self._isHead or code < 200 or code == 204 or code == 304
        check = None if noBody else bodyLength
        length = None
        hasDate = False
        for name, value in headers:
            if (b"\n" in value or b"\r" in value or b"\n" in name
                    or b"\r" in name or b":" in name):
                log.debug("dropped a malformed response header {name!r}",
                          name=name)
                continue
            lower = name.lower()
            if lower in HOP_BY_HOP:
                if lower == b"connection" and b"close" in value.lower():
                    keepAlive = False
                continue
            if lower == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                if length < 0 or (check is not None and length != check):
                    log.debug("dropped a wrong Content-Length {value!r}",
                              value=value)
                    length = None
                    continue
            elif lower == b"date":
                hasDate = True
            lines += (name, b": ", value, CRLF)
        if noBody:
            self._mode = NO_BODY
            if self._isHead and length is None and bodyLength:
                lines.append(b"Content-Length: %d\r\n" % (bodyLength,))
        elif length is not None:
            self._mode = LENGTH
            self._remaining = length
        elif bodyLength is not None:
            self._mode = LENGTH
            self._remaining = bodyLength
            lines.append(b"Content-Length: %d\r\n" % (bodyLength,))
        elif self._http11:
            self._mode = CHUNKS
            lines.append(CHUNKED)
        else:
            self._mode = UNTIL_CLOSE
            keepAlive = False
        if not hasDate:
            lines.append(channel.factory.dateLine())
        server = channel.factory.serverLine
        if server:
            lines.append(server)
        if not keepAlive:
            lines.append(CLOSE)
        elif not self._http11:
            lines.append(KEEP_ALIVE)
        lines.append(CRLF)
        self._keepAlive = keepAlive
        return b"".join(lines)

    def writeHead(self, code, headers):
        """
        Write the status line and the headers; once.

        @param code: the status code, L{int}.
        @param headers: C{[(name, value)]}, L{bytes}.
        """
        if self._lost or self.finished:
            return
        writes.write(self._channel.transport,
                     self._head(code, headers))

    def _frame(self, data):
        mode = self._mode
        if mode == CHUNKS:
            return b"%x\r\n%s\r\n" % (len(data), data)
        if mode == LENGTH:
            remaining = self._remaining
            if len(data) > remaining:
                log.debug("dropped {extra} bytes beyond the Content-Length",
                          extra=len(data) - remaining)
                data = data[:remaining]
            self._remaining = remaining - len(data)
            return data
        if mode == UNTIL_CLOSE:
            return data
        return b""

    def write(self, data):
        """
        Write a chunk of the body (after L{writeHead}).

        @type data: L{bytes}
        """
        if self._lost or self.finished or not data:
            return
        if not self.headWritten:
            raise RuntimeError("write() before writeHead()")
        data = self._frame(data)
        if data:
            channel = self._channel
            if channel._writeFull and not channel._backlogged(len(data)):
                return
            writes.write(channel.transport, data)

    def finish(self):
        """
        The response is complete.
        """
        if self._lost or self.finished:
            return
        if not self.headWritten:
            raise RuntimeError("finish() before writeHead()")
        if self._mode == CHUNKS:
            writes.write(self._channel.transport, LAST_CHUNK)
        elif self._mode == LENGTH and self._remaining:
            log.debug("a response ended {missing} bytes short of its "
                      "Content-Length", missing=self._remaining)
            self._keepAlive = False
        self.finished = True
        self._channel._responseFinished(self, self._keepAlive)

    def respond(self, code, headers, body=b""):
        """
        The whole response at once, in one write: L{writeHead}, L{write}
        and L{finish} together. A Content-Length is added when the headers
        carry none.
        """
        if self._lost or self.finished:
            return
        head = self._head(code, headers, len(body))
        data = self._frame(body) if body else b""
        writes.write(self._channel.transport,
                     head + data if data else head)
        self.finished = True
        self._channel._responseFinished(self, self._keepAlive)

    def abort(self):
        """
        The response cannot be completed: close the connection without a
        proper end, so that the client sees it was cut short.
        """
        if self._lost or self.finished:
            return
        self.finished = True
        self._channel._responseFinished(self, False)

    def notifyLost(self, callback):
        """
        Call C{callback()} once if the client goes away before the response
        is finished (at once if it already has).
        """
        if self._lost:
            callback()
        elif not self.finished:
            if self._lostCallbacks is None:
                self._lostCallbacks = []
            self._lostCallbacks.append(callback)

    def _connectionLost(self):
        if self._lost or self.finished:
            return
        self._lost = True
        callbacks, self._lostCallbacks = self._lostCallbacks or (), None
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.failure("a notifyLost callback failed")

    @property
    def writable(self):
        """
        Whether the client takes what it is sent: false while the
        connection's write buffer is full.
        """
        return not self._channel._writeFull

    def whenWritable(self, callback):
        """
        Call C{callback()} once the client has read what waited for it (at
        once when nothing does); never if the response is over or the
        connection drops first.
        """
        if not (self._lost or self.finished):
            self._channel.whenWritable(callback)

    def registerProducer(self, producer, streaming):
        """
        Let the connection pause and resume C{producer} as the client reads
        (L{twisted.internet.interfaces.IConsumer}); it is unregistered when
        the response finishes.
        """
        if self._lost or self.finished:
            return
        self._channel._registerProducer(producer, streaming)

    def unregisterProducer(self):
        """
        Stop telling the producer given to L{registerProducer}.
        """
        self._channel._unregisterProducer()
