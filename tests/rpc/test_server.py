"""
Tests for L{cocaine.rpc.server}: the server side of the native protocol,
driven through a L{StringTransportWithDisconnection}.
"""

import io
import struct

import msgpack
from hypothesis import given, settings, strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.logger import Logger, LogLevel
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import ProtocolViolation
from cocaine.protocol.framing import DEFAULT_MAX_BUFFER
from cocaine.protocol.idl import PRIMITIVE, STREAMING
from cocaine.rpc.hosting import HostedService, ServerFactory
from cocaine.rpc.server import ServerProtocol, Upstream
from tests.rpc._fakes import (
    ECHO, ECHO_IDS as ID, FakeEcho, echoService, storageService)

#: The deterministic Hypothesis profile of this project.
DETERMINISTIC = settings(deadline=None, derandomize=True, database=None)


def pack(value):
    """
    Pack as a modern client does.
    """
    return msgpack.packb(value, use_bin_type=True)


class Connection:
    """
    One L{ServerProtocol} on a L{StringTransportWithDisconnection}.
    """

    def __init__(self, service, maxBuffer=DEFAULT_MAX_BUFFER):
        self.service = service
        self.protocol = ServerProtocol(service, maxBuffer)
        self.transport = StringTransportWithDisconnection()
        self.transport.protocol = self.protocol
        self.protocol.makeConnection(self.transport)

    @property
    def impl(self):
        return self.service.impl

    def send(self, *message):
        """
        Deliver one message.
        """
        self.protocol.dataReceived(pack(list(message)))

    def feed(self, data):
        """
        Deliver raw bytes.
        """
        self.protocol.dataReceived(data)

    def replies(self):
        """
        The messages written since the last call, text decoded.
        """
        data = self.transport.value()
        self.transport.clear()
        return list(msgpack.Unpacker(
            io.BytesIO(data), raw=False,
            strict_map_key=False))

    @property
    def open(self):
        """
        Whether the server has not closed the connection.
        """
        return self.transport.connected

    def lose(self):
        """
        Drop the connection from the client side.
        """
        self.transport.loseConnection()


class _Case(SynchronousTestCase):
    """
    Helpers for server tests.
    """

    def assertServes(self, connection, channel):
        """
        A valid call on C{channel} is answered and the connection is open.
        """
        connection.send(channel, ID["echo"], ["still here"])
        self.assertEqual(connection.replies(),
                         [[channel, 0, ["still here"]]])
        self.assertTrue(connection.open)

    def assertClosed(self, connection):
        """
        The server aborted the connection and serves nothing more.
        """
        # abortConnection (set only by it), which then drops the connection.
        self.assertTrue(connection.transport.disconnected)
        self.assertFalse(connection.transport.connected)
        self.assertNotIn(connection.protocol, connection.service.connections)
        connection.transport.clear()
        connection.send(99, ID["echo"], ["x"])
        self.assertEqual(connection.transport.value(), b"")


class FramingErrorTests(_Case):
    """
    A value that is not a message closes the connection (PROTOCOL.md
    section 1, bad input); nothing raises out of C{dataReceived}.
    """

    def setUp(self):
        self.connection = Connection(echoService(), maxBuffer=1024)

    def test_garbage(self):
        """
        Bytes that are not msgpack.
        """
        self.connection.feed(b"\xc1\xc1")
        self.assertEqual(self.connection.replies(), [])
        self.assertClosed(self.connection)

    def test_goodMessagesBeforeGarbageAnswered(self):
        """
        Messages that arrived in the same chunk before the garbage are
        answered, and their replies flushed, before the connection closes.
        """
        self.connection.feed(pack([1, ID["echo"], ["first"]])
                             + pack([2, ID["echo"], ["second"]]) + b"\xc1")
        self.assertEqual(self.connection.replies(), [
            [1, 0, ["first"]], [2, 0, ["second"]]])
        self.assertFalse(self.connection.transport.connected)
        self.connection.transport.clear()
        self.connection.send(3, ID["echo"], ["x"])
        self.assertEqual(self.connection.transport.value(), b"")

    def test_integer(self):
        """
        A msgpack value that is not an array.
        """
        self.connection.feed(pack(42))
        self.assertClosed(self.connection)

    def test_map(self):
        """
        A msgpack map.
        """
        self.connection.feed(pack({1: 0, 2: []}))
        self.assertClosed(self.connection)

    def test_shortArray(self):
        """
        An array of fewer than three elements.
        """
        self.connection.feed(pack([1, 0]))
        self.assertClosed(self.connection)

    def test_nonIntegerChannel(self):
        """
        An array whose channel is not an integer.
        """
        self.connection.feed(pack(["1", 0, ["x"]]))
        self.assertClosed(self.connection)

    def test_argsNotArray(self):
        """
        An array whose args are not an array.
        """
        self.connection.feed(pack([1, 0, "x"]))
        self.assertClosed(self.connection)

    def test_hugeDeclaredLength(self):
        """
        A frame declaring 2**31 bytes of payload closes the connection once
        more than C{maxBuffer} of it arrived; nothing is dispatched.
        """
        self.connection.feed(b"\x93\x01\x00\x91\xc6"
                             + struct.pack(">I", 2 ** 31))
        for _ in range(12):
            if not self.connection.open:
                break
            self.connection.feed(b"x" * 100)
        self.assertEqual(self.connection.replies(), [])
        self.assertClosed(self.connection)

    def test_hugeDeclaredArray(self):
        """
        An array header declaring 2**31 elements closes the connection at
        once.
        """
        self.connection.feed(b"\xdd" + struct.pack(">I", 2 ** 31))
        self.assertClosed(self.connection)

    def test_afterValidCalls(self):
        """
        Earlier calls are answered; the framing error still closes.
        """
        self.connection.send(1, ID["echo"], ["a"])
        self.assertEqual(self.connection.replies(), [[1, 0, ["a"]]])
        self.connection.feed(b"\xc1")
        self.assertClosed(self.connection)

    def test_logged(self):
        """
        The framing error is logged as a warning with the peer address.
        """
        events = []
        self.connection.protocol.log = Logger(observer=events.append)
        self.connection.feed(b"\xc1")
        [event] = events
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertEqual(event["peer"], "192.168.1.1:54321")
        self.assertEqual(event["service"], "echo")

    def test_split(self):
        """
        A framing error in the second part of a split value.
        """
        data = pack([1, 0, ["abc"]])
        self.connection.feed(data[:3])
        self.assertTrue(self.connection.open)
        self.connection.feed(b"\xc1" * 8)
        self.assertClosed(self.connection)


