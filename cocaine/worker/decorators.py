# -*- test-case-name: tests.worker.test_decorators -*-
"""
The HTTP convention (PROTOCOL.md section 8): an event served over HTTP gets
the request as a msgpack array in its first chunk and answers with a status
line chunk, then body chunks.
"""

import functools
import inspect

import msgpack

from cocaine.protocol.worker import text


class HTTPRequest:
    """
    An HTTP request, as decoded from a session's first chunk
    C{[method, uri, http_version, [[name, value], ...], body]}.

    @ivar method: the method, e.g. C{"GET"}.
    @ivar uri: the request target as sent, path and query string.
    @ivar path: the path part of C{uri}, not unquoted.
    @ivar query: the query string parsed into a L{dict} of L{list}s of
        L{str}, blank values kept.
    @ivar version: the HTTP version, e.g. C{"1.1"}.
    @ivar headers: a L{list} of C{(name, value)} L{str} pairs, in order.
    @ivar body: the body sent with the first chunk (L{bytes}).
    @ivar stream: the session's L{cocaine.worker.Request}: any further body
        chunks are read from it (or with L{read}).
    """

    def __init__(self, method, uri, version, headers, body, stream=None):
        from urllib.parse import parse_qs, urlsplit
        self.method = method
        self.uri = uri
        self.version = version
        self.headers = headers
        self.body = body
        self.stream = stream
        parts = urlsplit(uri)
        self.path = parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)

    @classmethod
    def fromChunk(cls, chunk, stream=None):
        """
        Decode a session's first chunk.

        @param chunk: the msgpack bytes of C{[method, uri, http_version,
            [[name, value], ...], body]}; strings may be packed as str or
            bin.
        @param stream: the request stream the chunk came from.
        @raise ValueError: C{chunk} is not such an array.
        """
        if not isinstance(chunk, (bytes, bytearray)):
            raise ValueError("the first chunk of an HTTP request must be "
                             "msgpack bytes, not {}".format(
                                 type(chunk).__name__))
        try:
            value = msgpack.unpackb(chunk, raw=True, strict_map_key=False)
            method, uri, version, headers, body = value[:5]
            headers = [(text(name), text(header))
                       for name, header in headers]
        except Exception as error:
            raise ValueError("malformed HTTP request chunk ({}: {})".format(
                type(error).__name__, error))
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif body is None:
            body = b""
        elif not isinstance(body, bytes):
            raise ValueError("malformed HTTP request chunk (body is {})"
                             .format(type(body).__name__))
        return cls(text(method), text(uri), text(version), headers, body,
                   stream)

    def header(self, name, default=None):
        """
        @return: the value of the first header called C{name} (compared
            case-insensitively), or C{default}.
        """
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default

    async def read(self, timeout=None):
        """
        Read the next raw chunk of the request stream (body chunks sent
        after the first); see L{cocaine.worker.Request.read}.
        """
        return await self.stream.read(timeout)


class HTTPResponse:
    """
    The response side of an HTTP session: L{write_head} (or L{writeHead})
    sends the status and headers as the first chunk C{[status, [[name,
    value], ...]]}; L{write} sends body chunks, sending a C{200} head with
    no headers first if none was written.

    @ivar stream: the session's L{cocaine.worker.Response}.
    """

    def __init__(self, stream):
        self.stream = stream
        self.headSent = False

    @property
    def closed(self):
        """
        L{True} once the response was closed or failed.
        """
        return self.stream.closed

    def write_head(self, status, headers=()):
        """
        Send the status and headers.

        @param status: the HTTP status code.
        @param headers: C{(name, value)} pairs or a mapping; names and
            values are sent as text.
        @raise RuntimeError: the head was already sent.
        """
        if self.headSent:
            raise RuntimeError("the HTTP head was already sent")
        if hasattr(headers, "items"):
            headers = headers.items()
        pairs = [[_headerText(name), _headerText(value)]
                 for name, value in headers]
        packed = msgpack.packb([int(status), pairs], use_bin_type=True)
        self.stream.write(packed)
        self.headSent = True

    writeHead = write_head

    def write(self, data):
        """
        Send a body chunk (L{bytes}, or L{str} sent as UTF-8).
        """
        if not self.headSent:
            self.write_head(200, [])
        self.stream.write(data)

    def close(self):
        """
        End the response, sending a C{200} head first if none was sent.
        """
        if not self.headSent and not self.stream.closed:
            self.write_head(200, [])
        self.stream.close()

    def error(self, code, message, category=43):
        """
        End the response with a protocol error; see
        L{cocaine.worker.Response.error}.
        """
        self.stream.error(code, message, category)

    async def drain(self):
        """
        See L{cocaine.worker.Response.drain}.
        """
        await self.stream.drain()


def _headerText(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def http(handler):
    """
    Decorate a handler to serve the HTTP convention.

        >>> @http
        ... async def hello(request, response):
        ...     response.write_head(200, [("Content-Type", "text/plain")])
        ...     response.write("hello " + request.path)

    The decorated handler is called with an L{HTTPRequest} built from the
    session's first chunk and an L{HTTPResponse}. A request stream that
    ends before its first chunk fails the session (C{ValueError}). When the
    handler returns without closing, the response is closed, with a C{200}
    head first if it wrote none.
    """
    @functools.wraps(handler)
    async def serveHTTP(request, response):
        chunk = await request.read()
        if chunk is None:
            raise ValueError("the HTTP request stream closed before its "
                             "first chunk")
        httpRequest = HTTPRequest.fromChunk(chunk, request)
        httpResponse = HTTPResponse(response)
        result = handler(httpRequest, httpResponse)
        if inspect.isawaitable(result):
            await result
        if not response.closed:
            httpResponse.close()
    return serveHTTP
