# -*- test-case-name: tests.mesh.test_amp -*-
"""
Tests for L{cocaine.mesh.amp}.
"""

import json

from hypothesis import given, settings, strategies as st
from twisted.internet.abstract import FileDescriptor
from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from cocaine.mesh.amp import (
    AMPDecoder,
    AMPProtocol,
    FramingError,
    MessageTooLarge,
    encode,
    pack,
    packArgument,
    unpackArgument,
)
from cocaine.mesh.writes import Backlog

DETERMINISTIC = settings(deadline=None, derandomize=True, database=None)

parts = st.lists(st.binary(max_size=64), min_size=1, max_size=15)
messages = st.lists(parts, min_size=1, max_size=8)


def chunked(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks, last = [], 0
    for p in points + [len(data)]:
        chunks.append(data[last:p])
        last = p
    return chunks


class EncodeTests(SynchronousTestCase):
    def test_layout(self):
        """
        One header byte C{(1 << 4) | argc}, then 4-byte big-endian lengths.
        """
        self.assertEqual(encode([b"ab", b""]),
                         b"\x12\x00\x00\x00\x02ab\x00\x00\x00\x00")

    def test_argc(self):
        self.assertRaises(FramingError, encode, [])
        self.assertRaises(FramingError, encode, [b""] * 16)

    def test_arguments(self):
        """
        Text is C{s:}, bytes raw, anything else C{j:} JSON.
        """
        self.assertEqual(packArgument("héllo"), "s:héllo".encode("utf-8"))
        self.assertEqual(packArgument(b"\x00\xff"), b"\x00\xff")
        self.assertEqual(packArgument({"type": "x"}), b'j:{"type":"x"}')
        self.assertEqual(packArgument(None), b"j:null")
        self.assertEqual(unpackArgument(b"s:abc"), "abc")
        self.assertEqual(unpackArgument(b"j:[1,2]"), [1, 2])
        self.assertEqual(unpackArgument(b"j:undefined"), None)
        self.assertEqual(unpackArgument(b"raw"), b"raw")
        self.assertRaises(FramingError, unpackArgument, b"j:{")

    @DETERMINISTIC
    @given(st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
        | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=12))
    def test_jsonLikeDumps(self, value):
        """
        JSON parts are byte for byte what C{json.dumps(value,
        separators=(",", ":"))} writes, and decode back to equal values.
        """
        if isinstance(value, str):
            expected = b"s:" + value.encode("utf-8")
        else:
            text = json.dumps(value, separators=(",", ":"))
            expected = b"j:" + text.encode("utf-8")
        self.assertEqual(packArgument(value), expected)
        self.assertEqual(unpackArgument(expected), value)

    def test_jsonErrors(self):
        """
        What JSON cannot encode fails as C{json.dumps} fails; JSON with
        surrounding whitespace decodes; trailing data is a framing error.
        """
        circular = []
        circular.append(circular)
        self.assertRaises(ValueError, packArgument, circular)
        self.assertRaises(TypeError, packArgument, {"a": object()})
        self.assertEqual(unpackArgument(b'j: {"a": [1, 2]} '), {"a": [1, 2]})
        self.assertRaises(FramingError, unpackArgument, b"j:{} x")
        self.assertRaises(FramingError, unpackArgument, b"j:")
        self.assertRaises(UnicodeDecodeError, unpackArgument, b"j:\xff")

    def test_cote_request(self):
        """
        A cote request is exactly C{[j:request, s:id]}.
        """
        self.assertEqual(
            pack([{"type": "t"}, "1:0"]),
            b"\x12\x00\x00\x00\x0ej:{\"type\":\"t\"}\x00\x00\x00\x05s:1:0")


