# -*- test-case-name: tests.mesh.test_link -*-
"""
Tests for L{cocaine.mesh.link}: what each input of L{LinkMachine} does in
each state, on a L{MemoryReactorClock} with L{StringTransport}s, for an
owner that records what the link tells it.
"""

from OpenSSL.SSL import Error as SSLError
from twisted.internet import defer
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from cocaine import backoff
from cocaine.mesh.discovery import Peer
from cocaine.mesh.link import Link, LinkMachine
from cocaine.statemachine import initialState, transitions


class FakeTLS:
    """
    Stands for a L{cocaine.mesh.tls.MeshTLS}.
    """

    options = object()

    def clientOptions(self):
        return self.options


class FakeOwner:
    """
    A link's owner, recording what the link tells it.
    """

    def __init__(self, tls=None):
        self.reactor = self.clock = MemoryReactorClock()
        self.tls = tls
        self.events = []
        self.received = []

    def linkUp(self, link):
        self.events.append(("up", link.protocol))

    def linkDown(self, link):
        self.events.append(("down", link.protocol))

    def linksChanged(self):
        self.events.append(("changed",))

    def messageReceived(self, link, args, parts):
        self.received.append(args)


def failure(exception):
    return Failure(exception)


def tlsFailure(why="certificate verify failed"):
    return Failure(SSLError([("SSL routines", "", why)]))


