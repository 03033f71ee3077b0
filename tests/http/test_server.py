"""
Tests for L{cocaine.http.server}: the HTTP/1.1 server protocol on httptools,
over a L{StringTransport} and a L{MemoryReactorClock}.
"""

from hypothesis import given, settings, strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from cocaine.http import channel, server
from cocaine.http.server import HTTPFactory, HTTPRequest, Responder

#: The deterministic Hypothesis profile of this project.
DETERMINISTIC = settings(deadline=None, derandomize=True, database=None)

#: The Date header at the clock's start.
DATE = b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"

GET = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"


class Handler:
    """
    Records what it is handed; answers with C{answer(request, responder)}
    when given one, else leaves the response outstanding.
    """

    def __init__(self, answer=None):
        self.answer = answer
        self.requests = []
        self.responders = []

    def handleRequest(self, request, responder):
        self.requests.append(request)
        self.responders.append(responder)
        if self.answer is not None:
            self.answer(request, responder)


def echo(request, responder):
    """
    Answer with the body received and the target in a header, at once.
    """
    responder.respond(200, [(b"X-Target", request.target)], request.body)


def streamEcho(request, responder):
    """
    Answer with the body received, chunked, byte by byte.
    """
    responder.writeHead(200, [(b"X-Target", request.target)])
    for i in range(len(request.body)):
        responder.write(request.body[i:i + 1])
    responder.finish()


def echoed(target, body=b"", close=False):
    """
    The bytes of L{echo}'s answer.
    """
    return (b"HTTP/1.1 200 OK\r\nX-Target: " + target + b"\r\n"
            + b"Content-Length: %d\r\n" % (len(body),) + DATE
            + (b"Connection: close\r\n" if close else b"") + b"\r\n" + body)


def error(code, reason, text):
    """
    The bytes of one of the server's own error responses.
    """
    text += b"\n"
    return (b"HTTP/1.1 %d %s\r\n" % (code, reason) + DATE
            + b"Content-Type: text/plain; charset=utf-8\r\n"
            + b"Content-Length: %d\r\n" % (len(text),)
            + b"X-Error-Generated-By: cocaine\r\nConnection: close\r\n\r\n"
            + text)


def connect(handler, clock=None, factory=None, **options):
    """
    A connection of a new (or the given) factory on a string transport.

    @return: C{(clock, factory, protocol, transport)}.
    """
    if factory is None:
        clock = clock or MemoryReactorClock()
        factory = HTTPFactory(clock, handler, **options)
    transport = StringTransport(
        peerAddress=IPv4Address("TCP", "10.0.0.7", 40000))
    protocol = factory.buildProtocol(None)
    protocol.makeConnection(transport)
    return factory.reactor, factory, protocol, transport


def lose(protocol):
    protocol.connectionLost(Failure(ConnectionDone()))


class RequestTests(SynchronousTestCase):
    """
    What the handler is handed.
    """

    def test_fields(self):
        handler = Handler(echo)
        _, _, protocol, _ = connect(handler)
        protocol.dataReceived(b"POST /app/event?x=1 HTTP/1.1\r\n"
                              b"Host: h\r\nX-Mixed-Case: A\r\n"
                              b"x-mixed-case: B\r\nContent-Length: 3\r\n"
                              b"\r\nabc")
        [request] = handler.requests
        self.assertEqual(request.method, b"POST")
        self.assertEqual(request.target, b"/app/event?x=1")
        self.assertEqual(request.version, b"1.1")
        self.assertEqual(request.headers, [
            (b"Host", b"h"), (b"X-Mixed-Case", b"A"),
            (b"x-mixed-case", b"B"), (b"Content-Length", b"3")])
        self.assertEqual(request.body, b"abc")
        self.assertEqual(request.peer, ("10.0.0.7", 40000))
        self.assertEqual(request.header(b"x-MIXED-case"), b"A")
        self.assertIsNone(request.header(b"absent"))

    def test_holdWrites(self):
        """
        With C{holdWrites}, what two connections answer while the reactor
        turns leaves when the turn ends, each connection's bytes in order;
        without it they leave at once.
        """
        handler = Handler(echo)
        clock, factory, one, first = connect(handler, holdWrites=True)
        _, _, two, second = connect(handler, factory=factory)
        one.dataReceived(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
        two.dataReceived(b"GET /c HTTP/1.1\r\n\r\n")
        self.assertEqual((first.value(), second.value()), (b"", b""))
        clock.advance(0)
        self.assertEqual(first.value(), echoed(b"/a") + echoed(b"/b"))
        self.assertEqual(second.value(), echoed(b"/c"))
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(b"GET /d HTTP/1.1\r\n\r\n")
        self.assertEqual(transport.value(), echoed(b"/d"))

    def test_chunkedBody(self):
        handler = Handler(echo)
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(b"POST /c HTTP/1.1\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n"
                              b"3\r\nabc\r\n2\r\nde\r\n0\r\n"
                              b"Trailer-Field: t\r\n\r\n")
        [request] = handler.requests
        self.assertEqual(request.body, b"abcde")
        self.assertEqual(request.headers,
                         [(b"Transfer-Encoding", b"chunked")])
        self.assertEqual(transport.value(), echoed(b"/c", b"abcde"))

    def test_bodyInPieces(self):
        handler = Handler(echo)
        _, _, protocol, _ = connect(handler)
        protocol.dataReceived(b"PUT / HTTP/1.1\r\nContent-Length: 6\r\n\r\nab")
        protocol.dataReceived(b"cd")
        self.assertEqual(handler.requests, [])
        protocol.dataReceived(b"ef")
        self.assertEqual(handler.requests[0].body, b"abcdef")

    def test_http10(self):
        handler = Handler()
        _, _, protocol, _ = connect(handler)
        protocol.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual(handler.requests[0].version, b"1.0")
        self.assertFalse(handler.requests[0].keepAlive)

    def test_upgradeIsAPlainRequest(self):
        """
        An C{Upgrade} is not taken: the request is a plain one and the
        connection reads on.
        """
        handler = Handler(echo)
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n"
                              b"Connection: Upgrade\r\n\r\n" + GET)
        self.assertEqual([r.target for r in handler.requests],
                         [b"/ws", b"/a?x=1"])
        self.assertEqual(transport.value(),
                         echoed(b"/ws") + echoed(b"/a?x=1"))


