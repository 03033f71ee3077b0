# -*- test-case-name: tests.worker.test_service -*-
"""
Tests for L{cocaine.worker.service}: the worker SDK's service client
against a fake locator and services served by asyncio on loopback in the
test process.
"""

import asyncio
import errno
import os
import ssl
from unittest import mock

from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import (
    CallTimeout, CocaineError, InvalidArgument, KeyNotFound, NotConnected,
    ProtocolViolation, SlotNotFound)
from cocaine.protocol.client import DEFAULT_LOCATOR
from cocaine.protocol.framing import Decoder, Encoder
from cocaine.protocol.headers import HeaderTable
from cocaine.protocol.idl import RECURRENT, STREAMING, Message, Protocol
from cocaine.protocol.services import APP, STORAGE
from cocaine.worker import Channel, ChannelClosed, Locator, Service
from cocaine.worker.service import locatorEndpoints
from tests.certs import CA, write

#: No credentials and no TLS from the test process's environment.
CLEAN = {"COCAINE_TOKEN": "", "COCAINE_APP_TOKEN_TYPE": "",
         "COCAINE_APP_TOKEN_BODY": "", "COCAINE_TLS_CA": "",
         "COCAINE_TLS_CERT": "", "COCAINE_TLS_KEY": "",
         "COCAINE_TLS_SERVER_NAME": ""}


def run(coroutine):
    """
    Run C{coroutine} on a fresh asyncio loop, with a clean environment.
    """
    with mock.patch.dict(os.environ, CLEAN):
        return asyncio.run(asyncio.wait_for(coroutine, 30))


class _Peer(asyncio.Protocol):
    """
    The server side of one connection to a L{FakeServer}.
    """

    def __init__(self, server):
        self.server = server
        self.decoder = Decoder(raw=False)
        self.encoder = Encoder()
        self.table = HeaderTable()

    def connection_made(self, transport):
        self.transport = transport
        self.server.peers.append(self)

    def data_received(self, data):
        for channel, mtype, args, headers in self.decoder.feed(data):
            decoded = dict(self.table.decode(headers)) if headers else {}
            self.server.received.append((channel, mtype, args, decoded))
            self.server.handle(self, channel, mtype, args)

    def send(self, channel, mtype, args):
        self.transport.write(self.encoder.encode(channel, mtype, args))


class FakeServer:
    """
    A service on 127.0.0.1 that records what it receives and answers with
    L{handle}.

    @ivar received: C{(channel, type, args, headers)} of every message.
    @ivar peers: every connection accepted.
    """

    def __init__(self):
        self.received = []
        self.peers = []
        self.port = None
        self._server = None

    async def start(self, ssl=None):
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Peer(self), "127.0.0.1", 0, ssl=ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self):
        self._server.close()
        for peer in self.peers:
            peer.transport.abort()

    def handle(self, peer, channel, mtype, args):
        raise NotImplementedError


class FakeLocator(FakeServer):
    """
    Resolves every name in C{services} to C{(port, protocol)}; other names
    fail as 0.12's locator does.
    """

    def __init__(self):
        FakeServer.__init__(self)
        self.services = {}

    def handle(self, peer, channel, mtype, args):
        if mtype != 0:
            return
        entry = self.services.get(args[0])
        if entry is None:
            peer.send(channel, 1, [[10, 1], "service is not available"])
            return
        port, protocol = entry
        peer.send(channel, 0, [[["127.0.0.1", port]], 1, protocol.graph()])


class FakeStorage(FakeServer):
    """
    Storage's protocol over a dict; C{hang} leaves calls unanswered,
    C{drop} closes the connection on the next call.
    """

    def __init__(self):
        FakeServer.__init__(self)
        self.values = {}
        self.hang = False
        self.drop = False

    def handle(self, peer, channel, mtype, args):
        if self.drop:
            self.drop = False
            peer.transport.abort()
        elif self.hang:
            pass
        elif mtype == 0:
            value = self.values.get(tuple(args))
            if value is None:
                peer.send(channel, 1, [[1, 2], "key not found"])
            else:
                peer.send(channel, 0, [value])
        elif mtype == 1:
            self.values[(args[0], args[1])] = args[2]
            peer.send(channel, 0, [])
        elif mtype == 3:
            peer.send(channel, 0, [["a", "b"], 7])
        else:
            peer.send(channel, 1, [[7, 2], "bad call"])


