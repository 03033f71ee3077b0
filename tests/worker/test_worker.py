# -*- test-case-name: tests.worker.test_worker -*-
"""
Tests for L{cocaine.worker.worker}: the example echo worker and a test app
run as real processes against L{tests.worker.runtime.FakeRuntime}, and a
worker served in the test process against a runtime on a UNIX socket.
"""

import asyncio
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time

import msgpack
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cocaine.worker.worker import settleHeap
from tests.worker.runtime import ECHO, ROOT, TESTAPP, FakeRuntime


class WorkerMixin:
    """
    Starts the worker under test.
    """

    script = ECHO

    def startWorker(self, handshake=True, **environment):
        runtime = FakeRuntime(self, [sys.executable, self.script],
                              environment=environment).start()
        if handshake:
            runtime.handshake()
        return runtime


class ControlTests(WorkerMixin, TestCase):
    """
    The control channel: handshake, heartbeats, terminate, disconnection.
    """

    def test_handshakeThenHeartbeat(self):
        """
        The worker sends the handshake C{[1, 0, [uuid]]} and then a
        heartbeat C{[1, 0, []]}, each as a 3-element array.
        """
        runtime = self.startWorker(handshake=False)
        elapsed = runtime.handshake()
        self.assertLess(elapsed, 5)

    def test_heartbeatsKeepItAlive(self):
        """
        The worker sends a heartbeat every interval; answered heartbeats
        keep it alive past the disown timeout, and when the answers stop it
        logs "disowned" and exits with status 1.
        """
        runtime = self.startWorker(COCAINE_HEARTBEAT_INTERVAL="0.1",
                                   COCAINE_DISOWN_TIMEOUT="0.35")
        deadline = time.monotonic() + 1.0
        beats = 0
        while time.monotonic() < deadline:
            self.assertEqual(runtime.receive(skipHeartbeats=False),
                             [1, 0, []])
            runtime.send(1, 0, [])
            beats += 1
        self.assertGreaterEqual(beats, 5)
        self.assertIsNone(runtime.process.poll())
        silentSince = time.monotonic()
        self.assertEqual(runtime.wait(3), 1)
        self.assertLess(time.monotonic() - silentSince, 1.5)
        self.assertIn("disowned", runtime.output())

    def test_terminate(self):
        """
        A terminate C{[1, 1, [code, reason]]} is answered with the same
        terminate and the worker exits with status 0 promptly.
        """
        runtime = self.startWorker()
        sent = time.monotonic()
        runtime.send(1, 1, [1, "normal"])
        self.assertEqual(runtime.receive(), [1, 1, [1, b"normal"]])
        self.assertEqual(runtime.wait(2), 0)
        self.assertLess(time.monotonic() - sent, 2)
        self.assertEqual(runtime.waitForClose(), [])

    def test_terminateLetsHandlersFinish(self):
        """
        Handlers running when the terminate arrives may finish within the
        grace period; their responses go out before the terminate answer.
        An invoke arriving after the terminate is refused with C{[[42,
        300], ...]}.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["slow"])
        runtime.send(2, 0, [b"200"])
        runtime.send(1, 1, [1, "bye"])
        runtime.send(3, 0, ["ping"])
        messages = [runtime.receive() for _ in range(4)]
        self.assertEqual(messages[0],
                         [3, 1, [[42, 300], b"worker is terminating"]])
        self.assertEqual(messages[1:],
                         [[2, 0, [b"done"]], [2, 2, []], [1, 1, [1, b"bye"]]])
        self.assertEqual(runtime.wait(2), 0)

    def test_terminateGrace(self):
        """
        A handler still running when the grace period ends is cancelled and
        its session failed with C{[[42, 300], ...]} before the terminate
        answer.
        """
        runtime = self.startWorker(COCAINE_TERMINATE_GRACE="0.2")
        runtime.send(2, 0, ["slow"])
        runtime.send(2, 0, [b"60000"])
        runtime.send(1, 1, [2, "abnormal"])
        sent = time.monotonic()
        chunks, end = runtime.receiveSession(2)
        self.assertEqual(chunks, [])
        self.assertEqual(end[1], 1)
        self.assertEqual(end[2][0], [42, 300])
        self.assertEqual(runtime.receive(), [1, 1, [2, b"abnormal"]])
        self.assertEqual(runtime.wait(2), 0)
        self.assertLess(time.monotonic() - sent, 1.5)

    def test_runtimeClosesConnection(self):
        """
        When the runtime closes the connection the worker exits with status
        1, even with a handler running.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["slow"])
        runtime.send(2, 0, [b"60000"])
        runtime.close()
        closed = time.monotonic()
        self.assertEqual(runtime.wait(2), 1)
        self.assertLess(time.monotonic() - closed, 1)
        self.assertIn("connection to the runtime lost", runtime.output())

    def test_executable(self):
        """
        The example runs as the runtime starts it: directly, through its
        C{#!/usr/bin/env python3} line, from another working directory.
        """
        path = os.pathsep.join([os.path.dirname(sys.executable),
                                os.environ.get("PATH", "")])
        runtime = FakeRuntime(self, [ECHO], cwd="/",
                              environment={"PATH": path}).start()
        runtime.handshake()
        runtime.send(2, 0, ["ping"])
        self.assertEqual(runtime.receiveSession(2), ([b"pong"], [2, 2, []]))

    def test_noRuntime(self):
        """
        A worker that cannot connect exits with status 1, saying why.
        """
        process = subprocess.run(
            [sys.executable, ECHO, "--app", "echo", "--endpoint",
             "/nonexistent/worker.sock", "--uuid", "U"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        self.assertEqual(process.returncode, 1)
        self.assertIn(b"cannot connect to the runtime", process.stdout)

    def test_usage(self):
        """
        Without C{--endpoint} and C{--uuid} the worker exits with status 2
        and a usage line.
        """
        process = subprocess.run(
            [sys.executable, ECHO, "--app", "echo"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        self.assertEqual(process.returncode, 2)
        self.assertIn(b"usage:", process.stdout)

    def test_badFreezeSetting(self):
        """
        A C{COCAINE_GC_FREEZE} that is neither 0 nor 1 makes the worker
        exit with status 2, naming it.
        """
        process = subprocess.run(
            [sys.executable, ECHO, "--app", "echo", "--endpoint", "/nowhere",
             "--uuid", "u"], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=10,
            env=dict(os.environ, PYTHONPATH=ROOT, COCAINE_GC_FREEZE="yes"))
        self.assertEqual(process.returncode, 2)
        self.assertIn(b"COCAINE_GC_FREEZE='yes'", process.stdout)

    def test_brokenStream(self):
        """
        Bytes that are not msgpack make the worker exit with status 1.
        """
        runtime = self.startWorker()
        runtime.sendRaw(b"\xc1")
        self.assertEqual(runtime.wait(2), 1)
        self.assertIn("broken stream", runtime.output())

    def test_notAMessage(self):
        """
        A msgpack value that is not a message breaks the stream as it does
        on the node's side (the one codec, L{cocaine.protocol.framing}):
        what came before it is served, then the worker exits with 1.
        """
        runtime = self.startWorker()
        runtime.sendRaw(msgpack.packb([2, 0, ["ping"]])
                        + msgpack.packb([2, 2, []])
                        + msgpack.packb("not a message"))
        self.assertEqual(runtime.receiveSession(2), ([b"pong"], [2, 2, []]))
        self.assertEqual(runtime.wait(2), 1)
        self.assertIn("not a message", runtime.output())

    def test_noTwisted(self):
        """
        Importing the SDK imports no Twisted and nothing of Cocaine's but
        the worker SDK, the protocol (the one codec and declaration), the
        errors, the package's switch between compiled modules and their
        source, and its garbage collector settings (L{cocaine.heap}).
        """
        process = subprocess.run(
            [sys.executable, "-c",
             "import sys, cocaine.worker; print(sorted(m for m in "
             "sys.modules if m.split('.')[0] == 'twisted' or "
             "m.startswith('cocaine.') and not "
             "m.startswith(('cocaine.worker', 'cocaine.protocol', "
             "'cocaine.errors', 'cocaine.compiled', 'cocaine.heap'))))"],
            stdout=subprocess.PIPE, timeout=10, cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=ROOT))
        self.assertEqual(process.stdout.strip(), b"[]")


class EchoTests(WorkerMixin, TestCase):
    """
    Sessions on the example echo worker.
    """

    def test_echo(self):
        """
        Every request chunk comes back, in order, then a close.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["echo"])
        for chunk in [b"one", b"\x00\xff two", "three"]:
            runtime.send(2, 0, [chunk])
        runtime.send(2, 2, [])
        chunks, end = runtime.receiveSession(2)
        self.assertEqual(chunks, [b"one", b"\x00\xff two", b"three"])
        self.assertEqual(end, [2, 2, []])

    def test_textAndBinary(self):
        """
        Chunks go out as msgpack bin, whatever the runtime sent; error
        messages go out as msgpack str.
        """
        runtime = self.startWorker()
        runtime.unpacker = msgpack.Unpacker(raw=False)
        runtime.send(2, 0, ["echo"])
        runtime.sendRaw(msgpack.packb([2, 0, ["text chunk"]]))
        runtime.send(2, 0, [b"\xff binary chunk"])
        runtime.send(2, 2, [])
        self.assertEqual(runtime.receiveSession(2), (
            [b"text chunk", b"\xff binary chunk"], [2, 2, []]))
        runtime.send(3, 0, ["nosuch"])
        message = runtime.receive()
        self.assertIsInstance(message[2][1], str)

    def test_interleavedSessions(self):
        """
        Two sessions on the same worker are served concurrently, each on
        its own channel.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["echo"])
        runtime.send(3, 0, ["echo"])
        runtime.send(3, 0, [b"b1"])
        self.assertEqual(runtime.receive(), [3, 0, [b"b1"]])
        runtime.send(2, 0, [b"a1"])
        self.assertEqual(runtime.receive(), [2, 0, [b"a1"]])
        runtime.send(3, 2, [])
        self.assertEqual(runtime.receive(), [3, 2, []])
        runtime.send(2, 0, [b"a2"])
        runtime.send(2, 2, [])
        self.assertEqual(runtime.receiveSession(2), ([b"a2"], [2, 2, []]))

    def test_concurrentSlowSessions(self):
        """
        Sessions that sleep do not hold each other up.
        """
        runtime = self.startWorker()
        started = time.monotonic()
        for channel in range(2, 7):
            runtime.send(channel, 0, ["slow"])
            runtime.send(channel, 0, [b"300"])
        replies = sorted(runtime.receive() for _ in range(10))
        self.assertLess(time.monotonic() - started, 1.2)
        self.assertEqual(replies, sorted(
            [[channel, 0, [b"done"]] for channel in range(2, 7)]
            + [[channel, 2, []] for channel in range(2, 7)]))

    def test_ping(self):
        """
        A plain (not async) handler answers; its response is closed.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["ping"])
        self.assertEqual(runtime.receiveSession(2),
                         ([b"pong"], [2, 2, []]))

    def test_unknownEvent(self):
        """
        An event without a handler is answered C{[[42, 200], "no handler
        for event '<name>'"]}, and the worker goes on.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["nosuch"])
        self.assertEqual(runtime.receive(),
                         [2, 1, [[42, 200], b"no handler for event 'nosuch'"]])
        runtime.send(3, 0, ["ping"])
        self.assertEqual(runtime.receiveSession(3), ([b"pong"], [3, 2, []]))

    def test_exception(self):
        """
        An exception in a handler becomes C{[[42, 100], "ValueError:
        boom"]} on the wire; the traceback goes to stderr only.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["fail"])
        message = runtime.receive()
        self.assertEqual(message, [2, 1, [[42, 100], b"ValueError: boom"]])
        runtime.send(3, 0, ["ping"])
        runtime.receiveSession(3)
        output = runtime.output()
        self.assertIn("Traceback", output)
        self.assertIn("ValueError: boom", output)

    def test_http(self):
        """
        The HTTP example answers a head C{[200, headers]} and a body naming
        the method and path.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["http"])
        runtime.send(2, 0, [msgpack.packb(
            ["POST", "/some/path?x=1", "1.1", [["Host", "example"]], b""],
            use_bin_type=True)])
        chunks, end = runtime.receiveSession(2)
        self.assertEqual(end, [2, 2, []])
        self.assertEqual(msgpack.unpackb(chunks[0]), [
            200, [["Content-Type", "text/plain; charset=utf-8"]]])
        self.assertEqual(b"".join(chunks[1:]),
                         b"hello from cocaine\nPOST /some/path\n")

    def test_requestErrorFailsEcho(self):
        """
        An error on the request stream raises out of C{async for} in the
        echo handler, which fails the session with C{[[42, 100],
        "RequestError: ..."]}.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["echo"])
        runtime.send(2, 0, [b"x"])
        runtime.send(2, 1, [[0x51FF, 3], "client gone"])
        self.assertEqual(runtime.receiveSession(2), ([b"x"], [
            2, 1, [[42, 100], b"RequestError: [20991, 3] client gone"]]))

    def test_oddMessages(self):
        """
        Control messages of unknown types, a new channel opened with
        something else than an invoke, and messages for finished sessions
        are ignored; the worker goes on.
        """
        runtime = self.startWorker()
        runtime.send(1, 7, [])
        runtime.send(4, 2, [])
        runtime.send(4, 0, ["ping"])
        self.assertEqual(runtime.receiveSession(4), ([b"pong"], [4, 2, []]))
        runtime.send(4, 0, [b"late chunk"])
        runtime.send(4, 0, ["ping"])
        runtime.send(3, 0, ["ping"])
        runtime.sendRaw(msgpack.packb([5, 0, ["ping"], [[False, "a", "b"]]],
                                      use_bin_type=True))
        self.assertEqual(runtime.receiveSession(5), ([b"pong"], [5, 2, []]))
        runtime.assertSilent(0.1)
        self.assertIsNone(runtime.process.poll())


class AsyncioLoopEchoTests(EchoTests):
    """
    The echo sessions again on asyncio's own event loop
    (C{COCAINE_WORKER_LOOP=asyncio}), where uvloop would be picked.
    """

    def startWorker(self, handshake=True, **environment):
        environment.setdefault("COCAINE_WORKER_LOOP", "asyncio")
        return EchoTests.startWorker(self, handshake, **environment)


class SDKTests(WorkerMixin, TestCase):
    """
    The SDK's corners, on L{tests.worker.app}.
    """

    script = TESTAPP

    def test_requestError(self):
        """
        An error on the request stream makes C{request.read()} raise
        L{cocaine.worker.RequestError} with the error's category, code and
        reason, after the chunks sent before it; reading again raises it
        again.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["request-error"])
        runtime.send(2, 0, [b"a"])
        runtime.send(2, 1, [[43, 9], "bad input"])
        chunks, end = runtime.receiveSession(2)
        self.assertEqual(end, [2, 2, []])
        self.assertEqual(msgpack.unpackb(chunks[0]),
                         [[b"a"], 43, 9, "bad input", True])

    def test_endOfStream(self):
        """
        C{request.read()} returns every chunk, then L{None} at the end of
        the stream, and L{None} again.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["count"])
        for chunk in [b"12", b"345", b""]:
            runtime.send(2, 0, [chunk])
        runtime.send(2, 2, [])
        self.assertEqual(runtime.receiveSession(2),
                         ([b"3 5 None"], [2, 2, []]))

    def test_plainFunction(self):
        """
        A plain function handler runs; returning closes its response.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["plain"])
        self.assertEqual(runtime.receiveSession(2),
                         ([b"plain plain"], [2, 2, []]))

    def test_userError(self):
        """
        C{response.error(code, message)} sends C{[[43, code], message]}.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["user-error"])
        self.assertEqual(runtime.receiveSession(2),
                         ([b"partial"], [2, 1, [[43, 7], b"nope"]]))

    def test_raiseAfterWriting(self):
        """
        A handler that raises after writing chunks fails the session after
        them.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["write-then-raise"])
        self.assertEqual(runtime.receiveSession(2), (
            [b"partial"], [2, 1, [[42, 100], b"KeyError: 'missing'"]]))

    def test_badChunk(self):
        """
        Writing something that is neither bytes nor text fails the session.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["bad-chunk"])
        self.assertEqual(runtime.receive(), [2, 1, [
            [42, 100], b"TypeError: chunk must be bytes, str or int, not float"]])

    def test_readTimeout(self):
        """
        C{request.read(timeout)} raises L{TimeoutError} when nothing comes,
        and the stream can be read again afterwards.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["read-timeout"])
        self.assertEqual(runtime.receive(), [2, 0, [b"timeout"]])
        runtime.send(2, 0, [b"late"])
        self.assertEqual(runtime.receiveSession(2),
                         ([b"late"], [2, 2, []]))

    def test_bigChunks(self):
        """
        Chunks of several megabytes go through both ways unchanged.
        """
        runtime = self.startWorker()
        payload = os.urandom(3 * 1024 * 1024)
        runtime.send(2, 0, ["big-echo"])
        runtime.send(2, 0, [payload])
        runtime.send(2, 0, [payload[::-1]])
        runtime.send(2, 2, [])
        self.assertEqual(runtime.receiveSession(2),
                         ([payload, payload[::-1]], [2, 2, []]))

    def test_httpRequest(self):
        """
        The C{http} decorator decodes the first chunk into method, uri,
        path, query (a dict of lists), version, headers (str pairs) and
        body; C{writeHead} sends C{[status, [[name, value], ...]]} first.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["http-info"])
        runtime.send(2, 0, [msgpack.packb(
            [b"PUT", b"/a/b?x=1&x=2&y=", b"1.1",
             [[b"Host", b"example.org"], ["X-Multi", "1"],
              ["X-Multi", "2"]], b"\x00body"], use_bin_type=False)])
        runtime.send(2, 2, [])
        chunks, end = runtime.receiveSession(2)
        self.assertEqual(end, [2, 2, []])
        self.assertEqual(msgpack.unpackb(chunks[0]),
                         [201, [["X-A", "b"], ["Content-Type", "x/y"]]])
        self.assertEqual(msgpack.unpackb(chunks[1]), [
            "PUT", "/a/b?x=1&x=2&y=", "/a/b", {"x": ["1", "2"], "y": [""]},
            "1.1", [["Host", "example.org"], ["X-Multi", "1"],
                    ["X-Multi", "2"]], b"\x00body", "example.org"])

    def test_httpDefaultHead(self):
        """
        A body written without a head is preceded by C{[200, []]}.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["http-nohead"])
        runtime.send(2, 0, [msgpack.packb(["GET", "/", "1.0", [], b""])])
        chunks, end = runtime.receiveSession(2)
        self.assertEqual([msgpack.unpackb(chunks[0]), chunks[1:]],
                         [[200, []], [b"body"]])

    def test_httpStream(self):
        """
        Body chunks after the first are read from the request stream; a
        mapping of headers is accepted.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["http-stream"])
        runtime.send(2, 0, [msgpack.packb(["POST", "/", "1.1", [], b""])])
        runtime.send(2, 0, [b"part1"])
        runtime.send(2, 0, [b"part2"])
        runtime.send(2, 2, [])
        chunks, end = runtime.receiveSession(2)
        self.assertEqual(msgpack.unpackb(chunks[0]),
                         [200, [["X-Streamed", "1"]]])
        self.assertEqual(chunks[1:], [b"part1", b"part2"])

    def test_httpMalformed(self):
        """
        A first chunk that is not an HTTP request fails the session with a
        C{ValueError}.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["http-info"])
        runtime.send(2, 0, [b"not msgpack \xc1"])
        message = runtime.receive()
        self.assertEqual(message[:2], [2, 1])
        self.assertEqual(message[2][0], [42, 100])
        self.assertTrue(message[2][1].startswith(
            b"ValueError: malformed HTTP request chunk"), message)
        runtime.send(3, 0, ["http-info"])
        runtime.send(3, 2, [])
        self.assertEqual(runtime.receive(), [3, 1, [
            [42, 100], b"ValueError: the HTTP request stream closed before "
            b"its first chunk"]])

    def test_manySessions(self):
        """
        Many sessions at once, on ascending channels, are all answered.
        """
        runtime = self.startWorker()
        channels = range(2, 202)
        for channel in channels:
            runtime.send(channel, 0, ["plain"])
        replies = [runtime.receive() for _ in range(2 * len(channels))]
        self.assertEqual(
            sorted(replies),
            sorted([[c, 0, [b"plain plain"]] for c in channels]
                   + [[c, 2, []] for c in channels]))


