# -*- test-case-name: tests.protocol.test_framing -*-
"""
The framing codec: concatenated msgpack arrays on a byte stream.

One L{Decoder} per connection wraps one streaming C{msgpack.Unpacker}; one
L{Encoder} per connection wraps a reused C{msgpack.Packer}. Decoding keeps
every string-like value as bytes (C{raw=True}); encoding writes C{str} as
msgpack str and C{bytes} as msgpack bin.
"""

import msgpack

from cocaine.errors import FramingError

#: The default limit for one frame or the unparsed buffer: a 64 MiB value
#: plus framing fits.
DEFAULT_MAX_BUFFER = 128 * 1024 * 1024


class Decoder:
    """
    Turns chunks of a byte stream into validated messages.

    @ivar maxBuffer: bytes that may wait unparsed before the stream is
        declared broken.
    """

    __slots__ = ("_unpacker", "maxBuffer")

    def __init__(self, maxBuffer=DEFAULT_MAX_BUFFER, raw=True):
        """
        @param raw: keep msgpack str values as bytes (the server side, where
            old clients pack payloads as str); L{False} decodes them as text
            (the client side of our own services, which send payloads as
            bin).
        """
        self.maxBuffer = maxBuffer
        self._unpacker = msgpack.Unpacker(
            raw=raw, strict_map_key=False, use_list=True,
            max_buffer_size=maxBuffer)

    def feed(self, data):
        """
        Feed bytes and return the complete messages they finish.

        @return: a list of C{(channel, type, args, headers)} tuples;
            C{headers} is L{None} when the message had none.
        @raise FramingError: the stream holds something that is not a
            message, or more than C{maxBuffer} bytes of one frame; its
            C{messages} are the good ones that came before.
        """
        unpacker = self._unpacker
        try:
            unpacker.feed(data)
        except msgpack.BufferFull:
            raise FramingError(
                "frame larger than the {} byte limit".format(self.maxBuffer))
        messages = []
        append = messages.append
        try:
            for value in unpacker:
                append(checkMessage(value))
        except FramingError as e:
            raise FramingError(str(e), messages)
        except Exception as e:
            raise FramingError("undecodable bytes ({})".format(
                type(e).__name__), messages)
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

    __slots__ = ("_pack",)

    def __init__(self):
        self._pack = msgpack.Packer(use_bin_type=True).pack

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
