"""
Tests for L{cocaine.protocol.idl}: protocol declarations, argument checks
and dispatch graphs (PROTOCOL.md section 3).
"""

import msgpack
from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import InvalidArgument
from cocaine.protocol.idl import (
    KINDS, MUTE, PRIMITIVE, RECURRENT, STREAMING, TERMINAL, Arg, Message,
    Protocol)

#: The deterministic Hypothesis profile of this project.
DETERMINISTIC = settings(deadline=None, derandomize=True, database=None)

P = {0: ["value", {}], 1: ["error", {}]}
S = {0: ["write", None], 1: ["error", {}], 2: ["close", {}]}


def throughMsgpack(graph):
    """
    A graph as a peer decodes it after it crossed the wire.
    """
    return msgpack.unpackb(msgpack.packb(graph, use_bin_type=True),
                           raw=True, strict_map_key=False)


class KindTests(SynchronousTestCase):
    """
    The argument converters of L{KINDS}.
    """

    def test_str(self):
        """
        C{str} accepts bytes (decoded as UTF-8) and text.
        """
        convert = KINDS["str"]
        self.assertEqual(convert(b"caf\xc3\xa9"), "caf\u00e9")
        self.assertEqual(convert("x"), "x")
        self.assertRaises(TypeError, convert, 1)
        self.assertRaises(UnicodeDecodeError, convert, b"\xff")

    def test_bytes(self):
        """
        C{bytes} accepts bytes and text (encoded as UTF-8).
        """
        convert = KINDS["bytes"]
        self.assertEqual(convert(b"\xff"), b"\xff")
        self.assertEqual(convert("\u00e9"), b"\xc3\xa9")
        self.assertRaises(TypeError, convert, [])

    def test_int(self):
        """
        C{int} accepts integers only: not booleans, floats or strings.
        """
        convert = KINDS["int"]
        self.assertEqual(convert(3), 3)
        for value in (True, 1.0, b"1", None):
            self.assertRaises(TypeError, convert, value)

    def test_list(self):
        """
        C{list} accepts arrays.
        """
        self.assertEqual(KINDS["list"]((1, 2)), [1, 2])
        self.assertRaises(TypeError, KINDS["list"], {})

    def test_strings(self):
        """
        C{strings} accepts arrays of strings and decodes them.
        """
        convert = KINDS["strings"]
        self.assertEqual(convert([b"a", "b"]), ["a", "b"])
        self.assertRaises(TypeError, convert, [b"a", 1])
        self.assertRaises(TypeError, convert, b"a")

    def test_map(self):
        """
        C{map} accepts maps.
        """
        self.assertEqual(KINDS["map"]({1: 2}), {1: 2})
        self.assertRaises(TypeError, KINDS["map"], [])

    def test_any(self):
        """
        C{any} accepts anything unchanged.
        """
        value = object()
        self.assertIs(KINDS["any"](value), value)


class ArgTests(SynchronousTestCase):
    """
    L{Arg} declarations.
    """

    def test_unknownKind(self):
        """
        An unknown kind is refused at declaration time.
        """
        self.assertRaises(ValueError, Arg, "x", "float")

    def test_repr(self):
        """
        The repr shows name, kind and optionality.
        """
        self.assertEqual(repr(Arg("seed", "any", True)),
                         "Arg('seed', 'any', optional=True)")
        self.assertEqual(repr(Arg("key", "str")), "Arg('key', 'str')")


