# -*- test-case-name: tests.http.test_gateway -*-
"""
Tests for L{cocaine.http.gateway}: requests in, sessions out, answers back,
with a fake responder, a L{MemoryNode} and a scripted backend.
"""

import struct

import msgpack
from twisted.internet.error import ConnectionAborted
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from cocaine.engine.session import Session
from cocaine.engine.stats import AppStats
from cocaine.errors import (
    AppNotRunning, CocaineError, DeadlineExpired, QueueFull, Unreachable,
    WorkerLost)
from cocaine.http.backends import LOCAL, NodeBackend
from cocaine.http.gateway import Backend, Gateway, timeoutFor
from cocaine.http.server import HTTPFactory
from cocaine.protocol.worker import CHUNK, CLOSE
from cocaine.testing import MemoryNode, memoryContext
from tests.http.fakes import FakeRequest, FakeResponder


def head(code, headers=()):
    return msgpack.packb([code, [list(h) for h in headers]])


def echoApp(event, chunks):
    """
    An app echoing the body with the request's content type, after a head
    naming method and URI.
    """
    method, uri, version, headers, body = msgpack.unpackb(chunks[0],
                                                          raw=True)
    kind = dict((k.lower(), v) for k, v in headers).get(
        b"content-type", b"application/octet-stream")
    return [head(200, [(b"Content-Type", kind),
                       (b"X-Method", method), (b"X-Uri", uri),
                       (b"X-Version", version)]), body]


class _ScriptedCall:
    def __init__(self, backend, args):
        self.backend = backend
        self.app, self.event, self.headers, self.chunk, self.upstream, \
            self.tried = args
        self.cancelled = False

    def cancel(self):
        self.cancelled = True


@implementer(Backend)
class ScriptedBackend:
    """
    Records calls; the test answers on their upstreams.
    """

    def __init__(self, targets=("a", "b")):
        self.calls = []
        self.targets = list(targets)
        self.alive = True

    def call(self, app, event, headers, chunk, upstream, tried):
        upstream.target = [t for t in self.targets if t not in tried][0]
        call = _ScriptedCall(self, (app, event, headers, chunk, upstream,
                                    tried))
        self.calls.append(call)
        return call

    def hasOther(self, app, tried):
        return any(t not in tried for t in self.targets)

    def healthy(self):
        return self.alive


class GatewayTestsMixin:

    def request(self, target=b"/echo/http/x?y=1", method=b"GET",
                headers=(), body=b"", version=b"1.1"):
        responder = FakeResponder()
        self.gateway.handleRequest(
            FakeRequest(method, target, headers, body, version), responder)
        return responder


