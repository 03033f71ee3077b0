# -*- test-case-name: tests.worker.test_protocol -*-
"""
The worker's side of the native protocol, without I/O (PROTOCOL.md sections
1, 4 and 6): the message codec, the numbers a worker sends and the command
line the runtime starts a worker with.

This module deliberately does not use L{cocaine.protocol.framing}: that
module imports L{cocaine.errors}, which imports Twisted, and a worker must
stay small (Twisted alone costs an idle worker about 30 MB of memory).
"""

import msgpack

#: The control channel, opened by the handshake.
CONTROL_CHANNEL = 1

#: Message types on the control channel.
HEARTBEAT = 0
TERMINATE = 1

#: Message types on a session channel, in both directions. An invoke is
#: type 0 on a channel the worker has not seen yet.
INVOKE = 0
CHUNK = 0
ERROR = 1
CLOSE = 2

#: Error category of the worker framework (what the real Cocaine framework
#: sends for its own failures).
FRAMEWORK_CATEGORY = 42
#: Error category of errors chosen by application code.
USER_CATEGORY = 43

#: Framework code: a handler raised an exception.
UNCAUGHT_EXCEPTION = 100
#: Framework code: no handler is registered for the invoked event.
NO_HANDLER = 200
#: Framework code (ours): the worker is terminating; the session was
#: invoked after the terminate, or its handler did not finish within the
#: grace period.
TERMINATING = 300

#: Terminate codes.
TERMINATE_NORMAL = 1
TERMINATE_ABNORMAL = 2

#: The largest frame or unparsed buffer accepted from the runtime.
MAX_BUFFER = 128 * 1024 * 1024


class FramingError(Exception):
    """
    The byte stream from the runtime is not msgpack, or a frame is larger
    than the limit: the connection can no longer be trusted.
    """


def text(value):
    """
    Turn a field the protocol declares as text into L{str}.

    @param value: L{bytes} (every string arrives as bytes, since the codec
        decodes with C{raw=True}), L{str} or anything else.
    @return: the UTF-8 decoding of C{value} (undecodable bytes replaced),
        C{value} itself when it is already a L{str}, or C{str(value)}.
    """
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return str(value)


class Decoder:
    """
    Turns chunks of the runtime's byte stream into messages.

    Every string-like value stays L{bytes} (C{raw=True}): payloads must not
    be touched, and the fields declared as text are converted with L{text}
    by whoever reads them.
    """

    __slots__ = ("_unpacker",)

    def __init__(self, maxBuffer=MAX_BUFFER):
        """
        @param maxBuffer: bytes that may wait unparsed before the stream is
            declared broken.
        """
        self._unpacker = msgpack.Unpacker(
            raw=True, strict_map_key=False, use_list=True,
            max_buffer_size=maxBuffer)

    def feed(self, data):
        """
        Feed bytes and return what they complete.

        @return: a list of C{(channel, type, args)} tuples, in stream order.
            A complete msgpack value that is not a message (not an array of
            at least 3 whose channel and type are non-negative integers and
            whose args are an array) appears as C{(None, None, value)} so
            the caller can log it and go on; a 4th element (headers) and
            anything after it is dropped.
        @raise FramingError: the bytes are not msgpack or a frame is over
            the limit.
        """
        unpacker = self._unpacker
        try:
            unpacker.feed(data)
        except msgpack.BufferFull:
            raise FramingError("frame larger than the buffer limit")
        messages = []
        try:
            for value in unpacker:
                messages.append(_message(value))
        except FramingError:
            raise
        except Exception as error:
            raise FramingError("undecodable stream: {}: {}".format(
                type(error).__name__, error))
        return messages


def _message(value):
    """
    Validate one decoded value as a message.

    @return: C{(channel, type, args)}, or C{(None, None, value)} when
        C{value} is not a message.
    """
    if isinstance(value, list) and len(value) >= 3:
        channel, kind, args = value[0], value[1], value[2]
        if (type(channel) is int and type(kind) is int and channel >= 0
                and kind >= 0 and isinstance(args, list)):
            return channel, kind, args
    return None, None, value


class Encoder:
    """
    Packs the worker's messages: always 3-element C{[channel, type, args]}
    (the real framework never sends headers), L{str} as msgpack str and
    L{bytes} as msgpack bin.
    """

    __slots__ = ("_packer",)

    def __init__(self):
        self._packer = msgpack.Packer(use_bin_type=True, autoreset=True)

    def pack(self, channel, kind, args):
        """
        @return: the bytes of C{[channel, kind, args]}.
        """
        return self._packer.pack([channel, kind, args])


def errorArgs(category, code, message):
    """
    @return: the args of an C{error} message: C{[[category, code], message]}.
    """
    return [[category, code], message]


def parseError(args):
    """
    Read the args of an C{error} message, tolerating malformed ones.

    @param args: C{[[category, code], message?]} as decoded.
    @return: C{(category, code, message)} with C{message} a L{str}; a shape
        that does not fit gives category and code 0 and a message showing
        what arrived.
    """
    try:
        (category, code) = args[0]
        if type(category) is not int or type(code) is not int:
            raise TypeError()
    except Exception:
        return 0, 0, "malformed error {!r}".format(args)
    message = text(args[1]) if len(args) > 1 else ""
    return category, code, message


#: The flags the runtime passes (PROTOCOL.md section 6).
FLAGS = ("app", "endpoint", "locator", "protocol", "uuid")


def parseArguments(argv):
    """
    Parse a worker's command line as the real framework does, but
    leniently.

    Both C{--name value} and C{--name=value} are accepted; unknown
    arguments are ignored, as is a flag in last position without a value.

    @param argv: the arguments, without the program name.
    @return: a L{dict} with the keys of L{FLAGS} that were given.
    """
    found = {}
    index = 0
    while index < len(argv):
        argument = argv[index]
        index += 1
        if not argument.startswith("--"):
            continue
        name, equals, value = argument[2:].partition("=")
        if name not in FLAGS:
            continue
        if not equals:
            if index >= len(argv):
                break
            value = argv[index]
            index += 1
        found[name] = value
    return found


def parseLocators(value):
    """
    Parse a C{--locator} value: comma separated C{host:port} endpoints,
    IPv6 hosts in brackets (C{[::1]:10053}).

    @return: a L{list} of C{(host, port)}; parts that do not parse are
        skipped.
    """
    endpoints = []
    for part in (value or "").split(","):
        part = part.strip()
        host, colon, port = part.rpartition(":")
        if not colon or not host:
            continue
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            number = int(port)
        except ValueError:
            continue
        if 0 < number < 65536:
            endpoints.append((host, number))
    return endpoints
