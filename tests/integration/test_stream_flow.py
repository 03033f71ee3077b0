"""
A client that reads an app's stream slower than the app writes it gets
the whole stream, and the node's memory does not hold it: the worker is
not read while the client's buffer is full
(L{cocaine.engine.pacing.WorkerHolds.hold}). A client that stops
reading holds the worker for a bounded time only. A client that goes
away while its answer is still coming ends its session at once, however
it left (L{ClientGoneTests}).
"""

import socket
import time

from tests.security.test_limits import (
    CHUNK, CLOSE, ENQUEUE, LimitsCase, Peer)

#: One worker, so that a held worker is the only one; heartbeat-timeout 3
#: makes a hold run out after 1 s.
PROFILE = {"pool-limit": 1, "concurrency": 5, "heartbeat-timeout": 3}

#: Past 4 MiB waiting for it, a client is dropped.
NETWORK = {"locator": 0, "max-message": 1024 * 1024,
           "write-buffer-max": 4 * 1024 * 1024}

#: A stream ten times write-buffer-max: 40,000 chunks of 1 KiB.
COUNT, SIZE = 40000, 1024


class StreamFlowTests(LimitsCase):

    network, profile = NETWORK, PROFILE

    def stream(self, count, size):
        peer = self.peer("echo")
        peer.sock.settimeout(30)
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        peer.send(1, ENQUEUE, ["stream"])
        peer.send(1, CHUNK, ["{} {}".format(count, size).encode()])
        peer.send(1, CLOSE, [])
        return peer

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

    def test_readerGoneReleasesTheWorker(self):
        """
        A client that goes away while its stream holds the worker (after
        closing its request, as every download does) lets the worker go
        at once, not when the hold runs out.
        """
        stalled = self.stream(COUNT, SIZE)
        time.sleep(0.5)
        stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                b"\x01\x00\x00\x00\x00\x00\x00\x00")
        stalled.close()
        self.assertEqual(self.echo(b"after"), [b"after"])
        time.sleep(1.5)
        log = self.node.log()
        self.assertNotIn("has read nothing", log)
        self.assertNotIn("does not read its replies", log)


class ClientGoneTests(LimitsCase):
    """
    A client that sent its whole request and goes away while the app is
    still answering it: its session is told at once (C{disconnected} in
    the app's metrics), not when the worker ends its answer.
    """

    network, profile = NETWORK, PROFILE
    extraServices = {"metrics": {"type": "metrics"}}

    def counts(self):
        metrics = Peer(self.port("metrics"))
        try:
            metrics.send(1, 0, [])
            [(_, mtype, args)] = metrics.receive()
        finally:
            metrics.close()
        self.assertEqual(mtype, 0, args)
        return {outcome: args[0].get("echo.requests." + outcome, 0)
                for outcome in ("ok", "disconnected")}

    def test_goneAfterWholeRequest(self):
        """
        Invoke, chunk and close, then the client goes while the app's
        handler still works (C{slow}, 4 s): within 2 s the session counts
        as C{disconnected}; the handler's late answer goes nowhere and
        the request is not counted again; the app serves on.
        """
        self.assertEqual(self.echo(b"first"), [b"first"])
        self.assertEqual(self.counts(), {"ok": 1, "disconnected": 0})
        gone = self.peer("echo")
        gone.send(1, ENQUEUE, ["slow"])
        gone.send(1, CHUNK, [b"4000"])
        gone.send(1, CLOSE, [])
        time.sleep(0.3)
        gone.close()
        deadline = time.monotonic() + 2
        while self.counts()["disconnected"] == 0:
            self.assertLess(time.monotonic(), deadline,
                            "the session was not told its client went")
            time.sleep(0.05)
        time.sleep(4)
        self.assertEqual(self.echo(b"after"), [b"after"])
        self.assertEqual(self.counts(), {"ok": 2, "disconnected": 1})