class FakeApp(FakeServer):
    """
    An app's protocol: C{enqueue} echoes every chunk back, then closes;
    event C{fail} is answered with an error, and event C{tail}'s answer
    is never closed (an endless stream).
    """

    def __init__(self):
        FakeServer.__init__(self)
        self.events = {}

    def handle(self, peer, channel, mtype, args):
        if channel not in self.events:
            self.events[channel] = args[0]
            if args[0] == "fail":
                peer.send(channel, 1, [[43, 9], "it failed"])
            return
        if mtype == 0:
            peer.send(channel, 0, args)
        elif mtype == 2 and self.events[channel] != "tail":
            peer.send(channel, 2, [])


async def node():
    """
    A fake locator with storage and an app.

    @return: C{(locator, storage, app)} servers, started.
    """
    locator = await FakeLocator().start()
    storage = await FakeStorage().start()
    app = await FakeApp().start()
    locator.services["storage"] = (storage.port, STORAGE)
    locator.services["echo"] = (app.port, APP)
    return locator, storage, app


def endpoints(server):
    return [("127.0.0.1", server.port)]


class CallTests(SynchronousTestCase):
    """
    Calls with a primitive reply return the value, as L{cocaine.client}'s
    do.
    """

    def test_readAndWrite(self):
        async def scenario():
            locator, storage, _ = await node()
            service = Service("storage", endpoints(locator))
            written = await service.write("c", "k", b"value", ["t"])
            value = await service.read("c", "k")
            several = await service.find("c", ["t"])
            return (written, value, several, storage.values,
                    service.version, service.endpoints)
        written, value, several, values, version, where = run(scenario())
        self.assertIsNone(written)
        self.assertEqual(value, b"value")
        self.assertEqual(several, (["a", "b"], 7))
        self.assertEqual(values, {("c", "k"): b"value"})
        self.assertEqual(version, 1)
        self.assertEqual(len(where), 1)

    def test_methodsFromTheGraph(self):
        """
        A name the resolved graph does not have is a L{SlotNotFound}
        naming those it has.
        """
        async def scenario():
            locator, _, _ = await node()
            service = Service("storage", endpoints(locator))
            with self.assertRaises(SlotNotFound) as raised:
                await service.frobnicate()
            return str(raised.exception), service.protocol
        message, protocol = run(scenario())
        self.assertIn("storage has no method 'frobnicate'", message)
        self.assertIn("read, write, remove, find", message)
        self.assertEqual([m.name for m in protocol.messages],
                         ["read", "write", "remove", "find"])

    def test_serviceError(self):
        """
        The service's error arrives as the most specific
        L{CocaineError} with its category, code and message.
        """
        async def scenario():
            locator, _, _ = await node()
            service = Service("storage", endpoints(locator))
            with self.assertRaises(KeyNotFound) as raised:
                await service.read("c", "missing")
            with self.assertRaises(InvalidArgument) as other:
                await service.remove("c", "k")
            return raised.exception, other.exception
        error, other = run(scenario())
        self.assertEqual((error.category, error.code, error.message),
                         (1, 2, "key not found"))
        self.assertIsInstance(other, CocaineError)
        self.assertEqual((other.category, other.code), (7, 2))

    def test_unknownService(self):
        async def scenario():
            locator, _, _ = await node()
            with self.assertRaises(CocaineError) as raised:
                await Service("ghost", endpoints(locator)).ready()
            return raised.exception
        error = run(scenario())
        self.assertEqual((error.category, error.code), (10, 1))

    def test_oneConnectionForConcurrentCalls(self):
        """
        Calls made before the service is connected share one resolve and
        one connection.
        """
        async def scenario():
            locator, storage, _ = await node()
            storage.values[("c", "k")] = b"v"
            service = Service("storage", endpoints(locator))
            values = await asyncio.gather(
                *[service.read("c", "k") for _ in range(5)])
            return values, len(locator.received), len(storage.peers)
        values, resolves, connections = run(scenario())
        self.assertEqual(values, [b"v"] * 5)
        self.assertEqual((resolves, connections), (1, 1))

    def test_locatorDown(self):
        """
        A locator that cannot be reached fails the call with
        L{NotConnected} naming where it was looked for.
        """
        async def scenario():
            server = await FakeServer().start()
            server.stop()
            service = Service("storage", endpoints(server))
            with self.assertRaises(NotConnected) as raised:
                await service.read("c", "k")
            return str(raised.exception), server.port
        message, port = run(scenario())
        self.assertIn("cannot connect to locator at 127.0.0.1:{}".format(
            port), message)