class DecoderTests(SynchronousTestCase):
    @DETERMINISTIC
    @given(messages, st.lists(st.integers(min_value=0), max_size=20))
    def test_anyChunking(self, msgs, cuts):
        """
        Any chunking of a stream decodes to the same messages.
        """
        data = b"".join(encode(m) for m in msgs)
        decoder = AMPDecoder()
        out = []
        for chunk in chunked(data, cuts):
            out.extend(decoder.feed(chunk))
        self.assertEqual(out, msgs)

    @DETERMINISTIC
    @given(st.lists(st.one_of(
        st.text(max_size=20),
        st.binary(max_size=20).filter(lambda b: b[:2] not in (b"s:", b"j:")),
        st.none(), st.integers(),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
        st.lists(st.booleans(), max_size=3)), min_size=1, max_size=15))
    def test_roundTrip(self, values):
        """
        Values survive L{pack} and decoding.
        """
        (decoded,) = AMPDecoder().feed(pack(values))
        self.assertEqual([unpackArgument(p) for p in decoded], values)

    def test_largeMessageInChunks(self):
        """
        A message arriving in many chunks is parsed once it is whole, with
        the parts as L{bytes} and the messages around it intact.
        """
        big = encode([b"a" * 100000, b"b"])
        small = encode([b"s"])
        data = small + big + small
        decoder = AMPDecoder()
        out = []
        for i in range(0, len(data), 1000):
            out.extend(decoder.feed(data[i : i + 1000]))
        self.assertEqual(out, [[b"s"], [b"a" * 100000, b"b"], [b"s"]])
        self.assertEqual({type(p) for m in out for p in m}, {bytes})
        self.assertEqual(decoder.feed(bytearray(small)), [[b"s"]])

    def test_badHeader(self):
        """
        A bad header byte fails the decoder for good, keeping the messages
        before it.
        """
        decoder = AMPDecoder()
        good = encode([b"x"])
        with self.assertRaises(FramingError) as c:
            decoder.feed(good + b"\x20")
        self.assertEqual(c.exception.messages, [[b"x"]])
        self.assertRaises(FramingError, decoder.feed, good)

    def test_bounded(self):
        """
        A message larger than the bound fails with L{MessageTooLarge} as
        soon as its length is known.
        """
        decoder = AMPDecoder(maxMessage=100)
        self.assertEqual(decoder.feed(encode([b"a" * 50])), [[b"a" * 50]])
        with self.assertRaises(MessageTooLarge) as c:
            decoder.feed(b"\x11\x00\x10\x00\x00")
        self.assertIn("100 bytes", str(c.exception))


class Recorder(AMPProtocol):
    def connectionMade(self):
        AMPProtocol.connectionMade(self)
        self.received = []

    def messageReceived(self, args, parts):
        self.received.append(args)


class ProtocolTests(SynchronousTestCase):
    def test_messages(self):
        p = Recorder()
        t = StringTransport()
        p.makeConnection(t)
        data = pack(["message::t", {"a": 1}])
        p.dataReceived(data[:3])
        p.dataReceived(data[3:])
        self.assertEqual(p.received, [["message::t", {"a": 1}]])
        p.sendMessage([None, 1, "id"])
        self.assertEqual(t.value(), pack([None, 1, "id"]))

    def test_framingErrorDrops(self):
        """
        Messages before a framing error are handled, then the connection is
        aborted.
        """
        p = Recorder()
        t = StringTransport()
        p.makeConnection(t)
        p.dataReceived(pack(["ok"]) + b"\xff")
        self.assertEqual(p.received, [["ok"]])
        self.assertTrue(t.disconnecting)
        self.flushLoggedErrors()


class RecordingTransport(StringTransport):
    """
    A L{StringTransport} that records each C{write} call and C{TCP_NODELAY}.
    """

    def __init__(self):
        StringTransport.__init__(self)
        self.writes = []
        self.events = []
        self.noDelay = False

    def write(self, data):
        self.writes.append(data)
        self.events.append("write")
        StringTransport.write(self, data)

    def abortConnection(self):
        self.events.append("abort")
        StringTransport.abortConnection(self)

    def setTcpNoDelay(self, enabled):
        self.noDelay = enabled


