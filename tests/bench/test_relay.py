"""
The two-hop floor (L{bench.compare.relay}): its relay, worker and client
on fake transports, and the real relay with its worker processes answering
its load generator.
"""

import io
import json
import os
import signal
import subprocess

import msgpack
import psutil
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from bench.compare import relay, sides

CHUNK, CLOSE = relay.CHUNK, relay.CLOSE


def _messages(transport):
    data = transport.value()
    transport.clear()
    return list(msgpack.Unpacker(io.BytesIO(data), raw=True))


def _pack(*messages):
    return b"".join(msgpack.packb(m, use_bin_type=True) for m in messages)


def _request(channel, event, chunk):
    return [channel, CHUNK, [event]], [channel, CHUNK, [chunk]], \
        [channel, CLOSE, []]


class _Transport(StringTransport):
    def setTcpNoDelay(self, enabled):
        self.noDelay = enabled


class _Recording(_Transport):
    """
    Keeps each write apart.
    """

    def __init__(self):
        _Transport.__init__(self)
        self.writes = []

    def write(self, data):
        self.writes.append(data)
        _Transport.write(self, data)


class RoutingTests(SynchronousTestCase):
    """
    The relay gives each request to the least loaded worker under a
    channel of its own and sends the answers back under the client's.
    """

    def setUp(self):
        self.relay = relay.Relay(2)
        self.workers = []
        for _ in range(2):
            link = relay.WorkerLink(self.relay)
            link.makeConnection(_Recording())
            self.workers.append(link)

    def client(self):
        link = relay.ClientLink(self.relay)
        link.makeConnection(_Recording())
        return link

    def test_ready(self):
        """
        The relay is ready once all its workers have connected.
        """
        self.assertIsNone(self.successResultOf(self.relay.ready))

    def test_requestsAndAnswers(self):
        """
        Each request's messages go to one worker under the relay's
        channel, in the order they came; the worker's answer comes back
        under the client's channel, and its close ends the route.
        """
        one, two = self.workers
        client = self.client()
        client.dataReceived(_pack(*_request(7, b"echo", b"hi")
                                  + _request(9, b"stream", b"2 3")))
        self.assertEqual(_messages(one.transport), [
            [1, CHUNK, [b"echo"]], [1, CHUNK, [b"hi"]], [1, CLOSE, []]])
        self.assertEqual(_messages(two.transport), [
            [2, CHUNK, [b"stream"]], [2, CHUNK, [b"2 3"]], [2, CLOSE, []]])
        self.assertEqual((one.load, two.load), (1, 1))
        two.dataReceived(_pack([2, CHUNK, [b"xxx"]]))
        one.dataReceived(_pack([1, CHUNK, [b"hi"]], [1, CLOSE, []]))
        two.dataReceived(_pack([2, CHUNK, [b"xxx"]], [2, CLOSE, []]))
        self.assertEqual(_messages(client.transport), [
            [9, CHUNK, [b"xxx"]], [7, CHUNK, [b"hi"]], [7, CLOSE, []],
            [9, CHUNK, [b"xxx"]], [9, CLOSE, []]])
        self.assertEqual((self.relay.routes, client.open), ({}, {}))
        self.assertEqual((one.load, two.load), (0, 0))

    def test_twoClients(self):
        """
        Two clients using the same channel each get their own answer.
        """
        one, two = self.workers
        first, second = self.client(), self.client()
        first.dataReceived(_pack(*_request(1, b"echo", b"a")))
        second.dataReceived(_pack(*_request(1, b"echo", b"b")))
        self.assertEqual(_messages(one.transport)[1], [1, CHUNK, [b"a"]])
        self.assertEqual(_messages(two.transport)[1], [2, CHUNK, [b"b"]])
        two.dataReceived(_pack([2, CHUNK, [b"b"]], [2, CLOSE, []]))
        one.dataReceived(_pack([1, CHUNK, [b"a"]], [1, CLOSE, []]))
        self.assertEqual(_messages(first.transport),
                         [[1, CHUNK, [b"a"]], [1, CLOSE, []]])
        self.assertEqual(_messages(second.transport),
                         [[1, CHUNK, [b"b"]], [1, CLOSE, []]])

    def test_oneWritePerPeer(self):
        """
        What one read brings goes on in one write per peer, both ways.
        """
        one, two = self.workers
        client = self.client()
        requests = []
        for channel in range(1, 5):
            requests.extend(_request(channel, b"echo", b"x"))
        client.dataReceived(_pack(*requests))
        self.assertEqual((len(one.transport.writes),
                          len(two.transport.writes)), (1, 1))
        self.assertEqual((one.load, two.load), (2, 2))
        one.dataReceived(_pack([1, CHUNK, [b"x"]], [1, CLOSE, []],
                               [3, CHUNK, [b"x"]], [3, CLOSE, []]))
        self.assertEqual(len(client.transport.writes), 1)
        self.assertEqual(len(_messages(client.transport)), 4)

    def test_workerGoneBeforeReady(self):
        """
        A worker that exits before all have connected fails the start.
        """
        waiting = relay.Relay(3)
        waiting.workerGone("a worker exited (boom)")
        self.assertEqual(str(self.failureResultOf(
            waiting.ready, RuntimeError).value), "a worker exited (boom)")

    def test_workerGoneWhileClosing(self):
        """
        Workers going while the relay shuts down are no error.
        """
        self.relay.closing = True
        self.relay.workerGone("a worker hung up")


