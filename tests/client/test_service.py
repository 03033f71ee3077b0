"""
The client SDK against real services in this process, on loopback, and
its connect on demand with fakes.
"""

import os
import sys
import textwrap

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from cocaine.client import ChannelClosed, Locator, Service
from cocaine.config import Network
from cocaine.errors import (
    CallTimeout, InvalidArgument, KeyNotFound, NotConnected,
    ServiceNotAvailable, SlotNotFound)
from cocaine.locator.registry import Registry
from cocaine.locator.service import LocatorService
from cocaine.protocol.idl import Arg, Message, Protocol
from cocaine.protocol.services import APP, APP_VERSION, STORAGE
from cocaine.rpc.host import ServiceHost
from cocaine.storage.memory import MemoryStorage
from cocaine.storage.service import StorageService

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


class _Silent:
    """
    A service whose C{wait} never answers, for timeouts.
    """

    protocol = Protocol("silent", [Message("wait", [Arg("x", "any")])])
    version = 1

    def __init__(self):
        self.pending = []

    def wait(self, x):
        d = Deferred()
        self.pending.append(d)
        return d


class _EchoStream:
    """
    An app session's dispatch target: what the client streams is answered
    at its close, chunk by chunk; C{fail} answers with an error and
    C{silent} never answers.
    """

    def __init__(self, upstream, event):
        self.upstream = upstream
        self.event = event
        self.chunks = []

    def write(self, chunk):
        self.chunks.append(chunk)

    def close(self):
        if self.event == "fail":
            self.upstream.error(InvalidArgument("no good: {!r}".format(
                self.chunks)))
        elif self.event != "silent":
            for chunk in self.chunks:
                self.upstream.write(chunk)
            self.upstream.close()

    def error(self, *args):
        pass


class _EchoApp:
    """
    An app service (0.12's app protocol) answering in this process.
    """

    protocol = APP
    version = APP_VERSION

    def enqueue(self, upstream, event, tag=None, headers=()):
        return _EchoStream(upstream, event)

    def info(self):
        return ({},)

    def control(self, upstream):
        return None