class DispatchErrorTests(_Case):
    """
    Well-formed messages that the protocol does not allow are answered with
    a dispatch error; the connection stays open and keeps serving.
    """

    def setUp(self):
        self.connection = Connection(echoService())

    def test_unknownType(self):
        """
        An unknown message type on a new channel: slot not found (7, 5).
        """
        self.connection.send(1, 99, [])
        [reply] = self.connection.replies()
        self.assertEqual(reply[:2], [1, 1])
        self.assertEqual(reply[2][0], [7, 5])
        self.assertIn("99", reply[2][1])
        self.assertServes(self.connection, 2)

    def test_reusedChannel(self):
        """
        A channel id used before: revoked channel (7, 4).
        """
        self.connection.send(3, ID["echo"], ["a"])
        self.connection.replies()
        self.connection.send(3, ID["echo"], ["b"])
        [reply] = self.connection.replies()
        self.assertEqual(reply[:2], [3, 1])
        self.assertEqual(reply[2][0], [7, 4])
        self.assertServes(self.connection, 4)

    def test_lowerChannel(self):
        """
        A channel id lower than one already opened: revoked channel.
        """
        self.connection.send(5, ID["echo"], ["a"])
        self.connection.replies()
        self.connection.send(2, ID["void"], [])
        self.assertEqual(
            [(r[0], r[1], r[2][0]) for r in self.connection.replies()],
            [(2, 1, [7, 4])])
        self.assertEqual(self.connection.impl.voids, 0)
        self.assertServes(self.connection, 6)

    def test_channelZero(self):
        """
        Channel 0 is never a new channel.
        """
        self.connection.send(0, ID["echo"], ["a"])
        [reply] = self.connection.replies()
        self.assertEqual((reply[0], reply[2][0]), (0, [7, 4]))
        self.assertServes(self.connection, 1)

    def test_revokedMuteNotAnswered(self):
        """
        A revoked channel for a mute message is logged, not answered.
        """
        self.connection.send(2, ID["echo"], ["a"])
        self.connection.replies()
        self.connection.send(1, ID["note"], ["n"])
        self.assertEqual(self.connection.replies(), [])
        self.assertEqual(self.connection.impl.notes, [])
        self.assertServes(self.connection, 3)

    def test_wrongArgumentType(self):
        """
        A storage read with an int key: invalid argument (7, 2) naming the
        argument.
        """
        connection = Connection(storageService())
        connection.send(1, 0, ["collection", 5])
        self.assertEqual(connection.replies(), [[1, 1, [
            [7, 2],
            "storage.read: argument 'key' must be a string, got an "
            "integer"]]])
        self.assertTrue(connection.open)
        connection.send(2, 1, ["collection", "key", b"blob"])
        connection.send(3, 0, ["collection", "key"])
        self.assertEqual(connection.replies(),
                         [[2, 0, []], [3, 0, [b"blob"]]])

    def test_wrongArgumentCount(self):
        """
        Missing arguments: invalid argument.
        """
        self.connection.send(1, ID["later"], [])
        [reply] = self.connection.replies()
        self.assertEqual(reply[2], [[7, 2],
                                    "echo.later: expected 1 argument, got 0"])
        self.assertServes(self.connection, 2)

    def test_wrongArgumentsMute(self):
        """
        Wrong arguments to a mute message are not answered.
        """
        self.connection.send(1, ID["note"], [5])
        self.assertEqual(self.connection.replies(), [])
        self.assertEqual(self.connection.impl.notes, [])
        self.assertServes(self.connection, 2)

    def test_uncaughtError(self):
        """
        A handler raising a non-Cocaine exception: uncaught error (7, 7)
        naming only the type; the failure is logged.
        """
        self.connection.send(1, ID["fail"], ["zero"])
        data = self.connection.transport.value()
        self.assertEqual(self.connection.replies(), [[1, 1, [
            [7, 7], "uncaught error: ZeroDivisionError"]]])
        self.assertNotIn(b"Traceback", data)
        self.assertNotIn(b"secret-detail", data)
        self.assertNotIn(b".py", data)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertServes(self.connection, 2)

    def test_cocaineError(self):
        """
        A handler raising a Cocaine error: its pair and message.
        """
        self.connection.send(1, ID["fail"], ["key"])
        self.assertEqual(self.connection.replies(), [[1, 1, [
            [1, 2], "key 'k' not found in 'c'"]]])
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertServes(self.connection, 2)

    def test_logged(self):
        """
        A dispatch error is logged once with the peer and channel.
        """
        events = []
        self.connection.protocol.log = Logger(observer=events.append)
        self.connection.send(4, 99, [])
        [event] = events
        self.assertEqual((event["peer"], event["channel"]),
                         ("192.168.1.1:54321", 4))

    def test_unknownTypeConsumesChannel(self):
        """
        The id of a refused new channel cannot be used again.
        """
        self.connection.send(1, 99, [])
        self.connection.replies()
        self.connection.send(1, ID["echo"], ["a"])
        [reply] = self.connection.replies()
        self.assertEqual(reply[2][0], [7, 4])


