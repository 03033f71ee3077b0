"""
A client that asks the gateway of a REAL node for a large streamed answer
and never reads it: the node holds the app's worker for a while, then
buffers at most the gateway's C{max-buffer} for it, cuts the connection
and ends the app's session as the client gone (C{disconnected} in the
app's metrics). One that reads, however slowly, gets all of it.
"""

import os
import socket
import time

import psutil
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from cocaine.client import Locator, Service
from tests.integration.node import Node, freePort

HERE = os.path.dirname(os.path.abspath(__file__))
HTTPWEB = os.path.join(HERE, "apps", "httpweb")

#: What the app is asked to stream: far more than the node may keep.
SIZE = 256 * 2 ** 20

#: The gateway's cap on what it keeps for a client that does not read.
MAX_BUFFER = 2 * 2 ** 20


class StalledClientTests(TestCase):

    timeout = 60

    def setUp(self):
        self.httpPort = freePort()
        self.node = Node(os.path.abspath(self.mktemp()), {
            "network": {"locator": 0},
            "services": {
                "logging": {"type": "logging"},
                "storage": {"type": "storage"},
                "metrics": {"type": "metrics"},
                "node": {"type": "node", "args": {"local": {"web": {
                    "path": HTTPWEB, "profile": {"pool-limit": 1}}}}},
                "http": {"type": "http", "args": {
                    "port": self.httpPort, "max-buffer": MAX_BUFFER}}}})
        self.node.start()
        self.addCleanup(self.node.stop)
        self.locator = Locator(reactor, [("127.0.0.1", self.node.port)],
                               timeout=20)
        self.addCleanup(self.locator.disconnect)
        self.metrics = Service("metrics", self.locator, timeout=20)
        self.addCleanup(self.metrics.disconnect)

    async def counts(self):
        plain = await self.metrics.fetch()
        return {outcome: plain.get("web.requests." + outcome, 0)
                for outcome in ("ok", "disconnected")}

    async def test_neverReads(self):
        """
        256 MiB streamed to a client that reads nothing: the connection is
        cut, the session ends as C{disconnected}, and the node's RSS never
        grows by more than a fraction of what the app sent.
        """
        process = psutil.Process(self.node.process.pid)
        client = socket.socket()
        self.addCleanup(client.close)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", self.httpPort))
        # a first request, read, so that the worker runs before the
        # baseline is taken
        client.sendall(b"GET /web/big?size=10 HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b"0\r\n\r\n"):
            answer += client.recv(65536)
        self.assertEqual(await self.counts(), {"ok": 1, "disconnected": 0})
        baseline = peak = process.memory_info().rss

        client.sendall(b"GET /web/big?size=%d HTTP/1.1\r\nHost: x\r\n\r\n"
                       % (SIZE,))
        deadline = time.monotonic() + 40
        while True:
            counts = await self.counts()
            peak = max(peak, process.memory_info().rss)
            if sum(counts.values()) == 2:
                break
            self.assertLess(time.monotonic(), deadline,
                            "the session did not end")
            await deferLater(reactor, 0.1)
        self.assertEqual(counts, {"ok": 1, "disconnected": 1})
        self.assertLess(peak - baseline, 64 * 2 ** 20)
        # the connection was cut: what the client can still read ends
        client.settimeout(10)
        received = 0
        try:
            while True:
                data = client.recv(1 << 20)
                if not data:
                    break
                received += len(data)
        except ConnectionResetError:
            pass
        self.assertLess(received, SIZE)
        self.assertIn("does not read", self.node.log())

    async def test_slowReaderGetsItAll(self):
        """
        24 MiB (twelve times max-buffer) streamed to a client that reads
        16 KiB a millisecond apart, slower than the app writes: it gets all
        of it, the session ends C{ok}, and the node's RSS grows by far
        less than the response (the worker is held while the client's
        buffer is full: L{cocaine.engine.pacing.WorkerHolds.hold}).
        """
        size = 24 * 2 ** 20
        process = psutil.Process(self.node.process.pid)
        client = socket.socket()
        self.addCleanup(client.close)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        client.connect(("127.0.0.1", self.httpPort))
        client.settimeout(20)
        client.sendall(b"GET /web/big?size=10 HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b"0\r\n\r\n"):
            answer += client.recv(65536)
        baseline = peak = process.memory_info().rss
        client.sendall(b"GET /web/big?size=%d HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n" % (size,))
        answer = []
        reads = 0
        while True:
            try:
                data = client.recv(16384)
            except socket.timeout:
                self.fail("stalled after {} bytes, ending {!r}; log: {}".format(
                    sum(map(len, answer)), answer[-1][-40:] if answer else b"",
                    self.node.log()[-1500:]))
            if not data:
                break
            answer.append(data)
            reads += 1
            if reads % 256 == 0:
                peak = max(peak, process.memory_info().rss)
            time.sleep(0.001)
        head, _, body = b"".join(answer).partition(b"\r\n\r\n")
        self.assertIn(b"200", head.split(b"\r\n")[0])
        self.assertTrue(body.endswith(b"0\r\n\r\n"))
        payload, chunked = [], body
        while True:
            length, _, rest = chunked.partition(b"\r\n")
            length = int(length, 16)
            if length == 0:
                break
            payload.append(rest[:length])
            chunked = rest[length + 2:]
        self.assertEqual(sum(len(p) for p in payload), size)
        self.assertNotIn("does not read", self.node.log())
        self.assertEqual(await self.counts(), {"ok": 2, "disconnected": 0})
        self.assertLess(peak - baseline, 16 * 2 ** 20)