class Echo(AMPProtocol):
    """
    Answers each message with its first argument, and copies it to
    C{other} when there is one.
    """

    other = None

    def messageReceived(self, args, parts):
        self.sendMessage([None, args[0]])
        if self.other is not None:
            self.other.sendMessage([args[0]])


class WriteBatchTests(SynchronousTestCase):
    def connect(self, protocol=None):
        p = protocol or Echo()
        t = RecordingTransport()
        p.makeConnection(t)
        return p, t

    def test_noDelay(self):
        """
        Connections set C{TCP_NODELAY} (as axon does) when the transport
        can.
        """
        p, t = self.connect()
        self.assertTrue(t.noDelay)
        Recorder().makeConnection(StringTransport())  # no setTcpNoDelay: fine

    def test_firstAtOnceThenJoined(self):
        """
        While a connection handles received data, its first reply goes out
        at once (the peer can start on it); the rest are joined into one
        write when the handling ends, in order.
        """
        p, t = self.connect()
        p.dataReceived(pack([1]) + pack([2]) + pack([3]))
        self.assertEqual(t.writes,
                         [pack([None, 1]), pack([None, 2]) + pack([None, 3])])

    def test_joinAtMost(self):
        """
        At most C{joinAtMost} messages are joined into one write.
        """
        p, t = self.connect()
        p.dataReceived(b"".join(pack([i]) for i in range(40)))
        replies = [pack([None, i]) for i in range(40)]
        self.assertEqual(t.writes, [replies[0], b"".join(replies[1:17]),
                                    b"".join(replies[17:33]),
                                    b"".join(replies[33:])])

    def test_eachHandling(self):
        """
        Each handling of received data starts again with a write at once.
        """
        p, t = self.connect()
        p.dataReceived(pack([1]))
        p.dataReceived(pack([2]) + pack([3]))
        self.assertEqual(t.writes,
                         [pack([None, 1]), pack([None, 2]), pack([None, 3])])

    def test_otherConnections(self):
        """
        Writes to other connections during the handling follow the same
        rule.
        """
        p, t = self.connect()
        q, u = self.connect()
        p.other = q
        p.dataReceived(pack(["a"]) + pack(["b"]) + pack(["c"]))
        self.assertEqual(u.writes, [pack(["a"]), pack(["b"]) + pack(["c"])])
        self.assertEqual(len(t.writes), 2)

    def test_outsideHandling(self):
        """
        Outside the handling of received data each message is written at
        once (the transport joins what one turn of the reactor writes).
        """
        p, t = self.connect()
        p.sendMessage(["x"])
        p.sendMessage(["y"])
        self.assertEqual(t.writes, [pack(["x"]), pack(["y"])])

    def test_handlerFails(self):
        """
        When handling raises, what was written before is still sent.
        """
        class Failing(Echo):
            def messageReceived(self, args, parts):
                Echo.messageReceived(self, args, parts)
                if args[0] == 2:
                    raise RuntimeError("boom")

        p, t = self.connect(Failing())
        self.assertRaises(RuntimeError, p.dataReceived,
                          pack([1]) + pack([2]) + pack([3]))
        self.assertEqual(t.writes, [pack([None, 1]), pack([None, 2])])
        p.sendMessage(["later"])
        self.assertEqual(t.writes[-1], pack(["later"]))

    def test_framingErrorFlushesFirst(self):
        """
        Replies to the messages before a framing error are written before
        the connection is aborted.
        """
        p, t = self.connect()
        p.dataReceived(pack([1]) + pack([2]) + pack([3]) + b"\xff")
        self.assertEqual(t.events, ["write", "write", "abort"])
        self.assertEqual(t.writes,
                         [pack([None, 1]), pack([None, 2]) + pack([None, 3])])
        self.flushLoggedErrors()


