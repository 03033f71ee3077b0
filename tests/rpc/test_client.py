"""
Tests for L{cocaine.rpc.client}: the client side of the native protocol,
against a real L{ServerProtocol} over L{twisted.test.iosim}, and against
hand-written replies on a L{StringTransport}.
"""

import errno
import gc
import io
import threading

import msgpack
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import (
    CocaineError, InvalidArgument, KeyNotFound, NotConnected,
    ProtocolViolation, ServiceNotAvailable, SlotNotFound, UncaughtError)
from cocaine.protocol.services import APP, LOCATOR
from cocaine.rpc.client import (
    ChannelClosed, ClientProtocol, connect, unwrap)
from cocaine.rpc import client
from cocaine.rpc.server import ServerProtocol
from tests.rpc._fakes import (
    ECHO, ECHO_IDS as ID, echoService, storageService)


def pack(value):
    """
    Pack as our server does.
    """
    return msgpack.packb(value, use_bin_type=True)


class _IOCase(SynchronousTestCase):
    """
    A client connected to a fake service through an L{IOPump}.
    """

    def setUp(self):
        self.connectTo(echoService())

    def connectTo(self, service):
        self.service = service
        self.client, self.server, self.pump = connectedServerAndClient(
            lambda: ServerProtocol(service),
            lambda: ClientProtocol(service.name, service.protocol))

    @property
    def impl(self):
        return self.service.impl

    def call(self, name, *args):
        """
        Call C{name} and move the bytes.
        """
        d = self.client.call(ID[name], list(args))
        self.pump.flush()
        return d

    def open(self, name, *args):
        """
        Open a channel with C{name} and move the bytes.
        """
        channel = self.client.open(ID[name], list(args))
        self.pump.flush()
        return channel

    def dropFromServer(self):
        """
        The service side closes the connection.
        """
        self.server.transport.loseConnection()
        self.pump.flush()


class UnwrapTests(SynchronousTestCase):
    """
    L{unwrap} gives a message's args their natural Python shape.
    """

    def test_unwrap(self):
        """
        Nothing is L{None}, one is the value, several a tuple.
        """
        self.assertIsNone(unwrap([]))
        self.assertEqual(unwrap([[1]]), [1])
        self.assertEqual(unwrap([1, "a"]), (1, "a"))


class CallTests(_IOCase):
    """
    L{ClientProtocol.call} returns Deferreds of unwrapped values.
    """

    def test_connected(self):
        """
        The client knows it is connected.
        """
        self.assertTrue(self.client.connected)
        self.assertEqual(self.client.name, "echo")

    def test_oneValue(self):
        """
        One value is returned as itself; text as str.
        """
        self.assertEqual(self.successResultOf(self.call("echo", "hi")), "hi")

    def test_structuredValue(self):
        """
        A single array value stays an array.
        """
        self.assertEqual(
            self.successResultOf(self.call("echo", "hi", [1, 2])),
            ("hi", [1, 2]))

    def test_none(self):
        """
        A void call gives L{None}.
        """
        self.assertIsNone(self.successResultOf(self.call("void")))
        self.assertEqual(self.impl.voids, 1)

    def test_several(self):
        """
        Several values give a tuple; payloads stay bytes.
        """
        self.assertEqual(self.successResultOf(self.call("pair")),
                         ("a", b"b", 3))

    def test_deferred(self):
        """
        The Deferred fires when the service answers.
        """
        d = self.call("later", 3)
        self.assertNoResult(d)
        self.impl.pending[3].callback((b"\xff",))
        self.pump.flush()
        self.assertEqual(self.successResultOf(d), b"\xff")

    def test_concurrent(self):
        """
        Replies reach their own calls whatever their order.
        """
        slow = self.call("later", 1)
        fast = self.call("echo", "fast")
        self.assertEqual(self.successResultOf(fast), "fast")
        self.impl.pending[1].callback(("slow",))
        self.pump.flush()
        self.assertEqual(self.successResultOf(slow), "slow")

    def test_mute(self):
        """
        A mute call succeeds with L{None} at once; the service got it.
        """
        d = self.client.call(ID["note"], ["hello"])
        self.assertIsNone(self.successResultOf(d))
        self.pump.flush()
        self.assertEqual(self.impl.notes, ["hello"])

    def test_keyNotFound(self):
        """
        A (1, ENOENT) error arrives as L{KeyNotFound}.
        """
        self.connectTo(storageService())
        d = self.client.call(0, ["c", "k"])
        self.pump.flush()
        error = self.failureResultOf(d, KeyNotFound).value
        self.assertEqual((error.category, error.code, error.message),
                         (1, 2, "key 'k' not found in 'c'"))

    def test_storageRoundTrip(self):
        """
        Bytes written come back as bytes.
        """
        self.connectTo(storageService())
        write = self.client.call(1, ["c", "k", b"\x00\xff"])
        read = self.client.call(0, ["c", "k"])
        self.pump.flush()
        self.assertIsNone(self.successResultOf(write))
        self.assertEqual(self.successResultOf(read), b"\x00\xff")

    def test_invalidArgument(self):
        """
        Arguments the service refuses arrive as L{InvalidArgument}.
        """
        self.connectTo(storageService())
        d = self.client.call(0, ["c", 5])
        self.pump.flush()
        error = self.failureResultOf(d, InvalidArgument).value
        self.assertEqual((error.category, error.code), (7, 2))
        self.assertIn("'key'", error.message)

    def test_uncaught(self):
        """
        A handler crash arrives as L{UncaughtError} naming the type only.
        """
        d = self.call("fail", "zero")
        error = self.failureResultOf(d, UncaughtError).value
        self.assertEqual(error.message, "uncaught error: ZeroDivisionError")
        self.flushLoggedErrors(ZeroDivisionError)

    def test_serviceNotAvailable(self):
        """
        A locator-category error arrives as L{ServiceNotAvailable}.
        """
        error = self.failureResultOf(self.call("fail", "deferred"),
                                     ServiceNotAvailable).value
        self.assertEqual((error.category, error.code, error.message),
                         (10, 1, "gone"))

    def test_cancel(self):
        """
        A cancelled call fails with L{CancelledError}; its late reply is
        ignored.
        """
        d = self.call("later", 1)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.impl.pending[1].callback(("late",))
        self.pump.flush()
        self.assertEqual(self.successResultOf(self.call("echo", "x")), "x")