class PrimitiveTests(_Case):
    """
    Root messages with the primitive upstream and terminal dispatch call
    C{impl.<method>(*args)} and answer C{value} or C{error}.
    """

    def setUp(self):
        self.connection = Connection(echoService())

    def test_value(self):
        """
        A returned tuple is the C{value} args; text is sent as str.
        """
        self.connection.send(1, ID["echo"], [b"hi"])
        self.assertEqual(self.connection.replies(), [[1, 0, ["hi"]]])

    def test_optionalArgument(self):
        """
        Optional trailing arguments are passed when present.
        """
        self.connection.send(1, ID["echo"], ["hi", [1, 2]])
        self.assertEqual(self.connection.replies(), [[1, 0, ["hi", [1, 2]]]])

    def test_several(self):
        """
        Several values, bytes as bin.
        """
        self.connection.send(1, ID["pair"], [])
        data = self.connection.transport.value()
        self.assertIn(b"\xc4\x01b", data)
        self.assertEqual(self.connection.replies(), [[1, 0, ["a", b"b", 3]]])

    def test_none(self):
        """
        L{None} is C{value []}: a void call is still answered.
        """
        self.connection.send(1, ID["void"], [])
        self.assertEqual(self.connection.replies(), [[1, 0, []]])
        self.assertEqual(self.connection.impl.voids, 1)

    def test_deferred(self):
        """
        A Deferred is answered when it fires, not before.
        """
        self.connection.send(1, ID["later"], [7])
        self.assertEqual(self.connection.replies(), [])
        self.connection.impl.pending[7].callback(("done",))
        self.assertEqual(self.connection.replies(), [[1, 0, ["done"]]])

    def test_deferredFailure(self):
        """
        A failed Deferred is answered with its error.
        """
        self.connection.send(1, ID["fail"], ["deferred"])
        self.assertEqual(self.connection.replies(),
                         [[1, 1, [[10, 1], "gone"]]])

    def test_coroutine(self):
        """
        A coroutine is run and answered when it returns.
        """
        self.connection.send(1, ID["coro"], [4])
        self.assertEqual(self.connection.replies(), [])
        self.connection.impl.pending[4].callback(21)
        self.assertEqual(self.connection.replies(), [[1, 0, [42]]])

    def test_coroutineFailure(self):
        """
        A coroutine that raises is answered with the error.
        """
        self.connection.send(1, ID["coro"], [4])
        self.connection.impl.pending[4].errback(ZeroDivisionError())
        self.assertEqual(self.connection.replies(), [[1, 1, [
            [7, 7], "uncaught error: ZeroDivisionError"]]])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_interleaved(self):
        """
        Slow calls do not hold back later ones; each reply goes to its
        channel.
        """
        self.connection.send(1, ID["later"], [1])
        self.connection.send(2, ID["echo"], ["fast"])
        self.connection.impl.pending[1].callback(("slow",))
        self.assertEqual(self.connection.replies(),
                         [[2, 0, ["fast"]], [1, 0, ["slow"]]])

    def test_replyAfterLoss(self):
        """
        A reply that is ready after the connection dropped is not written.
        """
        self.connection.send(1, ID["later"], [1])
        self.connection.lose()
        self.connection.impl.pending[1].callback(("late",))
        self.assertEqual(self.connection.replies(), [])

    def test_unencodableResult(self):
        """
        A result that cannot be packed is answered with an uncaught error,
        not left unanswered.
        """
        self.connection.send(1, ID["fail"], ["unencodable"])
        self.assertEqual(self.connection.replies(), [[1, 1, [
            [7, 7], "uncaught error: TypeError"]]])
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)
        self.assertServes(self.connection, 2)

    def test_notIterableResult(self):
        """
        A result that is not a tuple is answered with an uncaught error.
        """
        self.connection.send(1, ID["fail"], ["not-iterable"])
        self.assertEqual(self.connection.replies(), [[1, 1, [
            [7, 7], "uncaught error: TypeError"]]])
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)
        self.assertServes(self.connection, 2)

    def test_pipelined(self):
        """
        Many calls in one chunk are all answered in order.
        """
        self.connection.feed(b"".join(
            pack([i, ID["echo"], [str(i)]]) for i in range(1, 6)))
        self.assertEqual(self.connection.replies(),
                         [[i, 0, [str(i)]] for i in range(1, 6)])

    @DETERMINISTIC
    @given(st.lists(st.text(max_size=30), min_size=1, max_size=6),
           st.data())
    def test_anyChunking(self, texts, data):
        """
        However the stream of calls is cut, the replies are the same.
        """
        stream = b"".join(pack([i + 1, ID["echo"], [text]])
                          for i, text in enumerate(texts))
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)),
                                         max_size=10)))
        connection = Connection(echoService())
        bounds = [0] + cuts + [len(stream)]
        for a, b in zip(bounds, bounds[1:]):
            connection.feed(stream[a:b])
        self.assertEqual(connection.replies(),
                         [[i + 1, 0, [text]] for i, text in enumerate(texts)])
        self.assertTrue(connection.open)


class MuteTests(_Case):
    """
    A mute message calls the handler and never answers.
    """

    def setUp(self):
        self.connection = Connection(echoService())

    def test_mute(self):
        """
        Nothing is sent; the handler got converted text.
        """
        self.connection.send(1, ID["note"], [b"hello"])
        self.assertEqual(self.connection.replies(), [])
        self.assertEqual(self.connection.impl.notes, ["hello"])

    def test_muteFailure(self):
        """
        A failing mute handler is logged, still not answered.
        """
        self.connection.send(1, ID["note"], ["boom"])
        self.assertEqual(self.connection.replies(), [])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertServes(self.connection, 2)


