# -*- test-case-name: tests.worker.test_stream -*-
"""
Tests for L{cocaine.worker.stream}: the request and response of a session,
run on an asyncio loop in the test process.
"""

import asyncio

from twisted.trial.unittest import SynchronousTestCase, TestCase

from cocaine.worker.stream import (
    Request, RequestError, Response, ResponseClosed)


def run(coroutine):
    """
    Run C{coroutine} on a fresh asyncio loop and return its result.
    """
    return asyncio.run(coroutine)


class FakeConnection:
    """
    Records what a L{Response} sends.
    """

    def __init__(self):
        self.sent = []

    def send(self, channel, kind, args):
        self.sent.append([channel, kind, args])

    async def drain(self):
        self.sent.append("drained")


class RecordingTransport:
    """
    An asyncio transport that records what is written to it.
    """

    def __init__(self):
        self.written = []

    def write(self, data):
        self.written.append(data)

    def is_closing(self):
        return False


class RequestTests(TestCase):
    """
    L{Request} is the request stream a handler reads.
    """

    def test_readThenEnd(self):
        """
        C{read} returns the chunks in order, then L{None} at the end of the
        stream, and L{None} again; chunks after the end are dropped.
        """
        async def scenario():
            request = Request(2, "echo")
            request._push(b"a")
            loop = asyncio.get_running_loop()
            loop.call_soon(request._push, b"b")
            loop.call_soon(request._close)
            loop.call_soon(request._push, b"late")
            return [await request.read() for _ in range(4)]
        self.assertEqual(run(scenario()), [b"a", b"b", None, None])

    def test_asyncFor(self):
        async def scenario():
            request = Request(2, "echo")
            loop = asyncio.get_running_loop()
            for chunk in [b"1", b"2", b"3"]:
                loop.call_soon(request._push, chunk)
            loop.call_soon(request._close)
            return [chunk async for chunk in request]
        self.assertEqual(run(scenario()), [b"1", b"2", b"3"])

    def test_error(self):
        """
        An error raises L{RequestError} after the chunks before it, on this
        read and every later one.
        """
        async def scenario():
            request = Request(2, "echo")
            request._push(b"a")
            request._fail(RequestError(43, 1, "bad"))
            request._close()
            first = await request.read()
            errors = []
            for _ in range(2):
                try:
                    await request.read()
                except RequestError as error:
                    errors.append(error)
            return first, errors
        first, errors = run(scenario())
        self.assertEqual(first, b"a")
        self.assertEqual(len(errors), 2)
        self.assertIs(errors[0], errors[1])
        self.assertEqual((errors[0].category, errors[0].code,
                          errors[0].reason, errors[0].message),
                         (43, 1, "bad", "bad"))
        self.assertEqual(str(errors[0]), "[43, 1] bad")

    def test_errorInAsyncFor(self):
        async def scenario():
            request = Request(2, "echo")
            asyncio.get_running_loop().call_soon(
                request._fail, RequestError(1, 2, "x"))
            async for _ in request:
                pass
        self.assertRaises(RequestError, run, scenario())

    def test_timeout(self):
        """
        C{read(timeout)} raises L{TimeoutError}; the stream still works.
        """
        async def scenario():
            request = Request(2, "echo")
            try:
                await request.read(timeout=0.01)
            except asyncio.TimeoutError:
                timedOut = True
            request._push(b"x")
            return timedOut, await request.read(timeout=1)
        self.assertEqual(run(scenario()), (True, b"x"))

    def test_oneReader(self):
        """
        Only one task may wait in C{read} at a time.
        """
        async def scenario():
            request = Request(2, "echo")
            first = asyncio.ensure_future(request.read())
            await asyncio.sleep(0)
            try:
                await request.read()
            except RuntimeError:
                refused = True
            request._push(b"x")
            return refused, await first, request.finished
        self.assertEqual(run(scenario()), (True, b"x", False))


