"""
A client that reads an app's stream slower than the app writes it gets
the whole stream, and the node's memory does not hold it: the worker is
not read while the client's buffer is full
(L{cocaine.engine.connection.WorkerConnection.hold}). A client that stops
reading holds the worker for a bounded time only.
"""

import os
import socket
import time

import psutil
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.node import Node, ROOT
from tests.security.test_limits import CHUNK, CLOSE, ENQUEUE, Peer

ECHO = os.path.join(ROOT, "examples", "apps", "echo")

#: One worker, so that a held worker is the only one; heartbeat-timeout 3
#: makes a hold run out after 1 s.
PROFILE = {"pool-limit": 1, "concurrency": 5, "heartbeat-timeout": 3}

#: Past 4 MiB waiting for it, a client is dropped.
NETWORK = {"locator": 0, "max-message": 1024 * 1024,
           "write-buffer-max": 4 * 1024 * 1024}

#: A stream ten times write-buffer-max: 40,000 chunks of 1 KiB.
COUNT, SIZE = 40000, 1024


class StreamFlowTests(SynchronousTestCase):

    def setUp(self):
        self.node = Node(self.mktemp(), {
            "network": dict(NETWORK),
            "services": {
                "logging": {"type": "logging"},
                "node": {"type": "node", "args": {
                    "local": {"echo": {"path": ECHO, "profile": PROFILE}},
                    "drain-timeout": 5}}}})
        self.node.start()
        self.addCleanup(self.node.stop)
        self.process = psutil.Process(self.node.process.pid)
        self.peers = []
        self.addCleanup(lambda: [peer.close() for peer in self.peers])
        self.echoPort = self.resolve("echo")

    def resolve(self, name):
        locator = Peer(self.node.port)
        try:
            locator.send(1, 0, [name])
            [(_, mtype, args)] = locator.receive()
        finally:
            locator.close()
        self.assertEqual(mtype, 0, args)
        return args[0][0][1]

    def stream(self, count, size):
        peer = Peer(self.echoPort, timeout=30)
        self.peers.append(peer)
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        peer.send(1, ENQUEUE, ["stream"])
        peer.send(1, CHUNK, ["{} {}".format(count, size).encode()])
        peer.send(1, CLOSE, [])
        return peer

    def echo(self, body):
        peer = Peer(self.echoPort, timeout=30)
        self.peers.append(peer)
        peer.send(1, ENQUEUE, ["echo"])
        peer.send(1, CHUNK, [body])
        peer.send(1, CLOSE, [])
        chunks = []
        while True:
            [(_, mtype, args)] = peer.receive(timeout=30)
            if mtype != CHUNK:
                self.assertEqual(mtype, CLOSE, args)
                return chunks
            chunks.append(args[0])

    def test_slowReaderGetsTheWholeStream(self):
        """
        A client reading 16 KiB at a time, a millisecond apart (about
        16 MB/s, slower than the app writes), gets all 40 MB and the
        close; it is not dropped at write-buffer-max (4 MiB), and the
        node's memory grows by far less than the stream.
        """
        before = self.process.memory_info().rss
        peer = self.stream(COUNT, SIZE)
        received, most = 0, 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            data = peer.sock.recv(16384)
            if not data:
                self.fail("dropped after {} chunks: {}".format(
                    received, self.node.log()[-400:]))
            peer.unpacker.feed(data)
            ended = False
            for channel, mtype, args in peer.unpacker:
                if mtype == CHUNK:
                    self.assertEqual(len(args[0]), SIZE)
                    received += 1
                else:
                    self.assertEqual(mtype, CLOSE, args)
                    ended = True
            if ended:
                break
            if received % 2000 == 0:
                most = max(most, self.process.memory_info().rss - before)
            time.sleep(0.001)
        self.assertEqual(received, COUNT)
        self.assertNotIn("does not read its replies", self.node.log())
        self.assertLess(most, 16 * 1024 * 1024)

    def test_stalledReaderHoldsTheWorkerBriefly(self):
        """
        A client that stops reading holds the app's only worker for 1 s
        (a third of heartbeat-timeout), not until it reads: another
        client's echo is answered, the stalled client's replies are
        buffered again and it is dropped past write-buffer-max, as
        before.
        """
        stalled = self.stream(COUNT, SIZE)
        time.sleep(0.3)
        self.assertEqual(self.echo(b"meanwhile"), [b"meanwhile"])
        self.assertTrue(stalled.closedByNode(timeout=20))
        log = self.node.log()
        self.assertIn("has read nothing for 1 s of a stream", log)
        self.assertIn("does not read its replies", log)
        self.assertEqual(self.echo(b"after"), [b"after"])
