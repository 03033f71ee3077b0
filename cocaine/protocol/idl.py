# -*- test-case-name: tests.protocol.test_idl -*-
"""
The declarative protocol description.

A service declares its protocol once, as a L{Protocol} of L{Message}s. From
that one declaration come the dispatch graph that C{resolve} returns
(L{Protocol.graph}), the server's dispatch (L{cocaine.rpc.server}) and the
client's methods (L{cocaine.client}), so the three can never disagree.
"""

from operator import call


class _Terminal:
    """
    The transition after which nothing more is accepted (encoded C{{}}).
    """

    #: no stream chunk is allowed after it (see L{Protocol.streamWrite})
    streamWrite = None

    def __repr__(self):
        return "TERMINAL"


#: After this message nothing more is accepted on that side of the channel.
TERMINAL = _Terminal()

#: After this message the same protocol still applies (encoded C{nil}).
RECURRENT = None


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise TypeError("a string")


def _blob(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError("binary data")


def _int(value):
    if type(value) is int:
        return value
    raise TypeError("an integer")


def _list(value):
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError("an array")


def _textList(value):
    if not isinstance(value, (list, tuple)):
        raise TypeError("an array of strings")
    try:
        return [_text(item) for item in value]
    except TypeError:
        raise TypeError("an array of strings")


def _map(value):
    if isinstance(value, dict):
        return value
    raise TypeError("a map")


def _any(value):
    return value


#: Argument kinds and their converters. A converter takes a decoded value
#: (every string-like value arrives as bytes) and returns the Python value a
#: handler receives, or raises C{TypeError("what was expected")}.
KINDS = {
    "str": _text,
    "bytes": _blob,
    "int": _int,
    "list": _list,
    "strings": _textList,
    "map": _map,
    "any": _any,
}


class Arg:
    """
    One declared argument.

    @ivar name: for error messages and documentation.
    @ivar kind: a key of L{KINDS}.
    @ivar optional: trailing optional arguments may be omitted.
    """

    __slots__ = ("name", "kind", "optional", "convert")

    def __init__(self, name, kind="any", optional=False):
        if kind not in KINDS:
            raise ValueError("unknown argument kind {!r}".format(kind))
        self.name = name
        self.kind = kind
        self.optional = optional
        self.convert = KINDS[kind]

    def __repr__(self):
        return "Arg({!r}, {!r}{})".format(
            self.name, self.kind, ", optional=True" if self.optional else "")


class Message:
    """
    One message of a protocol.

    @ivar name: the name clients look up.
    @ivar args: declared arguments, or L{None} to accept any.
    @ivar dispatch: what the sender may send next on the channel:
        L{RECURRENT}, L{TERMINAL} or a L{Protocol}.
    @ivar upstream: for root messages, the protocol the receiver answers
        with: a L{Protocol}, or L{TERMINAL} for a mute message.
    @ivar method: the handler's method name on a service implementation.
    @ivar headers: the handler receives the message's decoded headers as a
        C{headers} keyword argument (a list of C{(name, value)} bytes pairs).
    """

    __slots__ = ("name", "args", "dispatch", "upstream", "method",
                 "headers", "_required", "_plain", "asIs", "_converters")

    def __init__(self, name, args=None, dispatch=TERMINAL, upstream=None,
                 method=None, headers=False):
        self.name = name
        self.headers = headers
        self.args = None if args is None else tuple(args)
        self.dispatch = dispatch
        self.upstream = upstream
        self.method = method or _camel(name)
        if self.args is None:
            self._required = 0
            self._converters = ()
        else:
            self._required = sum(1 for a in self.args if not a.optional)
            self._converters = tuple(a.convert for a in self.args)
        # nothing to convert (a stream's chunk, say): only count and trim
        self._plain = self.args is not None and all(
            a.kind == "any" for a in self.args)
        #: C{(fewest, most)}: an args array of that many values is its own
        #: conversion (L{convertArgs} would return it as it is), checked
        #: inline on hot paths; L{None} when values need converting
        self.asIs = (self._required, len(self.args)) if self._plain else None

    def convertArgs(self, values, where=""):
        """
        Check and convert the arguments of a received message. Fewer than
        the required ones is an error; trailing ones beyond the declared
        ones are ignored, as Cocaine 0.12 does.

        @param values: the decoded args array.
        @param where: prefix for error messages (C{"storage.read"}).
        @return: the list of converted values.
        @raise cocaine.errors.InvalidArgument: naming the argument and what
            was expected.
        """
        spec = self.args
        if spec is None:
            return values
        count = len(values)
        if self._plain and count >= self._required:
            return values if count <= len(spec) else values[:len(spec)]
        if count < self._required:
            # As Cocaine 0.12 (core's traits/tuple.hpp): too few is an
            # error, extra trailing arguments are dropped (the zip below).
            from cocaine.errors import InvalidArgument
            raise InvalidArgument(
                "{}: expected {} argument{}, got {}".format(
                    where or self.name, _expected(self._required, len(spec)),
                    "" if len(spec) == 1 else "s", count))
        try:
            if count == 1:
                # one value (an app's enqueue: its event): one call, no
                # map and no list of it
                return [self._converters[0](values[0])]
            # every argument converted in C (map stops at the shorter of
            # the two, as the zip below does); an error is found and
            # named below
            return list(map(call, self._converters, values))
        except (TypeError, UnicodeDecodeError):
            pass
        result = []
        for arg, value in zip(spec, values):
            try:
                result.append(arg.convert(value))
            except (TypeError, UnicodeDecodeError) as e:
                from cocaine.errors import InvalidArgument
                raise InvalidArgument(
                    "{}: argument {!r} must be {}, got {}".format(
                        where or self.name, arg.name,
                        e.args[0] if isinstance(e, TypeError)
                        else "valid UTF-8 text", _describe(value)))
        return result

    def __repr__(self):
        return "Message({!r})".format(self.name)


class Protocol:
    """
    An ordered set of messages; a message's id is its position.
    """

    __slots__ = ("name", "messages", "byName", "_graph", "streamWrite",
                 "streamClose")

    def __init__(self, name, messages):
        self.name = name
        self.messages = tuple(messages)
        self.byName = {m.name: (i, m) for i, m in enumerate(self.messages)}
        if len(self.byName) != len(self.messages):
            raise ValueError("duplicate message names in " + name)
        self._graph = None
        #: the id of a C{write} after which this protocol still applies (a
        #: stream's chunk, sent on the hot path of every stream), or
        #: L{None}
        self.streamWrite = None
        entry = self.byName.get("write")
        if entry is not None and entry[1].dispatch is RECURRENT:
            self.streamWrite = entry[0]
        #: the id of a C{close} that ends the stream (sent once per
        #: request an app answers), or L{None}
        self.streamClose = None
        entry = self.byName.get("close")
        if entry is not None and entry[1].dispatch is TERMINAL:
            self.streamClose = entry[0]

    def __getitem__(self, index):
        return self.messages[index]

    def get(self, index):
        """
        The message with that id, or L{None}.
        """
        if 0 <= index < len(self.messages):
            return self.messages[index]
        return None

    def idOf(self, name):
        """
        The id of the message called C{name}, or L{None}.
        """
        entry = self.byName.get(name)
        return None if entry is None else entry[0]

    def graph(self):
        """
        The root dispatch graph as C{resolve} returns it:
        C{{id: [name, dispatch, upstream]}}.
        """
        if self._graph is None:
            self._graph = {
                i: [m.name, _encode(m.dispatch), _encode(
                    PRIMITIVE if m.upstream is None else m.upstream)]
                for i, m in enumerate(self.messages)}
        return self._graph

    def nested(self):
        """
        This protocol as a transition target: C{{id: [name, transition]}}.
        """
        return {i: [m.name, _encode(m.dispatch)]
                for i, m in enumerate(self.messages)}

    def __repr__(self):
        return "Protocol({!r})".format(self.name)

    @classmethod
    def fromGraph(cls, name, graph):
        """
        Rebuild a root protocol from a decoded dispatch graph (what
        C{resolve} returned), for the client side.

        @raise ValueError: when the graph is not shaped like one.
        """
        try:
            return cls(name, _decodeRoot(graph))
        except TypeError as e:
            # A name that is not a string, or message ids of mixed types.
            raise ValueError("not a dispatch graph: {}".format(e))


def _encode(transition):
    if transition is RECURRENT:
        return None
    if transition is TERMINAL:
        return {}
    return transition.nested()


def _decodeTransition(value):
    if value is None:
        return RECURRENT
    if not isinstance(value, dict):
        raise ValueError("a transition must be nil or a map")
    if not value:
        return TERMINAL
    protocol = Protocol("nested", _decodeMessages(value, nested=True))
    return _WELL_KNOWN.get(_shape(protocol), protocol)


def _shape(protocol):
    return tuple((m.name, _shapeOf(m.dispatch)) for m in protocol.messages)


def _shapeOf(transition):
    if transition is RECURRENT:
        return "nil"
    if transition is TERMINAL:
        return "{}"
    return _shape(transition)


def _decodeMessages(graph, nested):
    if not isinstance(graph, dict):
        raise ValueError("a protocol must be a map")
    messages = []
    for expected, key in enumerate(sorted(graph)):
        if key != expected:
            raise ValueError("message ids must be 0..n-1")
        entry = graph[key]
        if not isinstance(entry, (list, tuple)) or len(entry) < 2:
            raise ValueError("message {} is not [name, ...]".format(key))
        name = _text(entry[0])
        if nested:
            messages.append(Message(name, dispatch=_decodeTransition(
                entry[1])))
        else:
            upstream = _decodeTransition(entry[2]) if len(entry) > 2 else (
                PRIMITIVE)
            if upstream is RECURRENT:
                upstream = PRIMITIVE
            messages.append(Message(name, dispatch=_decodeTransition(
                entry[1]), upstream=upstream))
    return messages


def _decodeRoot(graph):
    return _decodeMessages(graph, nested=False)


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _expected(required, total):
    if required == total:
        return str(total)
    return "{} to {}".format(required, total)


def _describe(value):
    if isinstance(value, bytes):
        return "a string"
    return {int: "an integer", float: "a float", bool: "a boolean",
            list: "an array", dict: "a map", type(None): "nil"}.get(
                type(value), type(value).__name__)


#: The reply protocol of a call that answers once.
PRIMITIVE = Protocol("primitive", [
    Message("value"),
    Message("error"),
])

#: A stream of chunks that ends with close or error.
STREAMING = Protocol("streaming", [
    Message("write", [Arg("chunk")], dispatch=RECURRENT),
    Message("error", [Arg("error"), Arg("message", optional=True)]),
    Message("close", args=()),
])

#: The upstream of a mute message: the service never answers.
MUTE = TERMINAL

#: Decoded nested protocols that are one of ours map back to the singleton,
#: so callers can compare with C{is}.
_WELL_KNOWN = {_shape(PRIMITIVE): PRIMITIVE, _shape(STREAMING): STREAMING}
