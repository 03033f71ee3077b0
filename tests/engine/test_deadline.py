"""
Tests for L{cocaine.engine.deadline}.
"""

import struct

from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.deadline import parseDeadline


class DeadlineHeaderTests(SynchronousTestCase):
    """
    L{parseDeadline} reads the C{request_timeout} header.
    """

    def test_absent(self):
        self.assertIsNone(parseDeadline([]))
        self.assertIsNone(parseDeadline(None))
        self.assertIsNone(parseDeadline([(b"trace_id", b"12345678")]))

    def test_decimalText(self):
        self.assertEqual(parseDeadline([(b"request_timeout", b"1.5")]), 1.5)
        self.assertEqual(parseDeadline([(b"request_timeout", b"30")]), 30.0)

    def test_eightByteMilliseconds(self):
        """
        How the framework packs a number: 8 bytes, little-endian
        milliseconds.
        """
        value = struct.pack("<Q", 2500)
        self.assertEqual(parseDeadline([(b"request_timeout", value)]), 2.5)

    def test_eightDigitsAreText(self):
        self.assertEqual(
            parseDeadline([(b"request_timeout", b"12345678")]), 12345678.0)

    def test_invalid(self):
        for value in (b"soon", b"\xff\xfe", b"", b"-1", b"0"):
            self.assertIsNone(
                parseDeadline([(b"request_timeout", value)]), value)

    def test_eightByteZero(self):
        """
        Zero milliseconds means no deadline, as zero seconds written as
        text does; it must not expire the request at once.
        """
        self.assertIsNone(
            parseDeadline([(b"request_timeout", struct.pack("<Q", 0))]))

    def test_firstHeaderWins(self):
        self.assertEqual(parseDeadline([(b"request_timeout", b"2"),
                                        (b"request_timeout", b"3")]), 2.0)