def exchange(handlers, messages, replies, loopFactory=None):
    """
    Serve C{handlers} with a L{cocaine.worker.Worker} in this process,
    against a runtime on a UNIX socket that sends C{messages} in one write
    as soon as the worker connects (before the handshake arrives), reads
    until C{replies} messages came back and hangs up.

    @return: the messages the worker sent, heartbeats left out.
    """
    from cocaine.worker.worker import Worker, runLoop

    directory = tempfile.mkdtemp(prefix="cocaine-worker-test-")
    path = os.path.join(directory, "runtime.sock")
    received = []

    async def runtime(reader, writer):
        writer.write(b"".join(msgpack.packb(m) for m in messages))
        unpacker = msgpack.Unpacker()
        while len(received) < replies:
            data = await reader.read(65536)
            if not data:
                break
            unpacker.feed(data)
            received.extend(m for m in unpacker if m != [1, 0, []])
        writer.close()

    async def main():
        server = await asyncio.start_unix_server(runtime, path)
        worker = Worker(app="app", endpoint=path, uuid="uuid", argv=[],
                        heartbeatInterval=60)
        for event, handler in handlers.items():
            worker.on(event, handler)
        try:
            return await asyncio.wait_for(worker.serve(), 10)
        finally:
            server.close()

    try:
        status = runLoop(main(), loopFactory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return status, received


class InProcessTests(SynchronousTestCase):
    """
    The worker served in the test process against a runtime on a UNIX
    socket: how plain function handlers are called.
    """

    loopFactory = None

    def setUp(self):
        self.stderr = io.StringIO()
        self.patch(sys, "stderr", self.stderr)

    def exchange(self, handlers, messages, replies):
        status, received = exchange(handlers, messages, replies,
                                    self.loopFactory)
        self.assertEqual(status, 1)  # the runtime hung up
        return received

    def test_handshakeFirst(self):
        """
        The handshake goes out before any answer, even to messages that
        arrive before the worker knows it is connected.
        """
        def ping(request, response):
            response.write(b"pong")

        received = self.exchange(
            {"ping": ping}, [[2, 0, ["ping"]], [2, 2, []]], 3)
        self.assertEqual(received, [
            [1, 0, ["uuid"]], [2, 0, [b"pong"]], [2, 2, []]])

    def test_plainFunctionSeesItsRead(self):
        """
        A plain function handler is called once the read that invoked it
        is dispatched: the chunks and the close of that read are in its
        request.
        """
        def finished(request, response):
            response.write(b"finished" if request.finished else b"open")

        received = self.exchange(
            {"finished": finished},
            [[2, 0, ["finished"]], [2, 0, [b"a"]], [2, 2, []]], 3)
        self.assertEqual(received[1:], [[2, 0, [b"finished"]], [2, 2, []]])

    def test_plainFunctionReturnsAwaitable(self):
        """
        What a plain function returns is awaited when it is awaitable, and
        the response is closed after it; the request can be read there.
        """
        async def later(request, response):
            chunk = await request.read()
            await asyncio.sleep(0)
            response.write(chunk + b" later")

        def plain(request, response):
            return later(request, response)

        received = self.exchange(
            {"plain": plain}, [[2, 0, ["plain"]], [2, 0, [b"a"]]], 3)
        self.assertEqual(received[1:], [[2, 0, [b"a later"]], [2, 2, []]])

    def test_plainFunctionRaises(self):
        """
        A plain function that raises fails its session with C{[[42, 100],
        "<type>: <message>"]}; the sessions of the same read are served.
        """
        def fails(request, response):
            response.write(b"before")
            raise ValueError("plain boom")

        def ping(request, response):
            response.write(b"pong")

        received = self.exchange(
            {"fails": fails, "ping": ping},
            [[2, 0, ["fails"]], [3, 0, ["ping"]]], 5)
        self.assertEqual(received[1:], [
            [2, 0, [b"before"]], [2, 1, [[42, 100], "ValueError: plain boom"]],
            [3, 0, [b"pong"]], [3, 2, []]])
        log = self.stderr.getvalue()
        self.assertIn("handler of event 'fails' on channel 2 raised "
                      "ValueError: plain boom", log)
        self.assertIn('raise ValueError("plain boom")', log)

    def test_coroutineAndPlain(self):
        """
        Coroutine and plain function handlers invoked by one read are all
        served, each session's messages in order.
        """
        async def echo(request, response):
            async for chunk in request:
                response.write(chunk)

        def ping(request, response):
            response.write(b"pong")

        received = self.exchange(
            {"echo": echo, "ping": ping},
            [[2, 0, ["echo"]], [3, 0, ["ping"]], [2, 0, [b"x"]],
             [2, 0, [b"y"]], [2, 2, []]], 6)
        self.assertEqual(
            [m for m in received if m[0] == 2],
            [[2, 0, [b"x"]], [2, 0, [b"y"]], [2, 2, []]])
        self.assertEqual([m for m in received if m[0] == 3],
                         [[3, 0, [b"pong"]], [3, 2, []]])


class AsyncioLoopInProcessTests(InProcessTests):
    """
    The same on asyncio's own loop.
    """

    loopFactory = staticmethod(asyncio.new_event_loop)


class SettleHeapTests(SynchronousTestCase):
    """
    L{settleHeap}: a worker freezes its start-up out of garbage
    collection only as a process of its own.
    """

    def setUp(self):
        import cocaine.worker.worker as module
        self.settled = []
        self.patch(module, "settle", lambda: self.settled.append(True))

    def test_mainThread(self):
        settleHeap()
        self.assertEqual(self.settled, [True])

    def test_otherThread(self):
        """
        In a thread (the node's C{thread} isolate) the node's collector is
        left alone.
        """
        import threading
        thread = threading.Thread(target=settleHeap)
        thread.start()
        thread.join()
        self.assertEqual(self.settled, [])

    def test_badSetting(self):
        import cocaine.worker.worker as module

        def bad():
            raise ValueError("COCAINE_GC_FREEZE='yes': must be 0 or 1")
        self.patch(module, "settle", bad)
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        error = self.assertRaises(SystemExit, settleHeap)
        self.assertEqual(error.code, 2)
        self.assertIn("COCAINE_GC_FREEZE='yes'", stderr.getvalue())
