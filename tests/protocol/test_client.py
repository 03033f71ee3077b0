# -*- test-case-name: tests.protocol.test_client -*-
"""
Tests for L{cocaine.protocol.client}: the client's rules without I/O that
L{cocaine.client} and the worker SDK's service client share.
"""

import errno

from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import (
    CallTimeout, KeyNotFound, NotConnected, ProtocolViolation,
    SlotNotFound)
from cocaine.protocol.client import (
    CLIENT_GONE, ChannelState, authorizationHeader, callTimeout, defaultToken,
    endpointsText, isPlainCall, methodId, notConnected, openingHeaders,
    primitiveReply, unwrap)
from cocaine.protocol.idl import (
    PRIMITIVE, RECURRENT, STREAMING, TERMINAL, Arg, Message, Protocol)
from cocaine.protocol.services import APP, LOCATOR, LOGGING, STORAGE


class CallTests(SynchronousTestCase):

    def test_unwrap(self):
        self.assertIsNone(unwrap([]))
        self.assertEqual(unwrap([b"v"]), b"v")
        self.assertEqual(unwrap([1, 2]), (1, 2))

    def test_methodId(self):
        self.assertEqual(methodId(STORAGE, "storage", "find"), 3)
        error = self.assertRaises(SlotNotFound, methodId, STORAGE,
                                  "storage", "nope")
        self.assertEqual(str(error), "storage has no method 'nope' (it "
                         "has: read, write, remove, find)")

    def test_isPlainCall(self):
        """
        Primitive and mute replies with a terminal dispatch are plain
        calls; streams and methods the caller goes on talking on are not.
        """
        self.assertTrue(isPlainCall(STORAGE[0]))
        self.assertTrue(isPlainCall(LOGGING[0]))
        self.assertFalse(isPlainCall(APP[0]))
        self.assertFalse(isPlainCall(LOCATOR[LOCATOR.idOf("connect")]))
        self.assertFalse(isPlainCall(LOCATOR[LOCATOR.idOf("publish")]))

    def test_fromTheGraph(self):
        """
        The same decisions hold for a protocol rebuilt from the graph
        C{resolve} returns.
        """
        for declared in (STORAGE, APP, LOCATOR, LOGGING):
            rebuilt = Protocol.fromGraph(declared.name, declared.graph())
            self.assertEqual([isPlainCall(m) for m in rebuilt.messages],
                             [isPlainCall(m) for m in declared.messages])

    def test_primitiveReply(self):
        self.assertEqual(primitiveReply(PRIMITIVE, 0, [b"a", 1]),
                         (True, (b"a", 1)))
        self.assertEqual(primitiveReply(None, 0, []), (True, None))
        ok, error = primitiveReply(PRIMITIVE, 1, [[1, 2], "missing"])
        self.assertFalse(ok)
        self.assertIsInstance(error, KeyNotFound)
        self.assertEqual(error.message, "missing")
        ok, error = primitiveReply(PRIMITIVE, 7, [])
        self.assertEqual((ok, type(error)), (False, NotConnected))


