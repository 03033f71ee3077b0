# -*- test-case-name: tests.mesh.test_requester -*-
"""
Tests for L{cocaine.mesh.requester.RequesterMachine}: what each input does
in each state, on a L{MemoryReactorClock} with hellos fed by hand and
connections on L{StringTransport}s.
"""

from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from cocaine import backoff
from cocaine.mesh.amp import pack
from cocaine.mesh.errors import MeshError, ResponderLost
from cocaine.mesh.requester import Requester, RequesterMachine
from cocaine.statemachine import initialState, transitions
from tests.mesh.test_components import announce, decode, make, repAd


class RequesterMachineTests(SynchronousTestCase):
    def setUp(self):
        # the reconnects' jitter at its least: their times are exact here
        self.patch(backoff.random, "random", lambda: 0.0)
        self.reactor = MemoryReactorClock()
        self.req = make(Requester, reactor=self.reactor, timeout=5.0)
        self.addCleanup(self.req.stopService)

    def assertState(self, name):
        self.assertEqual(self.req.machine.stateName(), name)

    def responder(self, iid, port, **advertised):
        """
        A responder is discovered and its connection accepted.

        @return: the link's protocol and transport.
        """
        announce(self.req, iid, repAd(port, **advertised))
        factory = self.reactor.tcpClients[-1][2]
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def drop(self, protocol):
        protocol.connectionLost(Failure(ConnectionDone()))

    def serving(self):
        self.req.startService()
        return self.responder("r1", 4001)

    # -- the table ------------------------------------------------------------

    def test_table(self):
        """
        The transition table is the spec of the requester's lifecycle.
        """
        self.assertEqual(initialState(RequesterMachine), "stopped")
        self.assertEqual(
            [(old, symbol, new) for old, symbol, new, _ in
             transitions(RequesterMachine)],
            [("serving", "allLinksDown", "waiting"),
             ("serving", "linkDown", "serving"),
             ("serving", "linkUp", "serving"),
             ("serving", "start", "serving"),
             ("serving", "stop", "stopped"),
             ("stopped", "allLinksDown", "stopped"),
             ("stopped", "linkDown", "stopped"),
             ("stopped", "start", "waiting"),
             ("stopped", "stop", "stopped"),
             ("waiting", "linkUp", "serving"),
             ("waiting", "start", "waiting"),
             ("waiting", "stop", "stopped")])

    # -- stopped --------------------------------------------------------------

    def test_stoppedSendQueues(self):
        """
        Requests given before the start wait for a responder.
        """
        d = self.req.send({"type": "x"})
        self.assertState("stopped")
        self.assertEqual(len(self.req.queue), 1)
        self.req.startService()
        protocol, transport = self.responder("r1", 4001)
        (message,) = decode(transport.value())
        protocol.dataReceived(pack([None, "ok", message[1]]))
        self.assertEqual(self.successResultOf(d), "ok")

    def test_stoppedStart(self):
        self.assertIsNone(self.req.discovery)
        self.req.startService()
        self.assertState("waiting")
        self.assertTrue(self.req.running)
        self.assertIsNotNone(self.req.discovery)

    def test_stoppedStop(self):
        """
        Stopping a requester that never started fails what it was given.
        """
        d = self.req.send({"type": "x"})
        self.successResultOf(self.req.stopService())
        self.assertState("stopped")
        f = self.failureResultOf(d, MeshError)
        self.assertEqual(f.value.code, "ESTOPPED")
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_stoppedLinksDown(self):
        """
        Links that report going down after a stop change nothing.
        """
        self.req.machine.linkDown(object())
        self.req.machine.allLinksDown()
        self.assertState("stopped")

    # -- waiting --------------------------------------------------------------

    def test_waitingSendQueues(self):
        self.req.startService()
        d = self.req.send({"type": "x"})
        self.assertNoResult(d)
        self.assertEqual(list(self.req.queue)[0].message, {"type": "x"})
        d.addErrback(lambda f: f.trap(MeshError))

    def test_waitingLinkUp(self):
        """
        The first link up takes the queued requests, and the next ones go
        straight to it.
        """
        self.req.startService()
        first = self.req.send({"type": "a"})
        protocol, transport = self.responder("r1", 4001)
        self.assertState("serving")
        self.assertEqual(len(self.req.queue), 0)
        second = self.req.send({"type": "b"})
        messages = decode(transport.value())
        self.assertEqual([m[0] for m in messages],
                         [{"type": "a"}, {"type": "b"}])
        for message in messages:
            protocol.dataReceived(pack([None, message[0]["type"],
                                        message[1]]))
        self.assertEqual((self.successResultOf(first),
                          self.successResultOf(second)), ("a", "b"))

    def test_waitingStart(self):
        """
        Starting again while started opens nothing more.
        """
        self.req.startService()
        discovery = self.req.discovery
        self.req.machine.start()
        self.assertState("waiting")
        self.assertIs(self.req.discovery, discovery)

    def test_waitingStop(self):
        """
        Stopping fails the queue, closes the links that were still
        connecting and stops discovery.
        """
        self.req.startService()
        d = self.req.send({"type": "x"})
        announce(self.req, "r1", repAd(4001))
        stopped = self.req.stopService()
        self.assertState("stopped")
        self.assertEqual(self.failureResultOf(d, MeshError).value.code,
                         "ESTOPPED")
        self.assertTrue(self.reactor.connectors[0].stoppedConnecting)
        self.assertFalse(self.req.running)
        self.assertEqual(self.req.links, {})
        self.successResultOf(stopped)

    # -- serving --------------------------------------------------------------

    def test_servingLinkUp(self):
        """
        Another link up takes the queued requests only it may take.
        """
        self.serving()
        d = self.req.send({"type": "x", "__subset": "blue"})
        self.assertEqual(len(self.req.queue), 1)
        protocol, transport = self.responder("r2", 4002, subset="blue")
        self.assertState("serving")
        (message,) = decode(transport.value())
        self.assertEqual(message[0], {"type": "x"})
        protocol.dataReceived(pack([None, 1, message[1]]))
        self.assertEqual(self.successResultOf(d), 1)

    def test_servingLinkDown(self):
        """
        A link going down while others are up fails its requests in
        flight only; new requests go to the others.
        """
        p1, t1 = self.serving()
        p2, t2 = self.responder("r2", 4002)
        lost, kept = self.req.send({"type": "a"}), self.req.send({"type": "b"})
        self.drop(p1)
        self.assertState("serving")
        self.failureResultOf(lost, ResponderLost)
        self.assertNoResult(kept)
        self.req.send({"type": "c"}).addErrback(lambda f: None)
        self.assertEqual([m[0]["type"] for m in decode(t2.value())],
                         ["b", "c"])
        kept.addErrback(lambda f: None)

    def test_servingAllLinksDown(self):
        """
        With the last link down, requests in flight fail and new ones
        queue until a link is up again.
        """
        protocol, transport = self.serving()
        inFlight = self.req.send({"type": "a"})
        self.drop(protocol)
        self.assertState("waiting")
        f = self.failureResultOf(inFlight, ResponderLost)
        self.assertIn("while it handled 'a'", f.value.message)
        queued = self.req.send({"type": "b"})
        self.assertEqual(len(self.req.queue), 1)
        self.reactor.advance(0.1)
        protocol = self.reactor.tcpClients[-1][2].buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.assertState("serving")
        (message,) = decode(transport.value())
        protocol.dataReceived(pack([None, "b", message[1]]))
        self.assertEqual(self.successResultOf(queued), "b")

    def test_servingPeerRemoved(self):
        """
        A responder that stops saying hello is out of use at once: its
        requests in flight fail, and with no other link, new ones queue.
        """
        self.serving()
        inFlight = self.req.send({"type": "a"})
        self.req.discovery._remove(self.req.discovery.peers["r1"])
        self.assertState("waiting")
        self.failureResultOf(inFlight, ResponderLost)
        self.req.send({"type": "b"}).addErrback(lambda f: None)
        self.assertEqual(len(self.req.queue), 1)

    def test_servingStart(self):
        self.serving()
        self.req.machine.start()
        self.assertState("serving")

    def test_servingStop(self):
        """
        Requests in flight fail as stopped (not as lost), the links close
        and the Deferred fires once they are gone.
        """
        protocol, transport = self.serving()
        inFlight = self.req.send({"type": "a"})
        stopped = self.req.stopService()
        self.assertState("stopped")
        self.assertEqual(self.failureResultOf(inFlight, MeshError).value.code,
                         "ESTOPPED")
        self.assertTrue(transport.disconnecting)
        self.assertNoResult(stopped)
        self.drop(protocol)
        self.successResultOf(stopped)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_stopFromErrback(self):
        """
        A requester stopped from the errback of a request that failed as
        its link dropped stops once the drop is handled.
        """
        protocol, transport = self.serving()
        stops = []
        d = self.req.send({"type": "a"})
        d.addErrback(lambda f: stops.append(self.req.stopService()))
        self.drop(protocol)
        self.assertState("stopped")
        self.successResultOf(stops[0])
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_restart(self):
        """
        A stopped requester starts again and serves.
        """
        protocol, transport = self.serving()
        stopped = self.req.stopService()
        self.drop(protocol)
        self.successResultOf(stopped)
        self.req.startService()
        self.assertState("waiting")
        protocol, transport = self.responder("r1", 4001)
        self.assertState("serving")
        d = self.req.send({"type": "x"})
        (message,) = decode(transport.value())
        protocol.dataReceived(pack([None, 2, message[1]]))
        self.assertEqual(self.successResultOf(d), 2)

    def test_sendIsNoInput(self):
        """
        Sending and replies do not go through the machine.
        """
        protocol, transport = self.serving()
        inputs = []
        machine = self.req.machine

        class Recording:
            def __getattr__(self, name):
                inputs.append(name)
                return getattr(machine, name)

        self.req.machine = Recording()
        d = self.req.send({"type": "x"})
        (message,) = decode(transport.value())
        protocol.dataReceived(pack([None, 3, message[1]]))
        self.assertEqual(self.successResultOf(d), 3)
        self.assertEqual(inputs, [])
        self.req.machine = machine
        self.assertIsInstance(self.req.stopService(), defer.Deferred)