class ResponseTests(SynchronousTestCase):
    """
    How responses are framed, byte for byte.
    """

    def answer(self, request, headers=(), body=b"", code=200):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(request)
        responder = handler.responders[0]
        responder.writeHead(code, list(headers))
        responder.write(body)
        responder.write(b"")
        responder.finish()
        return transport

    def test_respond(self):
        _, _, protocol, transport = connect(Handler(echo))
        protocol.dataReceived(GET)
        self.assertEqual(transport.value(), echoed(b"/a?x=1"))
        self.assertFalse(transport.disconnecting)

    def test_chunked(self):
        transport = self.answer(GET, [(b"Content-Type", b"text/plain")],
                                b"hello")
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Transfer-Encoding: chunked\r\n" + DATE +
                         b"\r\n5\r\nhello\r\n0\r\n\r\n")
        self.assertFalse(transport.disconnecting)

    def test_contentLength(self):
        transport = self.answer(GET, [(b"Content-Length", b"5")], b"hello")
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + DATE +
                         b"\r\nhello")
        self.assertFalse(transport.disconnecting)

    def test_http10UntilClose(self):
        transport = self.answer(b"GET / HTTP/1.0\r\n"
                                b"Connection: keep-alive\r\n\r\n",
                                [], b"hello")
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\n" + DATE +
                         b"Connection: close\r\n\r\nhello")
        self.assertTrue(transport.disconnecting)

    def test_http10KeepAlive(self):
        transport = self.answer(b"GET / HTTP/1.0\r\n"
                                b"Connection: keep-alive\r\n\r\n",
                                [(b"Content-Length", b"2")], b"hi")
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + DATE +
                         b"Connection: keep-alive\r\n\r\nhi")
        self.assertFalse(transport.disconnecting)

    def test_http10Close(self):
        transport = self.answer(b"GET / HTTP/1.0\r\n\r\n",
                                [(b"Content-Length", b"2")], b"hi")
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + DATE +
                         b"Connection: close\r\n\r\nhi")
        self.assertTrue(transport.disconnecting)

    def test_clientClose(self):
        transport = self.answer(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
                                [(b"Content-Length", b"2")], b"hi")
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + DATE +
                         b"Connection: close\r\n\r\nhi")
        self.assertTrue(transport.disconnecting)

    def test_handlerClose(self):
        """
        A handler's C{Connection: close} closes the connection; its other
        hop-by-hop headers are dropped.
        """
        transport = self.answer(GET, [(b"Connection", b"Close"),
                                      (b"Transfer-Encoding", b"gzip"),
                                      (b"Keep-Alive", b"timeout=5")], b"hi")
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                         + DATE + b"Connection: close\r\n\r\n"
                         b"2\r\nhi\r\n0\r\n\r\n")
        self.assertTrue(transport.disconnecting)

    def test_head(self):
        transport = self.answer(b"HEAD / HTTP/1.1\r\n\r\n", [], b"hello")
        self.assertEqual(transport.value(), b"HTTP/1.1 200 OK\r\n" + DATE +
                         b"\r\n")
        self.assertFalse(transport.disconnecting)

    def test_headRespond(self):
        _, _, protocol, transport = connect(Handler(echo))
        protocol.dataReceived(b"HEAD /h HTTP/1.1\r\n\r\n")
        self.assertEqual(transport.value(), b"HTTP/1.1 200 OK\r\n"
                         b"X-Target: /h\r\n" + DATE + b"\r\n")

    def test_headKeepsContentLength(self):
        transport = self.answer(b"HEAD / HTTP/1.1\r\n\r\n",
                                [(b"Content-Length", b"1234")])
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n"
                         + DATE + b"\r\n")

    def test_noContent(self):
        transport = self.answer(GET, [], b"ignored", code=204)
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 204 No Content\r\n" + DATE + b"\r\n")

    def test_unknownCode(self):
        transport = self.answer(GET, [(b"Content-Length", b"0")], code=599)
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 599 Unknown\r\nContent-Length: 0\r\n"
                         + DATE + b"\r\n")

    def test_badCode(self):
        handler = Handler()
        _, _, protocol, _ = connect(handler)
        protocol.dataReceived(GET)
        self.assertRaises(ValueError, handler.responders[0].writeHead, 42,
                          [])

    def test_handlerDate(self):
        date = (b"Date", b"Sun, 06 Nov 1994 08:49:37 GMT")
        transport = self.answer(GET, [date, (b"Content-Length", b"0")])
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 "
                         b"08:49:37 GMT\r\nContent-Length: 0\r\n\r\n")

    def test_malformedHeadersDropped(self):
        transport = self.answer(GET, [(b"X-Evil", b"a\r\nSet-Cookie: x"),
                                      (b"X\nBad", b"v"),
                                      (b"X-Good", b"v"),
                                      (b"Content-Length", b"0")])
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nX-Good: v\r\n"
                         b"Content-Length: 0\r\n" + DATE + b"\r\n")

    def test_shortBodyCloses(self):
        """
        A response that ends short of its Content-Length closes the
        connection: the client could not find the next one.
        """
        transport = self.answer(GET, [(b"Content-Length", b"5")], b"hi")
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + DATE +
                         b"\r\nhi")
        self.assertTrue(transport.disconnecting)

    def test_longBodyTruncated(self):
        transport = self.answer(GET, [(b"Content-Length", b"2")], b"hello")
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + DATE +
                         b"\r\nhe")
        self.assertFalse(transport.disconnecting)

    def test_respondWrongContentLength(self):
        """
        L{Responder.respond} trusts the body it is given over a
        Content-Length that disagrees.
        """
        handler = Handler(lambda request, responder: responder.respond(
            200, [(b"Content-Length", b"9")], b"abc"))
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(GET)
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\n"
                         b"Content-Length: 3\r\n" + DATE + b"\r\nabc")

    def test_serverName(self):
        _, _, protocol, transport = connect(Handler(echo),
                                            serverName="cocaine")
        protocol.dataReceived(GET)
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nX-Target: /a?x=1\r\n"
                         b"Content-Length: 0\r\n" + DATE +
                         b"Server: cocaine\r\n\r\n")

    def test_misuse(self):
        handler = Handler()
        _, _, protocol, _ = connect(handler)
        protocol.dataReceived(GET)
        responder = handler.responders[0]
        self.assertRaises(RuntimeError, responder.write, b"x")
        self.assertRaises(RuntimeError, responder.finish)
        responder.writeHead(200, [])
        self.assertRaises(RuntimeError, responder.writeHead, 200, [])

    def test_abort(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(GET + GET)
        responder = handler.responders[0]
        responder.writeHead(200, [])
        responder.write(b"part")
        responder.abort()
        self.assertTrue(responder.finished)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                         + DATE + b"\r\n4\r\npart\r\n")
        self.assertEqual(len(handler.requests), 1)

    def test_dateCached(self):
        clock, factory, protocol, _ = connect(Handler(echo))
        first = factory.dateLine()
        clock.advance(0.5)
        self.assertIs(factory.dateLine(), first)
        clock.advance(1)
        self.assertEqual(factory.dateLine(),
                         b"Date: Thu, 01 Jan 1970 00:00:01 GMT\r\n")