class ConvertArgsTests(SynchronousTestCase):
    """
    L{Message.convertArgs} checks and converts received arguments.
    """

    def setUp(self):
        self.message = Message("write", [
            Arg("collection", "str"), Arg("key", "str"),
            Arg("blob", "bytes"), Arg("tags", "strings", True)])

    def test_converts(self):
        """
        Arguments are converted by kind.
        """
        self.assertEqual(
            self.message.convertArgs([b"c", b"k", "v", [b"t"]]),
            ["c", "k", b"v", ["t"]])

    def test_optionalOmitted(self):
        """
        Trailing optional arguments may be omitted.
        """
        self.assertEqual(self.message.convertArgs([b"c", b"k", b"v"]),
                         ["c", "k", b"v"])

    def test_tooFew(self):
        """
        Too few arguments name the expected range.
        """
        error = self.assertRaises(InvalidArgument, self.message.convertArgs,
                                  [b"c"], "storage.write")
        self.assertEqual(
            error.message, "storage.write: expected 3 to 4 arguments, got 1")
        self.assertEqual((error.category, error.code), (7, 2))

    def test_tooMany(self):
        """
        Extra trailing arguments are dropped, as Cocaine 0.12 drops them
        (core's C{traits/tuple.hpp} only refuses too few): its HTTP proxy
        calls C{routing(uid, True)}.
        """
        message = Message("read", [Arg("key", "str")])
        self.assertEqual(message.convertArgs([b"a", b"b", 3]), ["a"])
        self.assertEqual(self.message.convertArgs(
            [b"c", b"k", b"v", [b"t"], b"extra"]), ["c", "k", b"v", ["t"]])

    def test_streamingWriteTakesOneChunk(self):
        """
        A stream's C{write} carries one chunk: an extra argument is
        dropped, so the target gets exactly the chunk.
        """
        write = STREAMING[STREAMING.idOf("write")]
        self.assertEqual(write.convertArgs([b"chunk", b"extra"]), [b"chunk"])
        error = STREAMING[STREAMING.idOf("error")]
        self.assertEqual(error.convertArgs([[1, 2], b"m", b"x"]),
                         [[1, 2], b"m"])

    def test_wrongType(self):
        """
        A wrong type names the argument, what was expected and what came.
        """
        error = self.assertRaises(InvalidArgument, self.message.convertArgs,
                                  [b"c", 5, b"v"], "storage.write")
        self.assertEqual(
            error.message,
            "storage.write: argument 'key' must be a string, got an integer")

    def test_badUTF8(self):
        """
        Text that is not UTF-8 is an invalid argument, not a crash.
        """
        error = self.assertRaises(InvalidArgument, self.message.convertArgs,
                                  [b"\xff", b"k", b"v"])
        self.assertIn("'collection' must be valid UTF-8 text", error.message)

    def test_describe(self):
        """
        The received value's type is described in wire terms.
        """
        message = Message("m", [Arg("n", "int")])
        for value, text in [(b"x", "a string"), (1.5, "a float"),
                            (True, "a boolean"), ([], "an array"),
                            ({}, "a map"), (None, "nil")]:
            error = self.assertRaises(InvalidArgument, message.convertArgs,
                                      [value])
            self.assertTrue(error.message.endswith("got " + text),
                            error.message)

    def test_undeclaredArgs(self):
        """
        A message without declared arguments accepts any.
        """
        values = [1, b"x", None]
        self.assertIs(Message("any").convertArgs(values), values)

    def test_noArgs(self):
        """
        A message declared with no arguments drops any that come (as
        0.12 does).
        """
        self.assertEqual(Message("close", args=()).convertArgs([]), [])
        self.assertEqual(Message("close", args=()).convertArgs([1]), [])


class MessageTests(SynchronousTestCase):
    """
    L{Message} defaults.
    """

    def test_defaults(self):
        """
        A message is terminal with the primitive upstream by default.
        """
        message = Message("read")
        self.assertIs(message.dispatch, TERMINAL)
        self.assertIsNone(message.upstream)

    def test_method(self):
        """
        The handler's method is the camelCase name, unless given.
        """
        self.assertEqual(Message("set_verbosity").method, "setVerbosity")
        self.assertEqual(Message("read").method, "read")
        self.assertEqual(Message("uuid", method="getUuid").method, "getUuid")

    def test_repr(self):
        """
        The repr names the message.
        """
        self.assertEqual(repr(Message("read")), "Message('read')")


class ProtocolTests(SynchronousTestCase):
    """
    L{Protocol}: ids are positions.
    """

    def setUp(self):
        self.protocol = Protocol("p", [Message("a"), Message("b")])

    def test_lookup(self):
        """
        Messages are found by id and by name.
        """
        self.assertEqual(self.protocol[1].name, "b")
        self.assertEqual(self.protocol.get(0).name, "a")
        self.assertEqual(self.protocol.idOf("b"), 1)
        self.assertEqual(self.protocol.byName["a"][0], 0)

    def test_missing(self):
        """
        Unknown ids and names give L{None}.
        """
        self.assertIsNone(self.protocol.get(2))
        self.assertIsNone(self.protocol.get(-1))
        self.assertIsNone(self.protocol.idOf("c"))

    def test_duplicateNames(self):
        """
        Two messages with one name are refused.
        """
        self.assertRaises(ValueError, Protocol, "p",
                          [Message("a"), Message("a")])

    def test_reprs(self):
        """
        Reprs name the protocol and show the terminal marker.
        """
        self.assertEqual(repr(self.protocol), "Protocol('p')")
        self.assertEqual(repr(TERMINAL), "TERMINAL")

    def test_wellKnown(self):
        """
        The primitive and streaming protocols are as in section 3.
        """
        self.assertEqual(PRIMITIVE.nested(), P)
        self.assertEqual(STREAMING.nested(), S)
        self.assertIs(MUTE, TERMINAL)
        self.assertIsNone(RECURRENT)

    def test_streamIds(self):
        """
        A protocol knows the id of its recurrent C{write} and of its
        terminal C{close}; one without them has L{None}.
        """
        self.assertEqual((STREAMING.streamWrite, STREAMING.streamClose),
                         (0, 2))
        self.assertEqual((PRIMITIVE.streamWrite, PRIMITIVE.streamClose),
                         (None, None))
        looping = Protocol("l", [Message("close", dispatch=RECURRENT)])
        self.assertIsNone(looping.streamClose)

    def test_graph(self):
        """
        The root graph is C{{id: [name, dispatch, upstream]}}.
        """
        nested = Protocol("n", [Message("more", dispatch=RECURRENT),
                                Message("done")])
        protocol = Protocol("root", [
            Message("call"),
            Message("mute", upstream=MUTE),
            Message("stream", upstream=STREAMING),
            Message("talk", dispatch=nested, upstream=STREAMING),
            Message("again", dispatch=RECURRENT),
        ])
        self.assertEqual(protocol.graph(), {
            0: ["call", {}, P],
            1: ["mute", {}, {}],
            2: ["stream", {}, S],
            3: ["talk", {0: ["more", None], 1: ["done", {}]}, S],
            4: ["again", None, P],
        })