class TimeoutTests(SynchronousTestCase):

    def test_perCall(self):
        """
        A call not answered within its timeout raises L{CallTimeout}; the
        connection stays usable and a late reply is dropped.
        """
        async def scenario():
            locator, storage, _ = await node()
            storage.values[("c", "k")] = b"v"
            service = Service("storage", endpoints(locator))
            await service.ready()
            storage.hang = True
            with self.assertRaises(CallTimeout) as raised:
                await service.read("c", "k", timeout=0.05)
            storage.hang = False
            return str(raised.exception), await service.read("c", "k")
        message, value = run(scenario())
        self.assertEqual(message, "storage.read did not answer within 0.05s")
        self.assertEqual(value, b"v")

    def test_serviceDefault(self):
        async def scenario():
            locator, storage, _ = await node()
            storage.hang = True
            service = Service("storage", endpoints(locator), timeout=0.05)
            with self.assertRaises(CallTimeout):
                await service.read("c", "k")
            # a call's own timeout wins over the service's
            task = asyncio.ensure_future(service.read("c", "k", timeout=5))
            await asyncio.sleep(0.1)
            done = task.done()
            task.cancel()
            return done
        self.assertFalse(run(scenario()))


class ReconnectTests(SynchronousTestCase):

    def test_dropFailsInFlightThenReconnects(self):
        """
        A dropped connection fails the calls in flight with
        L{NotConnected}; the next call resolves and connects again.
        """
        async def scenario():
            locator, storage, _ = await node()
            storage.values[("c", "k")] = b"v"
            service = Service("storage", endpoints(locator))
            first = await service.read("c", "k")
            storage.drop = True
            with self.assertRaises(NotConnected) as raised:
                await service.read("c", "k")
            again = await service.read("c", "k")
            return (first, again, str(raised.exception),
                    len(storage.peers), len(locator.received))
        first, again, message, connections, resolves = run(scenario())
        self.assertEqual((first, again), (b"v", b"v"))
        self.assertIn("connection lost before the reply", message)
        self.assertEqual((connections, resolves), (2, 2))

    def test_serviceMoved(self):
        """
        When a service comes back elsewhere, the next call finds it there
        through the locator.
        """
        async def scenario():
            locator, storage, _ = await node()
            storage.values[("c", "k")] = b"old"
            service = Service("storage", endpoints(locator))
            first = await service.read("c", "k")
            storage.stop()
            await asyncio.sleep(0.01)
            moved = await FakeStorage().start()
            moved.values[("c", "k")] = b"new"
            locator.services["storage"] = (moved.port, STORAGE)
            return first, await service.read("c", "k")
        self.assertEqual(run(scenario()), (b"old", b"new"))

    def test_anotherLoop(self):
        """
        A service used from a new event loop (a module-level service in
        a worker run again) connects again there.
        """
        service = Service("storage", None)

        async def scenario():
            locator, storage, _ = await node()
            storage.values[("c", "k")] = b"v"
            service.locator.locatorEndpoints = endpoints(locator)
            return await service.read("c", "k")
        self.assertEqual(run(scenario()), b"v")
        self.assertEqual(run(scenario()), b"v")

    def test_disconnect(self):
        async def scenario():
            locator, storage, _ = await node()
            storage.values[("c", "k")] = b"v"
            service = Service("storage", endpoints(locator))
            await service.read("c", "k")
            service.disconnect()
            value = await service.read("c", "k")
            return value, len(storage.peers)
        self.assertEqual(run(scenario()), (b"v", 2))