class ResponseTests(TestCase):
    """
    L{Response} is the response stream a handler writes.
    """

    def setUp(self):
        self.connection = FakeConnection()
        self.response = Response(5, self.connection)

    def test_write(self):
        """
        Bytes-like chunks go out as bytes, text as UTF-8.
        """
        self.response.write(b"a")
        self.response.write("\u00e9")
        self.response.write(bytearray(b"c"))
        self.response.write(memoryview(b"d"))
        self.assertEqual(self.connection.sent, [
            [5, 0, [b"a"]], [5, 0, [b"\xc3\xa9"]], [5, 0, [b"c"]],
            [5, 0, [b"d"]]])

    def test_writeInteger(self):
        """
        An integer goes out as its decimal digits (the README's
        C{response.write(len(value))}); a boolean is not one.
        """
        self.response.write(5)
        self.response.write(-12)
        self.assertRaises(TypeError, self.response.write, True)
        self.assertEqual(self.connection.sent, [
            [5, 0, [b"5"]], [5, 0, [b"-12"]]])

    def test_writeOther(self):
        self.assertRaises(TypeError, self.response.write, 1.5)
        self.assertRaises(TypeError, self.response.write, None)
        self.assertEqual(self.connection.sent, [])

    def test_close(self):
        """
        C{close} sends one close; later writes raise L{ResponseClosed},
        later closes and errors do nothing.
        """
        self.response.close()
        self.response.close()
        self.response.error(1, "x")
        self.assertTrue(self.response.closed)
        self.assertRaises(ResponseClosed, self.response.write, b"x")
        self.assertEqual(self.connection.sent, [[5, 2, []]])

    def test_error(self):
        """
        C{error} sends C{[[43, code], message]} once.
        """
        self.response.error(7, "nope")
        self.response.close()
        self.assertEqual(self.connection.sent, [[5, 1, [[43, 7], "nope"]]])

    def test_errorCategory(self):
        self.response.error(7, "nope", category=50)
        self.assertEqual(self.connection.sent, [[5, 1, [[50, 7], "nope"]]])

    def test_fail(self):
        """
        C{_fail} sends a framework error unless the response is closed.
        """
        self.assertTrue(self.response._fail(100, "E: x"))
        self.assertFalse(self.response._fail(100, "E: y"))
        self.assertEqual(self.connection.sent, [[5, 1, [[42, 100], "E: x"]]])

    def test_drain(self):
        run(self.response.drain())
        self.assertEqual(self.connection.sent, ["drained"])


class ConnectionDrainTests(SynchronousTestCase):
    """
    L{_Connection.drain} hands what was written to the transport first, so
    a handler writing in a loop sends as it goes and can be paused.
    """

    def test_drainFlushesPending(self):
        from cocaine.worker.worker import _Connection

        async def scenario():
            connection = _Connection(worker=None)
            transport = RecordingTransport()
            connection.connection_made(transport)
            connection.write(b"a")
            connection.write(b"b")
            self.assertEqual(transport.written, [])
            await connection.drain()
            self.assertEqual(transport.written, [b"ab"])
            connection.write(b"c")
            connection.flush()
            return transport.written
        self.assertEqual(asyncio.run(scenario()), [b"ab", b"c"])


class ConnectionReadTests(SynchronousTestCase):
    """
    What the handlers a read started write in the loop's next turn leaves
    in one send at the end of that turn.
    """

    def test_repliesOfOneReadInOneTurn(self):
        from cocaine.worker.worker import _Connection

        async def handler(connection, name):
            connection.write(name + b"1")
            connection.write(name + b"2")

        class Worker:
            def _received(self, data):
                loop = asyncio.get_running_loop()
                for name in data.split():
                    loop.create_task(handler(connection, name))

        async def scenario():
            nonlocal connection
            connection = _Connection(worker=Worker())
            transport = RecordingTransport()
            connection.connection_made(transport)
            buffer = connection.get_buffer(-1)
            buffer[:3] = b"a b"
            connection.buffer_updated(3)
            self.assertEqual(transport.written, [])
            # one turn: the handlers run, then the flush
            await asyncio.sleep(0)
            self.assertEqual(transport.written, [b"a1a2b1b2"])
            # a read that writes nothing sends nothing
            buffer[:1] = b" "
            connection.buffer_updated(1)
            await asyncio.sleep(0)
            self.assertEqual(transport.written, [b"a1a2b1b2"])

        connection = None
        asyncio.run(scenario())

    def test_plainRepliesAtOnce(self):
        """
        A read whose handlers all answered within it (the worker's
        C{_received} returns L{False}: it started or woke no task) sends
        what they wrote at once, in one send.
        """
        from cocaine.worker.worker import _Connection

        class Worker:
            def _received(self, data):
                for name in data.split():
                    connection.write(name + b"1")
                    connection.write(name + b"2")
                return False

        async def scenario():
            nonlocal connection
            connection = _Connection(worker=Worker())
            transport = RecordingTransport()
            connection.connection_made(transport)
            buffer = connection.get_buffer(-1)
            buffer[:3] = b"a b"
            connection.buffer_updated(3)
            self.assertEqual(transport.written, [b"a1a2b1b2"])
            await asyncio.sleep(0)
            self.assertEqual(transport.written, [b"a1a2b1b2"])

        connection = None
        asyncio.run(scenario())