class FromGraphTests(SynchronousTestCase):
    """
    L{Protocol.fromGraph} rebuilds a protocol from a decoded graph.
    """

    def test_roundTrip(self):
        """
        A graph that crossed the wire rebuilds a protocol with the same
        graph, with text names.
        """
        nested = Protocol("n", [Message("more", dispatch=RECURRENT),
                                Message("done")])
        protocol = Protocol("root", [
            Message("call"), Message("mute", upstream=MUTE),
            Message("talk", dispatch=nested, upstream=STREAMING)])
        rebuilt = Protocol.fromGraph("root", throughMsgpack(protocol.graph()))
        self.assertEqual(rebuilt.graph(), protocol.graph())
        self.assertEqual(rebuilt.name, "root")
        self.assertEqual([m.name for m in rebuilt.messages],
                         ["call", "mute", "talk"])

    def test_wellKnownSingletons(self):
        """
        Decoded primitive and streaming upstreams are our singletons.
        """
        rebuilt = Protocol.fromGraph("x", throughMsgpack(
            {0: ["a", {}, P], 1: ["b", {}, S], 2: ["c", {}, {}]}))
        self.assertIs(rebuilt[0].upstream, PRIMITIVE)
        self.assertIs(rebuilt[1].upstream, STREAMING)
        self.assertIs(rebuilt[2].upstream, TERMINAL)
        self.assertIs(rebuilt[0].dispatch, TERMINAL)

    def test_transitions(self):
        """
        C{nil} is recurrent, C{{}} terminal and a map a nested protocol.
        """
        rebuilt = Protocol.fromGraph("x", {
            0: ["a", None, P], 1: ["b", {0: ["c", None]}, P]})
        self.assertIs(rebuilt[0].dispatch, RECURRENT)
        nested = rebuilt[1].dispatch
        self.assertEqual(nested.nested(), {0: ["c", None]})
        self.assertIs(nested[0].dispatch, RECURRENT)

    def test_missingOrNilUpstream(self):
        """
        A missing or C{nil} upstream means the primitive protocol.
        """
        rebuilt = Protocol.fromGraph("x", {0: ["a", {}], 1: ["b", {}, None]})
        self.assertIs(rebuilt[0].upstream, PRIMITIVE)
        self.assertIs(rebuilt[1].upstream, PRIMITIVE)

    def test_malformed(self):
        """
        Graphs not shaped like one raise L{ValueError}.
        """
        for graph in ([], None, {1: ["a", {}, {}]},
                      {0: ["a", {}, {}], 2: ["b", {}, {}]},
                      {0: "a"}, {0: ["a"]}, {0: ["a", 5, {}]},
                      {0: ["a", {}, "x"]}, {0: [5, {}, {}]},
                      {0: [b"\xff", {}, {}]},
                      {0: ["a", {}, {}], b"1": ["b", {}, {}]},
                      {0: ["a", {}, {}], 1: ["a", {}, {}]},
                      {0: ["a", {0: "x"}, {}]}):
            self.assertRaises(ValueError, Protocol.fromGraph, "x", graph)


_names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8)


def _nestedProtocols(depth):
    transition = st.sampled_from([RECURRENT, TERMINAL])
    if depth > 0:
        transition = transition | st.deferred(
            lambda: _nestedProtocols(depth - 1))
    return st.lists(
        st.tuples(_names, transition), max_size=3,
        unique_by=lambda pair: pair[0]).map(
            lambda pairs: Protocol("nested", [
                Message(name, dispatch=t) for name, t in pairs]))


_rootProtocols = st.lists(
    st.tuples(_names,
              st.sampled_from([RECURRENT, TERMINAL]) | _nestedProtocols(2),
              st.sampled_from([None, MUTE, PRIMITIVE, STREAMING])
              | _nestedProtocols(2)),
    max_size=5, unique_by=lambda triple: triple[0]).map(
        lambda triples: Protocol("root", [
            Message(name, dispatch=d, upstream=u) for name, d, u in triples]))


class GraphPropertyTests(SynchronousTestCase):
    """
    Properties of graphs.
    """

    @DETERMINISTIC
    @given(_rootProtocols)
    def test_graphRoundTrip(self, protocol):
        """
        Any declared protocol's graph survives msgpack and rebuilds a
        protocol with the same graph.
        """
        graph = protocol.graph()
        wire = throughMsgpack(graph)
        self.assertEqual(Protocol.fromGraph("root", wire).graph(), graph)