class StreamingTests(_Case):
    """
    Streaming handlers get an L{Upstream} to answer on.
    """

    def setUp(self):
        self.connection = Connection(echoService())

    def watch(self, channel=1):
        self.connection.send(channel, ID["watch"], [])
        return self.connection.impl.upstreams[-1]

    def test_writeAndClose(self):
        """
        Chunks are C{write} messages, the end is C{close}.
        """
        self.connection.send(1, ID["count"], [3])
        self.assertEqual(self.connection.replies(), [
            [1, 0, [0]], [1, 0, [1]], [1, 0, [2]], [1, 2, []]])

    def test_upstream(self):
        """
        The handler receives an L{Upstream} for its channel.
        """
        upstream = self.watch(5)
        self.assertIsInstance(upstream, Upstream)
        self.assertEqual(upstream.channel, 5)
        self.assertFalse(upstream.closed)
        self.assertEqual(self.connection.replies(), [])
        upstream.write(b"chunk")
        upstream.write("text")
        self.assertEqual(self.connection.replies(),
                         [[5, 0, [b"chunk"]], [5, 0, ["text"]]])

    def test_protocolViolation(self):
        """
        A message that is not in the current upstream protocol is refused
        locally and nothing is sent.
        """
        upstream = self.watch()
        self.assertRaises(ProtocolViolation, upstream.value, 1)
        self.assertRaises(ProtocolViolation, upstream.send, "discard")
        self.assertEqual(self.connection.replies(), [])
        self.assertFalse(upstream.closed)

    def test_nothingAfterClose(self):
        """
        After a terminal message nothing more is sent.
        """
        upstream = self.watch()
        upstream.close()
        self.assertTrue(upstream.closed)
        upstream.write(b"late")
        upstream.close()
        upstream.error(ValueError())
        self.assertEqual(self.connection.replies(), [[1, 2, []]])

    def test_error(self):
        """
        C{error} is terminal and maps the exception.
        """
        upstream = self.watch()
        upstream.error(TypeError("secret"))
        upstream.write(b"late")
        self.assertTrue(upstream.closed)
        self.assertEqual(self.connection.replies(), [[1, 1, [
            [7, 7], "uncaught error: TypeError"]]])

    def test_notifyCloseOnClose(self):
        """
        C{notifyClose} fires once when the upstream ends.
        """
        upstream = self.watch()
        calls = []
        upstream.notifyClose(lambda: calls.append(1))
        upstream.close()
        upstream.close()
        self.assertEqual(calls, [1])
        self.assertEqual(self.connection.impl.closed, [upstream])

    def test_notifyCloseWhenClosed(self):
        """
        C{notifyClose} on a closed upstream fires at once.
        """
        upstream = self.watch()
        upstream.close()
        calls = []
        upstream.notifyClose(lambda: calls.append(1))
        self.assertEqual(calls, [1])

    def test_notifyCloseOnConnectionLoss(self):
        """
        Connection loss closes every open upstream and fires
        C{notifyClose}; sending afterwards is a no-op.
        """
        first, second = self.watch(1), self.watch(2)
        second.close()
        self.connection.replies()
        self.connection.lose()
        self.assertTrue(first.closed)
        self.assertEqual(self.connection.impl.closed, [second, first])
        first.write(b"late")
        self.assertEqual(self.connection.replies(), [])

    def test_handlerRaises(self):
        """
        A streaming handler raising answers an uncaught error on its
        channel without the exception's text.
        """
        self.connection.send(1, ID["bad_stream"], ["raise"])
        data = self.connection.transport.value()
        self.assertEqual(self.connection.replies(), [[1, 1, [
            [7, 7], "uncaught error: ValueError"]]])
        self.assertNotIn(b"secret-stream", data)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertServes(self.connection, 2)

    def test_handlerCoroutineFails(self):
        """
        A streaming handler's coroutine failing answers its error.
        """
        self.connection.send(1, ID["bad_stream"], ["async"])
        self.assertEqual(self.connection.replies(),
                         [[1, 1, [[1, 2], "later"]]])

    def test_unencodableChunk(self):
        """
        A chunk that cannot be packed raises in the handler, which answers
        an uncaught error.
        """
        self.connection.send(1, ID["bad_stream"], ["unencodable"])
        self.assertEqual(self.connection.replies(), [[1, 1, [
            [7, 7], "uncaught error: TypeError"]]])
        self.flushLoggedErrors(TypeError)

    def test_unencodableTerminalValue(self):
        """
        A terminal message that cannot be packed leaves the upstream open,
        so the error can still be sent.
        """
        upstream = Upstream(self.connection.protocol, 9, PRIMITIVE)
        self.assertRaises(TypeError, upstream.value, object())
        self.assertFalse(upstream.closed)
        upstream.error(TypeError())
        self.assertEqual(self.connection.replies(), [[9, 1, [
            [7, 7], "uncaught error: TypeError"]]])
        self.assertTrue(upstream.closed)

    def test_closeEndsStream(self):
        """
        C{close} on a stream sends its terminal message once, closes the
        upstream and calls what waited for that; later sends do nothing.
        """
        upstream = Upstream(self.connection.protocol, 9, STREAMING)
        closed = []
        upstream.notifyClose(lambda: closed.append(True))
        upstream.write(b"a")
        upstream.close()
        upstream.close()
        upstream.write(b"b")
        self.assertEqual(self.connection.replies(),
                         [[9, 0, [b"a"]], [9, 2, []]])
        self.assertTrue(upstream.closed)
        self.assertEqual(closed, [True])

    def recordWrites(self):
        """
        @return: a list of what the connection's transport is given to
            write from now on (and still writes).
        """
        written = []
        transport = self.connection.protocol.transport
        original = transport.write

        def write(data):
            written.append(data)
            original(data)
        self.patch(transport, "write", write)
        return written

    def test_writeChunks(self):
        """
        C{writeChunks} sends a chunk for each args list, in one write of
        the connection.
        """
        upstream = Upstream(self.connection.protocol, 9, STREAMING)
        written = self.recordWrites()
        upstream.writeChunks([[b"a"], [b"b"], [b""]])
        self.assertEqual(len(written), 1)
        self.assertEqual(self.connection.replies(),
                         [[9, 0, [b"a"]], [9, 0, [b"b"]], [9, 0, [b""]]])
        self.assertFalse(upstream.closed)

    def test_closeAfter(self):
        """
        C{closeAfter} sends a chunk for each args list and the stream's
        close, in one write of the connection, and closes the upstream
        as C{close} does.
        """
        upstream = Upstream(self.connection.protocol, 9, STREAMING)
        closed = []
        upstream.notifyClose(lambda: closed.append(True))
        written = self.recordWrites()
        upstream.closeAfter([[b"a"], [b"b"]])
        upstream.closeAfter([[b"late"]])
        self.assertEqual(len(written), 1)
        self.assertEqual(self.connection.replies(),
                         [[9, 0, [b"a"]], [9, 0, [b"b"]], [9, 2, []]])
        self.assertTrue(upstream.closed)
        self.assertEqual(closed, [True])

    def test_closeAfterOneChunk(self):
        """
        One chunk and the close (every echo-sized answer) go in one write
        too.
        """
        upstream = Upstream(self.connection.protocol, 9, STREAMING)
        written = self.recordWrites()
        upstream.closeAfter([[b"a"]])
        self.assertEqual(len(written), 1)
        self.assertEqual(self.connection.replies(),
                         [[9, 0, [b"a"]], [9, 2, []]])
        self.assertTrue(upstream.closed)

    def test_closeAfterNotAllowed(self):
        """
        Where the protocol has no stream chunk, C{closeAfter} is the
        protocol violation C{write} would be, and nothing is sent.
        """
        primitive = Upstream(self.connection.protocol, 10, PRIMITIVE)
        self.assertRaises(ProtocolViolation, primitive.closeAfter, [[b"x"]])
        self.assertEqual(self.connection.replies(), [])

    def test_writeChunksClosed(self):
        """
        C{writeChunks} after the stream's end sends nothing; where the
        protocol has no chunk it is a protocol violation.
        """
        upstream = Upstream(self.connection.protocol, 9, STREAMING)
        upstream.close()
        upstream.writeChunks([[b"late"]])
        self.assertEqual(self.connection.replies(), [[9, 2, []]])
        primitive = Upstream(self.connection.protocol, 10, PRIMITIVE)
        self.assertRaises(ProtocolViolation, primitive.writeChunks, [[b"x"]])

    def test_closeNotAllowed(self):
        """
        C{close} where the protocol has none is a protocol violation and
        leaves the upstream open.
        """
        upstream = Upstream(self.connection.protocol, 9, PRIMITIVE)
        self.assertRaises(ProtocolViolation, upstream.close)
        self.assertFalse(upstream.closed)


