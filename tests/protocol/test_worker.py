# -*- test-case-name: tests.protocol.test_worker -*-
"""
Tests for L{cocaine.protocol.worker}.
"""

from twisted.trial.unittest import TestCase

from cocaine.protocol.framing import Encoder
from cocaine.protocol.worker import (
    CHUNK, CLOSE, CONTROL_CHANNEL, ERROR, HANDSHAKE, HEARTBEAT, INVOKE,
    TERMINATE, WORKER, WORKER_RPC, parseArguments, parseLocators, text,
    workerArguments)
from cocaine.worker.stream import RequestError


class DeclarationTests(TestCase):
    """
    The worker protocol is declared once, as 0.12 declares it, and its
    numbers come from the declaration.
    """

    def test_numbers(self):
        """
        The ids PROTOCOL.md section 6 gives.
        """
        self.assertEqual((CONTROL_CHANNEL, HANDSHAKE, HEARTBEAT, TERMINATE),
                         (1, 0, 0, 1))
        self.assertEqual((INVOKE, CHUNK, ERROR, CLOSE), (0, 0, 1, 2))

    def test_graphs(self):
        """
        The handshake switches the channel to the control protocol; an
        invoke opens two streams.
        """
        self.assertEqual(WORKER.graph(), {0: [
            "handshake", {0: ["heartbeat", None], 1: ["terminate", None]},
            {0: ["heartbeat", None], 1: ["terminate", None]}]})
        self.assertEqual(WORKER_RPC.graph(), {0: [
            "invoke", {0: ["write", None], 1: ["error", {}],
                       2: ["close", {}]},
            {0: ["write", None], 1: ["error", {}], 2: ["close", {}]}]})

    def test_handshakeBytes(self):
        """
        The shared encoder packs the handshake as the real framework does.
        """
        self.assertEqual(Encoder().encode(1, HANDSHAKE, ["uuid-1234"]),
                         b"\x93\x01\x00\x91\xa9uuid-1234")
        self.assertEqual(Encoder().encode(1, HEARTBEAT, []),
                         b"\x93\x01\x00\x90")

    def test_arguments(self):
        """
        L{workerArguments} is what L{parseArguments} reads back.
        """
        argv = workerArguments("echo", "/run/echo.sock", "127.0.0.1:10053",
                               "U")
        self.assertEqual(parseArguments(argv), {
            "app": "echo", "endpoint": "/run/echo.sock",
            "locator": "127.0.0.1:10053", "protocol": "1", "uuid": "U"})


class HelperTests(TestCase):
    """
    L{text}, L{RequestError.fromWire}, L{parseArguments} and
    L{parseLocators}.
    """

    def test_text(self):
        self.assertEqual(text(b"caf\xc3\xa9"), "caf\u00e9")
        self.assertEqual(text(b"\xff"), "\ufffd")
        self.assertEqual(text("x"), "x")
        self.assertEqual(text(12), "12")

    def test_requestError(self):
        """
        The worker reads errors through the one mapping: a malformed one
        is an invalid-argument error naming what came.
        """
        def read(args):
            error = RequestError.fromWire(args)
            return error.category, error.code, error.reason
        self.assertEqual(read([[43, 9], b"bad"]), (43, 9, "bad"))
        self.assertEqual(read([[43, 9]]), (43, 9, ""))
        self.assertEqual(read([])[:2], (7, 2))
        self.assertEqual(read([["a", 1], "x"])[:2], (7, 2))
        self.assertIn("malformed error message", read([5])[2])

    def test_parseArguments(self):
        """
        Both C{--name value} and C{--name=value} work; unknown arguments and
        a trailing flag without a value are ignored.
        """
        self.assertEqual(
            parseArguments(["--app", "echo", "--endpoint=/x.sock", "-v",
                            "--other", "--locator", "h:1", "--protocol", "1",
                            "--uuid", "U", "--app"]),
            {"app": "echo", "endpoint": "/x.sock", "locator": "h:1",
             "protocol": "1", "uuid": "U"})

    def test_parseLocators(self):
        self.assertEqual(
            parseLocators("127.0.0.1:10053,[::1]:10054, bad, host:0,h:x"),
            [("127.0.0.1", 10053), ("::1", 10054)])
        self.assertEqual(parseLocators(None), [])