class NodeGatewayTests(GatewayTestsMixin, SynchronousTestCase):
    """
    The gateway on a L{MemoryNode}.
    """

    def setUp(self):
        self.clock = Clock()
        self.node = MemoryNode()
        self.node.add("echo", echoApp)
        self.context = memoryContext(self.node, reactor=self.clock)
        self.gateway = Gateway(self.clock, NodeBackend(self.context),
                               {"slow": {"": 2.0}})

    def test_backendInterface(self):
        """
        L{NodeBackend} provides L{Backend}.
        """
        self.assertTrue(verifyObject(Backend, NodeBackend(self.context)))

    def test_get(self):
        """
        A GET by path reaches the app with the rest of the path as its URI
        and the answer comes back with our headers.
        """
        responder = self.request(headers=[(b"Host", b"h")])
        self.assertEqual(responder.code, 200)
        self.assertTrue(responder.finished)
        self.assertEqual(responder.header(b"X-Method"), b"GET")
        self.assertEqual(responder.header(b"X-Uri"), b"/x?y=1")
        self.assertEqual(responder.header(b"X-Version"), b"1.1")
        self.assertEqual(responder.header(b"X-Powered-By"), b"Cocaine")
        self.assertEqual(responder.header(b"X-Cocaine-Application"),
                         b"echo")
        self.assertIsNone(responder.header(b"X-Error-Generated-By"))
        self.assertEqual(self.gateway.codes, {200: 1})

    def test_postBinary(self):
        """
        A binary body arrives byte-exact, its content type too.
        """
        body = bytes(range(256)) * 4
        responder = self.request(method=b"POST", body=body, headers=[
            (b"Content-Type", b"image/png")])
        self.assertEqual(responder.body, body)
        self.assertEqual(responder.header(b"Content-Type"), b"image/png")

    def test_headerRouting(self):
        """
        With the dispatch headers the URI is passed unchanged.
        """
        responder = self.request(target=b"/any/path?q", headers=[
            (b"X-Cocaine-Service", b"echo"), (b"X-Cocaine-Event", b"e")])
        self.assertEqual(responder.header(b"X-Uri"), b"/any/path?q")

    def test_ping(self):
        """
        C{/ping} answers 200 while the node runs.
        """
        responder = self.request(target=b"/ping")
        self.assertEqual((responder.code, responder.body), (200, b"OK"))

    def test_unknownApp(self):
        """
        An app that does not run is a 404 of our own.
        """
        responder = self.request(target=b"/nope/http/")
        self.assertEqual(responder.code, 404)
        self.assertEqual(responder.header(b"X-Error-Generated-By"),
                         b"cocaine")
        self.assertIn(b"nope", responder.body)
        self.assertEqual(self.gateway.codes, {404: 1})

    def test_badRoute(self):
        """
        Routing errors are answered with their code.
        """
        self.assertEqual(self.request(target=b"/").code, 404)
        self.assertEqual(self.request(headers=[
            (b"X-Cocaine-Event", b"x")]).code, 400)

    def test_appError(self):
        """
        An app error is a 500 naming its category and code.
        """
        def fail(event, chunks):
            raise WorkerLost("worker died")
        self.node.add("bad", fail)
        responder = self.request(target=b"/bad/x")
        self.assertEqual(responder.code, 500)
        self.assertIn(b"[20991, 3]", responder.body)
        self.assertIn(b"worker died", responder.body)

    def test_timeout(self):
        """
        An app that does not answer in its configured time is a 504 and its
        session is cancelled; C{request_timeout} tells the node the same.
        """
        sessions = []

        class Hang:
            def __init__(self, upstream, headers):
                self.upstream, self.headers = upstream, headers
                self.lost = False

            def write(self, chunk):
                pass

            def close(self):
                pass

            def connectionLost(self):
                self.lost = True

        def enqueue(name, upstream, event, tag=None, headers=()):
            sessions.append(Hang(upstream, headers))
            return sessions[-1]
        self.node.enqueue = enqueue
        responder = self.request(target=b"/slow/x")
        self.assertIn((b"request_timeout", struct.pack("<Q", 2000)),
                      sessions[0].headers)
        self.clock.advance(1.9)
        self.assertIsNone(responder.code)
        self.clock.advance(0.2)
        self.assertEqual(responder.code, 504)
        self.assertTrue(sessions[0].lost)
        # a late answer goes nowhere
        sessions[0].upstream.send("write", head(200))
        sessions[0].upstream.send("close")
        self.assertTrue(responder.finished)

    def test_requestHeaders(self):
        """
        X-Request-Id becomes the trace (and is echoed), Authorization
        becomes C{authorization}.
        """
        seen = []
        real = self.node.enqueue

        def enqueue(name, upstream, event, tag=None, headers=()):
            seen.extend(headers)
            return real(name, upstream, event, tag, headers)
        self.node.enqueue = enqueue
        responder = self.request(headers=[
            (b"X-Request-Id", b"0000000000000010"),
            (b"Authorization", b"TVM ticket")])
        headers = dict(seen)
        self.assertEqual(headers[b"trace_id"], struct.pack("<Q", 16))
        self.assertEqual(headers[b"authorization"], b"TVM ticket")
        self.assertEqual(headers[b"request_timeout"],
                         struct.pack("<Q", 30000))
        self.assertEqual(responder.header(b"X-Request-Id"),
                         b"0000000000000010")

    def test_badRequestId(self):
        """
        A request id that is not hex is a 400.
        """
        responder = self.request(headers=[(b"X-Request-Id", b"zz")])
        self.assertEqual(responder.code, 400)
        self.assertEqual(responder.header(b"X-Request-Id"), b"zz")

    def test_queueFull(self):
        """
        Queue full with no other node is a 503 with Retry-After.
        """
        def full(event, chunks):
            raise QueueFull("full")
        self.node.add("busy", full)
        responder = self.request(target=b"/busy/x")
        self.assertEqual(responder.code, 503)
        self.assertEqual(responder.header(b"Retry-After"), b"1")

    def test_clientLost(self):
        """
        A client that goes away cancels its session.
        """
        sessions = []

        class Held:
            lost = False

            def write(self, chunk):
                pass

            def close(self):
                pass

            def connectionLost(self):
                self.lost = True

        def enqueue(name, upstream, event, tag=None, headers=()):
            sessions.append(Held())
            return sessions[-1]
        self.node.enqueue = enqueue
        responder = self.request()
        responder.loseClient()
        self.assertTrue(sessions[0].lost)
        self.clock.advance(60)
        self.assertIsNone(responder.code)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class _RecordingEngine:
    """
    What a L{Session} asks of its engine: counts in an L{AppStats}.
    """

    name = "app"

    def __init__(self, clock):
        self.stats = AppStats(clock)
        self.finished = []

    def sessionFinished(self, session):
        self.finished.append(session)

    def sessionAbandoned(self, session):
        self.finished.append(session)