class ChannelStateTests(SynchronousTestCase):

    def test_stream(self):
        state = ChannelState(3, STREAMING, STREAMING)
        self.assertEqual(state._nextDispatch("write"), 0)
        self.assertEqual(state._nextDispatch("write"), 0)
        self.assertEqual(state._nextEvent(0, [b"a"]), ("write", [b"a"]))
        self.assertFalse(state.done)
        self.assertEqual(state._nextDispatch("close"), 2)
        self.assertRaises(ProtocolViolation, state._nextDispatch, "write")
        self.assertEqual(state._nextEvent(2, []), ("close", []))
        self.assertTrue(state.done)

    def test_error(self):
        state = ChannelState(3, STREAMING, STREAMING)
        name, error = state._nextEvent(1, [[1, 2], "gone"])
        self.assertEqual(name, "error")
        self.assertIsInstance(error, KeyNotFound)
        self.assertTrue(state.done)

    def test_unexpected(self):
        """
        A message the upstream does not allow ends the channel with a
        L{NotConnected}.
        """
        state = ChannelState(3, STREAMING, TERMINAL)
        name, error = state._nextEvent(9, [])
        self.assertEqual(name, "error")
        self.assertIsInstance(error, NotConnected)
        self.assertTrue(state.done)
        self.assertRaises(ProtocolViolation, state._nextDispatch, "write")

    def test_mute(self):
        self.assertTrue(ChannelState(1, TERMINAL, TERMINAL).done)

    def test_abandonedRequestStream(self):
        """
        An abandoned channel's request stream still open is ended with
        its protocol's C{error} (L{CLIENT_GONE}: "client disconnected",
        category 1, C{ECONNRESET}), after which nothing may be sent; a
        closed one, or one whose protocol has neither an C{error} nor a
        C{close} without arguments, sends nothing.
        """
        self.assertEqual(CLIENT_GONE,
                         [[1, errno.ECONNRESET], "client disconnected"])
        state = ChannelState(3, STREAMING, STREAMING)
        state._nextDispatch("write")
        self.assertEqual(state._endMessage(), (1, CLIENT_GONE))
        self.assertIsNone(state._endMessage())
        self.assertRaises(ProtocolViolation, state._nextDispatch, "close")
        closed = ChannelState(3, STREAMING, STREAMING)
        closed._nextDispatch("close")
        self.assertIsNone(closed._endMessage())
        self.assertIsNone(ChannelState(3, STREAMING, TERMINAL)._endMessage())
        say = Protocol("chat", [Message("say", dispatch=RECURRENT)])
        chat = ChannelState(3, STREAMING, say)
        self.assertIsNone(chat._endMessage())
        self.assertEqual(chat._nextDispatch("say"), 0)
        self.assertIsNone(
            ChannelState(3, STREAMING, RECURRENT)._endMessage())

    def test_abandonedSubscription(self):
        """
        A request stream whose protocol has nothing but a C{close} without
        arguments (a subscription's) is ended with that close, once; a
        C{close} that takes arguments, one after which the stream goes on,
        or one beside other messages, is not sent.
        """
        final = Protocol("final", [Message("close", args=())])
        state = ChannelState(3, STREAMING, final)
        self.assertEqual(state._endMessage(), (0, []))
        self.assertIsNone(state._endMessage())
        self.assertRaises(ProtocolViolation, state._nextDispatch, "close")
        for close in (Message("close", [Arg("why", "str")]),
                      Message("close", args=(), dispatch=RECURRENT)):
            other = ChannelState(3, STREAMING, Protocol("other", [close]))
            self.assertIsNone(other._endMessage())
            self.assertEqual(other._nextDispatch("close"), 0)
        # chunks and a close, no error: a close would pass a cut upload
        # for a whole one
        upload = ChannelState(3, STREAMING, Protocol("upload", [
            Message("write", [Arg("chunk")], dispatch=RECURRENT),
            Message("close", args=())]))
        self.assertIsNone(upload._endMessage())


class CredentialsTests(SynchronousTestCase):

    def test_openingHeaders(self):
        self.assertEqual(openingHeaders(), [])
        self.assertEqual(openingHeaders(None, b"token a.b"),
                         [[False, "authorization", b"token a.b"]])
        self.assertEqual(
            openingHeaders([(b"trace_id", b"1")], b"5"),
            [[False, b"trace_id", b"1"], [False, "authorization", b"5"]])

    def test_tokens(self):
        self.assertEqual(authorizationHeader("a.b"), b"token a.b")
        self.assertEqual(defaultToken({"COCAINE_APP_TOKEN_TYPE": "token",
                                       "COCAINE_APP_TOKEN_BODY": "x.y"}),
                         "token x.y")


class ErrorTextTests(SynchronousTestCase):

    def test_texts(self):
        self.assertEqual(endpointsText([[b"::1", 5], ["127.0.0.1", 6]]),
                         "::1:5, 127.0.0.1:6")
        self.assertEqual(endpointsText([]), "no endpoints")
        error = callTimeout("storage", "read", 2)
        self.assertIsInstance(error, CallTimeout)
        self.assertEqual(str(error), "storage.read did not answer within 2s")
        error = notConnected("storage", [["h", 1]], "refused")
        self.assertIsInstance(error, NotConnected)
        self.assertEqual(str(error),
                         "cannot connect to storage at h:1: refused")