class ChannelTests(_IOCase):
    """
    L{ClientProtocol.open} gives a L{Channel} to read and write.
    """

    def test_read(self):
        """
        Chunks are read in order; after close reading raises
        L{ChannelClosed}, every time.
        """
        channel = self.open("count", 3)
        self.assertEqual(
            [self.successResultOf(channel.read()) for _ in range(3)],
            [0, 1, 2])
        self.failureResultOf(channel.read(), ChannelClosed)
        self.failureResultOf(channel.read(), ChannelClosed)
        self.assertTrue(channel.done)

    def test_readBeforeData(self):
        """
        Reads made before the data arrive fire in order.
        """
        channel = self.client.open(ID["count"], [2])
        reads = [channel.read() for _ in range(3)]
        for d in reads:
            self.assertNoResult(d)
        self.pump.flush()
        self.assertEqual(self.successResultOf(reads[0]), 0)
        self.assertEqual(self.successResultOf(reads[1]), 1)
        self.failureResultOf(reads[2], ChannelClosed)

    def test_concurrentReadsAtClose(self):
        """
        Every read pending when the stream closes fails with
        L{ChannelClosed}; none is left waiting.
        """
        channel = self.open("watch")
        reads = [channel.read() for _ in range(3)]
        self.impl.upstreams[0].write(b"x")
        self.impl.upstreams[0].close()
        self.pump.flush()
        self.assertEqual(self.successResultOf(reads[0]), b"x")
        self.failureResultOf(reads[1], ChannelClosed)
        self.failureResultOf(reads[2], ChannelClosed)

    def test_asyncFor(self):
        """
        C{async for} iterates the chunks until close.
        """
        channel = self.client.open(ID["count"], [4])

        async def collect():
            return [chunk async for chunk in channel]
        d = Deferred.fromCoroutine(collect())
        self.assertNoResult(d)
        self.pump.flush()
        self.assertEqual(self.successResultOf(d), [0, 1, 2, 3])

    def test_asyncForError(self):
        """
        C{async for} raises the service's error.
        """
        channel = self.open("watch")

        async def collect(seen):
            async for chunk in channel:
                seen.append(chunk)
        seen = []
        d = Deferred.fromCoroutine(collect(seen))
        self.impl.upstreams[0].write("one")
        self.impl.upstreams[0].error(KeyNotFound("k"))
        self.pump.flush()
        self.assertEqual(seen, ["one"])
        self.assertEqual(self.failureResultOf(d, KeyNotFound).value.message,
                         "k")

    def test_recv(self):
        """
        C{recv} gives C{(name, args)}.
        """
        channel = self.open("count", 1)
        self.assertEqual(self.successResultOf(channel.recv()), ("write", [0]))
        self.assertEqual(self.successResultOf(channel.recv()), ("close", []))
        self.assertEqual(self.successResultOf(channel.recv()), ("close", []))

    def test_errorEndsStream(self):
        """
        An error is raised by the read that reaches it; then the channel is
        closed.
        """
        channel = self.open("watch")
        upstream = self.impl.upstreams[0]
        upstream.write(1)
        upstream.error(KeyNotFound("gone"))
        self.pump.flush()
        self.assertEqual(self.successResultOf(channel.read()), 1)
        self.failureResultOf(channel.read(), KeyNotFound)
        self.failureResultOf(channel.read(), ChannelClosed)

    def test_primitiveChannel(self):
        """
        A channel opened on a primitive message reads its value once.
        """
        channel = self.open("echo", "v")
        self.assertEqual(self.successResultOf(channel.read()), "v")
        self.failureResultOf(channel.read(), ChannelClosed)

    def test_muteChannel(self):
        """
        A channel on a mute message is done at once.
        """
        channel = self.open("note", "n")
        self.assertTrue(channel.done)
        self.failureResultOf(channel.read(), ChannelClosed)
        self.assertEqual(self.impl.notes, ["n"])

    def test_dispatch(self):
        """
        Messages of the dispatch protocol are sent with C{send}; the
        terminal one ends what may be sent.
        """
        channel = self.open("chat")
        channel.send("say", "hi")
        channel.send("say", "again")
        self.pump.flush()
        self.assertEqual(self.successResultOf(channel.read()), "HI")
        self.assertEqual(self.successResultOf(channel.read()), "AGAIN")
        channel.send("bye")
        self.pump.flush()
        self.failureResultOf(channel.read(), ChannelClosed)
        self.assertRaises(ProtocolViolation, channel.send, "say", "late")

    def test_requestStream(self):
        """
        C{write} and C{close} stream a request (like app C{enqueue}).
        """
        channel = self.open("upload")
        channel.write(b"ab")
        channel.write(b"cd")
        channel.close()
        self.pump.flush()
        self.assertEqual(self.successResultOf(channel.read()), b"abcd")
        self.assertRaises(ProtocolViolation, channel.write, b"late")

    def test_requestError(self):
        """
        C{error} ends a request stream with an error message.
        """
        channel = self.open("upload")
        channel.error(43, 1, "client gave up")
        self.pump.flush()
        self.assertEqual(self.successResultOf(channel.read()), b"error")

    def test_publishDiscard(self):
        """
        A locator-style publish reads its value, then C{discard} reaches
        the service's target.
        """
        channel = self.open("publish", "svc")
        self.assertIsNone(self.successResultOf(channel.read()))
        channel.send("discard")
        self.pump.flush()
        self.assertEqual(self.impl.targets[0].events, ["discard"])

    def test_protocolViolation(self):
        """
        Names outside the dispatch protocol, or anything on a terminal
        dispatch, are refused locally and nothing is sent.
        """
        chat = self.open("chat")
        self.assertRaises(ProtocolViolation, chat.send, "write", b"x")
        count = self.open("count", 1)
        self.assertRaises(ProtocolViolation, count.send, "write", b"x")
        self.assertEqual(self.client.transport.stream, [])


