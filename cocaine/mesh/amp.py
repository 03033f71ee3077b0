# -*- test-case-name: tests.mesh.test_amp -*-
"""
The AMP framing of cote's TCP links (amp 0.3.1 and amp-message 0.1.2).

A message is one byte C{(1 << 4) | argc} (argc 1..15), then for each part a
4-byte big-endian length and the bytes. A part is C{s:} + UTF-8 text,
C{j:} + JSON, or raw bytes. L{AMPDecoder} is a pure incremental decoder (no
I/O), L{encode} and L{pack} the matching encoders, L{AMPProtocol} a thin
Twisted protocol over them.
"""

import json
import struct

from twisted.internet.protocol import Protocol
from twisted.logger import Logger

from cocaine import errors

__all__ = [
    "VERSION",
    "MAX_ARGS",
    "DEFAULT_MAX_MESSAGE",
    "FramingError",
    "MessageTooLarge",
    "AMPDecoder",
    "AMPProtocol",
    "encode",
    "pack",
    "packArgument",
    "unpackArgument",
]

#: The protocol version carried in the high nibble of the first byte.
VERSION = 1
#: The most parts one message can carry.
MAX_ARGS = 15
#: Default bound on one message (all parts and their headers), in bytes.
DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024

_LENGTH = struct.Struct(">I")


class FramingError(errors.FramingError):
    """
    The byte stream is not valid AMP; the connection cannot be resynchronised.

    @ivar messages: the whole messages decoded before the error in the same
        chunk, still to be handled.
    """


class MessageTooLarge(FramingError):
    """
    A message is larger than the configured bound.
    """


def encode(parts):
    """
    Frame raw parts into one AMP message.

    @param parts: a sequence of 1..15 L{bytes}.
    @rtype: L{bytes}
    """
    argc = len(parts)
    if not 1 <= argc <= MAX_ARGS:
        raise FramingError("an AMP message carries 1 to 15 parts, not %d" % (argc,))
    chunks = [bytes([(VERSION << 4) | argc])]
    for part in parts:
        chunks.append(_LENGTH.pack(len(part)))
        chunks.append(part)
    return b"".join(chunks)


def packArgument(value):
    """
    Encode one value as amp-message does: L{bytes} raw, L{str} as C{s:},
    anything else as C{j:} JSON.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return b"s:" + value.encode("utf-8")
    return b"j:" + json.dumps(value, separators=(",", ":")).encode("utf-8")


def unpackArgument(part):
    """
    Decode one part as amp-message does (the inverse of L{packArgument}).
    C{j:undefined}, which Node writes for an undefined value, decodes to
    L{None}.
    """
    if part[:2] == b"s:":
        return part[2:].decode("utf-8")
    if part[:2] == b"j:":
        body = part[2:]
        if body == b"undefined":
            return None
        try:
            return json.loads(body.decode("utf-8"))
        except ValueError as e:
            raise FramingError("bad JSON part: %s" % (e,))
    return bytes(part)


def pack(args):
    """
    Encode values into one AMP message (amp-message's C{toBuffer}).
    """
    return encode([packArgument(a) for a in args])


class AMPDecoder:
    """
    An incremental decoder: feed it bytes in any chunking, get whole
    messages (lists of raw parts) back in order.

    @ivar maxMessage: the bound on one message's size in bytes.
    """

    def __init__(self, maxMessage=DEFAULT_MAX_MESSAGE):
        self.maxMessage = maxMessage
        self._buffer = bytearray()
        self._failed = None

    def feed(self, data):
        """
        Add bytes and return the list of messages they complete.

        @raise FramingError: on a bad header byte, and for good after it.
        @raise MessageTooLarge: when a message exceeds C{maxMessage}.
        """
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        messages = []
        try:
            while True:
                message = self._next()
                if message is None:
                    return messages
                messages.append(message)
        except FramingError as e:
            e.messages = messages
            self._failed = type(e)(str(e))
            raise

    def _next(self):
        buf = self._buffer
        if not buf:
            return None
        head = buf[0]
        version, argc = head >> 4, head & 0x0F
        if version != VERSION or argc == 0:
            raise FramingError("bad AMP header byte 0x%02x" % (head,))
        offset = 1
        parts = []
        for _ in range(argc):
            if len(buf) < offset + 4:
                return None
            (length,) = _LENGTH.unpack_from(buf, offset)
            offset += 4
            if offset + length > self.maxMessage:
                raise MessageTooLarge(
                    "AMP message larger than the bound of %d bytes" % (self.maxMessage,)
                )
            if len(buf) < offset + length:
                return None
            parts.append(bytes(buf[offset : offset + length]))
            offset += length
        del buf[:offset]
        return parts


class AMPProtocol(Protocol):
    """
    A connection carrying AMP messages; subclasses implement
    L{messageReceived} with the decoded arguments. A framing error drops
    the connection.
    """

    log = Logger()
    maxMessage = DEFAULT_MAX_MESSAGE

    def connectionMade(self):
        self._decoder = AMPDecoder(self.maxMessage)

    def dataReceived(self, data):
        failure = None
        try:
            messages = self._decoder.feed(data)
        except FramingError as e:
            failure, messages = e, e.messages
        self._handle(messages)
        if failure is not None:
            self.log.warn("dropping {peer}: {error}", peer=self.transport.getPeer(),
                          error=str(failure))
            self.transport.abortConnection()

    def _handle(self, messages):
        for parts in messages:
            try:
                args = [unpackArgument(p) for p in parts]
            except (FramingError, UnicodeDecodeError) as e:
                self.log.warn("ignoring a bad message from {peer}: {error}",
                              peer=self.transport.getPeer(), error=str(e))
                continue
            self.messageReceived(args, parts)

    def sendMessage(self, args):
        """
        Write one message of values (see L{packArgument}).
        """
        self.transport.write(pack(args))

    def messageReceived(self, args, parts):
        """
        Called with each message's decoded arguments and raw parts.
        """
        raise NotImplementedError()
