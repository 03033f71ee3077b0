"""
The two-hop floor (L{bench.compare.relay}): its routing on fake
transports, and the real relay with its worker processes answering the
floor's client.
"""

import io
import json
import subprocess
import sys

import msgpack
import psutil
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase

from bench.compare import relay, sides


def _messages(transport):
    data = transport.value()
    transport.clear()
    return list(msgpack.Unpacker(io.BytesIO(data), raw=True))


def _pack(*messages):
    return b"".join(msgpack.packb(m, use_bin_type=True) for m in messages)


class _Transport(StringTransport):
    def setTcpNoDelay(self, enabled):
        self.noDelay = enabled


class RoutingTests(SynchronousTestCase):
    """
    The relay gives each request to the least loaded worker under a
    channel of its own and sends the replies back under the client's.
    """

    def setUp(self):
        self.relay = relay.Relay(2)
        self.workers = []
        for _ in range(2):
            link = relay.WorkerLink(self.relay)
            link.makeConnection(StringTransport())
            self.workers.append(link)
        self.client = relay.ClientLink(self.relay)
        self.client.makeConnection(_Transport())

    def test_ready(self):
        """
        The relay is ready once all its workers have connected.
        """
        self.assertIsNone(self.successResultOf(self.relay.ready))

    def test_echoAndStream(self):
        one, two = self.workers
        self.client.dataReceived(_pack([7, relay.ECHO, [b"hi"]],
                                       [9, relay.STREAM, [2, 3]]))
        self.assertEqual(_messages(one.transport), [[1, 0, [b"hi"]]])
        self.assertEqual(_messages(two.transport), [[2, 1, [2, 3]]])
        self.assertEqual((one.load, two.load), (1, 1))
        # the stream's first chunk, then the echo, then the rest
        two.dataReceived(_pack([2, 0, [b"xxx"]]))
        one.dataReceived(_pack([1, 0, [b"hi"]]))
        two.dataReceived(_pack([2, 0, [b"xxx"]], [2, relay.CLOSE, []]))
        self.assertEqual(_messages(self.client.transport), [
            [9, 0, [b"xxx"]], [7, 0, [b"hi"]], [9, 0, [b"xxx"]],
            [9, 2, []]])
        self.assertEqual(self.relay.routes, {})
        self.assertEqual((one.load, two.load), (0, 0))

    def test_oneWritePerPeer(self):
        """
        What one read brings goes on in one write per worker.
        """
        one, two = self.workers
        writes = []
        one.transport.write = writes.append
        self.client.dataReceived(_pack(*[[n, relay.ECHO, [b"x"]]
                                         for n in range(1, 5)]))
        self.assertEqual(len(writes), 1)
        self.assertEqual(len(_messages(two.transport)), 2)


class RealRelayTests(TestCase):
    """
    The relay and its two workers as processes, called by the floor's load
    generator.
    """

    def setUp(self):
        self.side = sides.Relay()
        self.side.start()
        self.addCleanup(self.side.stop)

    def load(self, *args):
        result = subprocess.run(
            self.side.client(*args), capture_output=True, text=True,
            timeout=120, cwd=sides.ROOT, env=self.side.env())
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout.splitlines()[-1])

    def test_serves(self):
        """
        Echoes in flight and a stream come back whole, and the server's
        processes are the relay and its two workers.
        """
        server = psutil.Process(self.side.server.pid)
        self.assertEqual(len(server.children()), 2)
        echoed = self.load("echo", 16, 200, 8, 0)
        self.assertEqual((echoed["requests"], echoed["errors"]), (200, 0))
        streamed = self.load("stream", 1024, 0, 1, 300)
        self.assertEqual(streamed["chunks"], 300)

    def test_workersEndWithTheRelay(self):
        """
        Stopping the relay leaves none of its workers behind.
        """
        children = psutil.Process(self.side.server.pid).children()
        self.side.stop()
        gone, alive = psutil.wait_procs(children, timeout=10)
        self.assertEqual(alive, [])
