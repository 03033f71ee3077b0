# -*- test-case-name: tests.mesh.test_amp -*-
"""
The AMP framing of cote's TCP links (amp 0.3.1 and amp-message 0.1.2).

A message is one byte C{(1 << 4) | argc} (argc 1..15), then for each part a
4-byte big-endian length and the bytes. A part is C{s:} + UTF-8 text,
C{j:} + JSON, or raw bytes. L{AMPDecoder} is a pure incremental decoder (no
I/O), L{encode} and L{pack} the matching encoders, L{AMPProtocol} a thin
Twisted protocol over them.

How connections write is L{cocaine.mesh.writes}. Connections set
C{TCP_NODELAY}, as axon's do: with Nagle, a second small write waits for
the peer's ACK.
"""

import json
import struct

from twisted.internet.protocol import Protocol
from twisted.logger import Logger

from cocaine import errors
from cocaine.mesh.writes import Backlog, batch

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
#: The header byte of a message, by its number of parts.
_HEADERS = [bytes([(VERSION << 4) | argc]) for argc in range(MAX_ARGS + 1)]
_NULL = _LENGTH.pack(6) + b"j:null"


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
        raise FramingError(
            "an AMP message carries 1 to 15 parts, not {}".format(argc))
    chunks = [_HEADERS[argc]]
    for part in parts:
        chunks.append(_LENGTH.pack(len(part)))
        chunks.append(part)
    return b"".join(chunks)


def _makeEncoder():
    # json.dumps builds a JSONEncoder and a C encoder on every call, which
    # cost more than encoding a small request; build the C encoder once,
    # with the settings of json.dumps(value, separators=(",", ":")).
    try:
        from json.encoder import c_make_encoder, encode_basestring_ascii
    except ImportError:  # pragma: no cover (CPython always has it)
        c_make_encoder = None
    if c_make_encoder is None:  # pragma: no cover
        return None
    default = json.JSONEncoder().default
    return c_make_encoder(None, default, encode_basestring_ascii, None,
                          ":", ",", False, False, True)


_cEncoder = _makeEncoder()
_scanJSON = json.JSONDecoder().scan_once
_PLAIN_JSON = {dict, list, int, float, bool}


def _dumps(value):
    """
    C{json.dumps(value, separators=(",", ":"))} as bytes, without building
    an encoder per call.
    """
    if _cEncoder is not None and type(value) in _PLAIN_JSON:
        try:
            return "".join(_cEncoder(value, 0)).encode("ascii")
        except (TypeError, ValueError, RecursionError):
            # e.g. a circular structure: json.dumps raises saying what is
            # wrong
            pass
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _loads(text):
    """
    C{json.loads(text)}, skipping its whitespace handling when there is
    none (the usual case: cote writes C{JSON.stringify} output).
    """
    try:
        value, end = _scanJSON(text, 0)
    except (StopIteration, ValueError):
        end = -1
    if end == len(text):
        return value
    return json.loads(text)


def packArgument(value):
    """
    Encode one value as amp-message does: L{bytes} raw, L{str} as C{s:},
    anything else as C{j:} JSON.
    """
    if value is None:
        return b"j:null"
    kind = type(value)
    if kind is str:
        return b"s:" + value.encode("utf-8")
    if kind is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return b"s:" + value.encode("utf-8")
    return b"j:" + _dumps(value)


def unpackArgument(part):
    """
    Decode one part as amp-message does (the inverse of L{packArgument}).
    C{j:undefined}, which Node writes for an undefined value, decodes to
    L{None}.
    """
    tag = part[:2]
    if tag == b"s:":
        return part[2:].decode("utf-8")
    if tag == b"j:":
        body = part[2:]
        if body == b"undefined":
            return None
        text = body.decode("utf-8")
        try:
            return _loads(text)
        except ValueError as e:
            raise FramingError("bad JSON part: {}".format(e))
    return bytes(part)