class ConnectionLostTests(_IOCase):
    """
    Losing the connection fails what is pending with L{NotConnected}.
    """

    def test_pendingCall(self):
        """
        A pending call fails.
        """
        d = self.call("later", 1)
        self.dropFromServer()
        self.failureResultOf(d, NotConnected)
        self.assertFalse(self.client.connected)

    def test_pendingRead(self):
        """
        A pending read fails; then the channel is closed.
        """
        channel = self.open("watch")
        d = channel.read()
        self.dropFromServer()
        self.failureResultOf(d, NotConnected)
        self.failureResultOf(channel.read(), ChannelClosed)

    def test_allPendingReads(self):
        """
        Every read pending on a channel fails, not only the first.
        """
        channel = self.open("watch")
        reads = [channel.read() for _ in range(3)]
        self.dropFromServer()
        for d in reads:
            self.failureResultOf(d, NotConnected)

    def test_queuedChunksFirst(self):
        """
        Chunks that arrived before the loss are still read first.
        """
        channel = self.open("watch")
        self.impl.upstreams[0].write(1)
        self.pump.flush()
        self.dropFromServer()
        self.assertEqual(self.successResultOf(channel.read()), 1)
        self.failureResultOf(channel.read(), NotConnected)

    def test_finishedChannel(self):
        """
        A channel that ended before the loss is not failed by it.
        """
        channel = self.open("count", 0)
        self.dropFromServer()
        self.failureResultOf(channel.read(), ChannelClosed)

    def test_clientSide(self):
        """
        Closing from the client side fails pending calls too, and the
        service's late answer is harmless.
        """
        d = self.call("later", 1)
        self.client.transport.loseConnection()
        self.pump.flush()
        self.failureResultOf(d, NotConnected)
        self.impl.pending[1].callback(("late",))
        self.pump.flush()

    def test_afterLoss(self):
        """
        Calls and opens after the loss fail at once.
        """
        self.dropFromServer()
        self.failureResultOf(self.client.call(ID["echo"], ["x"]),
                             NotConnected)
        self.assertRaises(NotConnected, self.client.open, ID["count"], [1])

    def test_notifyLost(self):
        """
        C{notifyLost} fires when the connection goes, or at once after.
        """
        d = self.client.notifyLost()
        self.assertNoResult(d)
        self.dropFromServer()
        self.successResultOf(d)
        self.successResultOf(self.client.notifyLost())


class ChannelIdTests(_IOCase):
    """
    Channel ids opened by the client strictly increase.
    """

    def test_increase(self):
        """
        Calls, opens, mute and cancelled calls each take the next id, and
        the server accepts them all.
        """
        calls = [self.client.call(ID["echo"], ["a"])]
        channels = [self.client.open(ID["count"], [0])]
        calls.append(self.client.call(ID["note"], ["n"]))
        cancelled = self.client.call(ID["later"], [1])
        cancelled.cancel()
        self.failureResultOf(cancelled, CancelledError)
        channels.append(self.client.open(ID["note"], ["m"]))
        calls.append(self.client.call(ID["void"], []))
        sent = [m[0] for m in _unpackAll(
            b"".join(self.client.transport.stream))]
        self.assertEqual(sent, [1, 2, 3, 4, 5, 6])
        self.assertEqual([c.id for c in channels], [2, 5])
        self.pump.flush()
        self.assertEqual(self.successResultOf(calls[0]), "a")
        self.assertIsNone(self.successResultOf(calls[2]))
        self.failureResultOf(channels[0].read(), ChannelClosed)
        self.assertEqual(self.impl.notes, ["n", "m"])
        self.assertEqual(self.server._lastChannel, 6)


def _unpackAll(data):
    return list(msgpack.Unpacker(
        io.BytesIO(data), raw=True, strict_map_key=False))