class ServiceClientTests(TestCase):
    """
    L{Locator} and L{Service} against a locator, a storage and a silent
    service hosted with L{ServiceHost} on 127.0.0.1.
    """

    timeout = 30

    def setUp(self):
        self.registry = Registry()
        network = Network(locator=0)
        self.silent = _Silent()
        self.hosts = [
            ServiceHost(reactor, "locator", LocatorService(
                self.registry, "test-uuid"), self.registry, network, port=0),
            ServiceHost(reactor, "storage", StorageService(MemoryStorage()),
                        self.registry, network),
            ServiceHost(reactor, "silent", self.silent, self.registry,
                        network),
            ServiceHost(reactor, "echo", _EchoApp(), self.registry,
                        network),
        ]
        for host in self.hosts:
            host.startService()
            self.addCleanup(host.stopService)
        self.addCleanup(lambda: [d.callback(None) for d in
                                 self.silent.pending if not d.called])
        self.locator = Locator(reactor, [self.hosts[0].endpoint])
        self.addCleanup(self.locator.disconnect)

    def service(self, name, **kw):
        service = Service(name, self.locator, **kw)
        self.addCleanup(service.disconnect)
        return service

    async def test_valuesUnwrapped(self):
        storage = self.service("storage")
        self.assertIsNone(await storage.write("c", "k", b"\x00v", ["t"]))
        self.assertEqual(await storage.read("c", "k"), b"\x00v")
        self.assertEqual(await storage.find("c", ["t"]), ["k"])
        endpoints, version, graph = await self.locator.resolve("storage")
        self.assertEqual(version, 1)
        self.assertEqual(storage.version, 1)

    async def test_errorsRaised(self):
        storage = self.service("storage")
        with self.assertRaises(KeyNotFound) as caught:
            await storage.read("c", "missing")
        self.assertIn("'missing'", str(caught.exception))
        with self.assertRaises(ServiceNotAvailable):
            await self.service("nothing").read("c", "k")
        with self.assertRaises(SlotNotFound) as caught:
            await storage.fly()
        self.assertIn("read, write, remove, find", str(caught.exception))

    async def test_timeout(self):
        silent = self.service("silent", timeout=0.2)
        with self.assertRaises(CallTimeout) as caught:
            await silent.wait(1)
        self.assertIn("silent.wait did not answer within 0.2s",
                      str(caught.exception))
        # a per-call timeout overrides the default
        with self.assertRaises(CallTimeout):
            await silent.wait(2, timeout=0.1)

    async def test_reconnectAndReResolve(self):
        """
        A dropped connection fails the call in flight; the next call
        resolves again and connects to where the service is now.
        """
        silent = self.service("silent")
        pending = silent.wait(1)
        storage = self.service("storage")
        await storage.write("c", "k", b"1")
        for host in self.hosts[1:]:
            host.hosted.dropConnections()
        with self.assertRaises(NotConnected):
            await pending
        # move storage to another port: the client must re-resolve
        old = self.hosts[1].endpoint
        await self.hosts[1].stopService()
        self.hosts[1].startService()
        self.assertNotEqual(self.hosts[1].endpoint, old)
        self.assertEqual(await storage.read("c", "k"), b"1")
        self.assertEqual(storage.endpoints, [list(self.hosts[1].endpoint)])

    async def test_streamingChannel(self):
        """
        locator.connect streams a snapshot then one-service updates.
        """
        channel = await self.locator.connect("me")
        uuid, snapshot = await channel.read()
        self.assertEqual(uuid, "test-uuid")
        self.assertEqual(sorted(snapshot),
                         ["echo", "locator", "silent", "storage"])
        self.registry.publish("extra", [["127.0.0.1", 1]], 1, {})
        uuid, update = await channel.read()
        self.assertEqual(update, {"extra": [[["127.0.0.1", 1]], 1, {}]})
        self.registry.withdraw("extra")
        uuid, update = await channel.read()
        self.assertEqual(update, {"extra": [[], 0, {}]})

    async def test_abandonedChannel(self):
        """
        A channel its caller abandons keeps nothing of what the service
        still sends (the locator's updates, here): the connection forgets
        it, and its later updates are dropped as they come.
        """
        channel = await self.locator.connect("me")
        await channel.read()
        channel.abandon()
        connection = self.locator._connection
        self.assertNotIn(channel.id, connection._receivers)
        for i in range(20):
            self.registry.publish("extra%d" % (i,), [["127.0.0.1", 1]], 1,
                                  {})
        # answered after the updates sent before it, on one connection
        await self.locator.resolve("extra19")
        self.assertEqual(len(channel._core._queue), 0)
        with self.assertRaises(ChannelClosed):
            await channel.read()

    async def test_publishWhileChannelOpen(self):
        channel = await self.locator.publish(
            "external", [["127.0.0.1", 4242]], [1, {}])
        self.assertIsNone(await channel.read())
        endpoints, _, _ = await self.locator.resolve("external")
        self.assertEqual(endpoints, [["127.0.0.1", 4242]])
        channel.send("discard")
        with self.assertRaises(ServiceNotAvailable):
            for _ in range(50):
                await self.locator.resolve("external")
        with self.assertRaises(ChannelClosed):
            await channel.read()

    async def test_callApp(self):
        """
        L{Service.callApp} sends an app one request and gives its whole
        answer; the app's error fails it, and a request never answered
        times out naming the app.
        """
        echo = self.service("echo")
        self.assertEqual(await echo.callApp("echo", b"a", b"b"), [b"a", b"b"])
        self.assertEqual(await echo.callApp("echo"), [])
        with self.assertRaises(InvalidArgument) as caught:
            await echo.callApp("fail", b"x")
        self.assertIn("no good: [b'x']", str(caught.exception))
        with self.assertRaises(CallTimeout) as caught:
            await echo.callApp("silent", b"x", timeout=0.2)
        self.assertIn("echo", str(caught.exception))
        # many at once on one connection, each with its own answer
        answers = await gatherResults([
            echo.callApp("echo", str(i).encode()) for i in range(20)])
        self.assertEqual(answers, [[str(i).encode()] for i in range(20)])

    async def test_callAppUnknownService(self):
        """
        A request to a service nobody serves fails as a call would.
        """
        with self.assertRaises(ServiceNotAvailable):
            await self.service("nobody").callApp("echo", b"x")

    async def test_blockingFacade(self):
        """
        The blocking facade works from a plain script.
        """
        script = textwrap.dedent("""
            import sys
            from cocaine.client.blocking import connect
            from cocaine.errors import KeyNotFound
            port = int(sys.argv[1])
            storage = connect("storage", port=port, timeout=10)
            storage.write("b", "k", b"blocking", ["t"])
            print(storage.read("b", "k").decode())
            print(storage.find("b", ["t"]))
            try:
                storage.read("b", "nope")
            except KeyNotFound as e:
                print("KeyNotFound", e.code)
            channel = connect("locator", port=port).connect("x")
            print(sorted(channel.read()[1]))
            print(connect("echo", port=port).callApp("echo", b"x", b"y"))
        """)
        out, err, code = await getProcessOutputAndValue(
            sys.executable, ["-c", script, str(self.hosts[0].endpoint[1])],
            env={"PYTHONPATH": ROOT, "PATH": os.environ.get("PATH", "")})
        self.assertEqual(code, 0, err)
        self.assertEqual(out.decode().splitlines(), [
            "blocking", "['k']", "KeyNotFound 2",
            "['echo', 'locator', 'silent', 'storage']", "[b'x', b'y']"])