class _RecordingWorker:
    """
    What a L{Session} asks of its worker: records the channel's messages
    and the slot it frees.
    """

    reason = None

    def __init__(self):
        self.sent = []
        self.freed = []

    def assign(self, session):
        return 2

    def send(self, channel, mtype, args):
        self.sent.append((channel, mtype, args))

    def finished(self, channel):
        self.freed.append(channel)


class SessionOutcomeTests(GatewayTestsMixin, SynchronousTestCase):
    """
    How the app's sessions behind the gateway end, on a real
    L{Session} and its stats.
    """

    def setUp(self):
        self.clock = Clock()
        self.node = MemoryNode()
        self.engine = _RecordingEngine(self.clock)
        self.worker = _RecordingWorker()
        self.sessions = []

        def enqueue(name, upstream, event, tag=None, headers=()):
            session = Session(self.engine, event, upstream, self.worker)
            self.sessions.append(session)
            return session
        self.node.enqueue = enqueue
        self.gateway = Gateway(self.clock, NodeBackend(memoryContext(
            self.node, reactor=self.clock)))

    def answer(self, *chunks, end=CLOSE):
        [session] = self.sessions
        for chunk in chunks:
            session.fromWorker(self.worker, 2, CHUNK, [chunk])
        session.fromWorker(self.worker, 2, end, [])

    def test_endedWithEmptyChunkCountedOk(self):
        """
        An answer ended by an empty chunk (C{X-Cocaine-HTTP-Proto-Version:
        1.1}) is complete: the session is counted ok, not disconnected,
        once the worker closes its stream, and its slot is freed then.
        """
        responder = self.request()
        [session] = self.sessions
        session.fromWorker(self.worker, 2, CHUNK, [head(200, [
            (b"X-Cocaine-HTTP-Proto-Version", b"1.1")])])
        session.fromWorker(self.worker, 2, CHUNK, [b"body"])
        session.fromWorker(self.worker, 2, CHUNK, [b""])
        self.assertTrue(responder.finished)
        self.assertEqual(responder.chunks, [b"body"])
        self.assertEqual(self.worker.freed, [])
        session.fromWorker(self.worker, 2, CLOSE, [])
        stats = self.engine.stats
        self.assertEqual((stats.ok, stats.disconnected), (1, 0))
        self.assertEqual(self.worker.freed, [2])
        self.assertEqual(self.engine.finished, [session])
        # the worker was sent the request and its close, nothing else
        self.assertEqual([m[1] for m in self.worker.sent], [CHUNK, CLOSE])

    def test_endedWithClose(self):
        """
        An answer ended by the worker's close is counted ok.
        """
        responder = self.request()
        self.answer(head(200), b"body")
        self.assertTrue(responder.finished)
        self.assertEqual((self.engine.stats.ok,
                          self.engine.stats.disconnected), (1, 0))

    def test_clientGoneCountedDisconnected(self):
        """
        A client that goes away before its whole answer is counted
        disconnected; the worker's end, later, frees its slot.
        """
        responder = self.request()
        [session] = self.sessions
        session.fromWorker(self.worker, 2, CHUNK, [head(200, [
            (b"X-Cocaine-HTTP-Proto-Version", b"1.1")])])
        responder.loseClient()
        session.fromWorker(self.worker, 2, CHUNK, [b""])
        session.fromWorker(self.worker, 2, CLOSE, [])
        self.assertEqual((self.engine.stats.ok,
                          self.engine.stats.disconnected), (0, 1))
        self.assertEqual(self.worker.freed, [2])