class RawReplyTests(SynchronousTestCase):
    """
    The client against hand-written replies, for what our server never
    sends.
    """

    def setUp(self):
        self.transport = StringTransport()
        self.client = ClientProtocol("echo", ECHO)
        self.client.makeConnection(self.transport)

    def test_unknownPair(self):
        """
        An unknown error pair arrives as L{CocaineError} with that pair.
        """
        d = self.client.call(ID["echo"], ["x"])
        self.client.dataReceived(pack([1, 1, [[43, 9], "app error"]]))
        error = self.failureResultOf(d, CocaineError).value
        self.assertIs(type(error), CocaineError)
        self.assertEqual((error.category, error.code, error.message),
                         (43, 9, "app error"))

    def test_unexpectedTypeOnCall(self):
        """
        A reply type outside the primitive protocol fails the call.
        """
        d = self.client.call(ID["echo"], ["x"])
        self.client.dataReceived(pack([1, 5, []]))
        self.failureResultOf(d, NotConnected)

    def _lots(self, lot, opened, read):
        """
        Handle C{read} with lots of C{lot} answers, each of the calls or
        channels C{opened} made making a next call when answered.

        @param opened: makes the calls or channels: returns the Deferred
            of each one's answer.
        @return: the answers, and the channels of the next calls in each
            send.
        """
        from tests.rpc.test_writes import FakeDescriptor
        self.patch(client, "FLUSH_EVERY", lot)
        transport = FakeDescriptor()
        self.client.makeConnection(transport)
        answers = []

        def again(value):
            answers.append(value)
            self.client.call(ID["echo"], ["again"])
        for d in opened():
            d.addCallback(again)
        transport.sent = []
        self.client.dataReceived(read)
        return answers, [[m[0] for m in _unpackAll(data)]
                         for data in transport.sent]

    def _calls(self, count):
        return [self.client.call(ID["echo"], ["x"]) for _ in range(count)]

    def test_repliesHandledInLots(self):
        """
        A read of many replies is handled L{FLUSH_EVERY} answers at a
        time: what the answers so far prompted (here, a next call each)
        leaves before the rest of the read is handled.
        """
        answers, sent = self._lots(4, lambda: self._calls(6), b"".join(
            pack([channel, 0, [b"x"]]) for channel in range(1, 7)))
        self.assertEqual(len(answers), 6)
        self.assertEqual(sent, [[7, 8, 9, 10], [11, 12]])

    def test_lotOfAWholeRead(self):
        """
        A read of exactly L{FLUSH_EVERY} answers leaves what they prompted
        in one send, not split before its last answer.
        """
        _, sent = self._lots(4, lambda: self._calls(4), b"".join(
            pack([channel, 0, [b"x"]]) for channel in range(1, 5)))
        self.assertEqual(sent, [[5, 6, 7, 8]])

    def test_lotsCountAnswers(self):
        """
        A lot counts answers, not messages: the chunks of a stream before
        its close prompt nothing, and do not end a lot.
        """
        answers, sent = self._lots(2, lambda: [
            self.client.open(ID["count"], [2]).collect() for _ in range(3)],
            b"".join(pack([channel, 0, [b"a"]]) + pack([channel, 0, [b"b"]])
                     + pack([channel, 2, []]) for channel in range(1, 4)))
        self.assertEqual(answers, [[b"a", b"b"]] * 3)
        self.assertEqual(sent, [[4, 5], [6]])

    def test_openWithHeaders(self):
        """
        Headers given to C{open} go with the invocation as literal,
        unstored entries; the header table decodes them.
        """
        from cocaine.protocol.headers import HeaderTable
        self.client.open(ID["count"], [1], headers=[
            (b"request_timeout", b"\x01" * 8)])
        [message] = _unpackAll(self.transport.value())
        self.assertEqual(message[:3], [1, ID["count"], [1]])
        self.assertEqual(HeaderTable().decode(message[3]),
                         [(b"request_timeout", b"\x01" * 8)])

    def test_unexpectedTypeOnChannel(self):
        """
        A message outside the channel's upstream protocol fails the read
        and ends the channel; later reads do not hang.
        """
        channel = self.client.open(ID["count"], [1])
        self.client.dataReceived(pack([1, 7, []]))
        self.failureResultOf(channel.read(), NotConnected)
        self.assertTrue(channel.done)
        self.failureResultOf(channel.read(), ChannelClosed)

    def test_unknownChannelIgnored(self):
        """
        Messages for channels the client does not have are ignored.
        """
        d = self.client.call(ID["echo"], ["x"])
        self.client.dataReceived(pack([9, 0, ["stray"]])
                                 + pack([1, 0, ["x"]]))
        self.assertEqual(self.successResultOf(d), "x")

    def test_lateMessageAfterEnd(self):
        """
        A message after a call's reply is ignored.
        """
        d = self.client.call(ID["echo"], ["x"])
        self.client.dataReceived(pack([1, 0, ["x"]]) + pack([1, 0, ["y"]]))
        self.assertEqual(self.successResultOf(d), "x")

    def test_headersIgnored(self):
        """
        Replies with headers are read.
        """
        d = self.client.call(ID["echo"], ["x"])
        self.client.dataReceived(pack([1, 0, ["x"], [80]]))
        self.assertEqual(self.successResultOf(d), "x")

    def test_framingError(self):
        """
        Garbage from the service aborts the connection.
        """
        self.client.dataReceived(b"\xc1")
        self.assertTrue(self.transport.disconnecting)

    def test_sent(self):
        """
        Calls are written as C{[channel, type, args]} with text as str.
        """
        self.client.call(ID["echo"], ["x", b"y"])
        self.assertEqual(self.transport.value(),
                         pack([1, ID["echo"], ["x", b"y"]]))

    def test_appStream(self):
        """
        An app-style request (streaming both ways, as C{enqueue}): its
        chunks and close are sent with the streaming protocol's ids, the
        reply's chunks, close and error read as the protocol says, and
        nothing more can be sent or read after the close.
        """
        app = ClientProtocol("echo", APP)
        app.makeConnection(self.transport)
        channel = app.open(APP.idOf("enqueue"), ["echo"])
        channel.write(b"a")
        channel.write(b"b")
        channel.close()
        self.assertRaises(ProtocolViolation, channel.write, b"late")
        self.assertRaises(ProtocolViolation, channel.close)
        self.assertEqual(_unpackAll(self.transport.value()), [
            [1, 0, [b"echo"]], [1, 0, [b"a"]], [1, 0, [b"b"]], [1, 2, []]])
        first = channel.recv()
        app.dataReceived(pack([1, 0, [b"x"]]) + pack([1, 0, [b"y"]])
                         + pack([1, 2, []]) + pack([1, 0, [b"late"]]))
        self.assertEqual(self.successResultOf(first), ("write", [b"x"]))
        self.assertEqual(self.successResultOf(channel.recv()),
                         ("write", [b"y"]))
        self.assertEqual(self.successResultOf(channel.recv()),
                         ("close", []))
        self.assertTrue(channel.done)
        self.failureResultOf(channel.read(), ChannelClosed)
        # an error ends a stream as well
        failed = app.open(APP.idOf("enqueue"), ["echo"])
        app.dataReceived(pack([2, 0, [b"x"]])
                         + pack([2, 1, [[43, 9], "app error"]]))
        self.assertEqual(self.successResultOf(failed.read()), b"x")
        self.assertEqual(self.failureResultOf(
            failed.read(), CocaineError).value.code, 9)
        self.assertTrue(failed.done)

    def _app(self):
        app = ClientProtocol("echo", APP)
        app.makeConnection(self.transport)
        return app

    def test_collect(self):
        """
        L{Channel.collect} fires once, at the close, with every chunk of
        the answer, those read before it was called included.
        """
        app = self._app()
        channel = app.openNamed("enqueue", ["echo"])
        app.dataReceived(pack([1, 0, [b"x"]]))
        collected = channel.collect()
        self.assertNoResult(collected)
        app.dataReceived(pack([1, 0, [b"y"]]) + pack([1, 2, []])
                         + pack([1, 0, [b"late"]]))
        self.assertEqual(self.successResultOf(collected), [b"x", b"y"])
        self.assertTrue(channel.done)
        # an answer that is already complete
        done = app.openNamed("enqueue", ["echo"])
        app.dataReceived(pack([2, 0, [b"z"]]) + pack([2, 2, []]))
        self.assertEqual(self.successResultOf(done.collect()), [b"z"])
        self.assertEqual(_unpackAll(self.transport.value()), [
            [1, 0, [b"echo"]], [2, 0, [b"echo"]]])

    def test_collectError(self):
        """
        An error ends the collection with that error, whether it came
        before the call or after it.
        """
        app = self._app()
        channel = app.openNamed("enqueue", ["echo"])
        collected = channel.collect()
        app.dataReceived(pack([1, 0, [b"x"]])
                         + pack([1, 1, [[43, 9], "app error"]]))
        error = self.failureResultOf(collected, CocaineError).value
        self.assertEqual((error.code, str(error)), (9, "app error"))
        early = app.openNamed("enqueue", ["echo"])
        app.dataReceived(pack([2, 1, [[43, 7], "at once"]]))
        self.assertEqual(self.failureResultOf(
            early.collect(), CocaineError).value.code, 7)

    def test_collectConnectionLost(self):
        """
        A connection lost while collecting fails it with L{NotConnected};
        a second collect on the same channel is refused.
        """
        app = self._app()
        channel = app.openNamed("enqueue", ["echo"])
        collected = channel.collect()
        self.failureResultOf(channel.collect(), ProtocolViolation)
        app.connectionLost(None)
        self.failureResultOf(collected, NotConnected)

    def test_collectCancelled(self):
        """
        Cancelling a collection lets the channel be read again.
        """
        app = self._app()
        channel = app.openNamed("enqueue", ["echo"])
        collected = channel.collect()
        collected.cancel()
        self.failureResultOf(collected, CancelledError)
        app.dataReceived(pack([1, 0, [b"x"]]))
        self.assertEqual(self.successResultOf(channel.read()), b"x")

    def test_consume(self):
        """
        L{Channel.consume} hands each chunk on as it arrives, those read
        before it was called first, and fires with L{None} at the close;
        what comes after is dropped.
        """
        app = self._app()
        channel = app.openNamed("enqueue", ["echo"])
        app.dataReceived(pack([1, 0, [b"x"]]))
        got = []
        consumed = channel.consume(got.append)
        self.assertEqual(got, [b"x"])
        app.dataReceived(pack([1, 0, [b"y"]]) + pack([1, 0, [b"a", b"b"]]))
        self.assertEqual(got, [b"x", b"y", (b"a", b"b")])
        self.assertNoResult(consumed)
        app.dataReceived(pack([1, 2, []]) + pack([1, 0, [b"late"]]))
        self.assertIsNone(self.successResultOf(consumed))
        self.assertEqual(got, [b"x", b"y", (b"a", b"b")])
        self.assertTrue(channel.done)
        # a stream already complete
        done = app.openNamed("enqueue", ["echo"])
        app.dataReceived(pack([2, 0, [b"z"]]) + pack([2, 2, []]))
        self.assertIsNone(self.successResultOf(done.consume(got.append)))
        self.assertEqual(got[-1], b"z")

    def test_consumeError(self):
        """
        The service's error fails the consumption, after the chunks before
        it were handed on; a second reader of the whole stream is
        refused.
        """
        app = self._app()
        channel = app.openNamed("enqueue", ["echo"])
        got = []
        consumed = channel.consume(got.append)
        self.failureResultOf(channel.collect(), ProtocolViolation)
        app.dataReceived(pack([1, 0, [b"x"]])
                         + pack([1, 1, [[43, 9], "app error"]]))
        self.assertEqual(got, [b"x"])
        self.assertEqual(self.failureResultOf(
            consumed, CocaineError).value.code, 9)

    def test_consumerRaises(self):
        """
        A consumer that raises ends the reading: the Deferred fails with
        its exception, the channel is abandoned (its open request stream
        ended with "client disconnected"), and the rest of the read and
        of the stream go nowhere; the connection reads on.
        """
        app = self._app()
        channel = app.openNamed("enqueue", ["echo"])
        other = app.openNamed("enqueue", ["echo"])
        got = []

        def onChunk(chunk):
            got.append(chunk)
            if chunk == b"bad":
                raise ValueError(chunk)
        consumed = channel.consume(onChunk)
        app.dataReceived(pack([1, 0, [b"a"]]) + pack([1, 0, [b"bad"]])
                         + pack([1, 0, [b"c"]]) + pack([2, 0, [b"o"]]))
        self.assertEqual(got, [b"a", b"bad"])
        self.failureResultOf(consumed, ValueError)
        self.assertTrue(channel.done)
        self.assertNotIn(1, app._receivers)
        self.assertEqual(_unpackAll(self.transport.value())[-1], [
            1, 1, [[1, errno.ECONNRESET], b"client disconnected"]])
        self.assertEqual(self.successResultOf(other.read()), b"o")

    def test_consumeNotCallable(self):
        """
        C{consume} refuses what it cannot call, naming it, before it
        takes the stream: the channel can still be read.
        """
        app = self._app()
        channel = app.openNamed("enqueue", ["echo"])
        error = self.assertRaises(TypeError, channel.consume, [])
        self.assertIn("[]", str(error))
        app.dataReceived(pack([1, 0, [b"x"]]))
        self.assertEqual(self.successResultOf(channel.read()), b"x")

    def test_consumeCancelled(self):
        """
        Cancelling a consumption lets the channel be read again.
        """
        app = self._app()
        channel = app.openNamed("enqueue", ["echo"])
        got = []
        consumed = channel.consume(got.append)
        consumed.cancel()
        self.failureResultOf(consumed, CancelledError)
        app.dataReceived(pack([1, 0, [b"x"]]))
        self.assertEqual((got, self.successResultOf(channel.read())),
                         ([], b"x"))

    def test_request(self):
        """
        L{ClientProtocol.request} sends the opening, each chunk and the
        close in one write and fires once, at the close, with every chunk
        of the answer; what comes after the close is dropped.
        """
        from tests.rpc.test_writes import FakeDescriptor
        transport = FakeDescriptor()
        app = ClientProtocol("echo", APP)
        app.makeConnection(transport)
        answered = app.request("enqueue", ("echo",), [b"a", b"b"])
        self.assertEqual(len(transport.sent), 1)
        self.assertEqual(_unpackAll(transport.sent[0]), [
            [1, 0, [b"echo"]], [1, 0, [b"a"]], [1, 0, [b"b"]], [1, 2, []]])
        app.dataReceived(pack([1, 0, [b"x"]]))
        self.assertNoResult(answered)
        app.dataReceived(pack([1, 0, [b"y"]]) + pack([1, 2, []])
                         + pack([1, 0, [b"late"]]))
        self.assertEqual(self.successResultOf(answered), [b"x", b"y"])
        self.assertEqual(app._receivers, {})
        # no chunks: the opening and the close
        empty = app.request("enqueue", ("echo",), [])
        self.assertEqual(_unpackAll(transport.sent[1]),
                         [[2, 0, [b"echo"]], [2, 2, []]])
        app.dataReceived(pack([2, 2, []]))
        self.assertEqual(self.successResultOf(empty), [])

    def test_requestWithCredentials(self):
        """
        A connection with credentials sends them with the opening.
        """
        app = ClientProtocol("echo", APP, authorization=b"Bearer t")
        app.makeConnection(self.transport)
        app.request("enqueue", ("echo",), [b"a"])
        opening, chunk, close = _unpackAll(self.transport.value())
        self.assertEqual(opening[:3], [1, 0, [b"echo"]])
        self.assertEqual(len(opening), 4)
        self.assertEqual((chunk, close), ([1, 0, [b"a"]], [1, 2, []]))

    def test_requestError(self):
        """
        The service's error fails the request with that error.
        """
        app = self._app()
        answered = app.request("enqueue", ("echo",), [b"a"])
        app.dataReceived(pack([1, 0, [b"x"]])
                         + pack([1, 1, [[43, 9], "app error"]]))
        error = self.failureResultOf(answered, CocaineError).value
        self.assertEqual((error.code, str(error)), (9, "app error"))

    def test_requestUnexpectedMessage(self):
        """
        A message the streaming protocol does not have fails the request.
        """
        app = self._app()
        answered = app.request("enqueue", ("echo",), [])
        app.dataReceived(pack([1, 5, []]))
        self.assertIn("not allowed on channel 1", str(
            self.failureResultOf(answered, NotConnected).value))

    def test_requestConnectionLost(self):
        """
        A connection lost before the close fails the request with
        L{NotConnected}; a request on a lost connection is refused.
        """
        app = self._app()
        answered = app.request("enqueue", ("echo",), [])
        app.connectionLost(None)
        self.failureResultOf(answered, NotConnected)
        self.assertRaises(NotConnected, app.request, "enqueue", ("echo",),
                          [])

    def test_requestNotPackable(self):
        """
        A chunk that cannot be packed fails the request at once and leaves
        nothing open or sent.
        """
        app = self._app()
        self.assertRaises(TypeError, app.request, "enqueue", ("echo",),
                          [object()])
        self.assertEqual((app._receivers, self.transport.value()), ({}, b""))
        app.request("enqueue", ("echo",), [])
        self.assertEqual(_unpackAll(self.transport.value())[0][0], 1)

    def test_requestCancelled(self):
        """
        Cancelling a request drops the rest of its answer.
        """
        app = self._app()
        answered = app.request("enqueue", ("echo",), [])
        answered.cancel()
        self.failureResultOf(answered, CancelledError)
        self.assertEqual(app._receivers, {})
        app.dataReceived(pack([1, 0, [b"x"]]) + pack([1, 2, []]))

    def test_requestOtherShape(self):
        """
        A method that is not a stream both ways is served by the channel's
        own calls, with the same messages.
        """
        client = ClientProtocol("echo", ECHO)
        client.makeConnection(self.transport)
        client.request("upload", (), [b"a"])
        self.assertEqual(_unpackAll(self.transport.value()), [
            [1, ID["upload"], []], [1, 0, [b"a"]], [1, 2, []]])

    def test_openNamedUnknown(self):
        """
        L{ClientProtocol.openNamed} refuses a method the protocol lacks.
        """
        self.assertRaises(SlotNotFound, self._app().openNamed, "nope", [])

    def test_notConnectedYet(self):
        """
        Before C{connectionMade} nothing can be called.
        """
        client = ClientProtocol("echo", ECHO)
        self.assertFalse(client.connected)
        self.failureResultOf(client.call(0, ["x"]), NotConnected)
        self.assertRaises(NotConnected, client.open, 0, ["x"])