class LinkTests(SynchronousTestCase):
    def setUp(self):
        # the reconnects' jitter at its least: their times are exact here
        self.patch(backoff.random, "random", lambda: 0.0)
        self.logged = []
        globalLogPublisher.addObserver(self.logged.append)
        self.addCleanup(globalLogPublisher.removeObserver,
                        self.logged.append)

    def make(self, tls=False):
        self.owner = FakeOwner(FakeTLS() if tls else None)
        self.reactor = self.owner.reactor
        peer = Peer("r1", "pid", "127.0.0.1", "host",
                    {"type": "service", "name": "r", "port": 4000}, 0)
        return Link(self.owner, peer)

    def attempts(self):
        return self.reactor.sslClients or self.reactor.tcpClients

    def retries(self):
        return [c for c in self.reactor.getDelayedCalls()
                if getattr(c.func, "__name__", None) == "connect"]

    def accept(self):
        """
        The last connection attempt succeeds: its protocol, connected to a
        L{StringTransport}.
        """
        factory = self.attempts()[-1][2]
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(StringTransport())
        return protocol

    def refuse(self):
        factory = self.attempts()[-1][2]
        factory.clientConnectionFailed(
            None, failure(ConnectionRefusedError()))

    # -- reaching each state --------------------------------------------------

    def connecting(self, tls=False):
        link = self.make(tls)
        link.connect()
        return link

    def handshaking(self):
        link = self.connecting(tls=True)
        return link, self.accept()

    def up(self, tls=False):
        if tls:
            link, protocol = self.handshaking()
            protocol.handshakeCompleted()
        else:
            link = self.connecting()
            protocol = self.accept()
        del self.owner.events[:]
        return link, protocol

    def waiting(self):
        link = self.connecting()
        self.refuse()
        return link

    def closing(self):
        link, protocol = self.up()
        closed = link.close()
        del self.owner.events[:]
        return link, protocol, closed

    def closed(self):
        link = self.make()
        link.close()
        return link

    def assertState(self, link, name):
        self.assertEqual(link.machine.stateName(), name)

    # -- the table ------------------------------------------------------------

    def test_table(self):
        """
        The transition table is the spec of the link's lifecycle.
        """
        self.assertEqual(initialState(LinkMachine), "idle")
        self.assertEqual(
            [(old, symbol, new) for old, symbol, new, _ in
             transitions(LinkMachine)],
            [("closed", "close", "closed"),
             ("closed", "failed", "closed"),
             ("closing", "close", "closing"),
             ("closing", "connected", "closing"),
             ("closing", "lost", "closed"),
             ("connecting", "close", "closed"),
             ("connecting", "connected", "up"),
             ("connecting", "failed", "waiting"),
             ("connecting", "opened", "handshaking"),
             ("handshaking", "close", "closing"),
             ("handshaking", "connected", "up"),
             ("handshaking", "lost", "waiting"),
             ("idle", "close", "closed"),
             ("idle", "connect", "connecting"),
             ("up", "close", "closing"),
             ("up", "lost", "waiting"),
             ("waiting", "close", "closed"),
             ("waiting", "connect", "connecting")])

    # -- idle -----------------------------------------------------------------

    def test_idleConnect(self):
        """
        C{connect} in C{idle} connects over TCP to the peer's address and
        port; with TLS over TLS, with the TLS options.
        """
        link = self.make()
        self.assertState(link, "idle")
        link.connect()
        self.assertState(link, "connecting")
        self.assertEqual(self.reactor.tcpClients[0][:2], ("127.0.0.1", 4000))
        link = self.make(tls=True)
        link.connect()
        self.assertEqual(self.reactor.sslClients[0][:2], ("127.0.0.1", 4000))
        self.assertIs(self.reactor.sslClients[0][3], FakeTLS.options)

    def test_idleClose(self):
        link = self.make()
        self.successResultOf(link.close())
        self.assertState(link, "closed")
        self.assertEqual(self.reactor.tcpClients, [])

    # -- connecting -----------------------------------------------------------

    def test_connectingConnected(self):
        """
        Plain TCP is usable once made: the link is up, the owner told.
        """
        link = self.connecting()
        protocol = self.accept()
        self.assertState(link, "up")
        self.assertIs(link.protocol, protocol)
        self.assertEqual(self.owner.events, [("changed",), ("up", protocol)])

    def test_connectingOpened(self):
        """
        Over TLS, TCP being up only starts the handshake: nothing may be
        sent yet and the owner is not told.
        """
        link = self.connecting(tls=True)
        self.accept()
        self.assertState(link, "handshaking")
        self.assertIsNone(link.protocol)
        self.assertEqual(self.owner.events, [])

    def test_connectingFailed(self):
        """
        A failed attempt is retried after a delay doubling from 0.1 s up
        to 5 s.
        """
        link = self.connecting()
        delays = []
        for _ in range(8):
            self.refuse()
            self.assertState(link, "waiting")
            (call,) = self.retries()
            delays.append(round(call.getTime() - self.reactor.seconds(), 3))
            self.reactor.advance(delays[-1])
            self.assertState(link, "connecting")
        self.assertEqual(delays, [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])
        self.assertEqual(len(self.reactor.tcpClients), 9)

    def test_retriesSpread(self):
        """
        Each retry waits up to a tenth longer at random, so the requesters
        of a responder that restarts do not all come back together.
        """
        self.patch(backoff.random, "random", lambda: 1.0)
        link = self.connecting()
        self.refuse()
        self.assertState(link, "waiting")
        (call,) = self.retries()
        self.assertAlmostEqual(call.getTime() - self.reactor.seconds(), 0.11)

    def test_connectingClose(self):
        """
        Closing while connecting stops the attempt at once; the failure
        that reports it later changes nothing.
        """
        link = self.connecting()
        self.successResultOf(link.close())
        self.assertState(link, "closed")
        self.assertTrue(self.reactor.connectors[0].stoppedConnecting)
        self.refuse()
        self.assertState(link, "closed")
        self.assertEqual(self.retries(), [])

    # -- handshaking ----------------------------------------------------------

    def test_handshakingConnected(self):
        link, protocol = self.handshaking()
        link.lastError = "earlier"
        protocol.handshakeCompleted()
        self.assertState(link, "up")
        self.assertIs(link.protocol, protocol)
        self.assertIsNone(link.lastError)
        self.assertEqual(self.owner.events, [("changed",), ("up", protocol)])

    def test_handshakingLost(self):
        """
        A handshake that fails is kept in C{lastError}, logged once while
        it repeats, and retried; the owner never heard of the link.
        """
        link, protocol = self.handshaking()
        protocol.connectionLost(tlsFailure())
        self.assertState(link, "waiting")
        self.assertEqual(link.lastError, "certificate verify failed")
        self.assertEqual(len(self.retries()), 1)
        self.reactor.advance(0.1)
        self.accept().connectionLost(tlsFailure())
        self.reactor.advance(0.2)
        self.accept().connectionLost(failure(ConnectionDone()))
        self.assertEqual(link.lastError,
                         "closed by the peer during the TLS handshake")
        warnings = [e for e in self.logged
                    if e.get("log_format", "").startswith("TLS with")]
        self.assertEqual([e["error"] for e in warnings],
                         ["certificate verify failed",
                          "closed by the peer during the TLS handshake"])
        self.assertEqual(self.owner.events, [])

    def test_handshakingClose(self):
        link, protocol = self.handshaking()
        closed = link.close()
        self.assertState(link, "closing")
        self.assertTrue(protocol.transport.disconnecting)
        self.assertNoResult(closed)
        protocol.connectionLost(failure(ConnectionDone()))
        self.successResultOf(closed)
        self.assertState(link, "closed")
        self.assertEqual(self.owner.events, [])

    # -- up -------------------------------------------------------------------

    def test_upMessages(self):
        """
        What the server sends reaches the owner with the link.
        """
        from cocaine.mesh.amp import pack
        link, protocol = self.up()
        protocol.dataReceived(pack(["a", 1]))
        self.assertEqual(self.owner.received, [["a", 1]])

    def test_upLost(self):
        """
        A dropped connection: the owner is told, and the link reconnects
        after the initial delay again.
        """
        link = self.connecting()
        self.refuse()
        self.reactor.advance(0.1)
        protocol = self.accept()
        del self.owner.events[:]
        protocol.connectionLost(failure(ConnectionDone()))
        self.assertState(link, "waiting")
        self.assertIsNone(link.protocol)
        self.assertIsNone(link.lastError)
        self.assertEqual(self.owner.events, [("changed",), ("down", None)])
        (call,) = self.retries()
        self.assertAlmostEqual(call.getTime() - self.reactor.seconds(), 0.1)

    def test_upLostTLS(self):
        """
        Over TLS, a connection lost for TLS itself (a TLS 1.3 server
        refusing our certificate after our handshake) is kept in
        C{lastError}; any other loss is not.
        """
        link, protocol = self.up(tls=True)
        protocol.connectionLost(failure(ConnectionDone()))
        self.assertIsNone(link.lastError)
        self.reactor.advance(0.1)
        protocol = self.accept()
        protocol.handshakeCompleted()
        protocol.connectionLost(tlsFailure("tlsv1 alert unknown ca"))
        self.assertState(link, "waiting")
        self.assertEqual(link.lastError, "tlsv1 alert unknown ca")

    def test_upClose(self):
        """
        Closing an up link takes it out of use at once (the owner is told
        it is down) and fires once the connection is gone, with no retry.
        """
        link, protocol = self.up()
        closed = link.close()
        self.assertState(link, "closing")
        self.assertIsNone(link.protocol)
        self.assertTrue(protocol.transport.disconnecting)
        self.assertEqual(self.owner.events, [("changed",), ("down", None)])
        self.assertNoResult(closed)
        protocol.connectionLost(failure(ConnectionDone()))
        self.successResultOf(closed)
        self.assertState(link, "closed")
        self.assertEqual(self.retries(), [])

    def test_closeFromLinkDown(self):
        """
        An owner closing the link while told it is down (a requester
        stopped from a request's errback) closes it once the loss is
        handled: no retry stays behind.
        """
        link, protocol = self.up()
        closes = []
        self.owner.linkDown = lambda l: closes.append(l.close())
        protocol.connectionLost(failure(ConnectionDone()))
        self.assertState(link, "closed")
        self.successResultOf(closes[0])
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    # -- waiting --------------------------------------------------------------

    def test_waitingConnect(self):
        link = self.waiting()
        self.reactor.advance(0.1)
        self.assertState(link, "connecting")
        self.assertEqual(len(self.reactor.tcpClients), 2)

    def test_waitingClose(self):
        link = self.waiting()
        self.successResultOf(link.close())
        self.assertState(link, "closed")
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    # -- closing --------------------------------------------------------------

    def test_closingClose(self):
        link, protocol, first = self.closing()
        second = link.close()
        self.assertState(link, "closing")
        self.assertNoResult(second)
        protocol.connectionLost(failure(ConnectionDone()))
        self.successResultOf(first)
        self.successResultOf(second)

    def test_closingLost(self):
        link, protocol, closed = self.closing()
        protocol.connectionLost(failure(ConnectionDone()))
        self.assertState(link, "closed")
        self.successResultOf(closed)
        self.assertEqual(self.owner.events, [])
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_closingConnected(self):
        """
        A handshake completing while the link closes does not bring it up.
        """
        link, protocol = self.handshaking()
        closed = link.close()
        protocol.handshakeCompleted()
        self.assertState(link, "closing")
        self.assertIsNone(link.protocol)
        self.assertEqual(self.owner.events, [])
        protocol.connectionLost(failure(ConnectionDone()))
        self.successResultOf(closed)

    # -- closed ---------------------------------------------------------------

    def test_closedClose(self):
        link = self.closed()
        self.assertIsInstance(link.close(), defer.Deferred)
        self.successResultOf(link.close())
        self.assertState(link, "closed")

    def test_closedFailed(self):
        link = self.closed()
        link.machine.failed(failure(ConnectionRefusedError()))
        self.assertState(link, "closed")
        self.assertEqual(self.reactor.getDelayedCalls(), [])
