"""
Tests for L{cocaine.protocol.framing}: concatenated msgpack arrays on a
byte stream (PROTOCOL.md section 1).
"""

import struct
import sys
import types

import msgpack
from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from cocaine.compiled import pythonSource
from cocaine.errors import FramingError
from cocaine.protocol.framing import (
    DEFAULT_MAX_BUFFER, ENDS_CHECKED, Decoder, Encoder, checkMessage,
    packValue, unpackValue)
from cocaine.protocol import framing

#: The deterministic Hypothesis profile of this project.
DETERMINISTIC = settings(deadline=None, derandomize=True, database=None)

#: The same, for a test that also runs on the decoder of the Python source
#: (L{PythonSourceDecoderTests}): one function called from two test
#: classes, which Hypothesis warns about because of its example database,
#: which this profile does not use.
BOTH_DECODERS = settings(
    DETERMINISTIC, suppress_health_check=[HealthCheck.differing_executors])


def pack(value):
    """
    Pack as our encoder does.
    """
    return msgpack.packb(value, use_bin_type=True)


def asRaw(value):
    """
    What a value looks like after decoding with C{raw=True}: every
    string-like value as bytes, tuples as lists.
    """
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (list, tuple)):
        return [asRaw(item) for item in value]
    if isinstance(value, dict):
        return {asRaw(k): asRaw(v) for k, v in value.items()}
    return value


_scalars = (
    st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 64 - 1)
    | st.floats(allow_nan=False) | st.binary(max_size=40)
    | st.text(max_size=20))
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.integers(0, 100) | st.binary(max_size=8),
                          children, max_size=3)),
    max_leaves=12)
_headers = st.lists(
    st.integers(1, 100)
    | st.tuples(st.booleans(), st.text(max_size=10) | st.integers(1, 90),
                st.text(max_size=10)).map(list),
    max_size=3)
_messages = st.tuples(
    st.integers(0, 2 ** 64 - 1), st.integers(0, 2 ** 64 - 1),
    st.lists(_values, max_size=4),
    st.none() | _headers)


def _encode(message):
    channel, mtype, args, headers = message
    if headers is None:
        return pack([channel, mtype, args])
    return pack([channel, mtype, args, headers])


def _expected(message):
    channel, mtype, args, headers = message
    return (channel, mtype, asRaw(args),
            None if headers is None else asRaw(headers))


@st.composite
def chunkedStreams(draw):
    """
    A list of messages, their concatenated encoding, and that encoding cut
    into arbitrary chunks (empty chunks included).
    """
    messages = draw(st.lists(_messages, min_size=1, max_size=6))
    stream = b"".join(_encode(m) for m in messages)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    bounds = [0] + cuts + [len(stream)]
    chunks = [stream[a:b] for a, b in zip(bounds, bounds[1:])]
    return messages, stream, chunks