class _AppConnection:
    """
    A connection to the echo app over a L{StringTransport}, and what was
    sent on it.
    """

    def setUp(self):
        self.transport = StringTransport()
        self.app = ClientProtocol("echo", APP)
        self.app.makeConnection(self.transport)

    def sent(self):
        return _unpackAll(self.transport.value())


class AbandonTests(_AppConnection, SynchronousTestCase):
    """
    L{Channel.abandon}: a channel its caller gave up keeps nothing of what
    the service still sends, and ends an open request stream with an
    error when its protocol has one.
    """

    def test_dropsWhatComes(self):
        """
        After C{abandon} a channel whose request stream is closed (the
        HTTP gateway's, whose client went away) keeps nothing: what was
        queued is dropped, the connection forgets it, and the rest of an
        endless stream is dropped as it comes; the service is sent
        nothing (0.12 has no message for it).
        """
        channel = self.app.openNamed("enqueue", ["http"])
        channel.write(b"request")
        channel.close()
        self.app.dataReceived(pack([1, 0, [b"head"]]) + pack([1, 0, [b"a"]]))
        before = self.transport.value()
        channel.abandon()
        self.assertEqual(len(channel._core._queue), 0)
        self.assertEqual(self.app._receivers, {})
        self.app.dataReceived(b"".join(
            pack([1, 0, [b"x" * 100]]) for _ in range(1000)))
        self.assertEqual((len(channel._core._queue), self.app._receivers),
                         (0, {}))
        self.app.dataReceived(pack([1, 2, []]))
        self.assertEqual(self.transport.value(), before)
        self.assertTrue(channel.done)
        self.failureResultOf(channel.read(), ChannelClosed)

    def test_openRequestEndedWithError(self):
        """
        A request stream still open is ended with "client disconnected"
        (category 1, C{ECONNRESET}), as the node tells its worker; nothing
        more can be sent on it.
        """
        channel = self.app.openNamed("enqueue", ["tail"])
        channel.write(b"follow")
        channel.abandon()
        self.assertEqual(self.sent()[-1], [
            1, 1, [[1, errno.ECONNRESET], b"client disconnected"]])
        self.assertRaises(ProtocolViolation, channel.write, b"late")
        self.assertRaises(ProtocolViolation, channel.close)
        channel.abandon()
        self.assertEqual(len(self.sent()), 3)

    def test_dispatchWithoutError(self):
        """
        A request stream whose protocol has no C{error} (a chat's, or a
        call that takes none) is left as it is: nothing is sent.
        """
        client = ClientProtocol("echo", ECHO)
        client.makeConnection(self.transport)
        chat = client.open(ID["chat"], [])
        watch = client.open(ID["watch"], [])
        sent = self.transport.value()
        chat.abandon()
        watch.abandon()
        self.assertEqual(self.transport.value(), sent)
        self.assertEqual(client._receivers, {})
        chat.send("say", "still allowed")

    def test_closeOnlyEndedWithClose(self):
        """
        A request stream whose only end is a C{close} without arguments (a
        C{notifications} subscription's) is ended with that close, once:
        the subscription ends at the service.
        """
        from cocaine.protocol.notifications import NOTIFICATIONS
        client = ClientProtocol("notifications", NOTIFICATIONS)
        client.makeConnection(self.transport)
        channel = client.openNamed("subscribe", [["news"]])
        channel.abandon()
        channel.abandon()
        self.assertEqual(_unpackAll(self.transport.value()), [
            [1, 1, [[b"news"]]], [1, 0, []]])
        self.assertRaises(ProtocolViolation, channel.close)
        self.assertEqual(client._receivers, {})

    def test_waitingReadsClosed(self):
        """
        Reads waiting when the channel is abandoned fail with
        L{ChannelClosed}, and so does a collection.
        """
        channel = self.app.openNamed("enqueue", ["tail"])
        reads = [channel.read(), channel.recv()]
        channel.abandon()
        self.failureResultOf(reads[0], ChannelClosed)
        self.assertEqual(self.successResultOf(reads[1]), ("close", []))
        other = self.app.openNamed("enqueue", ["tail"])
        collected = other.collect()
        self.app.dataReceived(pack([2, 0, [b"x"]]))
        other.abandon()
        self.failureResultOf(collected, ChannelClosed)
        self.assertEqual(self.app._receivers, {})

    def test_abandonedInItsRead(self):
        """
        A reader may abandon the channel from the read that gave it a
        chunk, or its end: the rest of the same read is dropped and the
        connection reads on.
        """
        channel = self.app.openNamed("enqueue", ["tail"])
        channel.close()
        channel.read().addCallback(lambda _: channel.abandon())
        ended = self.app.openNamed("enqueue", ["once"])
        ended.close()
        ended.recv().addCallback(lambda _: ended.recv()).addCallback(
            lambda _: ended.abandon())
        other = self.app.openNamed("enqueue", ["echo"])
        answer = other.collect()
        self.app.dataReceived(
            pack([1, 0, [b"x"]]) + pack([1, 0, [b"y"]])
            + pack([2, 0, [b"z"]]) + pack([2, 2, []])
            + pack([3, 0, [b"w"]]) + pack([1, 2, []]) + pack([3, 2, []]))
        self.assertEqual(self.successResultOf(answer), [b"w"])
        self.assertEqual(len(channel._core._queue), 0)
        self.assertEqual(self.app._receivers, {})

    def test_endedChannel(self):
        """
        Abandoning a channel that has ended, or after its connection was
        lost, sends nothing and changes nothing.
        """
        channel = self.app.openNamed("enqueue", ["echo"])
        channel.close()
        self.app.dataReceived(pack([1, 0, [b"x"]]) + pack([1, 2, []]))
        sent = self.transport.value()
        channel.abandon()
        self.assertEqual(self.transport.value(), sent)
        self.failureResultOf(channel.read(), ChannelClosed)
        lost = self.app.openNamed("enqueue", ["echo"])
        self.app.connectionLost(None)
        sent = self.transport.value()
        lost.abandon()
        self.assertEqual(self.transport.value(), sent)


