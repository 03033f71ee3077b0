"""
Tests for the ZeroMQ drivers with real ZeroMQ sockets (ipc in a temporary
directory, loopback TCP) and a fake engine.
"""

import json
import socket

import zmq
from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cocaine.driver.base import DriverContext
from cocaine.errors import DriverError
from cocaine.plugins import checkDrivers, loadPlugins
from cocaine.driver.zeromq import (
    ZeroMQServer, ZeroMQSink, ZeroMQSubscriber, checkArgs)
from cocaine.zeromq._factory import shared
from cocaine.testing import FakeEngine
from tests.management._client import Peer, Timeout, ipcEndpoint, waitFor


class _ZeroMQCase(TestCase):

    def setUp(self):
        self.engine = FakeEngine()
        self.context = DriverContext(reactor, "app", self.engine)
        self.endpoint = ipcEndpoint(self)

    def tearDown(self):
        # every socket closed, so the ZeroMQ context is gone
        self.assertIsNone(shared.factory)

    def startDriver(self, cls, **args):
        driver = cls(self.context, "zmq", args)
        driver.start()
        self.addCleanup(driver.stop)
        return driver

    async def session(self, index=0):
        await waitFor(lambda: len(self.engine.sessions) > index)
        return self.engine.sessions[index]


class ServerTests(_ZeroMQCase):

    async def test_requestReply(self):
        server = self.startDriver(ZeroMQServer, endpoint=self.endpoint,
                                  emit="echo")
        client = Peer(self, zmq.REQ, self.endpoint)
        client.send(b"one", b"two")
        session = await self.session()
        self.assertEqual((session.event, session.request, session.closed),
                         ("echo", [b"one", b"two"], True))
        self.assertEqual(server.info()["pending"], 1)
        session.answer(b"a", b"b", b"c")
        self.assertEqual(await client.receive(), [b"a", b"b", b"c"])
        info = server.info()
        self.assertEqual((info["type"], info["jobs"], info["errors"],
                          info["pending"], info["backlog"]),
                         ("zeromq-server", 1, 0, 0, 1000))
        self.assertEqual(info["endpoint"], self.endpoint)

    async def test_noChunksIsOneEmptyFrame(self):
        self.startDriver(ZeroMQServer, endpoint=self.endpoint)
        client = Peer(self, zmq.REQ, self.endpoint)
        client.send(b"x")
        (await self.session()).answer()
        self.assertEqual(await client.receive(), [b""])

    async def test_errorReply(self):
        server = self.startDriver(ZeroMQServer, endpoint=self.endpoint)
        client = Peer(self, zmq.REQ, self.endpoint)
        client.send(b"x")
        session = await self.session()
        session.upstream.send("error", [42, 100], "ValueError: boom")
        reply = await client.receive()
        self.assertEqual(json.loads(reply[0]), {"error": "ValueError: boom"})
        self.assertEqual(len(reply), 1)
        self.assertEqual(server.info()["errors"], 1)

    async def test_queueFull(self):
        self.engine.reject = True
        self.startDriver(ZeroMQServer, endpoint=self.endpoint)
        client = Peer(self, zmq.REQ, self.endpoint)
        reply = await client.request(b"x")
        self.assertEqual(json.loads(reply[0]), {"error": "queue full"})

    async def test_dealerClients(self):
        self.startDriver(ZeroMQServer, endpoint=self.endpoint)
        plain = Peer(self, zmq.DEALER, self.endpoint)
        delimited = Peer(self, zmq.DEALER, self.endpoint)
        plain.send(b"p")
        (await self.session(0)).answer(b"P")
        self.assertEqual(await plain.receive(), [b"P"])
        delimited.send(b"", b"d")
        session = await self.session(1)
        self.assertEqual(session.request, [b"d"])
        session.answer(b"D")
        self.assertEqual(await delimited.receive(), [b"", b"D"])

    async def test_concurrentRequests(self):
        self.startDriver(ZeroMQServer, endpoint=self.endpoint)
        clients = [Peer(self, zmq.REQ, self.endpoint) for _ in range(3)]
        for index, client in enumerate(clients):
            client.send(str(index).encode())
        await waitFor(lambda: len(self.engine.sessions) == 3)
        for session in reversed(self.engine.sessions):
            session.answer(b"re" + session.request[0])
        for index, client in enumerate(clients):
            self.assertEqual(await client.receive(),
                             [b"re" + str(index).encode()])

    async def test_replyAfterStopIsDropped(self):
        server = self.startDriver(ZeroMQServer, endpoint=self.endpoint)
        client = Peer(self, zmq.REQ, self.endpoint)
        client.send(b"x")
        session = await self.session()
        server.stop()
        session.answer(b"late")
        with self.assertRaises(Timeout):
            await client.receive(timeout=0.2)

    def test_backlogIsTheHighWaterMark(self):
        server = self.startDriver(ZeroMQServer, endpoint=self.endpoint,
                                  backlog=7)
        raw = server.socket._connection.socket
        self.assertEqual((raw.get(zmq.SNDHWM), raw.get(zmq.RCVHWM)), (7, 7))

    def test_addressInUse(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        endpoint = "tcp://127.0.0.1:{}".format(taken.getsockname()[1])
        server = ZeroMQServer(self.context, "zmq", {"endpoint": endpoint})
        with self.assertRaises(DriverError) as caught:
            server.start()
        self.assertEqual(caught.exception.message,
                         "cannot bind {}: Address already in use".format(
                             endpoint))

    async def test_ephemeralPortInInfo(self):
        server = self.startDriver(ZeroMQServer, endpoint="tcp://127.0.0.1:*")
        endpoint = server.info()["endpoint"]
        self.assertRegex(endpoint, r"^tcp://127\.0\.0\.1:\d+$")
        client = Peer(self, zmq.REQ, endpoint)
        client.send(b"x")
        (await self.session()).answer(b"y")
        self.assertEqual(await client.receive(), [b"y"])


class SinkTests(_ZeroMQCase):

    async def test_eachMessageAJob(self):
        sink = self.startDriver(ZeroMQSink, endpoint=self.endpoint)
        push = Peer(self, zmq.PUSH, self.endpoint)
        push.send(b"a", b"b")
        push.send(b"c")
        await waitFor(lambda: len(self.engine.sessions) == 2)
        self.assertEqual([s.request for s in self.engine.sessions],
                         [[b"a", b"b"], [b"c"]])
        self.engine.sessions[0].answer(b"ignored")
        self.engine.sessions[1].upstream.send("error", [1, 2], "bad")
        info = sink.info()
        self.assertEqual((info["type"], info["jobs"], info["errors"],
                          info["last-error"]),
                         ("zeromq-sink", 2, 1, "bad"))


class SubscriberTests(_ZeroMQCase):

    async def test_subscribedMessagesAreJobs(self):
        publisher = Peer(self, zmq.PUB, self.endpoint, bind=True)
        subscriber = self.startDriver(
            ZeroMQSubscriber, endpoint=self.endpoint,
            subscription=["news", "alerts"])

        def published():
            publisher.send(b"sport", b"x")
            publisher.send(b"news", b"y")
            return self.engine.sessions
        await waitFor(published, step=0.05)
        self.assertEqual(self.engine.sessions[0].request, [b"news", b"y"])
        self.assertNotIn([b"sport", b"x"],
                         [s.request for s in self.engine.sessions])
        info = subscriber.info()
        self.assertEqual(info["subscription"], ["news", "alerts"])
        self.assertEqual(info["endpoint"], self.endpoint)

    async def test_everythingByDefault(self):
        publisher = Peer(self, zmq.PUB, self.endpoint, bind=True)
        self.startDriver(ZeroMQSubscriber, endpoint=self.endpoint)

        def published():
            publisher.send(b"anything")
            return self.engine.sessions
        await waitFor(published, step=0.05)
        self.assertEqual(self.engine.sessions[0].request, [b"anything"])


class MonitorHookTests(_ZeroMQCase):
    """
    Driver jobs are reported to the engine's monitor.
    """

    async def test_resultsAndErrors(self):
        reported = []
        self.engine.monitor = lambda *args: reported.append(args)
        self.startDriver(ZeroMQServer, endpoint=self.endpoint)
        client = Peer(self, zmq.REQ, self.endpoint)
        client.send(b"x")
        (await self.session(0)).answer(b"a", b"b")
        await client.receive()
        client.send(b"y")
        (await self.session(1)).upstream.send("error", [42, 100], "boom")
        await client.receive()
        self.assertEqual(reported, [("zmq", "result", [b"a", b"b"]),
                                    ("zmq", "error", "boom")])


class ArgumentTests(SynchronousTestCase):

    def test_plugins(self):
        plugins = loadPlugins()
        self.assertTrue({"zeromq-server", "zeromq-sink",
                         "zeromq-subscriber"} <= set(plugins.drivers))

    def test_errorsNameTheArgument(self):
        plugins = loadPlugins()
        for spec, fragment in (
                ({"type": "zeromq-server"}, "drivers.z.endpoint: must be "
                                            "ipc://PATH"),
                ({"type": "zeromq-server", "endpoint": "tcp://*:5000"},
                 "drivers.z.endpoint: 'tcp://*:5000': write the address "
                 "out"),
                ({"type": "zeromq-server", "endpoint": "inproc://x",
                  "backlog": 0}, "drivers.z.backlog: must be a positive "
                                 "integer, got 0"),
                ({"type": "zeromq-sink", "endpoint": "http://x"},
                 "drivers.z.endpoint: must be ipc://PATH"),
                ({"type": "zeromq-subscriber",
                  "endpoint": "tcp://127.0.0.1:*"},
                 "the port must be 1-65535"),
                ({"type": "zeromq-subscriber", "endpoint": "inproc://x",
                  "subscription": 5},
                 "drivers.z.subscription: must be a string or a list")):
            with self.assertRaises(DriverError) as caught:
                checkDrivers("app", {"z": spec}, plugins)
            self.assertIn("app 'app': driver 'z' ({})".format(spec["type"]),
                          caught.exception.message)
            self.assertIn(fragment, caught.exception.message)

    def test_defaults(self):
        self.assertEqual(checkArgs("zeromq-server", "d", {
            "endpoint": "ipc:///tmp/s"}),
            {"endpoint": "ipc:///tmp/s", "backlog": 1000})
        self.assertEqual(checkArgs("zeromq-subscriber", "d", {
            "endpoint": "tcp://127.0.0.1:5"}),
            {"endpoint": "tcp://127.0.0.1:5", "subscriptions": [b""]})