class DecoderTests(SynchronousTestCase):
    """
    L{Decoder} turns chunks into validated C{(channel, type, args,
    headers)} tuples.
    """

    def test_oneMessage(self):
        """
        A three element array is a message without headers.
        """
        self.assertEqual(Decoder().feed(pack([1, 0, ["storage"]])),
                         [(1, 0, [b"storage"], None)])

    def test_headers(self):
        """
        A fourth element is returned as the headers.
        """
        self.assertEqual(
            Decoder().feed(pack([3, 0, [], [[True, "authorization", "t"],
                                            83]])),
            [(3, 0, [], [[True, b"authorization", b"t"], 83])])

    def test_rawStrings(self):
        """
        By default str and bin both decode as bytes and maps may have
        integer keys.
        """
        data = pack([1, 0, ["text", b"\xff\x00", {0: ["x"]}]])
        self.assertEqual(Decoder().feed(data),
                         [(1, 0, [b"text", b"\xff\x00", {0: [b"x"]}], None)])

    def test_oldStyleRaw(self):
        """
        Old-style raw strings (what Cocaine 0.12 packs) decode as bytes,
        even when they are not UTF-8.
        """
        data = msgpack.packb([1, 0, [b"\xff\xfe"]], use_bin_type=False)
        self.assertEqual(Decoder().feed(data), [(1, 0, [b"\xff\xfe"], None)])

    def test_textMode(self):
        """
        With C{raw=False} str decodes as text and bin stays bytes.
        """
        data = pack([1, 0, ["text", b"blob"]])
        self.assertEqual(Decoder(raw=False).feed(data),
                         [(1, 0, ["text", b"blob"], None)])

    def test_partial(self):
        """
        A message split over feeds is returned once complete.
        """
        data = pack([7, 1, [b"x" * 100]])
        decoder = Decoder()
        self.assertEqual(decoder.feed(data[:1]), [])
        self.assertEqual(decoder.feed(data[1:50]), [])
        self.assertEqual(decoder.feed(data[50:]), [(7, 1, [b"x" * 100], None)])

    def test_several(self):
        """
        One chunk may finish several messages and start another.
        """
        first, second, third = (pack([1, 0, []]), pack([2, 0, [1]]),
                                pack([3, 0, [2]]))
        decoder = Decoder()
        self.assertEqual(decoder.feed(first + second + third[:2]),
                         [(1, 0, [], None), (2, 0, [1], None)])
        self.assertEqual(decoder.feed(third[2:]), [(3, 0, [2], None)])

    def test_fewThenMany(self):
        """
        Reads of few messages and reads of many, in any order on one
        decoder, each give all the messages they finish and keep a frame
        they begin: the end of a read is found by position or by msgpack
        alike (up to and past C{ENDS_CHECKED} messages a read).
        """
        frames = [pack([n, 0, [n]]) for n in range(1, 40)]
        decoder = Decoder()
        decoded = []
        at = 0
        for count in (1, 2, ENDS_CHECKED, ENDS_CHECKED + 1, 1, 9, 3, 1):
            chunk = b"".join(frames[at:at + count])
            at += count
            # each read also begins the next frame, finished by the next
            decoded.extend(decoder.feed(chunk[2:] if decoded else chunk))
            decoded.extend(decoder.feed(frames[at][:2]))
        decoded.extend(decoder.feed(frames[at][2:]))
        self.assertEqual(decoded, [(n, 0, [n], None)
                                   for n in range(1, at + 2)])
        self.assertTrue(decoder.drained())

    def test_garbageAfterMessages(self):
        """
        Garbage after any number of valid messages in one chunk is a
        framing error that carries the messages before it.
        """
        for count in (1, ENDS_CHECKED, ENDS_CHECKED + 3):
            decoder = Decoder()
            if count > ENDS_CHECKED:
                # a read of many first, so the next is not looked at
                decoder.feed(pack([9, 0, []]) * count)
            error = self.assertRaises(
                FramingError, decoder.feed,
                pack([1, 0, []]) * count + b"\xc1")
            self.assertEqual(error.messages, [(1, 0, [], None)] * count)

    def test_largestChannel(self):
        """
        Channels are uint64.
        """
        self.assertEqual(Decoder().feed(pack([2 ** 64 - 1, 0, []])),
                         [(2 ** 64 - 1, 0, [], None)])

    def test_emptyFeed(self):
        """
        Feeding nothing returns nothing.
        """
        self.assertEqual(Decoder().feed(b""), [])

    def assertFramingError(self, data, maxBuffer=DEFAULT_MAX_BUFFER):
        """
        Feeding C{data} to a new decoder raises L{FramingError}.
        """
        return self.assertRaises(FramingError, Decoder(maxBuffer).feed, data)

    def test_garbage(self):
        """
        Bytes that are not msgpack are a framing error.
        """
        self.assertFramingError(b"\xc1\xc1")

    def test_garbageAfterMessage(self):
        """
        Garbage after a valid message in the same chunk is still an error.
        """
        self.assertFramingError(pack([1, 0, []]) + b"\xc1")

    def test_notAnArray(self):
        """
        Values that are not arrays are framing errors.
        """
        for value in (42, {1: 2}, "x", b"x", None, True, 1.5):
            self.assertFramingError(pack(value))

    def test_wrongLength(self):
        """
        Arrays shorter than 3 or longer than 4 are framing errors.
        """
        for value in ([], [1], [1, 0], [1, 0, [], [], []]):
            self.assertFramingError(pack(value))

    def test_nonIntegerChannel(self):
        """
        The channel must be an integer (not a string, float or boolean).
        """
        for channel in ("1", b"1", 1.0, True, None, [1]):
            self.assertFramingError(pack([channel, 0, []]))

    def test_nonIntegerType(self):
        """
        The type must be an integer.
        """
        for mtype in ("0", 0.0, False, None):
            self.assertFramingError(pack([1, mtype, []]))

    def test_negative(self):
        """
        Channel and type are positive.
        """
        self.assertFramingError(pack([-1, 0, []]))
        self.assertFramingError(pack([1, -1, []]))

    def test_argsNotArray(self):
        """
        The args must be an array.
        """
        for args in ({}, None, "x", 3):
            self.assertFramingError(pack([1, 0, args]))

    def test_bufferLimit(self):
        """
        More than C{maxBuffer} bytes of one unfinished frame is an error.
        """
        decoder = Decoder(1024)
        header = b"\x93\x01\x00\x91\xc6" + struct.pack(">I", 2 ** 31)
        self.assertEqual(decoder.feed(header), [])
        self.assertRaises(FramingError, decoder.feed, b"x" * 1100)

    def test_bufferLimitInSmallChunks(self):
        """
        The limit holds when the frame arrives in small chunks.
        """
        decoder = Decoder(1024)
        decoder.feed(b"\x93\x01\x00\x91\xc6" + struct.pack(">I", 2 ** 31))
        with self.assertRaises(FramingError):
            for _ in range(20):
                decoder.feed(b"x" * 100)

    def test_frameOfManySmallValuesInChunks(self):
        """
        A frame parsed as it arrives is bounded as a whole (issue 14,
        finding 5): msgpack drops the bytes it consumed, so a frame of many
        small values fed in chunks never fills its buffer, but the decoder
        counts the frame's bytes and refuses it past C{maxBuffer}.
        """
        decoder = Decoder(4096, maxContainer=10 ** 6)
        decoder.feed(b"\x93\x01\x00\xdd" + struct.pack(">I", 100000))
        with self.assertRaises(FramingError) as caught:
            for _ in range(100):
                decoder.feed(b"\x90" * 100)
        self.assertIn("4096 byte limit", str(caught.exception))
        self.assertLessEqual(decoder.partial, 4096 + 100)

    def test_partialCountsFromLastMessage(self):
        """
        C{partial} is the size of the unfinished frame only: complete
        messages before it do not count against the limit.
        """
        decoder = Decoder(1024)
        message = pack([1, 0, [b"x" * 500]])
        for _ in range(10):
            self.assertEqual(len(decoder.feed(message[:300])), 0)
            self.assertEqual(decoder.partial, 300)
            self.assertEqual(len(decoder.feed(message[300:])), 1)
            self.assertEqual(decoder.partial, 0)

    def test_smallValuesOfLargeFrameCounted(self):
        """
        Within the byte limit and every container limit, a large frame of
        nested empty arrays (64 x 65535 of them, 4 MB) is refused once its
        parse allocated more than C{maxObjects} small values, long before
        it costs hundreds of MB.
        """
        decoder = Decoder(DEFAULT_MAX_BUFFER, maxContainer=65535,
                          maxObjects=100000)
        decoder.feed(b"\x93\x01\x00\xdc\x00\x40")
        inner = b"\xdc\xff\xff" + b"\x90" * 65535
        fed = 0
        with self.assertRaises(FramingError) as caught:
            for _ in range(64):
                for i in range(0, len(inner), 8192):
                    decoder.feed(inner[i:i + 8192])
                    fed += 8192
        self.assertIn("more than 100000 small values",
                      str(caught.exception))
        self.assertLess(fed, 300000)

    def test_largeBinaryFrameNotCounted(self):
        """
        A large frame of one binary value allocates few small objects and
        passes.
        """
        decoder = Decoder(DEFAULT_MAX_BUFFER, maxObjects=1024)
        data = pack([1, 0, [b"x" * (4 << 20)]])
        messages = []
        for i in range(0, len(data), 65536):
            messages += decoder.feed(data[i:i + 65536])
        self.assertEqual(len(messages), 1)

    def test_containerLimit(self):
        """
        With C{maxContainer}, an array or map declaring more elements is
        refused by its header, before anything is allocated: 4 M empty
        arrays in 4 MB cannot cost hundreds of MB.
        """
        decoder = Decoder(DEFAULT_MAX_BUFFER, maxContainer=1000)
        with self.assertRaises(FramingError) as caught:
            decoder.feed(b"\x93\x01\x00\xdd" + struct.pack(">I", 4 << 20)
                         + b"\x90" * 4096)
        self.assertIn("max_array_len", str(caught.exception))
        decoder = Decoder(DEFAULT_MAX_BUFFER, maxContainer=1000)
        self.assertRaises(FramingError, decoder.feed, pack(
            [1, 0, [{str(i): 0 for i in range(1001)}]]))
        self.assertEqual(
            Decoder(maxContainer=1000).feed(pack([1, 0, [[0] * 1000]])),
            [(1, 0, [[0] * 1000], None)])

    def test_hugeArrayHeader(self):
        """
        An array header declaring more elements than the limit allows is
        an error at once.
        """
        self.assertFramingError(
            b"\xdd" + struct.pack(">I", 2 ** 31), maxBuffer=1024)

    def test_bigFrameUnderLimit(self):
        """
        A frame just under the limit is fine.
        """
        data = pack([1, 0, [b"x" * 900]])
        self.assertEqual(Decoder(1024).feed(data),
                         [(1, 0, [b"x" * 900], None)])

    def test_defaultLimit(self):
        """
        The default limit fits a 64 MiB value plus framing.
        """
        self.assertEqual(DEFAULT_MAX_BUFFER, 128 * 1024 * 1024)
        self.assertEqual(Decoder().maxBuffer, DEFAULT_MAX_BUFFER)

    @BOTH_DECODERS
    @given(chunkedStreams())
    def test_anyChunking(self, case):
        """
        Any chunking of concatenated valid messages decodes to the same
        messages as the whole stream does, and to what was encoded.
        """
        messages, stream, chunks = case
        expected = [_expected(m) for m in messages]
        self.assertEqual(Decoder().feed(stream), expected)
        decoder = Decoder()
        decoded = []
        for chunk in chunks:
            decoded.extend(decoder.feed(chunk))
        self.assertEqual(decoded, expected)

    @BOTH_DECODERS
    @given(st.lists(_messages, min_size=1, max_size=4))
    def test_byteByByte(self, messages):
        """
        Feeding one byte at a time decodes the same messages.
        """
        stream = b"".join(_encode(m) for m in messages)
        decoder = Decoder()
        decoded = []
        for i in range(len(stream)):
            decoded.extend(decoder.feed(stream[i:i + 1]))
        self.assertEqual(decoded, [_expected(m) for m in messages])

    def test_drained(self):
        """
        L{Decoder.drained} says whether every byte fed was parsed.
        """
        decoder = Decoder()
        self.assertTrue(decoder.drained())
        frame = msgpack.packb([1, 0, [b"x" * 100]])
        decoder.feed(frame + frame[:10])
        self.assertFalse(decoder.drained())
        decoder.feed(frame[10:])
        self.assertTrue(decoder.drained())