class _ThreadCalls:
    """
    The part of a reactor that L{ClientProtocol} asks to call back from
    its loop: C{callFromThread}, run by L{run}.
    """

    def __init__(self):
        self.calls = []

    def callFromThread(self, f, *args, **kwargs):
        self.calls.append((f, args, kwargs))

    def run(self):
        calls, self.calls = self.calls, []
        for f, args, kwargs in calls:
            f(*args, **kwargs)


class DroppedTests(_AppConnection, SynchronousTestCase):
    """
    A L{Channel} its caller lets go of before its end is abandoned: what
    waits goes at once, nothing more is queued for it, and the connection
    forgets it before it handles what it next receives. One a read, a
    collection or a callback still holds is not.
    """

    def chunks(self, channel, count, size=100):
        return b"".join(pack([channel, 0, [b"x" * size]])
                        for _ in range(count))

    def test_droppedStopsQueuing(self):
        """
        A channel dropped with chunks unread (and collected, as one in a
        cycle would be) drops them, keeps none of what comes after, and
        leaves the receivers as the next read arrives; its open request
        stream is ended with "client disconnected", as L{Channel.abandon}
        ends it.
        """
        channel = self.app.openNamed("enqueue", ["tail"])
        channel.write(b"follow")
        self.app.dataReceived(self.chunks(1, 10))
        core = channel._core
        self.assertEqual(len(core._queue), 10)
        del channel
        gc.collect()
        self.assertEqual(len(core._queue), 0)
        self.app.dataReceived(self.chunks(1, 1000))
        self.assertEqual((len(core._queue), self.app._receivers), (0, {}))
        self.assertTrue(core.done)
        self.assertEqual(self.sent()[-1], [
            1, 1, [[1, errno.ECONNRESET], b"client disconnected"]])
        self.assertEqual(len(self.app._dropped), 0)

    def test_droppedInTheRead(self):
        """
        A channel dropped by a reader of another one in the middle of a
        read keeps nothing of the rest of that read either, and leaves
        the receivers with the next one.
        """
        channel = self.app.openNamed("enqueue", ["tail"])
        channel.close()
        core = channel._core
        held = [channel]
        other = self.app.openNamed("enqueue", ["once"])
        other.close()
        other.read().addCallback(lambda _: held.clear())
        del channel
        self.app.dataReceived(self.chunks(1, 5) + pack([2, 0, [b"y"]])
                              + self.chunks(1, 5))
        self.assertEqual(len(core._queue), 0)
        self.assertIn(1, self.app._receivers)
        sent = self.transport.value()
        self.app.dataReceived(self.chunks(1, 1))
        self.assertEqual(list(self.app._receivers), [2])
        # the request stream was closed: nothing left to tell it with
        self.assertEqual(self.transport.value(), sent)

    def test_droppedOnAnIdleConnection(self):
        """
        With the reactor it runs on, the connection abandons a dropped
        channel in the reactor's next turn, though nothing more arrives:
        a service waiting on the open request stream hears "client
        disconnected" without the connection reading again. Only one
        call is asked for however many channels are dropped meanwhile.
        """
        reactor = _ThreadCalls()
        app = ClientProtocol("echo", APP, reactor=reactor)
        app.makeConnection(self.transport)
        channels = [app.openNamed("enqueue", ["tail"]) for _ in range(3)]
        for channel in channels:
            channel.write(b"follow")
        cores = [channel._core for channel in channels]
        del channel, channels
        gc.collect()
        self.assertEqual(len(reactor.calls), 1)
        self.assertEqual(app._receivers.keys(), {1, 2, 3})
        reactor.run()
        self.assertEqual(app._receivers, {})
        self.assertTrue(all(core.done for core in cores))
        self.assertEqual(sorted(self.sent()[-3:]), [
            [c, 1, [[1, errno.ECONNRESET], b"client disconnected"]]
            for c in (1, 2, 3)])
        # a connection lost before the reactor's turn abandons nothing
        channel = app.openNamed("enqueue", ["tail"])
        del channel
        gc.collect()
        sent = self.transport.value()
        app.connectionLost(None)
        reactor.run()
        self.assertEqual(self.transport.value(), sent)

    def test_droppedInAnotherThread(self):
        """
        The blocking facade's caller may let go of the last reference in
        its own thread: only what is safe there is done there.
        """
        channel = self.app.openNamed("enqueue", ["tail"])
        channel.close()
        self.app.dataReceived(self.chunks(1, 3))
        core = channel._core
        holder = [channel]
        del channel
        thread = threading.Thread(target=holder.clear)
        thread.start()
        thread.join()
        self.assertEqual((len(core._queue), list(self.app._dropped)),
                         (0, [core]))
        self.app.dataReceived(self.chunks(1, 3))
        self.assertEqual(self.app._receivers, {})

    def test_endedNotAbandoned(self):
        """
        A channel dropped after its end, or after its connection was
        lost, leaves nothing to do.
        """
        channel = self.app.openNamed("enqueue", ["echo"])
        channel.close()
        self.app.dataReceived(pack([1, 0, [b"x"]]) + pack([1, 2, []]))
        del channel
        lost = self.app.openNamed("enqueue", ["echo"])
        self.app.connectionLost(None)
        del lost
        gc.collect()
        self.assertEqual(len(self.app._dropped), 0)

    def test_lostForgetsDropped(self):
        """
        The connection lost, the channels dropped and not yet abandoned
        are forgotten with the rest.
        """
        channel = self.app.openNamed("enqueue", ["tail"])
        del channel
        gc.collect()
        self.assertEqual(len(self.app._dropped), 1)
        self.app.connectionLost(None)
        self.assertEqual((len(self.app._dropped), self.app._receivers),
                         (0, {}))

    def test_waitingReadHolds(self):
        """
        A read waiting on a dropped channel holds it: the chunk it waits
        for reaches it. Once it has fired nothing holds the channel (a
        fired Deferred lets go of its canceller): the rest of the same
        read is not kept, and the channel leaves with the next.
        """
        channel = self.app.openNamed("enqueue", ["tail"])
        channel.close()
        core = channel._core
        read = channel.read()
        del channel
        gc.collect()
        self.assertEqual(len(self.app._dropped), 0)
        self.app.dataReceived(self.chunks(1, 3, size=1))
        self.assertEqual(self.successResultOf(read), b"x")
        self.assertEqual((len(core._queue), list(self.app._receivers)),
                         (0, [1]))
        self.app.dataReceived(self.chunks(1, 3))
        self.assertEqual((len(core._queue), self.app._receivers), (0, {}))

    def test_collectionHolds(self):
        """
        A L{Channel.collect} under way holds its channel until the end.
        """
        channel = self.app.openNamed("enqueue", ["echo"])
        channel.close()
        collected = channel.collect()
        del channel
        gc.collect()
        self.app.dataReceived(pack([1, 0, [b"a"]]) + pack([1, 0, [b"b"]])
                              + pack([1, 2, []]))
        self.assertEqual(self.successResultOf(collected), [b"a", b"b"])
        self.assertEqual(len(self.app._dropped), 0)

    def test_callbackHolds(self):
        """
        A channel a pending callback still refers to is not abandoned:
        what arrives meanwhile waits for its read.
        """
        channel = self.app.openNamed("enqueue", ["echo"])
        channel.close()
        later = Deferred()
        later.addCallback(lambda _, held=channel: held.collect())
        del channel
        gc.collect()
        self.app.dataReceived(pack([1, 0, [b"a"]]) + pack([1, 2, []]))
        later.callback(None)
        self.assertEqual(self.successResultOf(later), [b"a"])
        self.assertEqual(len(self.app._dropped), 0)


