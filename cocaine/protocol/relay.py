# -*- test-case-name: tests.protocol.test_relay -*-
"""
Relaying chunk frames without decoding them: a node passes the chunks a
worker streams on to their client with only their channel changed
(L{chunkRun} finds them, L{rechannel} rewrites them, L{emptyAt} finds the
close that ends a stream). Byte loops over typed offsets where compiled
(see L{cocaine.compiled}).
"""

from cocaine.protocol.framing import packMessage


def chunkRun(data, start, limit):
    """
    Find the chunk frames of one channel, in a row from C{start} in
    C{data}, without decoding them: frames C{[channel, 0, [value]]} whose
    value is msgpack bin or str with a length field, each complete and of
    at most C{limit} bytes. These are what an app streams, and a node
    passes them on with only their channel changed (L{rechannel}).

    @param data: L{bytes} read from a peer.
    @param start: where a frame begins in C{data}.
    @param limit: the largest frame to take (the decoder's C{maxBuffer}).
    @return: C{(channel, end, count, incomplete)}: C{count} chunk frames
        of C{channel} fill C{data[start:end]} (C{count} is 0 when the frame
        at C{start} is not one); C{incomplete} says whether the frame at
        C{end} is cut short by the end of C{data} while all of it there
        is of a chunk frame (the rest of it comes with the next read).
    """
    size = len(data)
    pos = start
    count = 0
    runChannel = -1
    incomplete = False
    while pos < size:
        incomplete = True
        if data[pos] != 0x93:
            incomplete = False
            break
        at = pos + 1
        if at >= size:
            break
        marker = data[at]
        if marker < 0x80:
            channel = marker
            width = 0
        else:
            width = _uintWidth(marker)
            if width < 0:
                incomplete = False
                break
            if at + width >= size:
                break
            channel = _bigEndian(data, at + 1, width)
        at += 1 + width
        if at < size and data[at] != 0x00:
            incomplete = False
            break
        if at + 1 < size and data[at + 1] != 0x91:
            incomplete = False
            break
        at += 2
        if at >= size:
            break
        width = _lengthWidth(data[at])
        if width < 0:
            incomplete = False
            break
        if at + width >= size:
            break
        end = at + 1 + width + _bigEndian(data, at + 1, width)
        if end - pos > limit:
            # the decoder refuses it, naming the limit
            incomplete = False
            break
        if runChannel != channel:
            if runChannel != -1:
                # a chunk frame of another channel: the next run's
                incomplete = False
                break
            runChannel = channel
        if end > size:
            break
        pos = end
        count += 1
        incomplete = False
    return (runChannel, pos, count, incomplete)


def emptyAt(data, pos, channel, mtype):
    """
    Whether a message C{[channel, mtype, []]} (a stream's close, say) as
    msgpack packs it begins at C{pos} in C{data}, whole, without decoding
    it.

    @param channel: below C{2 ** 32}.
    @param mtype: below C{0x80}.
    @return: where it ends, or -1 if it is not there.
    """
    size = len(data)
    if pos >= size or data[pos] != 0x93:
        return -1
    at = pos + 1
    if channel < 0x80:
        width = 0
    elif channel < 0x100:
        width = 1
    elif channel < 0x10000:
        width = 2
    else:
        width = 4
    if at + width + 2 >= size:
        return -1
    if width == 0:
        if data[at] != channel:
            return -1
    elif (data[at] != (0xcc, 0xcd, 0, 0xce)[width - 1]
            or _bigEndian(data, at + 1, width) != channel):
        return -1
    at += 1 + width
    if data[at] != mtype or data[at + 1] != 0x90:
        return -1
    return at + 2


def _uintWidth(marker):
    """
    The width of the big-endian integer after a msgpack uint marker, or
    -1 for another marker (a channel of 2 ** 32 or more is decoded).
    """
    if marker == 0xcc:
        return 1
    if marker == 0xcd:
        return 2
    if marker == 0xce:
        return 4
    return -1


def _lengthWidth(marker):
    """
    The width of the length field after a msgpack bin or str marker, or
    -1 for another marker (a fixstr, whose length is in its marker, is
    decoded).
    """
    if marker == 0xc4 or marker == 0xd9:
        return 1
    if marker == 0xc5 or marker == 0xda:
        return 2
    if marker == 0xc6 or marker == 0xdb:
        return 4
    return -1


def _bigEndian(data, at, width):
    """
    The unsigned integer of C{width} bytes at C{at} in C{data}, most
    significant byte first.
    """
    value = 0
    for index in range(at, at + width):
        value = (value << 8) | data[index]
    return value


def _packUint(value):
    """
    The msgpack bytes of a non-negative integer below 2 ** 64, in the
    shortest form, as msgpack packs it.
    """
    if value < 0x80:
        return bytes((value,))
    if value < 0x100:
        return bytes((0xcc, value))
    if value < 0x10000:
        return bytes((0xcd, value >> 8, value & 0xff))
    if value < 0x100000000:
        return b"\xce" + value.to_bytes(4, "big")
    return b"\xcf" + value.to_bytes(8, "big")


def _binHeader(length):
    """
    The msgpack bin header of a value of C{length} bytes, as msgpack packs
    it.
    """
    if length < 0x100:
        return bytes((0xc4, length))
    if length < 0x10000:
        return bytes((0xc5, length >> 8, length & 0xff))
    return bytes((0xc6, length >> 24, (length >> 16) & 0xff,
                  (length >> 8) & 0xff, length & 0xff))


def rechannel(data, start, end, channel, mtype, endWith=-1):
    """
    The chunk frames that L{chunkRun} found in C{data[start:end]}, with
    their channel and type changed to C{channel} and C{mtype} and their
    value as msgpack bin: the bytes C{Encoder} would make of them, without
    decoding them.

    @param endWith: the type of a message without args to make after them
        (a stream's close, as L{packMessage} makes it), or -1 for none.
    @return: L{bytes}.
    """
    prefix = None
    parts = []
    pos = start
    while pos < end:
        # past the array's marker, the channel, the type and the args'
        # marker: the value's marker
        marker = data[pos + 1]
        at = pos + 4 if marker < 0x80 else pos + 4 + _uintWidth(marker)
        marker = data[at]
        width = _lengthWidth(marker)
        length = _bigEndian(data, at + 1, width)
        frameEnd = at + 1 + width + length
        if prefix is None:
            if (frameEnd == end and 0 <= channel < 0x100000000
                    and 0 <= mtype < 0x80):
                # one frame (an echo's answer): made (with its close) as
                # packMessage makes it, its header in a C array where
                # compiled (it never needs the packer for these), without
                # a prefix; a str value (an older msgpack's bytes) goes
                # as bin
                value = (data[at + 1 + width:end],)
                if endWith < 0:
                    return packMessage(None, channel, mtype, value)
                if endWith < 0x80:
                    return (packMessage(None, channel, mtype, value)
                            + packMessage(None, channel, endWith, ()))
            prefix = (b"\x93" + _packUint(channel) + _packUint(mtype)
                      + b"\x91")
        parts.append(prefix)
        if marker >= 0xd9:
            # str (an older msgpack's bytes): as bin, its length field as
            # short as msgpack makes it
            parts.append(_binHeader(length))
            parts.append(data[at + 1 + width:frameEnd])
        else:
            parts.append(data[at:frameEnd])
        pos = frameEnd
    if endWith >= 0:
        parts.append(b"\x93" + _packUint(channel) + _packUint(endWith)
                     + b"\x90")
    return b"".join(parts)
