# -*- test-case-name: tests.http.test_encoding -*-
"""
The HTTP convention on the wire, gateway side (SERVICES-0.12.md section 2,
PROTOCOL.md section 8).

Request: one chunk, msgpack C{[method, uri, version, [[name, value], ...],
body]} in old-spec raw strings (C{use_bin_type=False}), as the 0.12
framework's C{@http} expects. Response: a first chunk C{[code, [[name,
value], ...]]}, then raw body chunks, then close.

Cocaine headers of the session (HPACK names): C{trace_id}, C{span_id} and
C{parent_id} from C{X-Request-Id} (its first 16 hex digits as a 64-bit
number, 8 bytes little-endian, as the framework packs them; the span is the
trace, the parent 0, as the tornado proxy does), C{trace_bit},
C{authorization} from C{Authorization}, and C{request_timeout} (8 bytes,
little-endian milliseconds, as the Rust proxy sends it).
"""

import struct

import msgpack

#: Response headers of the app that the server sets itself.
HOP_BY_HOP = frozenset([
    b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer",
    b"upgrade", b"proxy-connection", b"date"])

#: With this response header set to C{1.1}, an empty body chunk ends the
#: response too (the tornado proxy's convention).
PROTO_VERSION_HEADER = b"x-cocaine-http-proto-version"


class HeadError(ValueError):
    """
    The app's first chunk is not C{[code, [[name, value], ...]]}.
    """


class BadRequestId(ValueError):
    """
    An C{X-Request-Id} that is not hexadecimal.
    """


_packer = msgpack.Packer(use_bin_type=False)


def packRequest(method, uri, version, headers, body):
    """
    @param headers: C{[(name, value)]} bytes, in order.
    @return: the bytes of the request chunk.
    """
    return _packer.pack([method, uri, version,
                         [[name, value] for name, value in headers], body])


_HEX = b"0123456789abcdefABCDEF"


def _u64(value):
    return struct.pack("<Q", value)


def traceHeaders(requestId):
    """
    The tracing headers of an C{X-Request-Id} value.

    @param requestId: the header's bytes.
    @raise BadRequestId: not hexadecimal.
    """
    digits = requestId[:16]
    if not digits or digits.strip(_HEX):
        raise BadRequestId("X-Request-Id {!r} is not hexadecimal".format(
            digits.decode("latin-1")))
    trace = int(digits, 16)
    return [(b"trace_id", _u64(trace)), (b"span_id", _u64(trace)),
            (b"parent_id", _u64(0)), (b"trace_bit", b"1")]


def timeoutHeader(seconds):
    """
    The C{request_timeout} header for C{seconds}.
    """
    return (b"request_timeout", _u64(max(1, int(round(seconds * 1000)))))


def _bytes(value, what):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode("ascii")
    raise HeadError("{} is {}, not a string".format(what,
                                                    type(value).__name__))


def parseHead(chunk):
    """
    Decode the app's first response chunk.

    @return: C{(code, headers, endOnEmpty)}: the status, the headers to
        send (C{[(name, value)]} bytes, hop-by-hop ones dropped, a value
        with a line break refused) and whether an empty chunk ends the
        body.
    @raise HeadError: it is not C{[code, [[name, value], ...]]}.
    """
    if not isinstance(chunk, (bytes, bytearray)):
        raise HeadError("the first chunk is {}, not bytes".format(
            type(chunk).__name__))
    try:
        value = msgpack.unpackb(chunk, raw=True, strict_map_key=False)
    except Exception as e:
        raise HeadError("the first chunk is not msgpack ({})".format(
            type(e).__name__))
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise HeadError("the first chunk is not [code, headers]")
    code, pairs = value
    if (type(code) is not int or not 100 <= code <= 999
            or not isinstance(pairs, (list, tuple, dict))):
        raise HeadError("the first chunk is not [code, headers]")
    if isinstance(pairs, dict):
        pairs = list(pairs.items())
    headers = []
    endOnEmpty = False
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise HeadError("a header is not [name, value]")
        name = _bytes(pair[0], "a header name")
        value = _bytes(pair[1], "a header value")
        if (b"\r" in name or b"\n" in name or b":" in name or not name
                or b"\r" in value or b"\n" in value):
            raise HeadError("header {!r} has a line break or no name"
                            .format(name))
        lowered = name.lower()
        if lowered in HOP_BY_HOP:
            continue
        if lowered == PROTO_VERSION_HEADER and value.strip() == b"1.1":
            endOnEmpty = True
        headers.append((name, value))
    return code, headers, endOnEmpty