class DispatchTests(_Case):
    """
    Root messages with a non-terminal dispatch route the channel's next
    messages to the object the handler returned.
    """

    def setUp(self):
        self.connection = Connection(echoService())

    def test_publishDiscard(self):
        """
        Locator-style publish: answered once, then C{discard} reaches the
        target and closes the channel.
        """
        self.connection.send(1, ID["publish"], ["svc"])
        self.assertEqual(self.connection.replies(), [[1, 0, []]])
        [target] = self.connection.impl.targets
        self.assertEqual(target.name, "svc")
        self.connection.send(1, 0, [])
        self.assertEqual(target.events, ["discard"])
        self.assertEqual(self.connection.replies(), [])
        self.connection.send(1, 0, [])
        [reply] = self.connection.replies()
        self.assertEqual(reply[2][0], [7, 4])
        self.assertEqual(target.events, ["discard"])

    def test_publishConnectionLost(self):
        """
        A target still receiving gets C{connectionLost()} when the
        connection drops; a discarded one does not.
        """
        self.connection.send(1, ID["publish"], ["a"])
        self.connection.send(2, ID["publish"], ["b"])
        self.connection.send(2, 0, [])
        first, second = self.connection.impl.targets
        self.connection.lose()
        self.assertEqual(first.events, ["connectionLost"])
        self.assertEqual(second.events, ["discard"])

    def test_recurrent(self):
        """
        A recurrent message may be sent again; the terminal one ends the
        channel.
        """
        self.connection.send(1, ID["chat"], [])
        self.connection.send(1, 0, ["hi"])
        self.connection.send(1, 0, [b"yo"])
        self.connection.send(1, 1, [])
        self.assertEqual(self.connection.replies(), [
            [1, 0, ["HI"]], [1, 0, ["YO"]], [1, 2, []]])
        self.assertEqual(self.connection.impl.targets[0].said, ["hi", "yo"])

    def test_requestStream(self):
        """
        A streaming dispatch (like app C{enqueue}) delivers the client's
        chunks and close to the target.
        """
        self.connection.send(1, ID["upload"], [])
        self.connection.send(1, 0, [b"ab"])
        self.connection.send(1, 0, [b"cd"])
        self.assertEqual(self.connection.replies(), [])
        self.connection.send(1, 2, [])
        self.assertEqual(self.connection.replies(), [[1, 0, [b"abcd"]]])

    def test_extraArgumentsDropped(self):
        """
        Extra trailing arguments on a root message or on a stream's
        C{write} and C{close} are dropped, as Cocaine 0.12 drops them: the
        chunk is delivered and the target is never called with more than
        it declares.
        """
        self.connection.send(1, ID["upload"], ["extra", 5])
        self.connection.send(1, 0, [b"ab", "extra"])
        self.connection.send(1, 0, [b"cd", 1, 2])
        self.connection.send(1, 2, ["extra"])
        self.assertEqual(self.connection.replies(), [[1, 0, [b"abcd"]]])
        self.assertServes(self.connection, 2)

    def test_unknownTypeOnChannel(self):
        """
        A type the channel's dispatch protocol does not have: slot not
        found on that channel, connection open.
        """
        self.connection.send(1, ID["chat"], [])
        self.connection.send(1, 7, [])
        [reply] = self.connection.replies()
        self.assertEqual(reply[:2], [1, 1])
        self.assertEqual(reply[2][0], [7, 5])
        self.assertServes(self.connection, 2)

    def test_wrongArgumentsOnChannel(self):
        """
        Wrong arguments on an open channel: invalid argument.
        """
        self.connection.send(1, ID["chat"], [])
        self.connection.send(1, 0, [5])
        [reply] = self.connection.replies()
        self.assertEqual(reply[2], [[7, 2],
                                    "say: argument 'text' must be a string, "
                                    "got an integer"])
        self.assertServes(self.connection, 2)

    def test_targetRaises(self):
        """
        A target method raising answers an uncaught error on the channel.
        """
        self.connection.send(1, ID["chat"], [])
        self.connection.send(1, 0, ["boom"])
        self.assertEqual(self.connection.replies(), [[1, 1, [
            [7, 7], "uncaught error: RuntimeError"]]])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertServes(self.connection, 2)

    def test_chatConnectionLost(self):
        """
        An open chat's target learns of connection loss.
        """
        self.connection.send(1, ID["chat"], [])
        self.connection.lose()
        self.assertTrue(self.connection.impl.targets[0].lost)

    def test_missingTargetMethod(self):
        """
        A message the target has no method for is ignored.
        """
        class Impl(FakeEcho):
            def publish(self, upstream, name):
                upstream.value()
                return object()
        connection = Connection(HostedService("echo", Impl(), ECHO, 1))
        connection.send(1, ID["publish"], ["x"])
        connection.send(1, 0, [])
        self.assertEqual(connection.replies(), [[1, 0, []]])
        self.assertServes(connection, 2)

    def test_asyncTarget(self):
        """
        A handler that must return its target but returns a Deferred is a
        bug that is logged and answered with an uncaught error, so the
        client is not left waiting; nothing raises out of C{dataReceived}.
        """
        from twisted.internet.defer import Deferred

        class Impl(FakeEcho):
            def publish(self, upstream, name):
                return Deferred()
        connection = Connection(HostedService("echo", Impl(), ECHO, 1))
        connection.send(1, ID["publish"], ["x"])
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)
        self.assertEqual(connection.replies(), [
            [1, 1, [[7, 7], "uncaught error: TypeError"]]])
        self.assertServes(connection, 2)

    def test_connectionLostRaises(self):
        """
        A target whose C{connectionLost} raises is logged; the other
        targets and upstreams are still told.
        """
        class Bad:
            def connectionLost(self):
                raise RuntimeError("bad")

        class Impl(FakeEcho):
            def publish(self, upstream, name):
                upstream.value()
                return Bad() if name == "bad" else FakeEcho.publish(
                    self, upstream, name)
        connection = Connection(HostedService("echo", Impl(), ECHO, 1))
        connection.send(1, ID["publish"], ["bad"])
        connection.send(2, ID["publish"], ["good"])
        connection.send(3, ID["watch"], [])
        connection.lose()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(connection.impl.targets[0].events,
                         ["connectionLost"])
        self.assertTrue(connection.impl.upstreams[0].closed)