class ArgumentTests(SynchronousTestCase):
    """
    The relay's command line.
    """

    def test_workers(self):
        """
        C{--workers} takes a count of at least 1, and 2 by default.
        """
        self.assertEqual(relay.parse(["server"]).workers, 2)
        self.assertEqual(relay.parse(["server", "--workers", "3"]).workers, 3)

    def test_noWorkersRefused(self):
        """
        A count below 1, or not a number, is refused at once, naming the
        value: a relay without workers would wait for them until its
        starter gave up.
        """
        for bad in ("0", "-1", "two"):
            stderr = io.StringIO()
            self.patch(relay.argparse._sys, "stderr", stderr)
            with self.assertRaises(SystemExit) as raised:
                relay.parse(["server", "--workers", bad])
            self.assertEqual(raised.exception.code, 2)
            self.assertIn("--workers: {!r} is not a positive whole number"
                          .format(bad), stderr.getvalue())


class WorkerTests(SynchronousTestCase):
    """
    The bare worker answers a request once its close came.
    """

    def setUp(self):
        self.worker = relay.WorkerServer()
        self.worker.makeConnection(StringTransport())

    def test_echo(self):
        self.worker.dataReceived(_pack(*_request(5, b"echo", b"hi")[:2]))
        self.assertEqual(_messages(self.worker.transport), [])
        self.worker.dataReceived(_pack([5, CLOSE, []]))
        self.assertEqual(_messages(self.worker.transport),
                         [[5, CHUNK, [b"hi"]], [5, CLOSE, []]])

    def test_stream(self):
        self.worker.dataReceived(_pack(*_request(6, b"stream", b"300 4")))
        answer = _messages(self.worker.transport)
        self.assertEqual(answer[:-1], [[6, CHUNK, [b"xxxx"]]] * 300)
        self.assertEqual(answer[-1], [6, CLOSE, []])


class RealRelayTests(SynchronousTestCase):
    """
    The relay and its two workers as processes, called by their load
    generator.
    """

    def setUp(self):
        self.side = sides.Relay()
        self.side.start()
        self.addCleanup(self.side.stop)
        self.server = psutil.Process(self.side.server.pid)

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
        self.assertEqual(len(self.server.children()), 2)
        echoed = self.load("echo", 16, 200, 8, 0)
        self.assertEqual((echoed["requests"], echoed["errors"]), (200, 0))
        streamed = self.load("stream", 1024, 0, 1, 300)
        self.assertEqual(streamed["chunks"], 300)

    def test_workersEndWithTheRelay(self):
        """
        Killing the relay alone ends its workers: they leave when it hangs
        up.
        """
        children = self.server.children()
        os.kill(self.server.pid, signal.SIGKILL)
        gone, alive = psutil.wait_procs(children, timeout=10)
        self.assertEqual(alive, [])

    def test_relayEndsWithAWorker(self):
        """
        A worker killed under the relay stops it with an error, rather
        than leaving it routing to nobody.
        """
        os.kill(self.server.children()[0].pid, signal.SIGKILL)
        self.assertEqual(self.side.server.process.wait(timeout=10), 3)
