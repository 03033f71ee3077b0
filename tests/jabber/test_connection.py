# -*- test-case-name: tests.jabber.test_connection -*-
"""
Tests for L{cocaine.jabber.connection}: the connection's machine on a
L{MemoryReactorClock}, its XML stream over a L{StringTransport} with the
test playing the XMPP server (SASL PLAIN, resource binding).
"""

import re

from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from cocaine import backoff
from cocaine.errors import BackendUnavailable
from cocaine.jabber.connection import Connection, describeFailure
from cocaine.jabber.settings import parse

HEADER = (b"<stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' "
          b"from='example.org' id='s%d' version='1.0'>")
SASL = b"urn:ietf:params:xml:ns:xmpp-sasl"
PLAIN = (b"<stream:features><mechanisms xmlns='" + SASL + b"'>"
         b"<mechanism>PLAIN</mechanism></mechanisms></stream:features>")
STARTTLS = (b"<stream:features><starttls "
            b"xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
            b"</starttls></stream:features>")
BIND = (b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
        b"</stream:features>")


class FakeServer:
    """
    The server's side of one connection attempt.
    """

    def __init__(self, reactor, index=-1):
        host, port, factory = reactor.tcpClients[index][:3]
        self.address = host, port
        self.transport = StringTransport()
        self.stream = factory.buildProtocol(None)
        self.stream.makeConnection(self.transport)

    def feed(self, data):
        self.stream.dataReceived(data)

    def sent(self):
        data = self.transport.value()
        self.transport.clear()
        return data

    def logIn(self, resource=b"r1"):
        self.feed(HEADER % 1 + PLAIN)
        self.feed(b"<success xmlns='" + SASL + b"'/>")
        self.sent()
        self.feed(HEADER % 2 + BIND)
        ident = re.search(rb"<iq [^>]*id=['\"]([^'\"]+)", self.sent()).group(1)
        self.feed(b"<iq type='result' id='" + ident + b"'><bind "
                  b"xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>"
                  b"alice@example.org/" + resource + b"</jid></bind></iq>")

    def lose(self, reason=ConnectionDone):
        self.stream.connectionLost(Failure(reason()))


