"""
Tests for per-app monitoring: L{cocaine.management.monitor} and the
engine's and drivers' reports to it.
"""

import socket
from types import SimpleNamespace

import zmq
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cocaine.engine.manifest import ManifestError, parseManifest
from cocaine.errors import SpawnFailed
from cocaine.management.monitor import Monitor, encodeValue, startMonitor
from cocaine.zeromq._factory import shared
from tests.engine.test_engine import _EngineCase
from tests.management._client import Peer, ipcEndpoint, waitFor


class FakePublisher:
    def __init__(self):
        self.sent = []
        self.closed = False

    def send(self, frames):
        self.sent.append(frames)
        return True

    def close(self):
        self.closed = True


class MonitorTests(SynchronousTestCase):

    def setUp(self):
        self.publisher = FakePublisher()
        self.monitor = Monitor(self.publisher, "host1",
                               clock=lambda: 1795421234.5123)

    def test_driverResultAndError(self):
        self.monitor("tick", "result", [b"po", b"ng"])
        self.monitor("tick", "error", "app x: queue full")
        self.assertEqual(self.publisher.sent, [
            [b"tick result host1 1795421234.512", b"pong"],
            [b"tick error host1 1795421234.512", b"app x: queue full"]])

    def test_engineEvents(self):
        self.monitor("engine", "worker-spawned", {"uuid": "u", "pid": 7})
        self.monitor("engine", "stopped", {})
        self.assertEqual(self.publisher.sent, [
            [b"engine worker-spawned host1 1795421234.512",
             b'{"pid": 7, "uuid": "u"}'],
            [b"engine stopped host1 1795421234.512", b"{}"]])
        self.assertTrue(self.publisher.closed)
        self.monitor("engine", "late", {})
        self.assertEqual(len(self.publisher.sent), 2)

    def test_encodeValue(self):
        self.assertEqual(encodeValue(None), b"")
        self.assertEqual(encodeValue("é"), "é".encode())
        self.assertEqual(encodeValue([b"a", "b"]), b"ab")
        self.assertEqual(encodeValue({"reason": b"x"}), b'{"reason": "x"}')

    def test_publishErrorsAreLogged(self):
        self.publisher.send = lambda frames: 1 / 0
        self.monitor("tick", "result", [])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)


class EngineEventTests(_EngineCase):
    """
    The engine tells its monitor of workers and a full queue, and that it
    stopped.
    """

    profile = {"pool-limit": 1, "queue-limit": 1, "concurrency": 1}

    def test_events(self):
        events = []
        self.engine.monitor = lambda *args: events.append(args)
        self.enqueue()
        process = self.isolate.processes[0]
        self.assertEqual(events, [("engine", "worker-spawned", {
            "uuid": process.args[process.args.index("--uuid") + 1],
            "pid": process.pid})])
        self.enqueue()
        self.assertEqual(events[-1], ("engine", "queue-full", {"depth": 1}))
        self.end(process, code=1)
        died = [e for e in events if e[1] == "worker-died"]
        self.assertEqual(len(died), 1)
        self.assertEqual(died[0][2]["pid"], process.pid)
        self.successResultOf(self.engine.stop(0))
        self.assertEqual(events[-1], ("engine", "stopped", {}))


class StartMonitorTests(TestCase):

    def tearDown(self):
        self.assertIsNone(shared.factory)

    def test_none(self):
        self.assertIsNone(startMonitor("a", None))
        self.assertIsNone(shared.factory)

    async def test_publishes(self):
        endpoint = ipcEndpoint(self)
        monitor = startMonitor("a", endpoint)
        self.addCleanup(monitor.close)
        subscriber = Peer(self, zmq.SUB, endpoint, subscribe=b"tick ")

        def published():
            monitor("tick", "result", [b"done"])
            try:
                return subscriber.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return None
        envelope, value = await waitFor(published, step=0.05)
        source, field, host, when = envelope.decode().split(" ")
        self.assertEqual((source, field, host, value),
                         ("tick", "result", socket.gethostname(), b"done"))
        float(when)
        monitor("engine", "stopped", {})
        self.assertTrue(monitor.publisher is None)

    def test_badPubsub(self):
        with self.assertRaises(ManifestError) as caught:
            parseManifest({"slave": "w", "pubsub": "ipc:///x"}, "a")
        self.assertIn("manifest of app 'a': pubsub: must be "
                      "{\"endpoint\": ...}", caught.exception.message)
        with self.assertRaises(ManifestError) as caught:
            startMonitor("a", "tcp://*:1")
        self.assertIn("manifest of app 'a': pubsub.endpoint: 'tcp://*:1'",
                      caught.exception.message)

    def test_cannotBind(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        endpoint = "tcp://127.0.0.1:{}".format(taken.getsockname()[1])
        with self.assertRaises(SpawnFailed) as caught:
            startMonitor("a", endpoint)
        self.assertEqual(caught.exception.message,
                         "app 'a': pubsub: cannot bind {}: Address already "
                         "in use".format(endpoint))


class DriverReportTests(SynchronousTestCase):
    """
    L{cocaine.driver.base.DriverContext.monitor} is the engine's.
    """

    def test_contextMonitor(self):
        from cocaine.driver.base import DriverContext
        engine = SimpleNamespace()
        self.assertIsNone(DriverContext(None, "a", engine).monitor)
        engine.monitor = print
        self.assertIs(DriverContext(None, "a", engine).monitor, print)
