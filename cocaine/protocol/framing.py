# -*- test-case-name: tests.protocol.test_framing -*-
"""
The framing codec: concatenated msgpack arrays on a byte stream.

One L{Decoder} per connection wraps one streaming C{msgpack.Unpacker}; one
L{Encoder} per connection wraps a reused C{msgpack.Packer}. Decoding keeps
every string-like value as bytes (C{raw=True}); encoding writes C{str} as
msgpack str and C{bytes} as msgpack bin.
"""

import sys

import msgpack

from cocaine.errors import FramingError

#: The default limit for one frame or the unparsed buffer: a 64 MiB value
#: plus framing fits.
DEFAULT_MAX_BUFFER = 128 * 1024 * 1024

#: The default limit on the elements of one msgpack array or map (its
#: length header is refused before anything is allocated). L{None} leaves
#: msgpack's own limits, which follow the buffer limit.
DEFAULT_MAX_CONTAINER = None

#: A frame still incomplete past this many bytes has the small objects its
#: parse allocates counted against C{maxObjects} (below it a frame cannot
#: hold more values than bytes).
CAREFUL_BYTES = 64 * 1024

#: A read of at most this many messages is followed by one whose messages
#: are each followed by a look at whether the read is used up (see
#: L{Decoder.feed}).
ENDS_CHECKED = 4


class Decoder:
    """
    Turns chunks of a byte stream into validated messages.

    The size of one frame is bounded as a whole: msgpack parses a frame
    as it arrives and drops the bytes it consumed, so its own buffer limit
    alone would let a frame fed in pieces grow without end (issue 14,
    finding 5). The decoder counts the bytes fed since the start of the
    chunk that completed the last message instead: per chunk, not per
    message, so the count may include the tail of that chunk's last
    complete message and the limit errs on the safe side by at most one
    chunk (a socket read).

    @ivar maxBuffer: the largest frame, in bytes, and the most bytes that
        may wait unparsed.
    @ivar fed: bytes fed so far.
    @ivar frameStart: where the frame being parsed began at the latest:
        the start of the chunk that completed the last message.
    @ivar settled: the end of the chunk that completed the last message;
        bytes fed after it are of a frame not yet complete.
    """

    __slots__ = ("_unpacker", "maxBuffer", "fed", "frameStart", "settled",
                 "maxObjects", "_objects", "_checks")

    def __init__(self, maxBuffer=DEFAULT_MAX_BUFFER, raw=True,
                 maxContainer=DEFAULT_MAX_CONTAINER, maxObjects=None):
        """
        @param raw: keep msgpack str values as bytes (the server side, where
            old clients pack payloads as str); L{False} decodes them as text
            (the client side of our own services, which send payloads as
            bin).
        @param maxContainer: the most elements of one array or map, or
            L{None} for msgpack's default.
        @param maxObjects: the most small values (Python's small-object
            allocations: empty arrays, short strings, ints) the parse of
            one frame larger than L{CAREFUL_BYTES} may make, or L{None}.
            A byte of msgpack can cost 64 bytes of Python objects; this
            bounds what one frame costs rather than its size.
        """
        self.maxBuffer = maxBuffer
        self.maxObjects = maxObjects
        self._objects = None
        self.fed = 0
        self.frameStart = 0
        self.settled = 0
        self._checks = ENDS_CHECKED
        limits = {}
        if maxContainer is not None:
            limits = {"max_array_len": maxContainer,
                      "max_map_len": maxContainer}
        self._unpacker = msgpack.Unpacker(
            raw=raw, strict_map_key=False, use_list=True,
            max_buffer_size=maxBuffer, **limits)

    def drained(self):
        """
        @return: whether every byte fed was parsed: no frame is begun and
            not complete.
        """
        return self._unpacker.tell() == self.fed

    @property
    def partial(self):
        """
        Bytes certainly of a frame begun and not complete: those fed after
        the chunk that completed the last message (0 then).
        """
        return self.fed - self.settled

    def feed(self, data):
        """
        Feed bytes and return the complete messages they finish.

        @return: a list of C{(channel, type, args, headers)} tuples;
            C{headers} is L{None} when the message had none.
        @raise FramingError: the stream holds something that is not a
            message, a frame of more than C{maxBuffer} bytes, or a
            container beyond the element limit; its C{messages} are the
            good ones that came before.
        """
        unpacker = self._unpacker
        try:
            unpacker.feed(data)
        except msgpack.BufferFull:
            raise FramingError(
                "frame larger than the {} byte limit".format(self.maxBuffer))
        start = self.fed
        self.fed = fed = start + len(data)
        objects = self._objects
        if objects is not None:
            before = sys.getallocatedblocks()
        messages = []
        append = messages.append
        try:
            # msgpack ends an iteration with StopIteration, which its
            # compiled code builds with a traceback: ~2,300 instructions,
            # more than a message's parse. Where reads bring few messages,
            # as when a client waits for each answer, the position ends
            # the loop instead (~200 instructions a look); where they
            # bring many, the looks would cost more than they save.
            checks = self._checks
            for value in unpacker:
                # a well-formed message checked inline (a function call
                # per message shows on the node's hot path); anything else
                # through checkMessage, which has the last word
                if type(value) is list:
                    size = len(value)
                    if size == 3:
                        channel, mtype, args = value
                        headers = None
                    elif size == 4:
                        channel, mtype, args, headers = value
                    else:
                        size = 0
                    if (size and type(channel) is int
                            and type(mtype) is int and type(args) is list
                            and channel >= 0 and mtype >= 0):
                        append((channel, mtype, args, headers))
                        if checks:
                            checks -= 1
                            if unpacker.tell() == fed:
                                break
                        continue
                append(checkMessage(value))
        except FramingError as e:
            raise FramingError(str(e), messages)
        except ValueError as e:
            if isinstance(e, msgpack.UnpackException):
                raise FramingError("undecodable bytes ({})".format(
                    type(e).__name__), messages)
            # msgpack refuses a container or string past its limit by its
            # length header, before allocating it
            raise FramingError("frame beyond a size limit ({})".format(e),
                               messages)
        except Exception as e:
            raise FramingError("undecodable bytes ({})".format(
                type(e).__name__), messages)
        self._checks = ENDS_CHECKED if len(messages) <= ENDS_CHECKED else 0
        if messages:
            self.frameStart = start
            self.settled = fed
            self._objects = None
        elif fed - self.frameStart > self.maxBuffer:
            raise FramingError(
                "frame larger than the {} byte limit".format(self.maxBuffer),
                messages)
        elif objects is not None:
            objects += sys.getallocatedblocks() - before
            if objects > self.maxObjects:
                raise FramingError(
                    "frame of more than {} small values".format(
                        self.maxObjects), messages)
            self._objects = objects
        elif (self.maxObjects is not None
                and fed - self.frameStart > CAREFUL_BYTES):
            # a large frame: count what its parse allocates from now on
            self._objects = 0
        return messages


