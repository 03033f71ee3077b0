# -*- test-case-name: tests.http.test_encoding -*-
"""
Tests for L{cocaine.http.encoding}.
"""

import struct

import msgpack
from twisted.trial.unittest import SynchronousTestCase

from cocaine.http.encoding import (
    BadRequestId, HeadError, packRequest, parseHead, timeoutHeader,
    traceHeaders)


class PackRequestTests(SynchronousTestCase):

    def test_oldSpec(self):
        """
        The request chunk packs every string as an old-spec raw string
        (never bin), which the 0.12 framework expects.
        """
        packed = packRequest(b"POST", b"/a?b", b"1.1",
                             [(b"Host", b"x")], b"\x00\xff")
        self.assertEqual(msgpack.unpackb(packed, raw=True), [
            b"POST", b"/a?b", b"1.1", [[b"Host", b"x"]], b"\x00\xff"])
        # no bin8/16/32 markers for the strings
        self.assertEqual(packed[1:2], b"\xa4")
        self.assertNotIn(b"\xc4\x02", packed)


class HeadersTests(SynchronousTestCase):

    def test_trace(self):
        """
        The first 16 hex digits of X-Request-Id are the trace and span as
        8 little-endian bytes; the parent is 0.
        """
        headers = dict(traceHeaders(b"00000000000000ff0123"))
        self.assertEqual(headers[b"trace_id"], struct.pack("<Q", 255))
        self.assertEqual(headers[b"span_id"], struct.pack("<Q", 255))
        self.assertEqual(headers[b"parent_id"], b"\0" * 8)
        self.assertEqual(headers[b"trace_bit"], b"1")

    def test_badTrace(self):
        """
        A request id that is not hex is refused.
        """
        for value in (b"xyz", b"", b"-1", b"0x12", b" 12"):
            self.assertRaises(BadRequestId, traceHeaders, value)

    def test_timeout(self):
        """
        C{request_timeout} is milliseconds as a little-endian u64.
        """
        self.assertEqual(timeoutHeader(2.5),
                         (b"request_timeout", struct.pack("<Q", 2500)))


class ParseHeadTests(SynchronousTestCase):

    def test_head(self):
        """
        C{[code, [[name, value]]]} in bin or str strings; hop-by-hop headers
        are dropped.
        """
        for binType in (True, False):
            code, headers, endOnEmpty = parseHead(msgpack.packb(
                [201, [["Content-Type", "text/plain"],
                       ["Transfer-Encoding", "chunked"],
                       ["Connection", "close"], [b"X-B", b"\xff"]]],
                use_bin_type=binType))
            self.assertEqual(code, 201)
            self.assertEqual(headers, [(b"Content-Type", b"text/plain"),
                                       (b"X-B", b"\xff")])
            self.assertFalse(endOnEmpty)

    def test_mapAndNumbers(self):
        """
        Headers as a map, and numeric values, are taken too.
        """
        code, headers, _ = parseHead(msgpack.packb(
            [200, {"Content-Length": 3}]))
        self.assertEqual(headers, [(b"Content-Length", b"3")])

    def test_protoVersion(self):
        """
        C{X-Cocaine-HTTP-Proto-Version: 1.1} makes an empty chunk end the
        body.
        """
        self.assertTrue(parseHead(msgpack.packb(
            [200, [["X-Cocaine-HTTP-Proto-Version", "1.1"]]]))[2])

    def test_bad(self):
        """
        Anything else is a L{HeadError}.
        """
        for value in (b"\xc1", msgpack.packb("x"), msgpack.packb([200]),
                      msgpack.packb(["200", []]), msgpack.packb([20, []]),
                      msgpack.packb([200, [["a"]]]),
                      msgpack.packb([200, [["a", "b\r\nX: y"]]]),
                      msgpack.packb([200, [["", "b"]]]),
                      msgpack.packb([200, [[1.5, "b"]]])):
            self.assertRaises(HeadError, parseHead, value)
        self.assertRaises(HeadError, parseHead, "text")
