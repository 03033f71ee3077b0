"""
Tests for L{cocaine.protocol.services}: the built-in services' protocols
(PROTOCOL.md sections 3 and 5).
"""

import msgpack
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import InvalidArgument
from cocaine.protocol import services
from cocaine.protocol.idl import PRIMITIVE, STREAMING, TERMINAL, Protocol
from cocaine.protocol.services import (
    LOCATOR, LOCATOR_VERSION, LOGGING, LOGGING_VERSION, METRICS,
    METRICS_VERSION, STORAGE, STORAGE_VERSION)

P = {0: ["value", {}], 1: ["error", {}]}
S = {0: ["write", None], 1: ["error", {}], 2: ["close", {}]}

DECLARED = {"locator": LOCATOR, "storage": STORAGE, "logging": LOGGING,
            "metrics": METRICS}


def throughMsgpack(graph):
    """
    A graph as a real client decodes it.
    """
    return msgpack.unpackb(msgpack.packb(graph, use_bin_type=True),
                           raw=True, strict_map_key=False)


def asText(value):
    """
    Decode every bytes value of a decoded graph.
    """
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list):
        return [asText(item) for item in value]
    if isinstance(value, dict):
        return {k: asText(v) for k, v in value.items()}
    return value


class GraphTests(SynchronousTestCase):
    """
    The graphs C{resolve} returns for the built-in services.
    """

    def test_storage(self):
        """
        The storage graph is four primitive, terminal messages.
        """
        self.assertEqual(STORAGE.graph(), {
            0: ["read", {}, P],
            1: ["write", {}, P],
            2: ["remove", {}, P],
            3: ["find", {}, P],
        })

    def test_logging(self):
        """
        Logging C{emit} is mute (upstream C{{}}).
        """
        self.assertEqual(LOGGING.graph(), {
            0: ["emit", {}, {}],
            1: ["verbosity", {}, P],
            2: ["set_verbosity", {}, P],
        })

    def test_metrics(self):
        """
        Metrics C{fetch} is one primitive message of version 1, as
        cocaine-plugins' C{idl/metrics.hpp}: both arguments optional.
        """
        self.assertEqual(METRICS.graph(), {0: ["fetch", {}, P]})
        self.assertEqual(METRICS_VERSION, 1)
        self.assertEqual([(a.name, a.optional) for a in METRICS[0].args],
                         [("type", True), ("query", True)])

    def test_locator(self):
        """
        Locator C{connect} and C{routing} stream; C{publish} and C{routing}
        continue with C{discard}: 0.12's C{idl/locator.hpp} and the
        framework's C{API.Locator} exactly.
        """
        self.assertEqual(LOCATOR.graph(), {
            0: ["resolve", {}, P],
            1: ["connect", {}, S],
            2: ["refresh", {}, P],
            3: ["cluster", {}, P],
            4: ["publish", {0: ["discard", {}]}, P],
            5: ["routing", {0: ["discard", {}]}, S],
            6: ["uuid", {}, P],
        })

    def test_throughMsgpack(self):
        """
        Every declared graph survives msgpack (str as str, int keys) and
        decodes to the same structure.
        """
        for name, protocol in DECLARED.items():
            wire = throughMsgpack(protocol.graph())
            self.assertEqual(asText(wire), protocol.graph(), name)

    def test_fromGraph(self):
        """
        Every declared graph, after the wire, rebuilds a protocol with the
        same graph, message names and transitions.
        """
        for name, protocol in DECLARED.items():
            rebuilt = Protocol.fromGraph(
                name, throughMsgpack(protocol.graph()))
            self.assertEqual(rebuilt.graph(), protocol.graph(), name)
            self.assertEqual([m.name for m in rebuilt.messages],
                             [m.name for m in protocol.messages])

    def test_rebuiltTransitions(self):
        """
        The rebuilt locator and logging protocols have the singleton
        upstreams a client compares with C{is}.
        """
        locator = Protocol.fromGraph("locator",
                                     throughMsgpack(LOCATOR.graph()))
        self.assertIs(locator[0].upstream, PRIMITIVE)
        self.assertIs(locator[1].upstream, STREAMING)
        self.assertEqual(locator[4].dispatch.nested(), {0: ["discard", {}]})
        logging = Protocol.fromGraph("logging",
                                     throughMsgpack(LOGGING.graph()))
        self.assertIs(logging[0].upstream, TERMINAL)


class TableTests(SynchronousTestCase):
    """
    Ids, names, handler methods and versions as in section 5.
    """

    def test_names(self):
        """
        Ids are positions and names match Cocaine 0.12.
        """
        self.assertEqual(
            [m.name for m in LOCATOR.messages],
            ["resolve", "connect", "refresh", "cluster", "publish",
             "routing", "uuid"])
        self.assertEqual([m.name for m in STORAGE.messages],
                         ["read", "write", "remove", "find"])
        self.assertEqual([m.name for m in LOGGING.messages],
                         ["emit", "verbosity", "set_verbosity"])

    def test_methods(self):
        """
        Handler methods are camelCase; C{uuid} is served by C{getUuid}.
        """
        self.assertEqual(LOCATOR[6].method, "getUuid")
        self.assertEqual(LOGGING[2].method, "setVerbosity")

    def test_versions(self):
        """
        Locator 3, storage 1, logging 2.
        """
        self.assertEqual((LOCATOR_VERSION, STORAGE_VERSION, LOGGING_VERSION),
                         (3, 1, 2))

    def test_arguments(self):
        """
        Declared arguments and their optionality.
        """
        def shape(message):
            return [(a.name, a.kind, a.optional) for a in message.args]
        self.assertEqual(shape(STORAGE[0]),
                         [("collection", "str", False),
                          ("key", "str", False)])
        self.assertEqual(shape(STORAGE[1]),
                         [("collection", "str", False), ("key", "str", False),
                          ("blob", "bytes", False),
                          ("tags", "strings", True)])
        self.assertEqual(shape(LOCATOR[0]),
                         [("name", "str", False), ("seed", "any", True)])
        self.assertEqual(shape(LOGGING[0]),
                         [("priority", "int", False),
                          ("source", "str", False),
                          ("message", "str", False),
                          ("attributes", "any", True)])

    def test_storageReadIntKey(self):
        """
        A storage read with an int key is an invalid argument naming it.
        """
        error = self.assertRaises(InvalidArgument, STORAGE[0].convertArgs,
                                  [b"c", 5], "storage.read")
        self.assertIn("'key'", error.message)

    def test_payloadStaysBytes(self):
        """
        A storage blob sent as old-style raw stays bytes.
        """
        self.assertEqual(STORAGE[1].convertArgs([b"c", b"k", b"\xff"]),
                         ["c", "k", b"\xff"])

    def test_exports(self):
        """
        The module exports the three protocols and their versions.
        """
        for name in services.__all__:
            self.assertTrue(hasattr(services, name), name)
        self.assertTrue({"LOCATOR", "STORAGE", "LOGGING", "LOCATOR_VERSION",
                         "STORAGE_VERSION", "LOGGING_VERSION"}
                        <= set(services.__all__))