class HeaderTests(_Case):
    """
    Headers are read into a per-connection table; bad ones are ignored.
    """

    def setUp(self):
        self.connection = Connection(echoService())

    def test_accepted(self):
        """
        A stored header and then its dynamic index are accepted.
        """
        self.connection.send(1, ID["echo"], ["a"],
                             [[True, "authorization", "tok"]])
        self.connection.send(2, ID["echo"], ["b"], [83])
        self.assertEqual(self.connection.replies(),
                         [[1, 0, ["a"]], [2, 0, ["b"]]])
        self.assertEqual(self.connection.protocol._headers.decode([83]),
                         [(b"authorization", b"tok")])

    def test_literalListDecodedOnce(self):
        """
        A list of literal entries sent again (a client's credentials on
        every call) decodes to what it did; lists that store or name table
        entries are decoded each time, so the table stays HPACK's.
        """
        protocol = self.connection.protocol
        literal = [[False, b"authorization", b"tok"]]
        first = protocol._readHeaders(literal)
        self.assertEqual(first, [(b"authorization", b"tok")])
        self.assertIs(protocol._readHeaders(
            [[False, b"authorization", b"tok"]]), first)
        self.assertEqual(protocol._readHeaders(
            [[False, b"authorization", b"other"]]),
            [(b"authorization", b"other")])
        stored = [[True, b"x-a", b"1"]]
        self.assertEqual(protocol._readHeaders(stored), [(b"x-a", b"1")])
        self.assertEqual(protocol._readHeaders(stored), [(b"x-a", b"1")])
        # stored twice: both entries are in the table
        self.assertEqual(protocol._headers.decode([83, 84]),
                         [(b"x-a", b"1"), (b"x-a", b"1")])

    def test_emptyHeaders(self):
        """
        Real clients send C{[]} on the first call.
        """
        self.connection.send(1, ID["echo"], ["a"], [])
        self.assertEqual(self.connection.replies(), [[1, 0, ["a"]]])

    def test_onOpenChannel(self):
        """
        Headers on a channel's later messages are accepted too.
        """
        self.connection.send(1, ID["chat"], [], [80])
        self.connection.send(1, 0, ["x"], [[False, 81, b"\1" * 8]])
        self.assertEqual(self.connection.replies(), [[1, 0, ["X"]]])

    def test_malformedIgnored(self):
        """
        Headers that do not decode are ignored; the message is still
        served and the connection stays open.
        """
        bad = [[{}], [999], [83], [[True, 5]], [[True, "a", 5]],
               [[True, 0, "v"]], "junk", 42, {1: 2}, [None]]
        for channel, headers in enumerate(bad, 1):
            self.connection.send(channel, ID["echo"], [str(channel)], headers)
        self.assertEqual(self.connection.replies(),
                         [[c, 0, [str(c)]] for c in range(1, len(bad) + 1)])
        self.assertTrue(self.connection.open)


class ServiceTests(_Case):
    """
    L{HostedService} and L{ServerFactory}.
    """

    def test_missingMethods(self):
        """
        An implementation must have a method per message.
        """
        class Partial:
            def read(self):
                pass
        error = self.assertRaises(TypeError, HostedService, "storage",
                                  Partial(), storageService().protocol, 1)
        self.assertIn("write, remove, find", str(error))

    def test_connections(self):
        """
        Live connections are tracked.
        """
        service = echoService()
        connection = Connection(service)
        self.assertEqual(service.connections, {connection.protocol})
        connection.lose()
        self.assertEqual(service.connections, set())

    def test_dropConnections(self):
        """
        C{dropConnections} closes every live connection.
        """
        service = echoService()
        one, two = Connection(service), Connection(service)
        service.dropConnections()
        self.assertFalse(one.open)
        self.assertFalse(two.open)
        self.assertEqual(service.connections, set())

    def test_factory(self):
        """
        The factory builds server protocols with its buffer limit.
        """
        service = echoService()
        factory = ServerFactory(service, maxBuffer=2048)
        protocol = factory.buildProtocol(None)
        self.assertIsInstance(protocol, ServerProtocol)
        self.assertIs(protocol.factory, factory)
        self.assertEqual(protocol._decoder.maxBuffer, 2048)

    def test_peer(self):
        """
        The peer address is kept for logs.
        """
        connection = Connection(echoService())
        self.assertEqual(connection.protocol._peer, "192.168.1.1:54321")