class _PendingLocator:
    """
    A locator whose resolves wait for the test: C{answers} holds one
    Deferred per resolve.
    """

    authorization = None
    tls = None

    def __init__(self, reactor):
        self.reactor = reactor
        self.answers = []

    def resolve(self, name, *seed, timeout=None):
        d = Deferred()
        self.answers.append(d)
        return d


class _ConnectingAtOnce(MemoryReactorClock):
    """
    A reactor whose TCP connections are made at once, to a
    L{StringTransport}.
    """

    def connectTCP(self, host, port, factory, timeout=30, bindAddress=None):
        protocol = factory.buildProtocol(IPv4Address("TCP", host, port))
        protocol.makeConnection(StringTransport())


class ConnectOnDemandTests(TestCase):
    """
    The resolve and connect a call starts when the service is not
    connected: every call waiting on it gets its outcome.
    """

    def test_failedConnectFailsEveryWaitingCall(self):
        """
        Calls made while one connect is under way wait for it and, when
        it fails, all fail with its error.
        """
        locator = _PendingLocator(MemoryReactorClock())
        service = Service("storage", locator)
        results = []
        for _ in range(3):
            service.read("c", "k").addBoth(results.append)
        self.assertEqual(len(locator.answers), 1)
        self.assertEqual(results, [])
        locator.answers[0].errback(ServiceNotAvailable("no storage"))
        self.assertEqual(len(results), 3)
        for result in results:
            self.assertTrue(result.check(ServiceNotAvailable), result)
        # the next call resolves again
        service.read("c", "k").addBoth(results.append)
        self.assertEqual(len(locator.answers), 2)

    def test_connectedAtOnce(self):
        """
        A resolve and a connect that end at once (an answer the locator
        had, a reactor that connects at once) connect the service and
        the call is sent.
        """
        locator = _PendingLocator(_ConnectingAtOnce())
        service = Service("storage", locator)
        ready = []
        locator.resolve = lambda name, *seed, timeout=None: succeed(
            ([["127.0.0.1", 1]], 1, STORAGE.graph()))
        service.ready().addCallback(ready.append)
        self.assertEqual(ready, [service])
        self.assertTrue(service._connection.connected)
        self.assertEqual(service.version, 1)