class ConnectionTests(SynchronousTestCase):

    def setUp(self):
        # the reconnects' jitter at its least: their times are exact here
        self.patch(backoff.random, "random", lambda: 0.0)
        self.reactor = MemoryReactorClock()
        self.received = []
        self.connection = self.make()

    def make(self, **args):
        settings = parse(dict({"jid": "alice@example.org",
                               "password": "secret", "host": "127.0.0.1",
                               "port": 5222, "tls": "off"}, **args))
        return Connection(self.reactor, settings, "chat",
                          lambda *m: self.received.append(m))

    def state(self):
        return self.connection.machine.stateName()

    def online(self):
        self.connection.connect()
        server = FakeServer(self.reactor)
        server.logIn()
        self.assertEqual(self.state(), "online")
        return server

    def test_logIn(self):
        """
        Connected to the configured address, the stream logs in with the
        password and the connection goes online, announcing its
        presence.
        """
        self.assertEqual(self.state(), "idle")
        self.connection.connect()
        self.assertEqual(self.state(), "connecting")
        server = FakeServer(self.reactor)
        self.assertEqual(server.address, ("127.0.0.1", 5222))
        self.assertEqual(self.state(), "negotiating")
        server.logIn()
        self.assertEqual(self.state(), "online")
        self.assertIn(b"<presence", server.sent())
        self.assertIsNone(self.connection.lastError)

    def test_sendMessage(self):
        server = self.online()
        server.sent()
        ident = self.connection.sendMessage("bob@example.org", "hi & bye",
                                            "normal")
        sent = server.sent().decode("utf-8")
        self.assertIn("to='bob@example.org'", sent)
        self.assertIn("type='normal'", sent)
        self.assertIn("id='{}'".format(ident), sent)
        self.assertIn("<body>hi &amp; bye</body>", sent)

    def test_presence(self):
        """
        C{sendPresence} sends the status now and again after a reconnect.
        """
        server = self.online()
        server.sent()
        self.connection.sendPresence("away for lunch")
        self.assertIn(b"<status>away for lunch</status>", server.sent())
        server.lose()
        self.reactor.advance(self.connection.initialDelay)
        again = FakeServer(self.reactor)
        again.logIn()
        self.assertIn(b"<status>away for lunch</status>", again.sent())

    def test_received(self):
        """
        Incoming messages with a body are handed on as C{(from, body,
        type)}; those without a body (chat states) are not.
        """
        server = self.online()
        server.feed(b"<message from='bob@example.org/x' type='chat'>"
                    b"<body>hello</body></message>")
        server.feed(b"<message from='bob@example.org/x'><composing "
                    b"xmlns='http://jabber.org/protocol/chatstates'/>"
                    b"</message>")
        server.feed(b"<message from='carol@example.org'><body>plain"
                    b"</body></message>")
        self.assertEqual(self.received, [
            ("bob@example.org/x", "hello", "chat"),
            ("carol@example.org", "plain", "normal")])

    def test_offline(self):
        """
        While not online, sends and presence fail at once naming the
        service, the account and why; the presence is not remembered.
        """
        with self.assertRaises(BackendUnavailable) as caught:
            self.connection.sendMessage("bob@example.org", "x")
        self.assertIn("'chat' (alice@example.org) is not connected: idle "
                      "to 127.0.0.1:5222", str(caught.exception))
        self.connection.connect()
        with self.assertRaises(BackendUnavailable):
            self.connection.sendPresence("here")
        self.assertEqual(self.connection.status, "")

    def test_refusedBacksOff(self):
        """
        A refused connection is retried after 0.5 s, then 1 s, doubling
        up to 30 s; the error says why.
        """
        self.connection.connect()
        delays = []
        for attempt in range(9):
            factory = self.reactor.tcpClients[-1][2]
            factory.clientConnectionFailed(None,
                                           Failure(ConnectionRefusedError()))
            self.assertEqual(self.state(), "waiting")
            (call,) = self.reactor.getDelayedCalls()
            delays.append(call.getTime() - self.reactor.seconds())
            self.reactor.advance(delays[-1])
            self.assertEqual(self.state(), "connecting")
        self.assertEqual(delays, [0.5, 1, 2, 4, 8, 16, 30, 30, 30])
        # each up to a tenth longer at random
        self.patch(backoff.random, "random", lambda: 1.0)
        self.reactor.tcpClients[-1][2].clientConnectionFailed(
            None, Failure(ConnectionRefusedError()))
        (call,) = self.reactor.getDelayedCalls()
        self.assertAlmostEqual(call.getTime() - self.reactor.seconds(), 33)
        self.assertIn("cannot connect to 127.0.0.1:5222: Connection was "
                      "refused", self.connection.lastError)

    def test_reconnect(self):
        """
        A lost connection is retried; once online again the delay is
        back to the first one.
        """
        server = self.online()
        server.lose()
        self.assertEqual(self.state(), "waiting")
        self.assertIsNone(self.connection.stream)
        self.assertIn("connection lost", self.connection.lastError)
        self.reactor.advance(0.5)
        FakeServer(self.reactor).logIn()
        self.assertEqual(self.state(), "online")
        self.assertEqual(self.connection.failures, 0)
        self.assertEqual(len(self.reactor.tcpClients), 2)

    def test_streamError(self):
        """
        A stream error from the server is the reason given.
        """
        server = self.online()
        server.feed(b"<stream:error><system-shutdown xmlns="
                    b"'urn:ietf:params:xml:ns:xmpp-streams'/>"
                    b"</stream:error>")
        self.assertTrue(server.transport.disconnecting)
        server.lose()
        self.assertEqual(self.connection.lastError,
                         "the server ended the stream (system-shutdown)")

    def test_authenticationFailed(self):
        """
        A refused password closes the connection, is kept as the reason,
        and the connection tries again later.
        """
        self.connection.connect()
        server = FakeServer(self.reactor)
        server.feed(HEADER % 1 + PLAIN)
        self.assertIn(b"<auth", server.sent())
        server.feed(b"<failure xmlns='" + SASL + b"'><not-authorized/>"
                    b"</failure>")
        self.assertTrue(server.transport.disconnecting)
        server.lose()
        self.assertEqual(self.state(), "waiting")
        self.assertEqual(self.connection.lastError,
                         "authentication failed (not-authorized)")
        with self.assertRaises(BackendUnavailable) as caught:
            self.connection.sendMessage("bob@example.org", "x")
        self.assertIn("authentication failed (not-authorized)",
                      str(caught.exception))

    def test_tlsRequired(self):
        """
        With C{tls} required, a server that does not offer STARTTLS is
        refused.
        """
        self.connection = self.make(tls="required")
        self.connection.connect()
        server = FakeServer(self.reactor)
        server.feed(HEADER % 1 + PLAIN)
        self.assertTrue(server.transport.disconnecting)
        server.lose()
        self.assertIn("does not offer STARTTLS", self.connection.lastError)

    def test_tlsOptional(self):
        """
        With C{tls} optional, a server without STARTTLS is logged in to.
        """
        self.connection = self.make(tls="optional")
        self.connection.connect()
        FakeServer(self.reactor).logIn()
        self.assertEqual(self.state(), "online")

    def test_tlsOffAgainstRequired(self):
        """
        With C{tls} off, a server that requires STARTTLS is refused,
        saying so.
        """
        self.connection.connect()
        server = FakeServer(self.reactor)
        server.feed(HEADER % 1 + STARTTLS)
        server.lose()
        self.assertIn("requires TLS", self.connection.lastError)

    def test_tlsStarts(self):
        """
        With C{tls} required and offered, STARTTLS is asked for.
        """
        self.connection = self.make(tls="required")
        self.connection.connect()
        server = FakeServer(self.reactor)
        server.feed(HEADER % 1 + STARTTLS)
        self.assertIn(b"<starttls", server.sent())

    def test_closeOnline(self):
        """
        Closing while online ends the stream and fires once the
        connection is gone; nothing reconnects.
        """
        server = self.online()
        server.sent()
        done = self.connection.close()
        self.assertEqual(self.state(), "closing")
        self.assertIn(b"</stream:stream>", server.sent())
        self.assertTrue(server.transport.disconnecting)
        self.assertNoResult(done)
        again = self.connection.close()
        server.lose()
        self.assertEqual(self.state(), "closed")
        self.successResultOf(done)
        self.successResultOf(again)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_closeTimesOut(self):
        """
        A connection that does not go within C{closeTimeout} of closing
        is aborted.
        """
        server = self.online()
        done = self.connection.close()
        self.reactor.advance(self.connection.closeTimeout)
        self.assertTrue(server.transport.disconnected)
        server.lose()
        self.successResultOf(done)

    def test_closeNegotiating(self):
        self.connection.connect()
        server = FakeServer(self.reactor)
        done = self.connection.close()
        self.assertTrue(server.transport.disconnecting)
        server.lose()
        self.successResultOf(done)
        self.assertEqual(self.state(), "closed")

    def test_closeConnecting(self):
        self.connection.connect()
        self.successResultOf(self.connection.close())
        self.assertEqual(self.state(), "closed")
        # the failure the stopped attempt reports changes nothing
        self.reactor.tcpClients[0][2].clientConnectionFailed(
            None, Failure(ConnectionRefusedError()))
        self.assertEqual(self.state(), "closed")

    def test_closeWaiting(self):
        server = self.online()
        server.lose()
        self.successResultOf(self.connection.close())
        self.assertEqual(self.state(), "closed")
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_closeIdle(self):
        self.successResultOf(self.connection.close())
        self.successResultOf(self.connection.close())
        self.assertEqual(self.state(), "closed")


class DescribeTests(SynchronousTestCase):

    def test_plain(self):
        self.assertEqual(describeFailure(Failure(ConnectionDone())),
                         "Connection was closed cleanly")

    def test_tls(self):
        from OpenSSL.SSL import Error
        error = Error([("SSL routines", "", "certificate verify failed")])
        self.assertEqual(describeFailure(error),
                         "TLS failed: certificate verify failed")
