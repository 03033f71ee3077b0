"""
Tests for L{cocaine.zeromq}, our interface over txZMQ, with real ZeroMQ
sockets on ipc, inproc and loopback TCP.
"""

import socket
import subprocess
import sys

import zmq
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cocaine.zeromq import (
    EndpointError, ZeroMQError, bindPublisher, bindPull, bindReply,
    bindRouter, checkEndpoint, connectSubscriber, splitEnvelope)
from cocaine.zeromq._factory import shared
from tests.management._client import Peer, ipcEndpoint, waitFor


class LazyImportTests(SynchronousTestCase):
    """
    pyzmq is loaded by the first socket, not by an import.
    """

    def test_nodeWithoutSockets(self):
        """
        Importing the package, and the node service that imports it for
        app monitoring, leaves pyzmq (and its libzmq) unloaded: a node
        without ZeroMQ users does not pay its memory.
        """
        result = subprocess.run(
            [sys.executable, "-c",
             "import sys, cocaine.zeromq, cocaine.node.service; "
             "print(sorted(m for m in sys.modules "
             "if m.split('.')[0] in ('zmq', 'txzmq')))"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual((result.returncode, result.stdout.strip()),
                         (0, "[]"), result.stderr[-500:])


class CheckEndpointTests(SynchronousTestCase):

    def test_accepted(self):
        for endpoint in ("ipc:///tmp/x.sock", "ipc://@abstract",
                         "inproc://jobs", "tcp://127.0.0.1:5000",
                         "tcp://[::1]:5000", "tcp://0.0.0.0:5000",
                         "tcp://localhost:1", "tcp://127.0.0.1:*"):
            self.assertEqual(checkEndpoint(endpoint), endpoint)

    def test_refused(self):
        for endpoint, fragment in (
                (None, "must be ipc://PATH, inproc://NAME or tcp://"),
                ("udp://127.0.0.1:5", "must be ipc://PATH"),
                ("127.0.0.1:5000", "must be ipc://PATH"),
                ("pgm://eth0;239.1.1.1:5555", "must be ipc://PATH"),
                ("ipc://", "nothing after ipc://"),
                ("ipc:///" + "x" * 120, "at most 107 bytes"),
                ("tcp://*:5000", "'*' would listen on every interface"),
                ("tcp://:5000", "must be tcp://ADDRESS:PORT"),
                ("tcp://127.0.0.1", "must be tcp://ADDRESS:PORT"),
                ("tcp://127.0.0.1:0", "the port must be 1-65535"),
                ("tcp://127.0.0.1:70000", "the port must be 1-65535"),
                ("tcp://127.0.0.1:http", "the port must be 1-65535")):
            with self.assertRaises(EndpointError) as caught:
                checkEndpoint(endpoint)
            self.assertIn(fragment, str(caught.exception), endpoint)

    def test_connectNeedsAPort(self):
        self.assertRaises(EndpointError, checkEndpoint, "tcp://127.0.0.1:*",
                          bind=False)


class SplitEnvelopeTests(SynchronousTestCase):

    def test_req(self):
        self.assertEqual(splitEnvelope([b"id", b"", b"a", b"b"]),
                         ([b"id", b""], [b"a", b"b"]))

    def test_proxied(self):
        self.assertEqual(splitEnvelope([b"id", b"hop", b"", b"a"]),
                         ([b"id", b"hop", b""], [b"a"]))

    def test_dealerWithoutDelimiter(self):
        self.assertEqual(splitEnvelope([b"id", b"a"]), ([b"id"], [b"a"]))


class SharedFactoryTests(TestCase):

    def test_lazyAndReleasedByTheLastUser(self):
        self.assertIsNone(shared.factory)
        first = bindPublisher(ipcEndpoint(self, "a"))
        factory = shared.factory
        self.assertIsNotNone(factory)
        second = bindPull(ipcEndpoint(self, "b"), lambda frames: None)
        self.assertIs(shared.factory, factory)
        self.assertEqual(shared.users, 2)
        first.close()
        first.close()
        self.assertIs(shared.factory, factory)
        second.close()
        self.assertIsNone(shared.factory)
        self.assertIsNone(factory.context)
        self.assertEqual(shared.users, 0)

    def test_bindFailureReleases(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        endpoint = "tcp://127.0.0.1:{}".format(taken.getsockname()[1])
        with self.assertRaises(ZeroMQError) as caught:
            bindRouter(endpoint, lambda frames: None)
        self.assertEqual(str(caught.exception),
                         "cannot bind {}: Address already in use".format(
                             endpoint))
        self.assertIsNone(shared.factory)

    def test_inprocTwice(self):
        first = bindPull("inproc://twice", lambda frames: None)
        self.addCleanup(first.close)
        self.assertRaises(ZeroMQError, bindPull, "inproc://twice",
                          lambda frames: None)
        self.assertEqual(shared.users, 1)


class SocketTests(TestCase):

    def tearDown(self):
        self.assertIsNone(shared.factory)

    async def test_routerWithReq(self):
        received = []

        def onMessage(frames):
            received.append(frames)
            envelope, body = splitEnvelope(frames)
            router.send(envelope + [b"re:" + body[0], b"more"])
        router = bindRouter("tcp://127.0.0.1:*", onMessage)
        self.addCleanup(router.close)
        self.assertTrue(router.endpoint.startswith("tcp://127.0.0.1:"))
        client = Peer(self, zmq.REQ, router.endpoint)
        self.assertEqual(await client.request(b"hi"), [b"re:hi", b"more"])
        self.assertEqual(received[0][1:], [b"", b"hi"])

    async def test_replySocketAnswersLater(self):
        endpoint = ipcEndpoint(self)
        pending = []
        server = bindReply(endpoint,
                           lambda body, reply: pending.append((body, reply)))
        self.addCleanup(server.close)
        one = Peer(self, zmq.REQ, endpoint)
        two = Peer(self, zmq.REQ, endpoint)
        one.send(b"1", b"sig")
        two.send(b"2")
        await waitFor(lambda: len(pending) == 2)
        bodies = {tuple(body): reply for body, reply in pending}
        bodies[(b"2",)]([b"two"])
        bodies[(b"1", b"sig")]([b"one"])
        bodies[(b"1", b"sig")]([b"again"])
        self.assertEqual(await two.receive(), [b"two"])
        self.assertEqual(await one.receive(), [b"one"])

    async def test_pull(self):
        endpoint = ipcEndpoint(self)
        received = []
        pull = bindPull(endpoint, received.append)
        self.addCleanup(pull.close)
        push = Peer(self, zmq.PUSH, endpoint)
        push.send(b"a", b"b")
        push.send(b"c")
        await waitFor(lambda: len(received) == 2)
        self.assertEqual(received, [[b"a", b"b"], [b"c"]])

    async def test_subscriberFilters(self):
        endpoint = ipcEndpoint(self)
        publisher = Peer(self, zmq.PUB, endpoint, bind=True)
        received = []
        sub = connectSubscriber(endpoint, received.append, [b"keep"])
        self.addCleanup(sub.close)

        def published():
            publisher.send(b"drop", b"x")
            publisher.send(b"keep", b"y")
            return received
        await waitFor(published, step=0.05)
        self.assertEqual(received[0], [b"keep", b"y"])
        self.assertNotIn([b"drop", b"x"], received)

    async def test_publisher(self):
        endpoint = ipcEndpoint(self)
        pub = bindPublisher(endpoint)
        self.addCleanup(pub.close)
        subscriber = Peer(self, zmq.SUB, endpoint, subscribe=b"")
        got = []

        async def collect():
            got.append(await subscriber.receive())
        d = Deferred.fromCoroutine(collect())
        await waitFor(lambda: got or pub.send([b"env", b"value"]) and got,
                      step=0.05)
        await d
        self.assertEqual(got[0], [b"env", b"value"])

    async def test_callbackErrorsAreLogged(self):
        endpoint = ipcEndpoint(self)
        calls = []

        def onMessage(frames):
            calls.append(frames)
            raise ZeroDivisionError()
        pull = bindPull(endpoint, onMessage)
        self.addCleanup(pull.close)
        push = Peer(self, zmq.PUSH, endpoint)
        push.send(b"1")
        push.send(b"2")
        await waitFor(lambda: len(calls) == 2)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 2)

    def test_sendAfterClose(self):
        pub = bindPublisher("inproc://closed")
        pub.close()
        self.assertFalse(pub.send([b"x"]))

    def test_sendRefusedIsLogged(self):
        """
        A message ZeroMQ refuses (a full queue, an unroutable peer) is
        dropped: C{send} says so and logs the endpoint and the reason.
        """
        from twisted.logger import globalLogPublisher
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        pub = bindPublisher("inproc://refusing")
        self.addCleanup(pub.close)

        def refuse(frames):
            raise zmq.ZMQError(zmq.EAGAIN)
        self.patch(pub._connection, "send", refuse)
        self.assertFalse(pub.send([b"x"]))
        dropped = [e for e in events
                   if e.get("log_format", "").startswith("ZeroMQ message")]
        self.assertEqual(len(dropped), 1)
        self.assertEqual(dropped[0]["endpoint"], "inproc://refusing")
        self.assertEqual(dropped[0]["reason"], zmq.strerror(zmq.EAGAIN))