class ChannelTests(SynchronousTestCase):
    """
    A streaming method returns a L{Channel} read and written like a
    session's streams.
    """

    def test_stream(self):
        async def scenario():
            locator, _, _ = await node()
            echo = Service("echo", endpoints(locator))
            channel = await echo.enqueue("ping")
            channel.write(b"a")
            channel.write(b"b")
            first = await channel.read()
            channel.close()
            rest = [chunk async for chunk in channel]
            return channel, first, rest, await channel.read()
        channel, first, rest, after = run(scenario())
        self.assertIsInstance(channel, Channel)
        self.assertEqual((first, rest, after), (b"a", [b"b"], None))
        self.assertTrue(channel.done)

    def test_dispatchFollowed(self):
        """
        Nothing may be written after C{close}.
        """
        async def scenario():
            locator, _, _ = await node()
            channel = await Service("echo", endpoints(locator)).enqueue("x")
            channel.close()
            with self.assertRaises(ProtocolViolation):
                channel.write(b"late")
        run(scenario())

    def test_error(self):
        """
        The service's error is raised by the read that reaches it and by
        every later one.
        """
        async def scenario():
            locator, _, _ = await node()
            channel = await Service("echo", endpoints(locator)).enqueue(
                "fail")
            errors = []
            for _ in range(2):
                try:
                    await channel.read()
                except CocaineError as error:
                    errors.append(error)
            return errors
        errors = run(scenario())
        self.assertEqual([(e.category, e.code, e.message) for e in errors],
                         [(43, 9, "it failed")] * 2)

    def test_lost(self):
        async def scenario():
            locator, _, app = await node()
            channel = await Service("echo", endpoints(locator)).enqueue("x")
            await asyncio.sleep(0.01)
            app.stop()
            with self.assertRaises(NotConnected):
                await channel.read()
            with self.assertRaises(NotConnected):
                channel.write(b"late")
        run(scenario())

    def test_readTimeout(self):
        async def scenario():
            locator, _, _ = await node()
            channel = await Service("echo", endpoints(locator)).enqueue("x")
            with self.assertRaises(asyncio.TimeoutError):
                await channel.read(timeout=0.01)
            channel.write(b"still")
            return await channel.read()
        self.assertEqual(run(scenario()), b"still")


class ConsumeTests(SynchronousTestCase):
    """
    L{Channel.consume}: a stream's chunks handed to a callable in the
    connection's read, the end awaited once.
    """

    def test_chunksInOrder(self):
        """
        Chunks read before the call come first, then what arrives; it
        returns at the close, after which reads give the end.
        """
        async def scenario():
            locator, _, _ = await node()
            echo = Service("echo", endpoints(locator))
            channel = await echo.enqueue("ping")
            channel.write(b"a")
            first = await channel.read()
            for chunk in (b"b", b"c", b"d"):
                channel.write(chunk)
            channel.close()
            got = []
            ended = await channel.consume(got.append)
            return first, got, ended, await channel.read()
        self.assertEqual(run(scenario()),
                         (b"a", [b"b", b"c", b"d"], None, None))

    def test_consumerRaises(self):
        """
        A callable that raises ends the reading: the channel is abandoned
        (its open request stream ended with "client disconnected") and
        C{consume} raises the exception.
        """
        async def scenario(queued):
            locator, _, app = await node()
            echo = Service("echo", endpoints(locator))
            channel = await echo.enqueue("tail")
            channel.write(b"boom")
            if queued:
                # the chunk is back before the call
                await echoed(echo)

            def onChunk(chunk):
                raise ZeroDivisionError(chunk)
            with self.assertRaises(ZeroDivisionError) as e:
                await channel.consume(onChunk)
            await echoed(echo)
            with self.assertRaises(ChannelClosed):
                await channel.read()
            return (e.exception.args, [(c, t) for c, t, _, _ in app.received
                                       if c == 1],
                    channel.id in echo._connection._receivers)
        for queued in (False, True):
            self.assertEqual(run(scenario(queued)),
                             ((b"boom",), [(1, 0), (1, 0), (1, 1)], False))

    def test_consumerAbandons(self):
        """
        A callable that abandons the channel itself (it has what it
        wanted) ends the reading with L{ChannelClosed}; the connection
        serves on. A later C{consume} raises L{ChannelClosed} too, not
        an earlier callable's exception.
        """
        async def scenario():
            locator, _, _ = await node()
            echo = Service("echo", endpoints(locator))
            channel = await echo.enqueue("tail")
            got = []

            def onChunk(chunk):
                got.append(chunk)
                channel.abandon()
            channel.write(b"enough")
            with self.assertRaises(ChannelClosed):
                await channel.consume(onChunk)
            failing = await echo.enqueue("tail")
            failing.write(b"boom")

            def fails(chunk):
                raise ZeroDivisionError(chunk)
            with self.assertRaises(ZeroDivisionError):
                await failing.consume(fails)
            with self.assertRaises(ChannelClosed):
                await failing.consume(fails)
            return got, await echoed(echo), echo._connection.connected
        self.assertEqual(run(scenario()), ([b"enough"], b"sync", True))

    def test_serviceError(self):
        """
        The service's error is raised, and again by later reads.
        """
        async def scenario():
            locator, _, _ = await node()
            echo = Service("echo", endpoints(locator))
            channel = await echo.enqueue("fail")
            with self.assertRaises(CocaineError) as e:
                await channel.consume(lambda chunk: None)
            with self.assertRaises(CocaineError):
                await channel.read()
            return str(e.exception)
        self.assertIn("it failed", run(scenario()))

    def test_abandonedWhileConsuming(self):
        """
        Abandoned by another task while it waits: L{ChannelClosed}.
        """
        async def scenario():
            locator, _, _ = await node()
            echo = Service("echo", endpoints(locator))
            channel = await echo.enqueue("tail")
            got = []
            reading = asyncio.ensure_future(channel.consume(got.append))
            channel.write(b"x")
            while not got:
                await asyncio.sleep(0.001)
            channel.abandon()
            with self.assertRaises(ChannelClosed):
                await reading
            return got
        self.assertEqual(run(scenario()), [b"x"])

    def test_refusals(self):
        """
        Something not callable is refused, naming it; so is a second
        reader while one consumes.
        """
        async def scenario():
            locator, _, _ = await node()
            echo = Service("echo", endpoints(locator))
            channel = await echo.enqueue("tail")
            with self.assertRaises(TypeError) as e:
                await channel.consume("sink")
            reading = asyncio.ensure_future(channel.consume(print))
            await asyncio.sleep(0)
            with self.assertRaises(RuntimeError):
                await channel.consume(print)
            with self.assertRaises(RuntimeError):
                await channel.read()
            channel.abandon()
            with self.assertRaises(ChannelClosed):
                await reading
            return str(e.exception)
        self.assertIn("'sink'", run(scenario()))