class ScriptedGatewayTests(GatewayTestsMixin, SynchronousTestCase):
    """
    The gateway's handling of answers, errors and retries.
    """

    def setUp(self):
        self.clock = Clock()
        self.backend = ScriptedBackend()
        self.gateway = Gateway(self.clock, self.backend)

    def test_streams(self):
        """
        Body chunks go to the client as they arrive.
        """
        responder = self.request()
        upstream = self.backend.calls[0].upstream
        upstream.send("write", head(200, [(b"Content-Type", b"text/x")]))
        self.assertEqual(responder.code, 200)
        upstream.send("write", b"one")
        self.assertEqual(responder.chunks, [b"one"])
        upstream.send("write", b"two")
        self.assertEqual(responder.chunks, [b"one", b"two"])
        self.assertFalse(responder.finished)
        upstream.send("close")
        self.assertTrue(responder.finished)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_wire(self):
        """
        One chunk C{[method, uri, version, headers, body]} goes to the
        event.
        """
        self.request(target=b"/app/ev/r", method=b"HEAD", body=b"",
                     headers=[(b"A", b"b")], version=b"1.0")
        call = self.backend.calls[0]
        self.assertEqual((call.app, call.event), ("app", "ev"))
        self.assertEqual(msgpack.unpackb(call.chunk, raw=True), [
            b"HEAD", b"/r", b"1.0",
            [[b"A", b"b"], [b"X-Cocaine-Service", b"app"],
             [b"X-Cocaine-Event", b"ev"]], b""])

    def test_protoVersionEnd(self):
        """
        With C{X-Cocaine-HTTP-Proto-Version: 1.1} an empty chunk ends the
        response; without, it is ignored. The session, complete rather
        than abandoned, is not cancelled: it ends on its own, unheard.
        """
        responder = self.request()
        upstream = self.backend.calls[0].upstream
        upstream.send("write", head(200))
        upstream.send("write", b"")
        self.assertFalse(responder.finished)
        responder = self.request()
        call = self.backend.calls[1]
        call.upstream.send("write", head(200, [
            (b"X-Cocaine-HTTP-Proto-Version", b"1.1")]))
        call.upstream.send("write", b"x")
        call.upstream.send("write", b"")
        self.assertTrue(responder.finished)
        self.assertFalse(call.cancelled)
        call.upstream.send("write", b"late")
        call.upstream.send("close")
        self.assertEqual(responder.chunks, [b"x"])

    def test_notHTTP(self):
        """
        A first chunk that is not a head is a 500 and cancels the session.
        """
        responder = self.request()
        call = self.backend.calls[0]
        call.upstream.send("write", b"plain")
        self.assertEqual(responder.code, 500)
        self.assertTrue(call.cancelled)

    def test_closeWithoutHead(self):
        """
        A close before any head is a 500.
        """
        responder = self.request()
        self.backend.calls[0].upstream.send("close")
        self.assertEqual(responder.code, 500)

    def test_errorMidResponse(self):
        """
        An error after the head aborts the response.
        """
        responder = self.request()
        upstream = self.backend.calls[0].upstream
        upstream.send("write", head(200))
        upstream.send("write", b"part")
        upstream.error(WorkerLost("killed"))
        self.assertTrue(responder.aborted)
        self.assertFalse(responder.finished)

    def test_timeoutMidResponse(self):
        """
        A timeout after the head aborts the response.
        """
        responder = self.request()
        call = self.backend.calls[0]
        call.upstream.send("write", head(200))
        self.clock.advance(30)
        self.assertTrue(responder.aborted)
        self.assertTrue(call.cancelled)

    def test_deadlineError(self):
        """
        The node's own deadline error is a 504 too.
        """
        responder = self.request()
        self.backend.calls[0].upstream.error(DeadlineExpired("late"))
        self.assertEqual(responder.code, 504)

    def test_retryQueueFull(self):
        """
        Queue full on one node is retried once on another; the first
        attempt's late messages are ignored.
        """
        responder = self.request()
        first = self.backend.calls[0]
        first.upstream.error(QueueFull("full"))
        self.assertEqual(len(self.backend.calls), 2)
        second = self.backend.calls[1]
        self.assertEqual(second.tried, ["a"])
        first.upstream.send("write", head(201))
        second.upstream.send("write", head(200))
        second.upstream.send("close")
        self.assertEqual(responder.code, 200)

    def test_retryLegacyQueueFull(self):
        """
        0.12's queue full C{[0x52FF, 1]} is retried too.
        """
        self.request()
        self.backend.calls[0].upstream.error(CocaineError(
            "full", category=0x52FF, code=1))
        self.assertEqual(len(self.backend.calls), 2)

    def test_retryOnce(self):
        """
        Only one retry: the second refusal is answered.
        """
        self.backend.targets = ["a", "b", "c"]
        responder = self.request()
        self.backend.calls[0].upstream.error(QueueFull("full"))
        self.backend.calls[1].upstream.error(QueueFull("full"))
        self.assertEqual(len(self.backend.calls), 2)
        self.assertEqual(responder.code, 503)

    def test_retryNotRunningOrUnreachable(self):
        """
        An app not running there or a node unreachable is retried; the
        answer of the last attempt counts.
        """
        responder = self.request()
        self.backend.calls[0].upstream.error(AppNotRunning("no"))
        self.backend.calls[1].upstream.error(Unreachable("down"))
        self.assertEqual(responder.code, 502)

    def test_queueFullOutranksRetryRefusal(self):
        """
        Queue full, then the retry target's app not running (paused
        meanwhile) or its node unreachable: the app is overloaded, a 503
        with Retry-After, not a 404 or 502.
        """
        for refusal in (AppNotRunning("paused"), Unreachable("down")):
            self.backend.calls = []
            responder = self.request()
            self.backend.calls[0].upstream.error(QueueFull("full"))
            self.backend.calls[1].upstream.error(refusal)
            self.assertEqual(responder.code, 503)
            self.assertEqual(responder.header(b"Retry-After"), b"1")

    def test_queueFullRetryFailing(self):
        """
        A retry that fails after delivery answers for itself.
        """
        responder = self.request()
        self.backend.calls[0].upstream.error(QueueFull("full"))
        self.backend.calls[1].upstream.error(DeadlineExpired("late"))
        self.assertEqual(responder.code, 504)

    def test_noRetryWhenDelivered(self):
        """
        A worker lost (the request may have been delivered) is never
        retried.
        """
        responder = self.request()
        self.backend.calls[0].upstream.error(WorkerLost("killed"))
        self.assertEqual(len(self.backend.calls), 1)
        self.assertEqual(responder.code, 500)

    def test_noOtherNode(self):
        """
        Without another node, queue full is answered at once.
        """
        self.backend.targets = ["a"]
        responder = self.request()
        self.backend.calls[0].upstream.error(QueueFull("full"))
        self.assertEqual(responder.code, 503)

    def test_syncRefusalRetried(self):
        """
        A backend that refuses synchronously (during C{call}) is retried
        too.
        """
        backend = self.backend
        real = backend.call

        def call(app, event, headers, chunk, upstream, tried):
            result = real(app, event, headers, chunk, upstream, tried)
            if not tried:
                upstream.error(QueueFull("full"))
            return result
        backend.call = call
        responder = self.request()
        self.assertEqual(len(backend.calls), 2)
        backend.calls[1].upstream.send("write", head(200))
        backend.calls[1].upstream.send("close")
        self.assertEqual(responder.code, 200)

    def test_pingUnhealthy(self):
        """
        C{/ping} is a 503 when the backend is not healthy.
        """
        self.backend.alive = False
        self.assertEqual(self.request(target=b"/ping").code, 503)