class _AnswerCase(_Case):
    """
    A service whose C{ask} streams both ways and returns a dispatch target
    that declares C{finishedWithUpstream} (as an app's session does).
    """

    def setUp(self):
        from cocaine.protocol.idl import Arg, Message, Protocol, STREAMING

        class Target:
            finishedWithUpstream = True

            def __init__(self, upstream):
                self.upstream = upstream
                self.chunks = []
                self.closed = 0
                self.lost = 0

            def write(self, chunk):
                self.chunks.append(chunk)

            def close(self):
                self.closed += 1

            def connectionLost(self):
                self.lost += 1

        self.Target = Target
        case = self

        class Impl:
            protocol = Protocol("once", [Message(
                "ask", [Arg("x", "str")], dispatch=STREAMING,
                upstream=STREAMING)])
            version = 1

            def ask(self, upstream, x):
                if x == "answer now":
                    upstream.close()
                return case.target(upstream)

        self.connection = Connection(HostedService("once", Impl(),
                                                   Impl.protocol, 1))
        self.protocol = self.connection.protocol

    def target(self, upstream):
        """
        @return: the dispatch target of a new channel.
        """
        return self.Target(upstream)


class LingeringTests(_AnswerCase):
    """
    A dispatch target that declares C{finishedWithUpstream} is forgotten
    once its answer is complete: a client that never closes its side of
    the stream costs no memory, and its late messages get no error.
    """

    def test_lateMessagesDropped(self):
        self.connection.send(1, 0, ["answer now"])
        self.assertEqual(self.connection.replies(), [[1, 2, []]])
        self.connection.send(1, 0, [b"late chunk"])
        self.connection.send(1, 2, [])
        self.assertEqual(self.connection.replies(), [])
        self.assertEqual(self.protocol._dispatch, {})
        self.assertEqual(len(self.protocol._lingering), 0)
        self.assertTrue(self.connection.open)

    def test_answeredLaterDropped(self):
        self.connection.send(1, 0, ["later"])
        target = self.protocol._dispatch[1].target
        target.upstream.close()
        self.assertEqual(self.protocol._dispatch, {})
        self.connection.send(1, 2, [])
        self.assertEqual(self.connection.replies(), [[1, 2, []]])

    def test_bounded(self):
        from cocaine.rpc.server import MAX_LINGERING
        for channel in range(1, MAX_LINGERING + 100):
            self.connection.send(channel, 0, ["answer now"])
        self.assertEqual(len(self.protocol._lingering), MAX_LINGERING)
        self.assertEqual(self.protocol._dispatch, {})


class AnsweringTests(_AnswerCase):
    """
    A dispatch target that declares C{finishedWithUpstream} lives as long
    as its answer, whether or not its client ended its stream: it hears
    C{connectionLost} once if the connection drops before the answer is
    complete (an app session still streaming to a client that sent its
    whole request), and never after.
    """

    def ask(self, channel=1):
        """
        Open C{channel} and send the whole request: a chunk and close.

        @return: the channel's target.
        """
        self.connection.send(channel, 0, ["later"])
        target = self.protocol._dispatch[channel].target
        self.connection.send(channel, 0, [b"all of it"])
        self.connection.send(channel, 2, [])
        return target

    def test_lostAfterRequestClosed(self):
        """
        The client sent its whole request and goes away while the answer
        streams: the target hears it, once.
        """
        target = self.ask()
        self.assertEqual((target.chunks, target.closed), ([b"all of it"], 1))
        target.upstream.write(b"part")
        self.connection.lose()
        self.assertEqual(target.lost, 1)
        self.assertTrue(target.upstream.closed)
        self.assertEqual(self.protocol._dispatch, {})

    def test_onlyTheAnsweringHear(self):
        """
        Of several channels of a connection, those still answering hear
        it drop, each once, whether or not their client ended its stream;
        one answered is forgotten (nothing lingers for it: its client had
        ended its stream) and does not.
        """
        ended, answered = self.ask(1), self.ask(2)
        self.connection.send(3, 0, ["later"])
        sending = self.protocol._dispatch[3].target
        answered.upstream.close()
        self.assertEqual(sorted(self.protocol._dispatch), [1, 3])
        self.assertEqual(len(self.protocol._lingering), 0)
        self.connection.lose()
        self.assertEqual([t.lost for t in (ended, answered, sending)],
                         [1, 0, 1])

    def test_messageAfterClose(self):
        """
        A message on a channel the client already ended, while its answer
        goes on, is a revoked channel: the answer ends with that error and
        the target hears it as a lost client (what it holds is released),
        once; the connection stays open and later messages are dropped.
        """
        target = self.ask()
        self.connection.replies()
        self.connection.send(1, 0, [b"too late"])
        [reply] = self.connection.replies()
        self.assertEqual((reply[0], reply[1], reply[2][0]), (1, 1, [7, 4]))
        self.assertIn("closed by the client", reply[2][1])
        self.assertEqual((target.chunks, target.lost), ([b"all of it"], 1))
        self.assertTrue(target.upstream.closed)
        self.connection.send(1, 2, [])
        self.connection.lose()
        self.assertEqual(target.lost, 1)
        self.assertEqual(self.connection.replies(), [])


