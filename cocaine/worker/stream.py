# -*- test-case-name: tests.worker.test_stream -*-
"""
The two streams of a session: the request a handler reads and the response
it writes (PROTOCOL.md section 6).

Both directions are independent: a handler may answer before the request is
closed, and may keep reading after it closed the response.
"""

from collections import deque

from cocaine.errors import CocaineError, toWire
from cocaine.errors import fromWire as _fromWire
from cocaine.protocol.worker import (
    CHUNK, CLOSE, ERROR, FRAMEWORK_CATEGORY, USER_CATEGORY)
from cocaine.worker.flow import waitForArrival


class RequestError(Exception):
    """
    The client ended the request stream with an error.

    @ivar category: the error's category on the wire.
    @ivar code: the error's code within the category.
    @ivar reason: the error's message (L{str}).
    """

    def __init__(self, category, code, reason):
        Exception.__init__(self, category, code, reason)
        self.category = category
        self.code = code
        self.reason = reason

    @classmethod
    def fromWire(cls, args):
        """
        Read the args of an C{error} message through the one error mapping
        (L{cocaine.errors.fromWire}): a malformed one is an
        invalid-argument error naming what came.
        """
        error = _fromWire(args)
        return cls(error.category, error.code, error.message)

    @property
    def message(self):
        """
        The error's message; the same as L{reason}.
        """
        return self.reason

    def __str__(self):
        return "[{}, {}] {}".format(self.category, self.code, self.reason)


class ResponseClosed(RuntimeError):
    """
    A handler wrote to a response it already closed (or failed).
    """


#: Marks a request stream that was closed normally.
_CLOSED = object()


class Request:
    """
    The request stream of one session: the chunks the client sends after
    the invoke.

    Read it with L{read}, or iterate it: C{async for chunk in request}
    yields every chunk and stops at the end of the stream (and raises
    L{RequestError} if the client failed it).

    @ivar event: the invoked event's name (L{str}).
    @ivar channel: the session's channel id.
    """

    __slots__ = ("event", "channel", "_chunks", "_end", "_waiter")

    def __init__(self, channel, event):
        self.channel = channel
        self.event = event
        self._chunks = deque()
        self._end = None
        self._waiter = None

    @property
    def finished(self):
        """
        L{True} once the client closed or failed the stream (there may still
        be chunks left to read).
        """
        return self._end is not None

    async def read(self, timeout=None):
        """
        Wait for the next chunk of the request.

        @param timeout: seconds to wait at most, or L{None} to wait as long
            as it takes.
        @return: the next chunk (L{bytes}), or L{None} at the end of the
            stream: once the client closed it and every chunk was read.
            Every later call returns L{None} again.
        @raise RequestError: the client failed the stream (after every
            chunk sent before the error was read); every later call raises
            it again.
        @raise asyncio.TimeoutError: C{timeout} passed first (the builtin
            L{TimeoutError} on Python 3.11 and later); the stream is left as
            it was and may be read again.
        @raise RuntimeError: another task is already waiting in C{read}.
        """
        if not self._chunks and self._end is None:
            await waitForArrival(self, timeout,
                                 "read() is already waiting for a chunk")
        if self._chunks:
            return self._chunks.popleft()
        if self._end is _CLOSED:
            return None
        raise self._end

    def __aiter__(self):
        return self

    async def __anext__(self):
        # read() inline: a coroutine fewer per chunk
        if not self._chunks and self._end is None:
            await waitForArrival(self, None,
                                 "read() is already waiting for a chunk")
        if self._chunks:
            return self._chunks.popleft()
        if self._end is _CLOSED:
            raise StopAsyncIteration
        raise self._end

    def _wake(self):
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _push(self, chunk):
        """
        A chunk arrived; ignored once the stream ended.
        """
        if self._end is None:
            self._chunks.append(chunk)
            if self._waiter is not None:
                self._wake()

    def _close(self):
        """
        The client closed the stream; ignored once it ended.
        """
        if self._end is None:
            self._end = _CLOSED
            if self._waiter is not None:
                self._wake()

    def _fail(self, error):
        """
        The client failed the stream with C{error} (a L{RequestError});
        ignored once it ended.
        """
        if self._end is None:
            self._end = error
            self._wake()


class Response:
    """
    The response stream of one session: chunks, then exactly one C{close}
    or C{error}.

    A handler that returns without closing its response has it closed for
    it; one that raises has it failed with an uncaught-exception error.

    @ivar channel: the session's channel id.
    """

    __slots__ = ("channel", "_connection", "_closed")

    def __init__(self, channel, connection):
        """
        @param connection: what sends messages: an object with
            C{send(channel, type, args)} and C{async drain()}.
        """
        self.channel = channel
        self._connection = connection
        self._closed = False

    @property
    def closed(self):
        """
        L{True} once the response was closed or failed.
        """
        return self._closed

    def write(self, data):
        """
        Send one chunk to the client.

        @param data: L{bytes} (or a bytes-like object), sent as msgpack bin;
            a L{str} is sent as its UTF-8 encoding, an L{int} as its
            decimal digits (C{response.write(len(value))}).
        @raise TypeError: C{data} is neither bytes, text nor an integer.
        @raise ResponseClosed: the response was already closed or failed.
        """
        if type(data) is bytes:
            pass
        elif isinstance(data, str):
            data = data.encode("utf-8")
        elif isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        elif isinstance(data, int) and not isinstance(data, bool):
            data = str(data).encode("ascii")
        elif not isinstance(data, bytes):
            raise TypeError("chunk must be bytes, str or int, not {}".format(
                type(data).__name__))
        if self._closed:
            raise ResponseClosed(
                "write() on a closed response (channel {})".format(
                    self.channel))
        self._connection.send(self.channel, CHUNK, [data])

    def close(self):
        """
        End the response normally. Closing a closed response does nothing.
        """
        if not self._closed:
            self._closed = True
            self._connection.send(self.channel, CLOSE, [])

    def error(self, code, message, category=USER_CATEGORY):
        """
        End the response with an error: C{[[category, code], message]}.
        Does nothing if the response is already closed.

        @param code: the error code (an L{int}) chosen by the application.
        @param message: a text for the client.
        @param category: the error category; by default 43, the category of
            application errors (PROTOCOL.md section 4).
        """
        if not self._closed:
            self._closed = True
            self._connection.send(
                self.channel, ERROR, toWire(CocaineError(
                    str(message), category, int(code))))

    def _fail(self, code, message):
        """
        End the response with a framework error (category 42), unless it
        is already closed.

        @return: L{True} if the error was sent.
        """
        if self._closed:
            return False
        self.error(code, message, FRAMEWORK_CATEGORY)
        return True

    async def drain(self):
        """
        Wait until the connection's send buffer is below its high-water
        mark: await it between large writes to keep memory bounded.
        """
        await self._connection.drain()
