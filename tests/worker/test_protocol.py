# -*- test-case-name: tests.worker.test_protocol -*-
"""
Tests for L{cocaine.worker.protocol}.
"""

import msgpack
from twisted.trial.unittest import TestCase

from cocaine.worker.protocol import (
    Decoder, Encoder, FramingError, parseArguments, parseError,
    parseLocators, text)


class DecoderTests(TestCase):
    """
    L{Decoder} turns the runtime's byte stream into messages.
    """

    def test_fragments(self):
        """
        Messages split anywhere and packed back to back come out whole and
        in order; strings stay bytes.
        """
        data = (msgpack.packb([2, 0, ["echo"]])
                + msgpack.packb([2, 0, [b"\x00\xff"]], use_bin_type=True)
                + msgpack.packb([2, 2, []]))
        decoder = Decoder()
        messages = []
        for index in range(len(data)):
            messages.extend(decoder.feed(data[index:index + 1]))
        self.assertEqual(messages, [(2, 0, [b"echo"]), (2, 0, [b"\x00\xff"]),
                                    (2, 2, [])])

    def test_headersDropped(self):
        """
        A 4th element (headers) and anything after it are dropped.
        """
        decoder = Decoder()
        self.assertEqual(
            decoder.feed(msgpack.packb([3, 0, ["x"], [[False, "a", "b"]], 9])),
            [(3, 0, [b"x"])])

    def test_malformed(self):
        """
        Values that are not messages come out as C{(None, None, value)}.
        """
        decoder = Decoder()
        values = ["text", [1, 0], [1, "0", []], [-1, 0, []], [1, 0, "x"],
                  {1: 2}]
        data = b"".join(msgpack.packb(value) for value in values)
        self.assertEqual([message[:2] for message in decoder.feed(data)],
                         [(None, None)] * len(values))
        self.assertEqual(decoder.feed(msgpack.packb({1: 2}))[0][2], {1: 2})

    def test_garbage(self):
        """
        Bytes that are not msgpack raise L{FramingError}.
        """
        self.assertRaises(FramingError, Decoder().feed, b"\xc1")

    def test_tooLarge(self):
        """
        A frame larger than the limit raises L{FramingError}.
        """
        decoder = Decoder(maxBuffer=1024)
        self.assertRaises(FramingError, decoder.feed,
                          msgpack.packb([2, 0, [b"x" * 2048]]))


class EncoderTests(TestCase):
    """
    L{Encoder} packs 3-element messages, text as str, bytes as bin.
    """

    def test_pack(self):
        packed = Encoder().pack(2, 0, [b"\x00", "text"])
        self.assertEqual(packed, b"\x93\x02\x00\x92\xc4\x01\x00\xa4text")

    def test_handshake(self):
        """
        The handshake is the bytes the real framework sends.
        """
        self.assertEqual(Encoder().pack(1, 0, ["uuid-1234"]),
                         b"\x93\x01\x00\x91\xa9uuid-1234")
        self.assertEqual(Encoder().pack(1, 0, []), b"\x93\x01\x00\x90")


class HelperTests(TestCase):
    """
    L{text}, L{parseError}, L{parseArguments} and L{parseLocators}.
    """

    def test_text(self):
        self.assertEqual(text(b"caf\xc3\xa9"), "caf\u00e9")
        self.assertEqual(text(b"\xff"), "\ufffd")
        self.assertEqual(text("x"), "x")
        self.assertEqual(text(12), "12")

    def test_parseError(self):
        self.assertEqual(parseError([[43, 9], b"bad"]), (43, 9, "bad"))
        self.assertEqual(parseError([[43, 9]]), (43, 9, ""))
        self.assertEqual(parseError([])[:2], (0, 0))
        self.assertEqual(parseError([["a", 1], "x"])[:2], (0, 0))

    def test_parseArguments(self):
        """
        Both C{--name value} and C{--name=value} work; unknown arguments and
        a trailing flag without a value are ignored.
        """
        self.assertEqual(
            parseArguments(["--app", "echo", "--endpoint=/x.sock", "-v",
                            "--other", "--locator", "h:1", "--protocol", "1",
                            "--uuid", "U", "--app"]),
            {"app": "echo", "endpoint": "/x.sock", "locator": "h:1",
             "protocol": "1", "uuid": "U"})

    def test_parseLocators(self):
        self.assertEqual(
            parseLocators("127.0.0.1:10053,[::1]:10054, bad, host:0,h:x"),
            [("127.0.0.1", 10053), ("::1", 10054)])
        self.assertEqual(parseLocators(None), [])