class PythonSourceDecoderTests(DecoderTests):
    """
    The same tests on the L{Decoder} of the module's Python source: what
    runs where it was not compiled (L{cocaine.compiled}). Where it was
    not, both classes test the same decoder.
    """

    def setUp(self):
        self.patch(sys.modules[__name__], "Decoder",
                   pythonSource("cocaine.protocol.framing").Decoder)

    def test_fromSource(self):
        """
        These tests do run on the decoder of the Python source: its
        methods are Python functions.
        """
        self.assertIsInstance(Decoder.__dict__["feed"], types.FunctionType)


class CheckMessageTests(SynchronousTestCase):
    """
    L{checkMessage} validates one decoded value.
    """

    def test_valid(self):
        """
        Three and four element messages are returned as 4-tuples.
        """
        self.assertEqual(checkMessage([1, 2, [3]]), (1, 2, [3], None))
        self.assertEqual(checkMessage([1, 2, [3], []]), (1, 2, [3], []))

    def test_longValueBrief(self):
        """
        The error text shows a bounded prefix of a long value.
        """
        error = self.assertRaises(FramingError, checkMessage, "x" * 1000)
        self.assertLessEqual(len(str(error)), 100)
        self.assertTrue(str(error).endswith("..."))


class EncoderTests(SynchronousTestCase):
    """
    L{Encoder} writes text as msgpack str and payloads as msgpack bin.
    """

    def test_encode(self):
        """
        C{encode} packs C{[channel, type, args]}.
        """
        self.assertEqual(Encoder().encode(1, 0, ["a", b"b"]),
                         b"\x93\x01\x00\x92\xa1a\xc4\x01b")

    def test_encodeWithHeaders(self):
        """
        C{encodeWithHeaders} packs four elements.
        """
        self.assertEqual(
            msgpack.unpackb(Encoder().encodeWithHeaders(2, 1, [], [80])),
            [2, 1, [], [80]])

    def test_reused(self):
        """
        One encoder packs many messages independently.
        """
        encoder = Encoder()
        self.assertEqual(encoder.encode(1, 0, []), pack([1, 0, []]))
        self.assertEqual(encoder.encode(2, 2, [None]), pack([2, 2, [None]]))

    def test_failureDoesNotCorrupt(self):
        """
        A value that cannot be packed raises and leaves the encoder usable.
        """
        encoder = Encoder()
        self.assertRaises(TypeError, encoder.encode, 1, 0, [object()])
        self.assertEqual(encoder.encode(2, 0, []), pack([2, 0, []]))

    def test_roundTrip(self):
        """
        What the encoder writes the decoder reads.
        """
        encoder = Encoder()
        data = (encoder.encode(1, 0, ["a", b"\xff"])
                + encoder.encodeWithHeaders(2, 0, [], [[False, 1, "x"]]))
        self.assertEqual(Decoder().feed(data),
                         [(1, 0, [b"a", b"\xff"], None),
                          (2, 0, [], [[False, 1, b"x"]])])