class PackTests(SynchronousTestCase):
    @DETERMINISTIC
    @given(st.lists(st.one_of(
        st.none(), st.text(max_size=20), st.binary(max_size=20), st.integers(),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
        st.builds(bytearray, st.binary(max_size=5))), min_size=1, max_size=15))
    def test_sameAsParts(self, values):
        """
        L{pack} writes exactly C{encode([packArgument(v) for v in values])},
        from a list, a tuple or any iterable.
        """
        expected = encode([packArgument(v) for v in values])
        self.assertEqual(pack(values), expected)
        self.assertEqual(pack(tuple(values)), expected)
        self.assertEqual(pack(iter(values)), expected)

    def test_argc(self):
        self.assertRaises(FramingError, pack, [])
        self.assertRaises(FramingError, pack, [1] * 16)


class SlowSocket(FileDescriptor):
    """
    A Twisted file-descriptor transport over a socket that takes C{room}
    bytes per send; what it took is in C{sent}.
    """

    def __init__(self, room=0):
        FileDescriptor.__init__(self, MemoryReactor())
        self.connected = 1
        self.room = room
        self.sent = []

    def writeSomeData(self, data):
        taken = bytes(data[: self.room])
        self.sent.append(taken)
        return len(taken)

    def buffered(self):
        return len(self.dataBuffer) - self.offset + self._tempDataLen

    def drain(self):
        self.room = 1 << 30
        for _ in range(10000):
            if not self.buffered() and self.producer is None:
                return
            self.doWrite()
        raise AssertionError("the transport does not drain")


class BacklogTests(SynchronousTestCase):
    """
    A connection whose peer reads slower than it writes keeps its backlog
    as a queue of messages, not in Twisted's buffer.
    """

    def connect(self):
        p = Echo()
        t = SlowSocket()
        p.makeConnection(t)
        return p, t

    def test_bounded(self):
        """
        Twisted holds about C{Backlog.limit} bytes; the rest waits in the
        queue, and everything is sent in order once the peer reads.
        """
        p, t = self.connect()
        messages = [pack(["message::m", "x" * 1000, i]) for i in range(2000)]
        for m in messages:
            p._sendPacked(m)
        self.assertTrue(
            Backlog.limit <= t.buffered() <= Backlog.limit + 1100)
        self.assertIs(t.producer, p._backlog)
        self.assertEqual(len(p._backlog.queue),
                         2000 - t.buffered() // len(messages[0]))
        t.drain()
        self.assertEqual(b"".join(t.sent), b"".join(messages))
        self.assertIsNone(t.producer)
        self.assertIsNone(p._backlog.queue)

    def test_orderWithReplies(self):
        """
        Replies written while data is handled queue behind the backlog.
        """
        p, t = self.connect()
        burst = [pack(["x" * 1000, i]) for i in range(400)]
        for m in burst:
            p.sendMessage(["x" * 1000, burst.index(m)])
        p.dataReceived(pack(["a"]) + pack(["b"]))
        t.drain()
        self.assertEqual(b"".join(t.sent),
                         b"".join(burst) + pack([None, "a"])
                         + pack([None, "b"]))

    def test_smallWritesUntouched(self):
        """
        Below the limit, nothing is registered and writes go to Twisted as
        before.
        """
        p, t = self.connect()
        for i in range(10):
            p.sendMessage([i])
        self.assertIsNone(t.producer)
        self.assertIsNone(p._backlog)
        t.drain()
        self.assertEqual(b"".join(t.sent),
                         b"".join(pack([i]) for i in range(10)))

    def test_closeFlushesBacklog(self):
        """
        Closing gracefully sends the backlog first.
        """
        p, t = self.connect()
        messages = [pack(["y" * 1000]) for _ in range(500)]
        for m in messages:
            p._sendPacked(m)
        t.loseConnection()
        t.room = 1 << 30
        for _ in range(100):
            if t.doWrite() is not None:
                break
        self.assertEqual(b"".join(t.sent), b"".join(messages))

    def test_lost(self):
        """
        When the connection is lost the backlog is dropped.
        """
        p, t = self.connect()
        for _ in range(500):
            p._sendPacked(pack(["y" * 1000]))
        t.connectionLost(None)
        self.assertIsNone(p._backlog.queue)
        p._sendPacked(pack(["late"]))
