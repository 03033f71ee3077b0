# -*- test-case-name: tests.jabber.test_service -*-
"""
Tests for L{cocaine.jabber.service} served over the native protocol
(L{cocaine.rpc.server} through an L{iosim} pump), its account's server
played by L{tests.jabber.test_connection.FakeServer}.
"""

from twisted.internet.testing import MemoryReactorClock
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import InvalidArgument, BackendUnavailable
from cocaine.jabber.service import JabberService
from cocaine.jabber.settings import parse
from cocaine.protocol.jabber import JABBER, JABBER_VERSION
from cocaine.rpc.client import ChannelClosed, ClientProtocol
from cocaine.rpc.hosting import HostedService
from cocaine.rpc.server import ServerProtocol
from tests.jabber.test_connection import FakeServer

SEND, SUBSCRIBE, PRESENCE = (JABBER.idOf(name)
                             for name in ("send", "subscribe", "presence"))


class ProtocolTests(SynchronousTestCase):

    def test_ids(self):
        """
        The ids are fixed: clients rely on them.
        """
        self.assertEqual(JABBER.graph(), {
            0: ["send", {}, {0: ["value", {}], 1: ["error", {}]}],
            1: ["subscribe", {0: ["close", {}]},
                {0: ["write", None], 1: ["error", {}], 2: ["close", {}]}],
            2: ["presence", {}, {0: ["value", {}], 1: ["error", {}]}]})


class ServiceTests(SynchronousTestCase):

    def setUp(self):
        self.reactor = MemoryReactorClock()
        self.service = JabberService(self.reactor, "chat", parse({
            "jid": "alice@example.org", "password": "secret",
            "host": "127.0.0.1", "tls": "off", "buffer": 10}))
        hosted = HostedService("chat", self.service, JABBER, JABBER_VERSION)
        self.client, self.server, self.pump = connectedServerAndClient(
            lambda: ServerProtocol(hosted),
            lambda: ClientProtocol("chat", JABBER))

    def call(self, name, *args):
        d = self.client.call(JABBER.idOf(name), list(args))
        self.pump.flush()
        return d

    def online(self):
        self.service.startService()
        server = FakeServer(self.reactor)
        server.logIn()
        server.sent()
        return server

    def test_sendOffline(self):
        """
        A send before the account is online fails at once, naming the
        service and the account.
        """
        self.service.startService()
        error = self.failureResultOf(self.call("send", "bob@example.org",
                                               "hi"), BackendUnavailable)
        self.assertIn("'chat' (alice@example.org) is not connected",
                      str(error.value))

    def test_send(self):
        """
        C{send} answers the stanza's id; the type defaults to chat.
        """
        server = self.online()
        ident = self.successResultOf(self.call("send", "bob@example.org",
                                               "hi"))
        sent = server.sent().decode("utf-8")
        self.assertIn("id='{}'".format(ident), sent)
        self.assertIn("type='chat'", sent)
        self.successResultOf(self.call("send", "bob@example.org", "hi",
                                       "headline"))
        self.assertIn(b"type='headline'", server.sent())

    def test_sendBadArguments(self):
        self.online()
        error = self.failureResultOf(self.call("send", "@@", "hi"),
                                     InvalidArgument)
        self.assertIn("'to' is not a JID", str(error.value))
        error = self.failureResultOf(
            self.call("send", "bob@example.org", "hi", "shout"),
            InvalidArgument)
        self.assertIn("'type' must be one of chat", str(error.value))
        error = self.failureResultOf(
            self.call("send", "bob@example.org", "bell\x07"),
            InvalidArgument)
        self.assertIn("'body' holds character U+0007", str(error.value))
        error = self.failureResultOf(self.call("presence", "\x00"),
                                     InvalidArgument)
        self.assertIn("'status' holds character U+0000", str(error.value))
        error = self.failureResultOf(self.call("send", "bob@example.org"),
                                     InvalidArgument)
        self.assertIn("expected 2 to 3 arguments", str(error.value))

    def test_presence(self):
        server = self.online()
        self.assertIsNone(self.successResultOf(self.call("presence",
                                                         "lunch")))
        self.assertIn(b"<status>lunch</status>", server.sent())
        self.assertIsNone(self.successResultOf(self.call("presence")))

    def test_subscribe(self):
        """
        A subscriber gets each incoming message until it closes the
        channel.
        """
        server = self.online()
        channel = self.client.open(SUBSCRIBE, [])
        self.pump.flush()
        server.feed(b"<message from='bob@example.org/x' type='chat'>"
                    b"<body>one</body></message>")
        self.pump.flush()
        self.assertEqual(self.successResultOf(channel.read()),
                         ["bob@example.org/x", "one", "chat"])
        channel.close()
        self.pump.flush()
        self.assertEqual(self.service.hub.subscribers, [])
        self.failureResultOf(channel.read(), ChannelClosed)

    def test_subscriberGoes(self):
        """
        A subscriber whose connection drops is forgotten.
        """
        self.online()
        self.client.open(SUBSCRIBE, [])
        self.pump.flush()
        self.assertEqual(len(self.service.hub.subscribers), 1)
        self.client.transport.loseConnection()
        self.pump.flush()
        self.assertEqual(self.service.hub.subscribers, [])

    def test_stop(self):
        """
        Stopping the service ends its subscribers' streams and closes
        its connection for good.
        """
        server = self.online()
        channel = self.client.open(SUBSCRIBE, [])
        self.pump.flush()
        done = self.service.stopService()
        self.pump.flush()
        self.failureResultOf(channel.read(), ChannelClosed)
        server.lose()
        self.successResultOf(done)
        self.assertEqual(self.service.connection.machine.stateName(),
                         "closed")
        self.assertEqual(self.reactor.getDelayedCalls(), [])