class LastChunkTests(_AnswerCase):
    """
    A stream's chunk and its close that arrive in one read go to a target
    with C{writeClose} in that one call (an app's session sends them to
    its worker together); everything about the channel is as if they had
    come one by one.
    """

    def setUp(self):
        _AnswerCase.setUp(self)
        self.targets = []

    def target(self, upstream):
        target = _AnswerCase.target(self, upstream)
        target.together = []

        def writeClose(chunk):
            if chunk == b"raise":
                raise ZeroDivisionError("handler bug")
            target.together.append(chunk)
        target.writeClose = writeClose
        self.targets.append(target)
        return target

    def test_together(self):
        """
        Open, chunk and close in one read: C{writeClose} once, neither
        C{write} nor C{close}; the channel has ended the client's side
        while the answer goes on.
        """
        self.connection.feed(pack([1, 0, ["later"]]) + pack([1, 0, [b"x"]])
                             + pack([1, 2, []]))
        [target] = self.targets
        self.assertEqual((target.together, target.chunks, target.closed),
                         ([b"x"], [], 0))
        self.connection.send(1, 0, [b"too late"])
        [reply] = self.connection.replies()
        self.assertIn("closed by the client", reply[2][1])
        self.assertEqual(target.lost, 1)

    def test_answeredAlready(self):
        """
        A target whose answer is complete is forgotten at the close, as
        L{_continue} does.
        """
        self.connection.feed(pack([1, 0, ["answer now"]])
                             + pack([1, 0, [b"x"]]) + pack([1, 2, []]))
        self.assertEqual(self.protocol._dispatch, {})
        self.assertEqual(self.connection.replies(), [[1, 2, []]])

    def test_apart(self):
        """
        The chunk and the close in two reads, other channels' messages
        between them, a chunk of two values, or a close with headers or
        args: one by one, as before.
        """
        cases = [
            [pack([1, 0, [b"x"]]), pack([1, 2, []])],
            [pack([1, 0, [b"x"]]) + pack([2, 0, ["later"]])
             + pack([1, 2, []])],
            [pack([1, 0, [b"x"]]) + pack([1, 2, [], [[b"k", b"v"]]])],
        ]
        for reads in cases:
            self.setUp()
            self.connection.send(1, 0, ["later"])
            for data in reads:
                self.connection.feed(data)
            target = self.targets[0]
            self.assertEqual((target.together, target.chunks, target.closed),
                             ([], [b"x"], 1))

    def test_notAChunkThenClose(self):
        """
        A close after a close, or a chunk after a chunk, is not taken
        together.
        """
        self.connection.send(1, 0, ["later"])
        self.connection.feed(pack([1, 0, [b"a"]]) + pack([1, 0, [b"b"]]))
        [target] = self.targets
        self.assertEqual((target.together, target.chunks), ([], [b"a", b"b"]))

    def test_targetFails(self):
        """
        A C{writeClose} that raises is logged, the channel abandoned and
        its answer ended with the error; the connection serves on.
        """
        self.connection.feed(pack([1, 0, ["later"]])
                             + pack([1, 0, [b"raise"]]) + pack([1, 2, []]))
        [target] = self.targets
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(target.lost, 1)
        [reply] = self.connection.replies()
        self.assertEqual(reply[:2], [1, 1])
        self.assertNotIn(1, self.protocol._dispatch)
        self.assertNotIn(1, self.protocol._lingering)
        self.assertTrue(self.connection.open)

    def test_notFinishedWithUpstream(self):
        """
        A target that does not declare C{finishedWithUpstream} is
        forgotten at the close, as L{_continue} forgets it.
        """
        self.Target.finishedWithUpstream = False
        self.addCleanup(setattr, self.Target, "finishedWithUpstream", True)
        self.connection.feed(pack([1, 0, ["later"]]) + pack([1, 0, [b"x"]])
                             + pack([1, 2, []]))
        self.assertEqual(self.targets[0].together, [b"x"])
        self.assertNotIn(1, self.protocol._dispatch)


class PackedWriteTests(_Case):
    """
    L{Upstream.writePacked} sends a chunk packed beforehand;
    L{Upstream.writable} and L{Upstream.whenWritable} follow the
    transport's pausing of the connection.
    """

    def setUp(self):
        from cocaine.rpc.limits import ConnectionLimits
        self.connection = Connection(echoService())
        protocol = ServerProtocol(self.connection.service,
                                  limits=ConnectionLimits(writeLimit=1 << 20))
        self.connection.protocol = protocol
        self.connection.transport.protocol = protocol
        protocol.makeConnection(self.connection.transport)
        self.connection.send(1, ID["watch"], [])
        self.upstream = self.connection.impl.upstreams[-1]

    def test_writePacked(self):
        """
        The packed args go out as a C{write} on the upstream's channel.
        """
        self.upstream.writePacked(pack(["news", {"k": 1}]))
        self.assertEqual(self.connection.replies(),
                         [[1, 0, ["news", {"k": 1}]]])
        self.upstream.close()
        self.upstream.writePacked(pack([1]))
        self.assertEqual(self.connection.replies(), [[1, 2, []]])

    def test_whenWritable(self):
        """
        While the transport has paused the connection the upstream is not
        writable; callbacks run once it resumes, and are forgotten when the
        connection drops.
        """
        called = []
        self.assertTrue(self.upstream.writable)
        self.upstream.whenWritable(lambda: called.append("now"))
        self.assertEqual(called, ["now"])
        self.connection.protocol.pauseProducing()
        self.assertFalse(self.upstream.writable)
        self.upstream.whenWritable(lambda: called.append("later"))
        self.assertEqual(called, ["now"])
        self.connection.protocol.resumeProducing()
        self.assertEqual(called, ["now", "later"])
        self.assertTrue(self.upstream.writable)
        self.connection.protocol.pauseProducing()
        self.upstream.whenWritable(lambda: called.append("never"))
        self.connection.lose()
        self.connection.protocol.resumeProducing()
        self.assertEqual(called, ["now", "later"])


class LaterTypesTests(SynchronousTestCase):
    """
    Whether a handler's result answers later is remembered by type.
    """

    def setUp(self):
        from cocaine.rpc import server
        self.server = server
        self.patch(server, "_laterTypes", {})

    def test_learned(self):
        """
        Deferreds (and their subclasses) and coroutines answer later;
        anything else does not; each type is remembered.
        """
        from types import CoroutineType

        class MyDeferred(Deferred):
            pass
        learn = self.server._learnLater
        self.assertEqual([learn(Deferred), learn(MyDeferred),
                          learn(CoroutineType), learn(list), learn(tuple)],
                         [True, True, True, False, False])
        self.assertEqual(self.server._laterTypes[MyDeferred], True)
        self.assertEqual(self.server._laterTypes[list], False)

    def test_bounded(self):
        """
        Past 256 types, answers are still right and no more are kept.
        """
        kinds = [type("Kind{}".format(i), (), {}) for i in range(300)]
        self.assertEqual({self.server._learnLater(k) for k in kinds},
                         {False})
        self.assertEqual(len(self.server._laterTypes), 256)