class StalledClientTests(SynchronousTestCase):
    """
    The gateway behind the real server: a client that does not read ends
    the app's session.
    """

    def test_maxBufferCancelsSession(self):
        clock = MemoryReactorClock()
        backend = ScriptedBackend()
        factory = HTTPFactory(clock, Gateway(clock, backend),
                              maxBuffer=1000)
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"GET /app/big HTTP/1.1\r\nHost: x\r\n\r\n")
        [call] = backend.calls
        upstream = call.upstream
        upstream.send("write", head(200))
        protocol.pauseProducing()
        for _ in range(3):
            upstream.send("write", b"x" * 400)
        self.assertTrue(transport.disconnected)
        self.assertFalse(call.cancelled)
        protocol.connectionLost(Failure(ConnectionAborted()))
        self.assertTrue(call.cancelled)
        self.assertEqual(clock.getDelayedCalls(), [])


    def test_upstreamSaysWhetherTheClientReads(self):
        """
        The session's upstream says whether the HTTP client takes what it
        is sent, and calls back once it has (a session holds its worker
        meanwhile: L{cocaine.engine.session}); a superseded attempt's
        upstream is always writable (nothing it sends is heard).
        """
        clock = MemoryReactorClock()
        backend = ScriptedBackend()
        protocol = HTTPFactory(clock, Gateway(clock, backend)
                               ).buildProtocol(None)
        protocol.makeConnection(StringTransport())
        protocol.dataReceived(b"GET /app/big HTTP/1.1\r\nHost: x\r\n\r\n")
        [call] = backend.calls
        upstream = call.upstream
        upstream.send("write", head(200))
        self.assertTrue(upstream.writable)
        protocol.pauseProducing()
        self.assertFalse(upstream.writable)
        called = []
        upstream.whenWritable(lambda: called.append(True))
        self.assertEqual(called, [])
        protocol.resumeProducing()
        self.assertEqual(called, [True])
        protocol.pauseProducing()
        upstream.exchange.upstream = object()
        self.assertTrue(upstream.writable)