class AbandonOverIOTests(_IOCase):
    """
    L{Channel.abandon} against the real server.
    """

    def test_endlessStreamDropped(self):
        """
        The rest of an endless stream is dropped by the client as it
        comes.
        """
        channel = self.open("watch")
        upstream = self.impl.upstreams[0]
        upstream.write(b"first")
        self.pump.flush()
        self.assertEqual(self.successResultOf(channel.read()), b"first")
        channel.abandon()
        for i in range(100):
            upstream.write(b"chunk")
        self.pump.flush()
        self.assertEqual(len(channel._core._queue), 0)
        self.assertEqual(self.client._receivers, {})
        self.assertEqual(self.successResultOf(self.call("echo", "still")),
                         "still")

    def test_serviceTold(self):
        """
        The service's dispatch target gets the error that ends the open
        request stream.
        """
        channel = self.open("upload")
        channel.write(b"part")
        channel.abandon()
        self.pump.flush()
        [target] = self.impl.targets
        self.assertEqual(target.chunks, [b"part"])
        self.assertEqual(target.errors, [
            ([1, errno.ECONNRESET], b"client disconnected")])


class ConnectTests(SynchronousTestCase):
    """
    L{connect} picks the endpoint from the address's shape.
    """

    def setUp(self):
        self.reactor = MemoryReactorClock()

    def finish(self, factory):
        """
        Complete a connection attempt recorded by the memory reactor.
        """
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(StringTransport())

    def test_tcp(self):
        """
        C{(host, port)} connects over TCP and fires with a connected
        L{ClientProtocol}.
        """
        d = connect(self.reactor, ("127.0.0.1", 10053), "locator", LOCATOR,
                    timeout=3)
        [(host, port, factory, timeout, _)] = self.reactor.tcpClients
        self.assertEqual((host, port, timeout), ("127.0.0.1", 10053, 3))
        self.assertNoResult(d)
        self.finish(factory)
        client = self.successResultOf(d)
        self.assertIsInstance(client, ClientProtocol)
        self.assertEqual(client.name, "locator")
        self.assertIs(client.protocol, LOCATOR)
        self.assertTrue(client.connected)

    def test_bytesHost(self):
        """
        A bytes host and a text port (as old peers send them) work.
        """
        connect(self.reactor, (b"10.1.2.3", "10054"), "x", LOCATOR)
        self.assertEqual(self.reactor.tcpClients[0][:2], ("10.1.2.3", 10054))

    def test_ipv6(self):
        """
        An IPv6 literal connects over TCP too.
        """
        connect(self.reactor, ["::1", 10053], "x", LOCATOR)
        self.assertEqual(self.reactor.tcpClients[0][:2], ("::1", 10053))

    def test_unix(self):
        """
        A path connects over a UNIX socket.
        """
        d = connect(self.reactor, "/run/app.sock", "app", ECHO)
        [(path, factory, timeout, _)] = self.reactor.unixClients
        self.assertEqual((path, timeout), ("/run/app.sock", 5))
        self.finish(factory)
        self.assertEqual(self.successResultOf(d).name, "app")

    def test_unixBytes(self):
        """
        A bytes path is decoded.
        """
        connect(self.reactor, b"/run/app.sock", "app", ECHO)
        self.assertEqual(self.reactor.unixClients[0][0], "/run/app.sock")