def pack(args):
    """
    Encode values into one AMP message (amp-message's C{toBuffer}): the
    same bytes as C{encode([packArgument(a) for a in args])}, with one
    copy of each text instead of three.
    """
    if type(args) is not list and type(args) is not tuple:
        args = list(args)
    argc = len(args)
    if not 1 <= argc <= MAX_ARGS:
        raise FramingError(
            "an AMP message carries 1 to 15 parts, not {}".format(argc))
    chunks = [_HEADERS[argc]]
    append = chunks.append
    length = _LENGTH.pack
    for value in args:
        if value is None:
            append(_NULL)
            continue
        kind = type(value)
        if kind is str:
            data = value.encode("utf-8")
            append(length(len(data) + 2))
            append(b"s:")
        elif kind is bytes:
            data = value
            append(length(len(data)))
        else:
            data = packArgument(value)
            append(length(len(data)))
        append(data)
    return b"".join(chunks)


class AMPDecoder:
    """
    An incremental decoder: feed it bytes in any chunking, get whole
    messages (lists of raw parts) back in order.

    @ivar maxMessage: the bound on one message's size in bytes.
    """

    def __init__(self, maxMessage=DEFAULT_MAX_MESSAGE):
        self.maxMessage = maxMessage
        self._buffer = bytearray()
        # how many buffered bytes the message at the buffer's start needs
        # before parsing it again can make progress
        self._need = 0
        self._failed = None

    def feed(self, data):
        """
        Add bytes and return the list of messages they complete.

        @raise FramingError: on a bad header byte, and for good after it.
        @raise MessageTooLarge: when a message exceeds C{maxMessage}.
        """
        if self._failed is not None:
            raise self._failed
        if self._buffer:
            self._buffer += data
            if len(self._buffer) < self._need:
                return []
            data = bytes(self._buffer)
        elif type(data) is not bytes:
            data = bytes(data)
        messages = []
        try:
            offset = self._parse(data, messages)
        except FramingError as e:
            e.messages = messages
            self._failed = type(e)(str(e))
            raise
        if offset == len(data):
            if self._buffer:
                self._buffer = bytearray()
        else:
            self._buffer = bytearray(data[offset:])
        return messages

    def _parse(self, data, messages):
        """
        Append the whole messages of C{data} to C{messages}; return where
        the first incomplete one starts (and note what it needs).
        """
        size = len(data)
        maxMessage = self.maxMessage
        unpack = _LENGTH.unpack_from
        start = 0
        while start < size:
            head = data[start]
            if head >> 4 != VERSION or not head & 0x0F:
                raise FramingError(
                    "bad AMP header byte 0x{:02x}".format(head))
            offset = start + 1
            parts = []
            for _ in range(head & 0x0F):
                if size < offset + 4:
                    self._need = offset + 4 - start
                    return start
                (length,) = unpack(data, offset)
                offset += 4
                if offset + length - start > maxMessage:
                    raise MessageTooLarge(
                        "AMP message larger than the bound of {} bytes"
                        .format(maxMessage)
                    )
                if size < offset + length:
                    self._need = offset + length - start
                    return start
                parts.append(data[offset : offset + length])
                offset += length
            messages.append(parts)
            start = offset
        self._need = 0
        return start


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
        setNoDelay = getattr(self.transport, "setTcpNoDelay", None)
        if setNoDelay is not None:
            try:
                setNoDelay(True)
            except OSError:
                pass

    def dataReceived(self, data):
        batch.begin()
        try:
            failure = None
            try:
                messages = self._decoder.feed(data)
            except FramingError as e:
                failure, messages = e, e.messages
            self._handle(messages)
            if failure is not None:
                self.log.warn("dropping {peer}: {error}",
                              peer=self.transport.getPeer(),
                              error=str(failure))
                batch.flush(self.transport)
                self.transport.abortConnection()
        finally:
            batch.end()

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
        self._sendPacked(pack(args))

    def _sendPacked(self, data):
        """
        Write one already framed message (see L{pack}), e.g. the same
        publication to many connections.
        """
        backlog = self._backlog
        if backlog is not None and backlog.queue is not None:
            backlog.queue.append(data)
        elif batch.depth or not Backlog.needed(self.transport, len(data)):
            batch.write(self.transport, data)
        else:
            if backlog is None:
                backlog = self._backlog = Backlog(self.transport)
            backlog.write(data)

    _backlog = None

    def messageReceived(self, args, parts):
        """
        Called with each message's decoded arguments and raw parts.
        """
        raise NotImplementedError()