class TimeoutForTests(SynchronousTestCase):

    def test_lookup(self):
        """
        Per event, then the app's default, then the global default.
        """
        timeouts = {"a": {"e": 1, "": 2}, "b": {"e": 3}}
        self.assertEqual(timeoutFor(timeouts, "a", "e"), 1.0)
        self.assertEqual(timeoutFor(timeouts, "a", "x"), 2.0)
        self.assertEqual(timeoutFor(timeouts, "b", "x", 7), 7)
        self.assertEqual(timeoutFor(timeouts, "c", "e", 7), 7)


class LocalTargetTests(SynchronousTestCase):

    def test_localFirst(self):
        """
        The node's own apps are tried first.
        """
        self.assertEqual(LOCAL, "local")


class _OneWriteResponder(FakeResponder):
    """
    A responder with the server's C{respond}.
    """

    def __init__(self):
        FakeResponder.__init__(self)
        self.responded = []

    def respond(self, code, headers, body=b""):
        self.responded.append((code, headers, body))
        self.writeHead(code, headers)
        self.write(body)
        self.finish()


class OneWriteTests(SynchronousTestCase):

    def test_errorInOneWrite(self):
        """
        Our own answers use C{respond} when the responder has it (the
        server adds the Content-Length).
        """
        gateway = Gateway(Clock(), ScriptedBackend())
        responder = _OneWriteResponder()
        gateway.handleRequest(FakeRequest(target=b"/"), responder)
        [(code, headers, body)] = responder.responded
        self.assertEqual(code, 404)
        self.assertIn((b"X-Error-Generated-By", b"cocaine"), headers)
        self.assertTrue(body.endswith(b"\n"))
        responder = _OneWriteResponder()
        gateway.handleRequest(FakeRequest(target=b"/ping"), responder)
        self.assertEqual(responder.responded[0][::2], (200, b"OK"))
