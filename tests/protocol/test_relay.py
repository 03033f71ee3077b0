"""
Tests for L{cocaine.protocol.relay}: chunk frames found, rewritten for
another channel and their stream's close found, without decoding them.
"""

import msgpack
from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from cocaine.compiled import pythonSource
from cocaine.protocol import relay
from cocaine.protocol.framing import DEFAULT_MAX_BUFFER

#: The deterministic Hypothesis profile of this project, for a test that
#: runs on the compiled module and on its Python source (one function
#: called from two test classes, which Hypothesis warns about because of
#: its example database, which this profile does not use).
BOTH_DECODERS = settings(
    deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.differing_executors])

#: msgpack as our SDKs pack (bytes as bin) and as 0.12's msgpack did
#: (bytes as str)
_BIN = msgpack.Packer(use_bin_type=True).pack
_STR = msgpack.Packer(use_bin_type=False).pack


class ChunkRunTests(SynchronousTestCase):
    """
    L{chunkRun} finds a run of one channel's chunk frames without decoding
    them, and L{rechannel} gives the bytes packing them again on another
    channel would.
    """

    relay = relay

    def run_(self, data, start=0, limit=DEFAULT_MAX_BUFFER):
        return self.relay.chunkRun(data, start, limit)

    def test_everyChannelAndLength(self):
        """
        Channels and values of every msgpack length field, bin or str.
        """
        for pack, values in (
                (_BIN, [b"", b"a", b"x" * 300, b"y" * 70000]),
                (_STR, [b"z" * 40, b"x" * 300, b"y" * 70000, b"q" * 255])):
            for channel in (0, 5, 127, 128, 255, 256, 65535, 65536,
                            2 ** 32 - 1):
                data = b"".join(pack([channel, 0, [v]]) for v in values)
                end = len(data)
                data += _BIN([channel, 2, []])
                self.assertEqual(self.run_(data), (channel, end, 4, False))
                for other in (1, 200, 70000, 2 ** 40):
                    self.assertEqual(
                        self.relay.rechannel(data, 0, end, other, 0),
                        b"".join(_BIN([other, 0, [v]]) for v in values))

    def test_cutShort(self):
        """
        Cut anywhere, the frames before the cut are the run, and the one
        cut is C{incomplete}.
        """
        frames = [_BIN([3, 0, [b"x" * 300]]), _BIN([3, 0, [b"y"]])]
        data = b"".join(frames)
        for cut in range(1, len(data)):
            channel, end, count, incomplete = self.run_(data[:cut])
            whole = len(frames[0]) <= cut
            self.assertEqual((end, count, incomplete),
                             (len(frames[0]) if whole else 0, int(whole),
                              cut != len(frames[0])), cut)

    def test_notChunks(self):
        """
        A frame of another shape ends the run: another type, more than
        one value, a value other than bytes, a short str (its length in
        its marker), headers, another channel's chunk.
        """
        first = _BIN([3, 0, [b"x"]])
        for other in (_BIN([3, 2, []]), _BIN([3, 0, [b"a", b"b"]]),
                      _BIN([3, 0, [1]]), _STR([3, 0, [b"abc"]]),
                      _BIN([3, 0, [b"a"], []])):
            self.assertEqual(self.run_(first + other),
                             (3, len(first), 1, False), other)
            self.assertEqual(self.run_(other)[2:], (0, False), other)
        other = _BIN([4, 0, [b"a"]])
        self.assertEqual(self.run_(first + other), (3, len(first), 1, False))

    def test_limit(self):
        """
        A frame larger than C{limit} is not a chunk frame to relay, even
        cut short: the decoder refuses it.
        """
        frame = _BIN([3, 0, [b"x" * 2000]])
        self.assertEqual(self.run_(frame, limit=1024)[2:], (0, False))
        self.assertEqual(self.run_(frame[:10], limit=1024)[2:], (0, False))
        self.assertEqual(self.run_(frame, limit=len(frame))[2:], (1, False))

    def test_start(self):
        """
        A run is looked for from C{start}.
        """
        data = _BIN([3, 2, []]) + _BIN([5, 0, [b"x"]])
        self.assertEqual(self.run_(data, 4), (5, len(data), 1, False))

    @BOTH_DECODERS
    @given(st.lists(st.tuples(st.sampled_from([1, 200, 70000]),
                              st.sampled_from([0, 0, 0, 1, 2]),
                              st.binary(max_size=300), st.booleans()),
                    max_size=12), st.integers(0, 400))
    def test_decodesAsPacked(self, messages, cut):
        """
        Whatever the frames and wherever they are cut, the run is the
        chunk frames of the first one's channel in a row, and
        L{rechannel} of it decodes to what they held.
        """
        data = b"".join(
            (_STR if old else _BIN)([channel, mtype, [value]])
            for channel, mtype, value, old in messages)[:cut or None]
        channel, end, count, incomplete = self.run_(data)
        unpacker = msgpack.Unpacker(raw=True)
        unpacker.feed(data[:end])
        self.assertEqual(len(list(unpacker)), count)
        expected = []
        for first, mtype, value, old in messages:
            if (mtype != 0 or first != messages[0][0]
                    or (old and len(value) < 32)):
                break
            expected.append(value)
        unpacker = msgpack.Unpacker(raw=True)
        unpacker.feed(data)
        whole = list(unpacker)
        self.assertLessEqual(count, len(expected))
        self.assertEqual(count, min(len(expected), len(whole)))
        if count:
            out = msgpack.Unpacker(raw=False)
            out.feed(self.relay.rechannel(data, 0, end, 9, 0))
            self.assertEqual(list(out), [[9, 0, [v]] for v in
                                         expected[:count]])

    def test_rechannelClosing(self):
        """
        With C{endWith}, L{rechannel} makes the frames, then a message of
        that type without args, as the packer would, for one frame or
        many and any channel.
        """
        frames = [_BIN([3, 0, [b"a" * 40]]), _STR([3, 0, [b"b" * 300]])]
        for count in (1, 2):
            data = b"".join(frames[:count])
            for channel in (7, 300, 2 ** 32, 2 ** 40):
                made = self.relay.rechannel(data, 0, len(data), channel, 0,
                                              2)
                self.assertEqual(made, b"".join(
                    _BIN([channel, 0, [value]]) for value in
                    (b"a" * 40, b"b" * 300)[:count])
                    + _BIN([channel, 2, []]), (count, channel))

    def test_emptyAt(self):
        """
        L{emptyAt} finds a message without args of one channel and type,
        whole, at a position, for every width of the channel; another
        channel, type, args or a message cut short is not it.
        """
        for channel in (0, 5, 127, 128, 255, 256, 65535, 65536,
                        2 ** 32 - 1):
            frame = _BIN([channel, 2, []])
            data = b"ab" + frame + b"cd"
            self.assertEqual(self.relay.emptyAt(data, 2, channel, 2),
                             2 + len(frame), channel)
            for other in (channel + 1, channel ^ 1):
                self.assertEqual(self.relay.emptyAt(data, 2, other, 2), -1)
            self.assertEqual(self.relay.emptyAt(data, 2, channel, 1), -1)
            self.assertEqual(self.relay.emptyAt(data, 1, channel, 2), -1)
            for cut in range(len(frame)):
                self.assertEqual(self.relay.emptyAt(
                    b"ab" + frame[:cut], 2, channel, 2), -1, (channel, cut))
            withArgs = b"ab" + _BIN([channel, 2, [b"x"]])
            self.assertEqual(self.relay.emptyAt(withArgs, 2, channel, 2),
                             -1)


class PythonSourceChunkRunTests(ChunkRunTests):
    """
    The same tests on the module's Python source.
    """

    relay = pythonSource("cocaine.protocol.relay")