class HandlerFailureTests(SynchronousTestCase):
    """
    A handler that raises.
    """

    def test_beforeHead(self):
        def fail(request, responder):
            raise ZeroDivisionError()
        _, _, protocol, transport = connect(Handler(fail))
        protocol.dataReceived(GET)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 500 Internal Server Error\r\n"
                         b"Content-Type: text/plain; charset=utf-8\r\n"
                         b"X-Error-Generated-By: cocaine\r\n"
                         b"Content-Length: 22\r\n" + DATE +
                         b"\r\ninternal server error\n")
        self.assertFalse(transport.disconnecting)

    def test_afterHead(self):
        def fail(request, responder):
            responder.writeHead(200, [])
            raise ZeroDivisionError()
        _, _, protocol, transport = connect(Handler(fail))
        protocol.dataReceived(GET)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertTrue(transport.disconnecting)


class PipeliningTests(SynchronousTestCase):
    """
    Requests on one connection are answered in order, one at a time.
    """

    def test_inOrder(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(
            b"GET /1 HTTP/1.1\r\n\r\n"
            b"POST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
            b"GET /3 HTTP/1.1\r\n\r\n")
        self.assertEqual([r.target for r in handler.requests], [b"/1"])
        handler.responders[0].respond(200, [], b"one")
        self.assertEqual([r.target for r in handler.requests],
                         [b"/1", b"/2"])
        handler.responders[1].respond(200, [], handler.requests[1].body)
        handler.responders[2].respond(200, [], b"three")
        self.assertEqual(transport.value(), b"".join(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % (len(body),)
            + DATE + b"\r\n" + body for body in [b"one", b"hi", b"three"]))
        self.assertFalse(transport.disconnecting)

    def test_stopsAfterClose(self):
        """
        Requests pipelined after one with C{Connection: close} are not
        answered.
        """
        handler = Handler(echo)
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(b"GET /1 HTTP/1.1\r\nConnection: close\r\n\r\n"
                              + GET)
        self.assertEqual(len(handler.requests), 1)
        self.assertEqual(transport.value(), echoed(b"/1", close=True))
        self.assertTrue(transport.disconnecting)

    def test_pausesReading(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(GET * channel.PIPELINE_DEPTH)
        self.assertEqual(transport.producerState, "producing")
        protocol.dataReceived(GET)
        self.assertEqual(transport.producerState, "paused")
        handler.responders[0].respond(200, [], b"")
        self.assertEqual(transport.producerState, "producing")
        self.assertEqual(len(handler.requests), 2)

    def test_errorWaitsItsTurn(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(GET + b"BAD\x01 / HTTP/1.1\r\n\r\n")
        self.assertEqual(transport.value(), b"")
        self.assertEqual(transport.producerState, "paused")
        handler.responders[0].respond(200, [], b"ok")
        self.assertEqual(
            transport.value(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + DATE + b"\r\nok"
            + error(400, b"Bad Request",
                    b"bad request: Invalid method encountered"))
        self.assertTrue(transport.disconnecting)

    #: Three requests whose answers are known.
    THREE = [
        (b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n", b"/1", b""),
        (b"POST /2 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", b"/2",
         b"hello"),
        (b"PUT /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n", b"/3", b"abcd"),
    ]

    def feed(self, answer, cuts, answerLater=False):
        data = b"".join(request for request, _, _ in self.THREE)
        handler = Handler(None if answerLater else answer)
        _, _, protocol, transport = connect(handler)
        points = sorted(set(cut % (len(data) + 1) for cut in cuts))
        start = 0
        for point in points + [len(data)]:
            protocol.dataReceived(data[start:point])
            start = point
        if answerLater:
            done = 0
            while done < len(handler.responders):
                answer(handler.requests[done], handler.responders[done])
                done += 1
        return handler, transport

    def test_threeAtOnce(self):
        handler, transport = self.feed(echo, [])
        self.assertEqual(transport.value(), b"".join(
            echoed(target, body) for _, target, body in self.THREE))

    @DETERMINISTIC
    @given(st.lists(st.integers(min_value=0, max_value=500), max_size=30),
           st.booleans(), st.booleans())
    def test_anyChunking(self, cuts, streamed, later):
        """
        However the bytes of three pipelined requests are cut, the same
        requests are handled and the same answers written, in order.
        """
        answer = streamEcho if streamed else echo
        handler, transport = self.feed(answer, cuts, later)
        self.assertEqual(
            [(r.method, r.target, r.body) for r in handler.requests],
            [(b"GET", b"/1", b""), (b"POST", b"/2", b"hello"),
             (b"PUT", b"/3", b"abcd")])
        whole, expected = self.feed(answer, [], later)
        self.assertEqual([r.headers for r in handler.requests],
                         [r.headers for r in whole.requests])
        self.assertEqual(transport.value(), expected.value())
        self.assertFalse(transport.disconnecting)


class ErrorTests(SynchronousTestCase):
    """
    The server's own error responses.
    """

    def test_badRequest(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        self.assertEqual(handler.requests, [])
        self.assertTrue(transport.value().startswith(
            b"HTTP/1.1 400 Bad Request\r\n" + DATE))
        self.assertIn(b"\r\nX-Error-Generated-By: cocaine\r\n",
                      transport.value())
        self.assertTrue(transport.disconnecting)
        protocol.dataReceived(GET)
        self.assertEqual(handler.requests, [])

    def test_versionTooHigh(self):
        _, _, protocol, transport = connect(Handler())
        protocol.dataReceived(b"GET / HTTP/1.2\r\n\r\n")
        self.assertEqual(transport.value(), error(
            505, b"HTTP Version Not Supported",
            b"HTTP version not supported"))

    def test_version2(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(b"GET / HTTP/2.0\r\n\r\n")
        self.assertEqual(handler.requests, [])
        self.assertEqual(transport.value(), error(
            505, b"HTTP Version Not Supported",
            b"HTTP version not supported"))

    def test_contentLengthTooLarge(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler, maxBody=10)
        protocol.dataReceived(b"POST / HTTP/1.1\r\nContent-Length: 11\r\n"
                              b"\r\n")
        self.assertEqual(transport.value(), error(
            413, b"Request Entity Too Large", b"request body too large"))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.producerState, "paused")
        self.assertEqual(handler.requests, [])

    def test_contentLengthAtLimit(self):
        handler = Handler()
        _, _, protocol, _ = connect(handler, maxBody=10)
        protocol.dataReceived(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n"
                              b"\r\n0123456789")
        self.assertEqual(handler.requests[0].body, b"0123456789")

    def test_chunkedTooLarge(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler, maxBody=10)
        protocol.dataReceived(b"POST / HTTP/1.1\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n"
                              b"6\r\nabcdef\r\n")
        self.assertEqual(transport.value(), b"")
        protocol.dataReceived(b"6\r\nabcde")
        self.assertEqual(handler.requests, [])
        self.assertEqual(transport.value(), error(
            413, b"Request Entity Too Large", b"request body too large"))

    def test_headersTooLarge(self):
        _, _, protocol, transport = connect(Handler(), maxHeaderBytes=100)
        protocol.dataReceived(b"GET / HTTP/1.1\r\nX-Big: " + b"x" * 100
                              + b"\r\n\r\n")
        self.assertEqual(transport.value(), error(
            431, b"Request Header Fields Too Large",
            b"request headers too large"))

    def test_partialLineTooLarge(self):
        """
        A header line that never ends is cut off once it passes the cap.
        """
        _, _, protocol, transport = connect(Handler(), maxHeaderBytes=100)
        protocol.dataReceived(b"GET / HTTP/1.1\r\nX-Big: ")
        for _ in range(7):
            protocol.dataReceived(b"x" * 10)
        self.assertEqual(transport.value(), b"")
        protocol.dataReceived(b"x" * 10)
        self.assertEqual(transport.value(), error(
            431, b"Request Header Fields Too Large",
            b"request headers too large"))

    def test_urlTooLarge(self):
        _, _, protocol, transport = connect(Handler(), maxHeaderBytes=100)
        protocol.dataReceived(b"GET /" + b"x" * 100 + b" HTTP/1.1\r\n\r\n")
        self.assertEqual(transport.value(), error(
            431, b"Request Header Fields Too Large",
            b"request line too long"))

    def test_headersJustFit(self):
        handler = Handler()
        _, _, protocol, _ = connect(handler, maxHeaderBytes=100)
        head = b"GET / HTTP/1.1\r\nX-Big: " + b"x" * 70 + b"\r\n\r\n"
        for i in range(len(head)):
            protocol.dataReceived(head[i:i + 1])
        self.assertEqual(len(handler.requests), 1)

    def test_maxConnections(self):
        clock, factory, first, _ = connect(Handler(), maxConnections=1)
        self.assertEqual(factory.connections, 1)
        _, _, second, transport = connect(None, factory=factory)
        self.assertEqual(factory.connections, 2)
        self.assertEqual(transport.value(), error(
            503, b"Service Unavailable", b"too many connections"))
        self.assertTrue(transport.disconnecting)
        lose(second)
        lose(first)
        self.assertEqual(factory.connections, 0)
        _, _, third, transport = connect(None, factory=factory)
        self.assertEqual(transport.value(), b"")


class ContinueTests(SynchronousTestCase):
    """
    C{Expect: 100-continue}.
    """

    EXPECT = (b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n"
              b"Content-Length: 2\r\n\r\n")

    def test_continue(self):
        handler = Handler(echo)
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(self.EXPECT)
        self.assertEqual(transport.value(), b"HTTP/1.1 100 Continue\r\n\r\n")
        protocol.dataReceived(b"hi")
        self.assertEqual(transport.value(), b"HTTP/1.1 100 Continue\r\n\r\n"
                         + echoed(b"/", b"hi"))

    def test_notForHTTP10(self):
        _, _, protocol, transport = connect(Handler(echo))
        protocol.dataReceived(self.EXPECT.replace(b"1.1", b"1.0"))
        self.assertEqual(transport.value(), b"")

    def test_tooLarge(self):
        _, _, protocol, transport = connect(Handler(echo), maxBody=1)
        protocol.dataReceived(self.EXPECT)
        self.assertEqual(transport.value(), error(
            413, b"Request Entity Too Large", b"request body too large"))

    def test_afterOutstandingResponse(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(GET + self.EXPECT)
        self.assertEqual(transport.value(), b"")
        handler.responders[0].respond(200, [], b"")
        self.assertEqual(transport.value(),
                         b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + DATE
                         + b"\r\nHTTP/1.1 100 Continue\r\n\r\n")


class TimeoutTests(SynchronousTestCase):
    """
    The header, body and idle timeouts, on the one timer of a connection.
    """

    def test_silentConnection(self):
        clock, _, _, transport = connect(Handler(), headerTimeout=10)
        clock.advance(9.9)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.1)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")

    def test_headerTimeout(self):
        clock, _, protocol, transport = connect(Handler(), headerTimeout=10)
        clock.advance(5)
        protocol.dataReceived(b"GET / HTTP/1.1\r\n")
        clock.advance(4)
        protocol.dataReceived(b"Host: h\r\n")
        self.assertFalse(transport.disconnecting)
        clock.advance(1)
        self.assertEqual(transport.value(), (error(
            408, b"Request Timeout", b"request headers not received in time")
            .replace(DATE, b"Date: Thu, 01 Jan 1970 00:00:10 GMT\r\n")))
        self.assertTrue(transport.disconnecting)

    def test_bodyTimeout(self):
        clock, _, protocol, transport = connect(Handler(), bodyTimeout=3)
        protocol.dataReceived(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n")
        clock.advance(2)
        protocol.dataReceived(b"abc")
        clock.advance(2)
        protocol.dataReceived(b"abc")
        clock.advance(2.9)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.1)
        self.assertIn(b"408 Request Timeout", transport.value())
        self.assertIn(b"\r\n\r\nrequest body not received in time\n",
                      transport.value())
        self.assertTrue(transport.disconnecting)

    def test_idleTimeout(self):
        clock, _, protocol, transport = connect(
            Handler(echo), headerTimeout=10, idleTimeout=30)
        protocol.dataReceived(GET)
        clock.advance(29)
        self.assertFalse(transport.disconnecting)
        protocol.dataReceived(GET)
        clock.advance(29)
        self.assertFalse(transport.disconnecting)
        clock.advance(1)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value().count(b"HTTP/1.1 200 OK"), 2)

    def test_noTimeoutWhileAnswering(self):
        handler = Handler()
        clock, _, protocol, transport = connect(
            handler, headerTimeout=1, bodyTimeout=1, idleTimeout=1)
        protocol.dataReceived(GET + b"GET / HTTP/1.1\r\n")
        clock.pump([1] * 5)
        self.assertFalse(transport.disconnecting)
        handler.responders[0].respond(200, [], b"")
        clock.advance(0.5)
        protocol.dataReceived(b"\r\n")
        self.assertEqual(len(handler.requests), 2)
        handler.responders[1].respond(200, [], b"")
        clock.advance(0.9)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.1)
        self.assertTrue(transport.disconnecting)

    def test_headerTimeoutSoonerThanIdle(self):
        """
        A request begun on an idle connection gets the (shorter) header
        timeout, not what remains of the idle one.
        """
        clock, _, protocol, transport = connect(
            Handler(echo), headerTimeout=2, idleTimeout=60)
        protocol.dataReceived(GET)
        protocol.dataReceived(b"GET / HTTP/1.1\r\n")
        clock.advance(2)
        self.assertIn(b"408 Request Timeout", transport.value())

    def test_noTimeouts(self):
        clock, _, protocol, transport = connect(
            Handler(echo), headerTimeout=None, idleTimeout=None)
        self.assertEqual(clock.getDelayedCalls(), [])
        protocol.dataReceived(GET)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_timerCancelledOnClose(self):
        clock, _, protocol, _ = connect(Handler(echo))
        protocol.dataReceived(GET)
        lose(protocol)
        self.assertEqual(clock.getDelayedCalls(), [])


class LostTests(SynchronousTestCase):
    """
    The client going away.
    """

    def test_notifyLost(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(GET)
        responder = handler.responders[0]
        calls = []
        responder.notifyLost(lambda: calls.append(1))
        responder.writeHead(200, [])
        written = transport.value()
        lose(protocol)
        self.assertEqual(calls, [1])
        responder.write(b"late")
        responder.finish()
        self.assertEqual(transport.value(), written)
        responder.notifyLost(lambda: calls.append(2))
        self.assertEqual(calls, [1, 2])

    def test_notAfterFinish(self):
        handler = Handler()
        _, _, protocol, _ = connect(handler)
        protocol.dataReceived(GET)
        responder = handler.responders[0]
        calls = []
        responder.notifyLost(lambda: calls.append(1))
        responder.respond(200, [], b"")
        lose(protocol)
        self.assertEqual(calls, [])

    def test_beforeHead(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(GET)
        lose(protocol)
        handler.responders[0].respond(200, [], b"late")
        self.assertEqual(transport.value(), b"")


class Producer:
    """
    A producer recording what it is told.
    """

    def __init__(self):
        self.calls = []

    def pauseProducing(self):
        self.calls.append("pause")

    def resumeProducing(self):
        self.calls.append("resume")

    def stopProducing(self):
        self.calls.append("stop")


class BackpressureTests(SynchronousTestCase):
    """
    A full write buffer pauses reading and the response's producer.
    """

    def test_streaming(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        self.assertIs(transport.producer, protocol)
        protocol.dataReceived(GET)
        responder = handler.responders[0]
        producer = Producer()
        responder.registerProducer(producer, True)
        responder.writeHead(200, [])
        protocol.pauseProducing()
        self.assertEqual(transport.producerState, "paused")
        protocol.resumeProducing()
        self.assertEqual(transport.producerState, "producing")
        self.assertEqual(producer.calls, ["pause", "resume"])
        responder.finish()
        protocol.pauseProducing()
        self.assertEqual(producer.calls, ["pause", "resume"])
        self.assertEqual(transport.producerState, "paused")

    def test_registeredWhilePaused(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(GET)
        protocol.pauseProducing()
        producer = Producer()
        handler.responders[0].registerProducer(producer, True)
        self.assertEqual(producer.calls, ["pause"])

    def test_stop(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(GET)
        producer = Producer()
        handler.responders[0].registerProducer(producer, True)
        protocol.stopProducing()
        self.assertEqual(producer.calls, ["stop"])

    def test_pull(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(GET)
        responder = handler.responders[0]
        producer = Producer()
        responder.registerProducer(producer, False)
        self.assertIs(transport.producer, producer)
        self.assertFalse(transport.streaming)
        responder.respond(200, [], b"")
        self.assertIs(transport.producer, protocol)
        self.assertTrue(transport.streaming)

    def test_unregister(self):
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(GET)
        responder = handler.responders[0]
        producer = Producer()
        responder.registerProducer(producer, True)
        responder.unregisterProducer()
        protocol.pauseProducing()
        self.assertEqual(producer.calls, [])
        responder.registerProducer(Producer(), True)
        self.assertRaises(RuntimeError, responder.registerProducer,
                          Producer(), True)


    def test_closeWhilePaused(self):
        """
        A response after which the connection closes (C{Connection:
        close}) ends with the connection no longer the transport's
        producer: paused, it would have been resumed by Twisted instead of
        the connection being closed once the buffer drained.
        """
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        protocol.pauseProducing()
        responder = handler.responders[0]
        responder.writeHead(200, [])
        responder.write(b"x")
        responder.finish()
        self.assertIsNone(transport.producer)
        self.assertTrue(transport.disconnecting)

    def test_whenWritable(self):
        """
        A responder says whether its client reads and calls back once it
        has; a response over, or a connection gone, calls nothing.
        """
        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(GET)
        responder = handler.responders[0]
        called = []
        self.assertTrue(responder.writable)
        responder.whenWritable(lambda: called.append("at once"))
        protocol.pauseProducing()
        self.assertFalse(responder.writable)
        responder.whenWritable(lambda: called.append("later"))
        self.assertEqual(called, ["at once"])
        protocol.resumeProducing()
        self.assertEqual(called, ["at once", "later"])
        protocol.pauseProducing()
        responder.whenWritable(lambda: (called.append("pauses"),
                                        protocol.pauseProducing()))
        responder.whenWritable(lambda: called.append("next drain"))
        protocol.resumeProducing()
        self.assertEqual(called, ["at once", "later", "pauses"])
        protocol.resumeProducing()
        self.assertEqual(called, ["at once", "later", "pauses",
                                  "next drain"])
        called[:] = ["at once", "later"]
        protocol.pauseProducing()
        responder.whenWritable(lambda: called.append("lost"))
        lose(protocol)
        protocol.resumeProducing()
        self.assertEqual(called, ["at once", "later"])

        handler = Handler()
        _, _, protocol, transport = connect(handler)
        protocol.dataReceived(GET)
        responder = handler.responders[0]
        responder.respond(200, [], b"")
        responder.whenWritable(lambda: called.append("finished"))
        self.assertEqual(called, ["at once", "later"])


class StalledClientTests(SynchronousTestCase):
    """
    A client that does not read cannot make the server buffer without
    bound: past C{maxBuffer} bytes written while the write buffer is full,
    or with the buffer full for C{sendTimeout}, the connection is aborted
    and the handler told the client went away.
    """

    def streaming(self, **options):
        handler = Handler()
        clock, factory, protocol, transport = connect(handler, **options)
        protocol.dataReceived(GET)
        responder = handler.responders[0]
        lost = []
        responder.notifyLost(lambda: lost.append(True))
        # a length, so that the bytes written are the body's
        responder.writeHead(200, [(b"Content-Length", b"100000")])
        return clock, protocol, transport, responder, lost

    def test_maxBuffer(self):
        """
        The bytes written while paused are counted, not those before; the
        write past the cap is not made and the connection is aborted.
        """
        clock, protocol, transport, responder, lost = self.streaming(
            maxBuffer=100)
        responder.write(b"x" * 1000)
        protocol.pauseProducing()
        responder.write(b"x" * 60)
        protocol.pauseProducing()       # again, as each write while full
        responder.write(b"x" * 40)
        self.assertFalse(transport.disconnecting)
        written = len(transport.value())
        responder.write(b"x")
        self.assertTrue(transport.disconnected)     # aborted, not closed
        self.assertEqual(len(transport.value()), written)
        responder.write(b"x" * 10)
        self.assertEqual(len(transport.value()), written)
        lose(protocol)
        self.assertEqual(lost, [True])

    def test_resumeResets(self):
        """
        The count starts again at each pause: a client that reads, slowly,
        is never cut.
        """
        clock, protocol, transport, responder, lost = self.streaming(
            maxBuffer=100)
        for _ in range(5):
            protocol.pauseProducing()
            responder.write(b"x" * 90)
            protocol.resumeProducing()
        self.assertFalse(transport.disconnecting)

    def test_sendTimeout(self):
        """
        The buffer full for C{sendTimeout} (however many pauses were
        asked) aborts the connection.
        """
        clock, protocol, transport, responder, lost = self.streaming(
            sendTimeout=10.0)
        clock.advance(50)
        protocol.pauseProducing()
        clock.advance(6)
        protocol.pauseProducing()
        clock.advance(3.9)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.1)
        self.assertTrue(transport.disconnected)
        lose(protocol)
        self.assertEqual(lost, [True])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_sendTimeoutAfterResume(self):
        """
        The timeout counts from the last pause: a resume in between saves
        the connection until a new pause lasts long enough.
        """
        clock, protocol, transport, responder, lost = self.streaming(
            sendTimeout=10.0)
        protocol.pauseProducing()
        clock.advance(8)
        protocol.resumeProducing()
        clock.advance(1)
        protocol.pauseProducing()
        clock.advance(2)
        self.assertFalse(transport.disconnecting)
        clock.advance(7.9)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.1)
        self.assertTrue(transport.disconnected)

    def test_timeoutAfterResponse(self):
        """
        A response finished but not read, on a connection closing after
        it, is aborted too: closing alone would wait for the client
        forever.
        """
        handler = Handler()
        clock, factory, protocol, transport = connect(handler,
                                                      sendTimeout=5.0)
        protocol.dataReceived(b"GET / HTTP/1.0\r\n\r\n")
        protocol.pauseProducing()
        handler.responders[0].respond(200, [], b"x" * 100)
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)
        clock.advance(5)
        self.assertTrue(transport.disconnected)

    def test_noSendTimeout(self):
        """
        C{sendTimeout=None}: no timer.
        """
        clock, protocol, transport, responder, lost = self.streaming(
            sendTimeout=None)
        calls = clock.getDelayedCalls()
        protocol.pauseProducing()
        self.assertEqual(clock.getDelayedCalls(), calls)

    def test_lostCancelsTimer(self):
        clock, protocol, transport, responder, lost = self.streaming(
            sendTimeout=10.0)
        protocol.pauseProducing()
        lose(protocol)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_defaults(self):
        factory = HTTPFactory(MemoryReactorClock(), Handler())
        self.assertEqual((factory.maxBuffer, factory.sendTimeout),
                         (32 * 2 ** 20, 60.0))


class ExportTests(SynchronousTestCase):
    """
    The names of the interface come from L{cocaine.http.server}.
    """

    def test_names(self):
        self.assertTrue(issubclass(Responder, object))
        self.assertEqual(HTTPRequest(b"GET", b"/", b"1.1", []).body, b"")
        self.assertEqual(
            sorted(server.__all__),
            ["HTTPChannel", "HTTPFactory", "HTTPRequest", "Responder"])