#: A service whose C{chat} takes messages without an C{error}, and whose
#: C{watch} takes none: an abandoned channel of either sends nothing.
CHATTY = Protocol("chatty", [
    Message("chat", [], dispatch=Protocol("chat", [
        Message("say", [], dispatch=RECURRENT)]), upstream=STREAMING),
    Message("watch", [], upstream=STREAMING),
    Message("follow", [], dispatch=Protocol("final", [
        Message("close", args=())]), upstream=STREAMING),
])


class FakeSilent(FakeServer):
    """
    Records what it receives and answers nothing.
    """

    def handle(self, peer, channel, mtype, args):
        pass


async def chattyService():
    """
    @return: a client of a L{FakeSilent} service of protocol L{CHATTY},
        and that service.
    """
    locator, _, _ = await node()
    chatty = await FakeSilent().start()
    locator.services["chatty"] = (chatty.port, CHATTY)
    return Service("chatty", endpoints(locator)), chatty


async def echoed(service, chunk=b"sync"):
    """
    A chunk echoed back by the fake app on a new channel of C{service}'s
    connection: once it is read, the app has read what was sent before
    it, and the client what the app sent before it.
    """
    channel = await service.enqueue("ping")
    channel.write(chunk)
    return await channel.read()


class AbandonTests(SynchronousTestCase):
    """
    L{Channel.abandon}: a channel its caller gave up keeps nothing of what
    the service still sends, and ends an open request stream with an
    error when its protocol has one.
    """

    def test_dropsWhatComes(self):
        """
        After C{abandon} a channel whose request stream is closed keeps
        nothing: what was queued is dropped, the connection forgets it,
        and the rest of an endless stream is dropped as it comes; the
        service is sent nothing (0.12 has no message for it).
        """
        async def scenario():
            locator, _, app = await node()
            echo = Service("echo", endpoints(locator))
            channel = await echo.enqueue("tail")
            channel.write(b"head")
            channel.write(b"a")
            channel.close()
            await echoed(echo)
            connection = echo._connection
            queued = len(channel._events)
            ended = channel.done
            channel.abandon()
            received = len(app.received)
            [peer] = app.peers
            for _ in range(1000):
                peer.send(channel.id, 0, [b"x" * 100])
            await echoed(echo)
            left = (len(channel._events), channel.id in connection._receivers)
            peer.send(channel.id, 2, [])
            await echoed(echo)
            with self.assertRaises(ChannelClosed):
                await channel.read()
            return (queued, ended, left, app.received[received:],
                    channel.done, channel.id in connection._receivers)
        queued, ended, left, sent, done, known = run(scenario())
        self.assertEqual((queued, ended), (2, False))
        self.assertEqual(left, (0, False))
        # only the two channels that synchronised
        self.assertEqual([mtype for _, mtype, _, _ in sent], [0, 0, 0, 0])
        self.assertTrue(done)
        self.assertFalse(known)

    def test_openRequestEndedWithError(self):
        """
        A request stream still open is ended with "client disconnected"
        (category 1, C{ECONNRESET}), as the node tells its worker; nothing
        more can be sent on it, and abandoning again sends nothing.
        """
        async def scenario():
            locator, _, app = await node()
            echo = Service("echo", endpoints(locator))
            channel = await echo.enqueue("tail")
            channel.write(b"follow")
            channel.abandon()
            with self.assertRaises(ProtocolViolation):
                channel.write(b"late")
            with self.assertRaises(ProtocolViolation):
                channel.close()
            channel.abandon()
            await echoed(echo)
            return [(c, t, a) for c, t, a, _ in app.received if c == 1]
        self.assertEqual(run(scenario()), [
            (1, 0, ["tail"]), (1, 0, [b"follow"]),
            (1, 1, [[1, errno.ECONNRESET], "client disconnected"])])

    def test_dispatchWithoutError(self):
        """
        A request stream whose protocol has no C{error} (a chat's, or a
        call that takes nothing after it) is left as it is: nothing is
        sent.
        """
        async def scenario():
            service, chatty = await chattyService()
            chat = await service.chat()
            watch = await service.watch()
            chat.abandon()
            watch.abandon()
            chat.send("say")
            # the last thing sent: what abandon sent would come before
            while len(chatty.received) < 3:
                await asyncio.sleep(0.001)
            return ([(t, a) for _, t, a, _ in chatty.received],
                    service._connection._receivers)
        received, receivers = run(scenario())
        self.assertEqual(received, [(0, []), (1, []), (0, [])])
        self.assertEqual(receivers, {})

    def test_closeOnlyEndedWithClose(self):
        """
        A request stream whose only end is a C{close} without arguments
        (a subscription's) is ended with that close, once: the service
        stops sending.
        """
        async def scenario():
            service, chatty = await chattyService()
            follow = await service.follow()
            follow.abandon()
            follow.abandon()
            chat = await service.chat()
            chat.send("say")
            # the last thing sent: what abandon sent would come before
            while len(chatty.received) < 4:
                await asyncio.sleep(0.001)
            return [(c, t, a) for c, t, a, _ in chatty.received]
        self.assertEqual(run(scenario()), [
            (1, 2, []), (1, 0, []), (2, 0, []), (2, 0, [])])

    def test_waitingReadsClosed(self):
        """
        A read waiting when the channel is abandoned raises
        L{ChannelClosed}, as every later one does, and C{async for}
        stops with it; L{Channel.recv} gives the end.
        """
        async def scenario():
            locator, _, _ = await node()
            echo = Service("echo", endpoints(locator))
            channel = await echo.enqueue("tail")
            reading = asyncio.ensure_future(channel.read())
            other = await echo.enqueue("tail")
            receiving = asyncio.ensure_future(other.recv())
            iterating = await echo.enqueue("tail")

            async def iterate():
                return [chunk async for chunk in iterating]
            iteration = asyncio.ensure_future(iterate())
            await asyncio.sleep(0.01)
            for abandoned in (channel, other, iterating):
                abandoned.abandon()
            results = await asyncio.gather(
                reading, receiving, iteration, channel.read(),
                return_exceptions=True)
            return [type(r) if isinstance(r, Exception) else r
                    for r in results]
        self.assertEqual(run(scenario()), [
            ChannelClosed, ("close", []), ChannelClosed, ChannelClosed])

    def test_endedChannel(self):
        """
        Abandoning a channel that has ended, or whose connection was
        lost, sends nothing; its reads raise L{ChannelClosed}.
        """
        async def scenario():
            locator, _, app = await node()
            echo = Service("echo", endpoints(locator))
            channel = await echo.enqueue("echo")
            channel.write(b"x")
            channel.close()
            chunks = [chunk async for chunk in channel]
            received = len(app.received)
            channel.abandon()
            await echoed(echo)
            sent = app.received[received:-2]
            with self.assertRaises(ChannelClosed):
                await channel.read()
            lost = await echo.enqueue("echo")
            app.stop()
            with self.assertRaises(NotConnected):
                await lost.read()
            lost.abandon()
            with self.assertRaises(ChannelClosed):
                await lost.read()
            return chunks, sent
        self.assertEqual(run(scenario()), ([b"x"], []))