class ValueTests(SynchronousTestCase):
    """
    L{packValue} and L{unpackValue}: stored values (PROTOCOL.md section 7).
    """

    def test_packValue(self):
        """
        Text is packed as str and bytes as bin.
        """
        self.assertEqual(packValue({"a": b"b"}), b"\x81\xa1a\xc4\x01b")

    def test_unpackValue(self):
        """
        Every string-like value comes back as bytes; int keys are allowed.
        """
        self.assertEqual(unpackValue(packValue({1: ["a", b"b"]})),
                         {1: [b"a", b"b"]})


#: Values of every msgpack length field, bin and str (str 8 included), and
#: what L{packMessage} leaves to the packer.
_VALUES = [b"", b"a", b"x" * 31, b"x" * 32, b"x" * 255, b"x" * 256,
           b"x" * 65535, b"x" * 65536, "", "\u00e9t\u00e9", "s" * 31,
           "s" * 32, "s" * 255, "s" * 256, "s" * 65535, "s" * 65536,
           5, None, [1], {"a": 1}, bytearray(b"ba")]


class PackMessageTests(SynchronousTestCase):
    """
    L{packMessage} and L{packClosing} make exactly the bytes of the
    packer, fast for a stream's messages and by the packer otherwise.
    """

    framing = framing

    def setUp(self):
        self.pack = Encoder().pack

    def assertPacked(self, channel, mtype, args):
        """
        C{packMessage} gives what the packer gives, as L{bytes}.
        """
        made = self.framing.packMessage(self.pack, channel, mtype, args)
        self.assertIs(type(made), bytes)
        self.assertEqual(made, self.pack([channel, mtype, args]))

    def test_streamMessages(self):
        """
        Every channel width, small types, args of none or one value of
        every length field, as a list or a tuple.
        """
        for channel in (0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 24,
                        2 ** 32 - 1):
            for mtype in (0, 1, 2, 127):
                self.assertPacked(channel, mtype, [])
                self.assertPacked(channel, mtype, ())
                for value in _VALUES:
                    self.assertPacked(channel, mtype, [value])
                    self.assertPacked(channel, mtype, (value,))

    def test_otherMessages(self):
        """
        What is not a stream's message is the packer's: a channel or type
        out of the fast range or not an exact L{int}, args of two values
        or not a list or tuple.
        """
        for channel, mtype, args in (
                (2 ** 32, 0, [b"a"]), (2 ** 64 - 1, 1, []), (-1, 0, []),
                (True, 0, [b"a"]), (3, 128, [b"a"]), (3, False, []),
                (3, 0, [b"a", b"b"]), (3, 0, [[b"a"]])):
            self.assertPacked(channel, mtype, args)

    def test_packersErrors(self):
        """
        What the packer refuses raises the packer's error: a channel it
        cannot pack, a value it cannot pack, text that is not UTF-8.
        """
        for channel, mtype, args, expected in (
                (2 ** 64, 0, [], OverflowError),
                (3, 0, [object()], TypeError),
                (3, 0, ["\ud800"], UnicodeEncodeError)):
            self.assertRaises(expected, self.pack, [channel, mtype, args])
            self.assertRaises(expected, self.framing.packMessage, self.pack,
                              channel, mtype, args)

    def test_closing(self):
        """
        L{packClosing} gives the message, then its close without args.
        """
        for channel in (0, 7, 127, 128, 300, 65536, 70000, 2 ** 32 - 1,
                        2 ** 32):
            for mtype, endWith in ((0, 1), (0, 2), (127, 127), (128, 2),
                                   (0, 128)):
                for value in _VALUES:
                    for args in ([value], (value,)):
                        made = self.framing.packClosing(
                            self.pack, channel, mtype, args, endWith)
                        self.assertIs(type(made), bytes)
                        self.assertEqual(made, self.pack(
                            [channel, mtype, list(args)]) + self.pack(
                                [channel, endWith, []]))
        # what is not a chunk of one value is the packer's
        self.assertEqual(
            self.framing.packClosing(self.pack, 7, 0, [b"a", b"b"], 1),
            self.pack([7, 0, [b"a", b"b"]]) + self.pack([7, 1, []]))

    def test_request(self):
        """
        L{packRequest} gives the opening, the chunk, then the close
        without args; what it does not make itself is the packer's.
        """
        for channel in (7, 300, 70000):
            for value in (b"chunk", "text", b"x" * 300, {b"k": 1}):
                made = self.framing.packRequest(self.pack, channel, 0,
                                                ["event"], 0, [value], 2)
                self.assertIs(type(made), bytes)
                self.assertEqual(made, self.pack([channel, 0, ["event"]])
                                 + self.pack([channel, 0, [value]])
                                 + self.pack([channel, 2, []]))
        for event in (b"bytes", "\u00e9v\u00e9nement", "e" * 300):
            self.assertEqual(
                self.framing.packRequest(self.pack, 2 ** 32, 0, [event], 0,
                                         [b"v"], 2),
                self.pack([2 ** 32, 0, [event]]) + self.pack(
                    [2 ** 32, 0, [b"v"]]) + self.pack([2 ** 32, 2, []]))
            self.assertEqual(
                self.framing.packRequest(self.pack, 9, 0, [event], 0,
                                         [b"v"], 2),
                self.pack([9, 0, [event]]) + self.pack([9, 0, [b"v"]])
                + self.pack([9, 2, []]))
        self.assertRaises(UnicodeEncodeError, self.framing.packRequest,
                          self.pack, 9, 0, ["\ud800"], 0, [b"v"], 2)

    def test_threads(self):
        """
        Threads packing at once each get their own message's bytes.
        """
        import threading
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        self.addCleanup(sys.setswitchinterval, interval)
        wrong = []

        def packMany(channel):
            pack = Encoder().pack
            expected = pack([channel, 0, [b"v" * channel]])
            for _ in range(2000):
                made = self.framing.packMessage(pack, channel, 0,
                                                [b"v" * channel])
                if made != expected:
                    wrong.append(channel)
                    return

        threads = [threading.Thread(target=packMany, args=(channel,))
                   for channel in (5, 200, 300, 1000)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual(wrong, [])


class PythonSourcePackMessageTests(PackMessageTests):
    """
    The same tests on the module's Python source.
    """

    framing = pythonSource("cocaine.protocol.framing")

    def test_ownBuffer(self):
        """
        Run from source, where a thread may come in between two writes to
        the header's buffer, each call writes into a buffer of its own.
        """
        self.assertFalse(self.framing._HEAD_SHARED)