def checkMessage(value):
    """
    Validate one decoded value as a message.

    @return: C{(channel, type, args, headers)}.
    @raise FramingError: when it is not an array of 3 or 4 with integer
        channel and type and an args array.
    """
    if type(value) is list:
        size = len(value)
        if size == 3:
            channel, mtype, args = value
            headers = None
        elif size == 4:
            channel, mtype, args, headers = value
        else:
            raise FramingError("not a message: {}".format(_brief(value)))
        if (type(channel) is int and type(mtype) is int
                and type(args) is list and channel >= 0 and mtype >= 0):
            return (channel, mtype, args, headers)
    raise FramingError("not a message: {}".format(_brief(value)))


def _brief(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Encoder:
    """
    Packs messages with a reused C{msgpack.Packer}.
    """

    __slots__ = ("_pack", "pack")

    def __init__(self):
        #: C{pack(value)}: the bytes of one value (a message is
        #: C{pack([channel, mtype, args])}, one call fewer than L{encode}
        #: on a hot path)
        self.pack = self._pack = msgpack.Packer(use_bin_type=True).pack

    def encode(self, channel, mtype, args):
        """
        @return: the bytes of C{[channel, mtype, args]}.
        """
        return self._pack([channel, mtype, args])

    def encodeWithHeaders(self, channel, mtype, args, headers):
        """
        @return: the bytes of C{[channel, mtype, args, headers]}.
        """
        return self._pack([channel, mtype, args, headers])

    def encodePacked(self, channel, mtype, packedArgs):
        """
        @param packedArgs: the args array, already packed (a message sent
            on many channels is packed once).
        @return: the bytes of C{[channel, mtype, args]}.
        """
        pack = self._pack
        return b"\x93" + pack(channel) + pack(mtype) + packedArgs


def packMessage(pack, channel, mtype, args):
    """
    The bytes of the message C{[channel, mtype, args]}, exactly as C{pack}
    (an L{Encoder}'s) makes them. The messages of a request's and a
    response's streams (a channel, a small type, args of one L{bytes} or
    L{str} value or of none, in a list or a tuple) are made here without
    the packer, their headers in a C array where this module is compiled:
    the packer spends most of its instructions on checking the type of
    each of the five values (docs/performance.md, twentieth round).
    Anything else is C{pack}'s.

    @param pack: the packer's C{pack}, for what is not made here.
    """
    if (type(channel) is int and type(mtype) is int
            and (type(args) is list or type(args) is tuple)
            and 0 <= channel < 0x100000000 and 0 <= mtype < 0x80):
        count = len(args)
        if count == 0:
            return _head(channel, mtype, 0, 0)
        if count == 1:
            value = args[0]
            # (a value longer than msgpack's longest length field is the
            # packer's to refuse)
            if type(value) is bytes:
                if len(value) <= 0xffffffff:
                    return _head(channel, mtype, 0xc4, len(value)) + value
            elif type(value) is str:
                try:
                    data = value.encode("utf-8")
                except UnicodeEncodeError:
                    # the packer's own error, as for any other value
                    return pack([channel, mtype, args])
                if len(data) <= 0xffffffff:
                    return _head(channel, mtype, 0xa0, len(data)) + data
    return pack([channel, mtype, args])


def packClosing(pack, channel, mtype, args, endWith):
    """
    The bytes of the message C{[channel, mtype, args]} and then of
    C{[channel, endWith, []]} (a stream's last chunk and its close), as
    L{packMessage} makes each.
    """
    return (packMessage(pack, channel, mtype, args)
            + packMessage(pack, channel, endWith, []))


def packRequest(pack, channel, mtype, args, chunkType, chunkArgs, endWith):
    """
    The bytes of a whole request: the message C{[channel, mtype, args]}
    (its opening), C{[channel, chunkType, chunkArgs]} (its one chunk) and
    C{[channel, endWith, []]} (its close), as L{packMessage} makes each.
    """
    if (type(channel) is int and 0 <= channel < 0x100000000
            and type(args) is list and len(args) == 1
            and type(args[0]) is str and type(chunkArgs) is list
            and len(chunkArgs) == 1 and type(chunkArgs[0]) is bytes
            and type(mtype) is int and 0 <= mtype < 0x80
            and type(chunkType) is int and 0 <= chunkType < 0x80
            and type(endWith) is int and 0 <= endWith < 0x80):
        # an app's request: an event, a chunk of bytes and the close, in
        # one join (each message on its own costs two joins more)
        try:
            event = args[0].encode("utf-8")
        except UnicodeEncodeError:
            event = None
        value = chunkArgs[0]
        if (event is not None and len(event) <= 0xffffffff
                and len(value) <= 0xffffffff):
            return b"".join((
                _head(channel, mtype, 0xa0, len(event)), event,
                _head(channel, chunkType, 0xc4, len(value)), value,
                _head(channel, endWith, 0, 0)))
    return (packMessage(pack, channel, mtype, args)
            + packMessage(pack, channel, chunkType, chunkArgs)
            + packMessage(pack, channel, endWith, []))


#: The buffer L{_head} writes into where this module is compiled (see
#: there), and whether it is: a fresh C{bytearray} a call cost the
#: compiled app path 3,000 instructions a request (five messages).
_HEAD = bytearray(16)
_HEAD_SHARED = not __file__.endswith(".py")


def _head(channel, mtype, kind, length):
    """
    The start of a message C{[channel, mtype, args]}: its array's marker,
    its channel, its type and its args array's marker, then, for args of
    one value, that value's header.

    @param channel: below C{2 ** 32}.
    @param mtype: below C{0x80}.
    @param kind: 0 for args of none; for one value of C{length} bytes,
        C{0xc4} for bin, C{0xa0} for str (as msgpack packs them with
        C{use_bin_type}, str 8 included).
    """
    # written through a C pointer where compiled, into one buffer: there
    # filling and copying it runs without a bytecode in between, so no
    # other thread comes in; run from source, a buffer of the call's own
    held = _HEAD if _HEAD_SHARED else bytearray(16)
    buf = held
    buf[0] = 0x93
    if channel < 0x80:
        buf[1] = channel
        at = 2
    elif channel < 0x100:
        buf[1] = 0xcc
        buf[2] = channel
        at = 3
    elif channel < 0x10000:
        buf[1] = 0xcd
        buf[2] = channel >> 8
        buf[3] = channel & 0xff
        at = 4
    else:
        buf[1] = 0xce
        buf[2] = channel >> 24
        buf[3] = (channel >> 16) & 0xff
        buf[4] = (channel >> 8) & 0xff
        buf[5] = channel & 0xff
        at = 6
    buf[at] = mtype
    if kind == 0:
        buf[at + 1] = 0x90
        # b"" first: the slice is bytes when compiled (from the pointer), a
        # bytearray when not, and bytes(...) would cost a call
        return b"" + buf[:at + 2]
    buf[at + 1] = 0x91
    at += 2
    if kind == 0xa0 and length < 0x20:
        buf[at] = 0xa0 | length
        return b"" + buf[:at + 1]
    if length < 0x100:
        buf[at] = 0xc4 if kind == 0xc4 else 0xd9
        buf[at + 1] = length
        return b"" + buf[:at + 2]
    if length < 0x10000:
        buf[at] = 0xc5 if kind == 0xc4 else 0xda
        buf[at + 1] = length >> 8
        buf[at + 2] = length & 0xff
        return b"" + buf[:at + 3]
    buf[at] = 0xc6 if kind == 0xc4 else 0xdb
    buf[at + 1] = length >> 24
    buf[at + 2] = (length >> 16) & 0xff
    buf[at + 3] = (length >> 8) & 0xff
    buf[at + 4] = length & 0xff
    return b"" + buf[:at + 5]


def packValue(value):
    """
    Pack one value the way the storage layout wants it (PROTOCOL.md
    section 7): text as str, payloads as bin.
    """
    return msgpack.packb(value, use_bin_type=True)


def unpackValue(data):
    """
    Unpack one stored value, every string-like value as bytes.
    """
    return msgpack.unpackb(data, raw=True, strict_map_key=False)