class CredentialsTests(SynchronousTestCase):
    """
    Every call's first message carries the app's token.
    """

    def authorizations(self, environ, **kw):
        async def scenario():
            locator, storage, _ = await node()
            with mock.patch.dict(os.environ, environ):
                service = Service("storage", endpoints(locator), **kw)
            await service.write("c", "k", b"v")
            await service.read("c", "k")
            return ([h.get(b"authorization") for *_, h in locator.received]
                    + [h.get(b"authorization")
                       for *_, h in storage.received])
        return run(scenario())

    def test_appToken(self):
        self.assertEqual(
            self.authorizations({"COCAINE_APP_TOKEN_TYPE": "token",
                                 "COCAINE_APP_TOKEN_BODY": "p.m"}),
            [b"token p.m"] * 3)

    def test_none(self):
        self.assertEqual(self.authorizations({}), [None] * 3)

    def test_given(self):
        self.assertEqual(
            self.authorizations({"COCAINE_TOKEN": "a.b"}, token="5"),
            [b"5"] * 3)
        self.assertEqual(self.authorizations({"COCAINE_TOKEN": "a.b"}),
                         [b"token a.b"] * 3)


class TLSTests(SynchronousTestCase):

    def test_fromEnvironment(self):
        """
        With C{COCAINE_TLS_CA} set the locator and the services are
        reached over TLS, checked against that CA.
        """
        directory = os.path.abspath(self.mktemp())
        ca = CA()
        cert, key, _ = ca.server()
        caPath = write(directory, "ca.pem", ca.pem, 0o644)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(write(directory, "s.pem", cert),
                                write(directory, "s.key", key))

        async def scenario():
            locator = await FakeLocator().start(ssl=context)
            storage = await FakeStorage().start(ssl=context)
            storage.values[("c", "k")] = b"secret"
            locator.services["storage"] = (storage.port, STORAGE)
            with mock.patch.dict(os.environ, {"COCAINE_TLS_CA": caPath}):
                service = Service("storage", endpoints(locator))
                value = await service.read("c", "k")
            plain = Service("storage", endpoints(locator), tls=False,
                            connectTimeout=2, timeout=2)
            with self.assertRaises(CocaineError):
                await plain.read("c", "k")
            return value
        self.assertEqual(run(scenario()), b"secret")


class LocatorEndpointsTests(SynchronousTestCase):

    def test_fromCommandLine(self):
        self.assertEqual(
            locatorEndpoints(["--app", "a", "--locator",
                              "127.0.0.2:1234,[::1]:5"]),
            [("127.0.0.2", 1234), ("::1", 5)])

    def test_default(self):
        self.assertEqual(locatorEndpoints(["--app", "a"]),
                         [DEFAULT_LOCATOR])
        self.assertEqual(DEFAULT_LOCATOR, ("127.0.0.1", 10053))

    def test_locatorArgument(self):
        self.assertEqual(Locator("10.0.0.1:7").locatorEndpoints,
                         [("10.0.0.1", 7)])
        self.assertIsNone(Service("storage").locator.locatorEndpoints)

    def test_readOnFirstUse(self):
        """
        A service made before the worker's command line is known (at
        import) resolves through the C{--locator} it finally has.
        """
        service = Service("storage")

        async def scenario():
            locator, storage, _ = await node()
            storage.values[("c", "k")] = b"v"
            argv = ["--locator", "127.0.0.1:{}".format(locator.port)]
            with mock.patch("sys.argv", ["worker.py"] + argv):
                return await service.read("c", "k")
        self.assertEqual(run(scenario()), b"v")
