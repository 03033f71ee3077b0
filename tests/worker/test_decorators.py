# -*- test-case-name: tests.worker.test_decorators -*-
"""
Tests for L{cocaine.worker.decorators}: the HTTP convention.
"""

import asyncio

import msgpack
from twisted.trial.unittest import TestCase

from cocaine.worker.decorators import HTTPRequest, HTTPResponse, http
from cocaine.worker.stream import Request, Response
from tests.worker.test_stream import FakeConnection


def chunk(method="GET", uri="/", version="1.1", headers=(), body=b"",
          binary=True):
    return msgpack.packb([method, uri, version, [list(h) for h in headers],
                          body], use_bin_type=binary)


class HTTPRequestTests(TestCase):
    """
    L{HTTPRequest.fromChunk} decodes C{[method, uri, version, headers,
    body]}.
    """

    def test_fields(self):
        request = HTTPRequest.fromChunk(chunk(
            "POST", "/p/q%20r?a=1&a=2&b=&c", "1.0",
            [("Host", "h"), ("Cookie", "x=1")], b"\x00data"))
        self.assertEqual(
            (request.method, request.uri, request.path, request.query,
             request.version, request.headers, request.body),
            ("POST", "/p/q%20r?a=1&a=2&b=&c", "/p/q%20r",
             {"a": ["1", "2"], "b": [""], "c": [""]}, "1.0",
             [("Host", "h"), ("Cookie", "x=1")], b"\x00data"))
        self.assertEqual(request.header("host"), "h")
        self.assertEqual(request.header("x-none", "d"), "d")

    def test_rawStrings(self):
        """
        Strings packed as old-style raw (str) are accepted everywhere, and a
        body packed as str comes out as bytes.
        """
        data = msgpack.packb([b"GET", b"/x", b"1.1", [[b"A", b"b"]], b"y"],
                             use_bin_type=False)
        request = HTTPRequest.fromChunk(data)
        self.assertEqual((request.method, request.headers, request.body),
                         ("GET", [("A", "b")], b"y"))

    def test_absoluteURI(self):
        request = HTTPRequest.fromChunk(chunk(uri="http://h:1/x?y=1"))
        self.assertEqual((request.path, request.query), ("/x", {"y": ["1"]}))

    def test_malformed(self):
        for data in [b"\xc1", msgpack.packb([1, 2]), msgpack.packb("x"),
                     chunk(headers=[("a",)]), chunk(body=5), None]:
            self.assertRaises(ValueError, HTTPRequest.fromChunk, data)


class HTTPResponseTests(TestCase):
    """
    L{HTTPResponse} sends C{[status, [[name, value], ...]]} first.
    """

    def setUp(self):
        self.connection = FakeConnection()
        self.response = HTTPResponse(Response(2, self.connection))

    def chunks(self):
        return [args[0] for _, kind, args in self.connection.sent
                if kind == 0]

    def test_writeHead(self):
        self.response.write_head(404, [("A", "b"), (b"C", 5)])
        self.response.write(b"x")
        self.response.close()
        chunks = self.chunks()
        self.assertEqual(msgpack.unpackb(chunks[0], raw=False),
                         [404, [["A", "b"], ["C", "5"]]])
        self.assertEqual(chunks[1:], [b"x"])
        self.assertEqual(self.connection.sent[-1], [2, 2, []])

    def test_camelCase(self):
        self.assertEqual(HTTPResponse.writeHead, HTTPResponse.write_head)
        self.response.writeHead(204, {"A": "b"})
        self.assertEqual(msgpack.unpackb(self.chunks()[0]),
                         [204, [["A", "b"]]])

    def test_headOnce(self):
        self.response.write_head(200)
        self.assertRaises(RuntimeError, self.response.write_head, 200)

    def test_defaultHead(self):
        """
        Writing or closing without a head sends C{[200, []]} first.
        """
        self.response.write("body")
        self.assertEqual(msgpack.unpackb(self.chunks()[0]), [200, []])
        other = HTTPResponse(Response(3, self.connection))
        other.close()
        self.assertEqual(self.connection.sent[-2:], [
            [3, 0, [msgpack.packb([200, []])]], [3, 2, []]])

    def test_error(self):
        self.response.error(5, "bad")
        self.assertTrue(self.response.closed)
        self.assertEqual(self.connection.sent, [[2, 1, [[43, 5], "bad"]]])


class DecoratorTests(TestCase):
    """
    L{http} wraps a handler.
    """

    def serve(self, handler, *chunks):
        connection = FakeConnection()

        async def scenario():
            request = Request(2, "http")
            for data in chunks:
                request._push(data)
            request._close()
            await handler(request, Response(2, connection))
        asyncio.run(scenario())
        return connection.sent

    def test_wrapped(self):
        seen = []

        @http
        def handler(request, response):
            """Doc."""
            seen.append((request.method, request.path))
            response.write(b"x")
        self.assertEqual(handler.__name__, "handler")
        self.assertEqual(handler.__doc__, "Doc.")
        sent = self.serve(handler, chunk("GET", "/p"))
        self.assertEqual(seen, [("GET", "/p")])
        self.assertEqual(sent, [[2, 0, [msgpack.packb([200, []])]],
                                [2, 0, [b"x"]], [2, 2, []]])

    def test_nothingWritten(self):
        """
        A handler that writes nothing answers C{[200, []]} and closes.
        """
        @http
        async def handler(request, response):
            pass
        self.assertEqual(self.serve(handler, chunk()), [
            [2, 0, [msgpack.packb([200, []])]], [2, 2, []]])

    def test_streamedBody(self):
        @http
        async def handler(request, response):
            response.write(b"".join([chunk async for chunk in request.stream]))
            response.write(await request.read() or b"end")
        sent = self.serve(handler, chunk(), b"a", b"b")
        self.assertEqual(sent[1:], [[2, 0, [b"ab"]], [2, 0, [b"end"]],
                                    [2, 2, []]])
