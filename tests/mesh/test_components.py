# -*- test-case-name: tests.mesh.test_components -*-
"""
Tests for the components (L{cocaine.mesh.requester},
L{cocaine.mesh.responder}, L{cocaine.mesh.publisher},
L{cocaine.mesh.subscriber}), on a L{MemoryReactorClock} with hellos fed by
hand and connections made with L{iosim}.
"""

from twisted.internet import defer
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase

from cocaine import backoff
from cocaine.mesh.amp import AMPDecoder, pack, unpackArgument
from cocaine.mesh.component import formatKey
from cocaine.mesh.errors import (
    MeshError,
    QueueFull,
    RemoteError,
    RequestTimeout,
    ResponderLost,
    errorObject,
)
from cocaine.mesh.publisher import Publisher
from cocaine.mesh.requester import Requester
from cocaine.mesh.responder import Responder
from cocaine.mesh.subscriber import Subscriber
from cocaine.mesh.hello import buildHello, encodeHello
from cocaine.testing import FakeDatagramTransport


class FakePort:
    def __init__(self, protocol):
        self.protocol = protocol

    def stopListening(self):
        self.protocol.doStop()


def fakeListen(reactor, protocol):
    protocol.makeConnection(FakeDatagramTransport())
    return [FakePort(protocol)]


def make(cls, name="svc", **kw):
    reactor = kw.pop("reactor", None) or MemoryReactorClock()
    c = cls(name, reactor=reactor, **kw)
    c._listenDiscovery = fakeListen
    return c


def announce(component, iid, advertisement, address="127.0.0.1"):
    component.discovery.datagramReceived(
        encodeHello(buildHello(iid, advertisement)), (address, 12345))


def decode(data):
    return [[unpackArgument(p) for p in m] for m in AMPDecoder().feed(data)]


def repAd(port=4000, **kw):
    ad = {"type": "service", "name": "r", "key": "$$", "axon_type": "rep",
          "port": port}
    ad.update(kw)
    return ad


class KeyTests(SynchronousTestCase):
    def test_formatKey(self):
        self.assertEqual(formatKey(), "$$")
        self.assertEqual(formatKey("k"), "$$k")
        self.assertEqual(formatKey("k", "dev"), "dev:$$k")
        self.assertEqual(formatKey(None, "dev"), "dev:$$")

    def test_matching(self):
        """
        Components pair by axon_type, key string and namespace, as cote.
        """
        req = Requester("q", key="k", namespace="n", environment="e")
        ok = repAd(key="e:$$k", namespace="n")

        class P:
            advertisement = None

        for ad, expected in [(ok, True), (dict(ok, key="$$k"), False),
                             (dict(ok, namespace="m"), False),
                             (dict(ok, axon_type="pub-emitter"), False),
                             ({k: v for k, v in ok.items()
                               if k != "namespace"}, False)]:
            p = P()
            p.advertisement = ad
            self.assertEqual(req.matches(p), expected, ad)
        self.assertEqual(req.advertisement["type"], "service")
        self.assertEqual(req.advertisement["name"], "q")


class RequesterTests(SynchronousTestCase):
    def setUp(self):
        # the reconnects' jitter at its least: their times are exact here
        self.patch(backoff.random, "random", lambda: 0.0)
        self.reactor = MemoryReactorClock()
        self.req = make(Requester, reactor=self.reactor, timeout=5.0,
                        queueLimit=2)
        self.req.startService()

    def tearDown(self):
        self.req.stopService()
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def retries(self):
        return [c for c in self.reactor.getDelayedCalls()
                if getattr(c.func, "__name__", None) == "connect"]

    def connect(self, index=-1):
        host, port, factory = self.reactor.tcpClients[index][:3]
        proto = factory.buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        return proto, transport

    def test_queueThenFlush(self):
        """
        Requests queue while no responder is connected and are flushed on
        the first connection, with cote's C{[j:request, s:id]} shape.
        """
        d = self.req.send({"type": "ping", "x": 1})
        self.assertNoResult(d)
        announce(self.req, "r1", repAd())
        self.assertEqual(self.reactor.tcpClients[0][:2], ("127.0.0.1", 4000))
        proto, transport = self.connect()
        (msg,) = decode(transport.value())
        self.assertEqual(msg[0], {"type": "ping", "x": 1})
        proto.dataReceived(pack([None, {"pong": True}, msg[1]]))
        self.assertEqual(self.successResultOf(d), {"pong": True})

    def test_queueFull(self):
        self.req.send({"type": "a"}).addErrback(lambda f: None)
        self.req.send({"type": "a"}).addErrback(lambda f: None)
        f = self.failureResultOf(self.req.send({"type": "a"}), QueueFull)
        self.assertIn("2 requests queued", str(f.value))

    def test_timeout(self):
        d = self.req.send({"type": "slow"})
        self.reactor.advance(4.9)
        self.assertNoResult(d)
        self.reactor.advance(0.1)
        self.failureResultOf(d, RequestTimeout)
        self.assertEqual(len(self.req.queue), 0)
        d = self.req.send({"type": "slow"}, timeout=1.0)
        self.reactor.advance(1.0)
        self.failureResultOf(d, RequestTimeout)

    def deadlineTimers(self):
        return [c for c in self.reactor.getDelayedCalls()
                if getattr(c.func, "__name__", None) == "_fire"]

    def test_oneTimerForAll(self):
        """
        Requests in flight share one timer; each still times out after its
        own timeout, and the timer goes when the last request is answered.
        """
        announce(self.req, "r1", repAd())
        proto, transport = self.connect()
        first = self.req.send({"type": "x"})
        self.reactor.advance(1.0)
        second = self.req.send({"type": "x"})
        self.assertEqual(len(self.deadlineTimers()), 1)
        self.reactor.advance(3.9)
        self.assertNoResult(first)
        self.reactor.advance(0.1)
        self.failureResultOf(first, RequestTimeout)
        self.assertNoResult(second)
        (timer,) = self.deadlineTimers()
        self.assertAlmostEqual(timer.getTime(), 6.0)
        msgs = decode(transport.value())
        proto.dataReceived(pack([None, 2, msgs[1][1]]))
        self.assertEqual(self.successResultOf(second), 2)
        self.assertEqual(self.deadlineTimers(), [])

    def test_shorterTimeoutLater(self):
        """
        A request sent later with a shorter timeout times out first; each
        timeout value expires in order.
        """
        self.req.queueLimit = 10
        failed = []
        ds = [self.req.send({"type": "a"}),
              self.req.send({"type": "b"}, timeout=1.0),
              self.req.send({"type": "c"}, timeout=5.0),
              self.req.send({"type": "d"}, timeout=0.5)]
        for d in ds:
            d.addErrback(lambda f: failed.append(
                (self.reactor.seconds(),
                 f.trap(RequestTimeout) and f.value.message)))
        self.reactor.pump([0.25] * 24)
        self.assertEqual([t for t, _ in failed], [0.5, 1.0, 5.0, 5.0])
        self.assertEqual([m.split("'")[1] for _, m in failed],
                         ["d", "b", "a", "c"])
        self.assertIn("within 0.5 s", failed[0][1])
        self.assertEqual(self.deadlineTimers(), [])

    def test_sendWhileTimingOut(self):
        """
        A request sent from the errback of one that timed out gets its own
        timeout.
        """
        later = []
        d = self.req.send({"type": "a"}, timeout=1.0)
        d.addErrback(lambda f: later.append(
            self.req.send({"type": "b"}, timeout=2.0)))
        self.req.send({"type": "c"}, timeout=10.0).addErrback(lambda f: None)
        self.reactor.advance(1.0)
        (again,) = later
        self.reactor.advance(1.9)
        self.assertNoResult(again)
        self.reactor.advance(0.1)
        self.failureResultOf(again, RequestTimeout)

    def test_connectedLinksCopy(self):
        """
        L{connectedLinks} follows links connecting and dropping, and returns
        a list of its own.
        """
        announce(self.req, "r1", repAd(4001))
        announce(self.req, "r2", repAd(4002))
        self.assertEqual(self.req.connectedLinks(), [])
        (p1, _), _ = self.connect(0), self.connect(1)
        links = self.req.connectedLinks()
        self.assertEqual([l.peer.iid for l in links], ["r1", "r2"])
        links.clear()
        self.assertEqual(len(self.req.connectedLinks()), 2)
        p1.connectionLost(Failure(ConnectionDone()))
        self.assertEqual([l.peer.iid for l in self.req.connectedLinks()],
                         ["r2"])
        self.req.discovery._remove(self.req.discovery.peers["r2"])
        self.assertEqual(self.req.connectedLinks(), [])

    def test_remoteError(self):
        announce(self.req, "r1", repAd())
        proto, transport = self.connect()
        d = self.req.send({"type": "x"})
        (msg,) = decode(transport.value())
        proto.dataReceived(pack([{"message": "no", "code": "E1",
                                  "name": "Err"}, msg[1]]))
        f = self.failureResultOf(d, RemoteError)
        self.assertEqual((f.value.message, f.value.code, f.value.name),
                         ("no", "E1", "Err"))
        d = self.req.send({"type": "x"})
        (msg,) = decode(transport.value())[1:]
        proto.dataReceived(pack([{}, msg[1]]))
        self.assertEqual(self.failureResultOf(d, RemoteError).value.error, {})

    def test_roundRobin(self):
        announce(self.req, "r1", repAd(4001))
        announce(self.req, "r2", repAd(4002))
        (_, t1), (_, t2) = self.connect(0), self.connect(1)
        for _ in range(4):
            self.req.send({"type": "x"}).addErrback(lambda f: None)
        self.assertEqual((len(decode(t1.value())), len(decode(t2.value()))),
                         (2, 2))

    def test_pendingBalanced(self):
        """
        With C{balance="pending"} the responder with the fewest requests in
        flight gets the next one.
        """
        self.req.balance = "pending"
        announce(self.req, "r1", repAd(4001))
        announce(self.req, "r2", repAd(4002))
        (p1, t1), (_, t2) = self.connect(0), self.connect(1)
        ds = [self.req.send({"type": "x"}) for _ in range(3)]
        sent1 = decode(t1.value())
        self.assertEqual((len(sent1), len(decode(t2.value()))), (2, 1))
        for msg in sent1:
            p1.dataReceived(pack([None, 1, msg[1]]))
        ds += [self.req.send({"type": "x"}) for _ in range(2)]
        self.assertEqual((len(decode(t1.value())), len(decode(t2.value()))),
                         (4, 1))
        for d in ds:
            d.addErrback(lambda f: None)

    def test_latencyBalanced(self):
        """
        With C{balance="latency"} unmeasured responders are tried first, then
        the one with the lowest moving average of reply times wins.
        """
        self.req.balance = "latency"
        announce(self.req, "r1", repAd(4001))
        announce(self.req, "r2", repAd(4002))
        (p1, t1), (p2, t2) = self.connect(0), self.connect(1)
        a, b = self.req.send({"type": "x"}), self.req.send({"type": "x"})
        (m1,), (m2,) = decode(t1.value()), decode(t2.value())
        self.reactor.advance(0.5)
        p1.dataReceived(pack([None, 1, m1[1]]))
        self.reactor.advance(1.5)
        p2.dataReceived(pack([None, 2, m2[1]]))
        self.assertEqual((self.successResultOf(a), self.successResultOf(b)),
                         (1, 2))
        self.assertEqual([l.latency for l in self.req.connectedLinks()],
                         [0.5, 2.0])
        for _ in range(3):
            self.req.send({"type": "x"}).addErrback(lambda f: None)
        self.assertEqual((len(decode(t1.value())), len(decode(t2.value()))),
                         (4, 1))
        self.assertRaises(ValueError, Requester, "q", balance="random")

    def test_cancel(self):
        """
        Cancelling a request forgets it, queued or in flight.
        """
        d = self.req.send({"type": "x"})
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertEqual(len(self.req.queue), 0)
        announce(self.req, "r1", repAd())
        proto, transport = self.connect()
        self.assertEqual(transport.value(), b"")
        d = self.req.send({"type": "x"})
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertEqual(self.req.inFlight, {})
        self.assertEqual(self.req.links["r1"].pending, 0)

    def test_subset(self):
        announce(self.req, "r1", repAd(4001))
        announce(self.req, "r2", repAd(4002, subset="blue"))
        (_, t1), (_, t2) = self.connect(0), self.connect(1)
        for _ in range(3):
            d = self.req.send({"type": "x", "__subset": "blue"})
            d.addErrback(lambda f: None)
        self.assertEqual(t1.value(), b"")
        msgs = decode(t2.value())
        self.assertEqual([m[0] for m in msgs], [{"type": "x"}] * 3)

    def test_lostMidRequest(self):
        """
        A request in flight fails with L{ResponderLost} when its connection
        drops; the link reconnects with growing delays.
        """
        announce(self.req, "r1", repAd())
        proto, transport = self.connect()
        d = self.req.send({"type": "x"})
        proto.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(d, ResponderLost)
        self.assertEqual(len(self.reactor.tcpClients), 1)
        factory = self.reactor.tcpClients[0][2]
        delays = []
        for _ in range(4):
            (call,) = self.retries()
            delays.append(round(call.getTime() - self.reactor.seconds(), 3))
            self.reactor.advance(delays[-1])
            factory = self.reactor.tcpClients[-1][2]
            factory.clientConnectionFailed(None,
                                           Failure(ConnectionRefusedError()))
        self.assertEqual(delays, [0.1, 0.2, 0.4, 0.8])
        self.assertEqual(len(self.reactor.tcpClients), 5)

    def test_peerRemovedStopsReconnecting(self):
        announce(self.req, "r1", repAd())
        proto, transport = self.connect()
        self.reactor.pump([1.0] * 12)
        self.assertEqual(self.req.links, {})
        self.assertTrue(transport.disconnecting)
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.retries(), [])

    def test_stopFailsWaiting(self):
        d = self.req.send({"type": "x"})
        self.req.stopService()
        self.failureResultOf(d, MeshError)
        self.req.startService()


class ResponderTests(SynchronousTestCase):
    def setUp(self):
        self.reactor = MemoryReactorClock()
        self.rep = make(Responder, reactor=self.reactor, key="k")
        self.rep.on("plain", lambda req: req["n"] + 1)
        self.rep.on("deferred", lambda req: defer.succeed("d"))

        async def coro(req):
            return "c"

        self.rep.on("coro", coro)

        def boom(req):
            raise MeshError("bad n", "EBADN")

        self.rep.on("boom", boom)
        self.rep.on("crash", lambda req: 1 / 0)
        self.rep.startService()
        factory = self.reactor.tcpServers[0][1]
        self.proto = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)

    def tearDown(self):
        self.rep.stopService()

    def ask(self, request):
        self.transport.clear()
        self.proto.dataReceived(pack([request, "7:1"]))
        return decode(self.transport.value())

    def test_advertisement(self):
        ad = self.rep.advertisement
        self.assertEqual((ad["axon_type"], ad["key"], ad["type"]),
                         ("rep", "$$k", "service"))
        self.assertEqual(sorted(ad["respondsTo"]),
                         ["boom", "coro", "crash", "deferred", "plain"])
        self.assertEqual(self.reactor.tcpServers[0][3], "127.0.0.1")

    def test_handlers(self):
        self.assertEqual(self.ask({"type": "plain", "n": 1}),
                         [[None, 2, "7:1"]])
        self.assertEqual(self.ask({"type": "deferred"}), [[None, "d", "7:1"]])
        self.assertEqual(self.ask({"type": "coro"}), [[None, "c", "7:1"]])

    def test_errors(self):
        """
        Errors reach the requester as message/code/name objects, never {}.
        """
        self.assertEqual(self.ask({"type": "boom"}), [[
            {"message": "bad n", "code": "EBADN", "name": "MeshError"},
            "7:1"]])
        (reply,) = self.ask({"type": "crash"})
        self.assertEqual(reply[0]["name"], "ZeroDivisionError")
        self.assertEqual(reply[0]["code"], "EHANDLER")
        self.assertIn("division", reply[0]["message"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        (reply,) = self.ask({"type": "nope"})
        self.assertEqual(reply[0]["code"], "ENOHANDLER")
        (reply,) = self.ask({"no": "type"})
        self.assertEqual(reply[0]["code"], "EBADREQUEST")

    def test_plainResults(self):
        """
        Plain results are answered at once; a tuple is a JSON list; a result
        JSON cannot encode is logged and not answered.
        """
        self.rep.on("tuple", lambda req: (1, "a"))
        self.rep.on("none", lambda req: None)
        self.rep.on("bad", lambda req: {"x": object()})
        self.assertEqual(self.ask({"type": "tuple"}),
                         [[None, [1, "a"], "7:1"]])
        self.assertEqual(self.ask({"type": "none"}), [[None, None, "7:1"]])
        self.assertEqual(self.ask({"type": "bad"}), [])
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)
        self.assertEqual(self.ask({"type": "plain", "n": 2}),
                         [[None, 3, "7:1"]])

    def test_errorObject(self):
        self.assertEqual(errorObject(ValueError()),
                         {"message": "ValueError", "code": "EHANDLER",
                          "name": "ValueError"})


class PubSubTests(SynchronousTestCase):
    def setUp(self):
        self.reactor = MemoryReactorClock()

    def wire(self, namespace=None):
        pub = make(Publisher, "p", reactor=self.reactor, namespace=namespace,
                   port=4100, broadcasts=["a"])
        sub = make(Subscriber, "s", reactor=self.reactor, namespace=namespace)
        pub.startService()
        sub.startService()
        announce(sub, pub.discovery.iid, pub.advertisement)
        serverFactory = self.reactor.tcpServers[-1][1]
        clientFactory = self.reactor.tcpClients[-1][2]
        sp = serverFactory.buildProtocol(None)
        cp = clientFactory.buildProtocol(None)
        pump = iosim.connect(sp, iosim.FakeTransport(sp, True), cp,
                             iosim.FakeTransport(cp, False))
        self.addCleanup(pub.stopService)
        self.addCleanup(sub.stopService)
        return pub, sub, pump

    def test_topics(self):
        pub, sub, pump = self.wire()
        got = []
        sub.on("a", lambda data, topic: got.append(("a", data)))
        sub.on("*", lambda data, topic: got.append(("*", topic)))
        sub.on("user::*", lambda data, topic: got.append(("user", topic)))
        pub.publish("a", {"x": 1})
        pub.publish("user::created", 2)
        pump.flush()
        self.assertEqual(got, [("a", {"x": 1}), ("*", "a"),
                               ("*", "user::created"),
                               ("user", "user::created")])

    def test_namespace(self):
        """
        A namespaced publisher writes C{message::<ns>::<topic>}; the
        subscriber sees the bare topic.
        """
        pub, sub, pump = self.wire("ns")
        self.assertEqual(sub.advertisement["subscribesTo"], ["*"])
        got = []
        sub.on("t", lambda data, topic: got.append(data))
        pub.publish("t", "hi")
        pump.flush()
        self.assertEqual(got, ["hi"])


    def test_publishToEach(self):
        """
        A publication is written, the same bytes, to every connected
        subscriber; with none, nothing is written.
        """
        pub = make(Publisher, "p", reactor=self.reactor)
        pub.publish("t", {"no": "subscriber"})
        pub.startService()
        self.addCleanup(pub.stopService)
        factory = self.reactor.tcpServers[-1][1]
        transports = []
        for _ in range(2):
            proto = factory.buildProtocol(None)
            transports.append(StringTransport())
            proto.makeConnection(transports[-1])
        pub.publish("t", {"n": 1})
        expected = pack(["message::t", {"n": 1}])
        self.assertEqual([t.value() for t in transports], [expected, expected])


class EndToEndTests(SynchronousTestCase):
    def test_requestReply(self):
        """
        A Requester and a Responder over an in-memory connection.
        """
        reactor = MemoryReactorClock()
        rep = make(Responder, "r", reactor=reactor, port=4100)
        rep.on("add", lambda r: r["a"] + r["b"])
        req = make(Requester, "q", reactor=reactor)
        rep.startService()
        req.startService()
        announce(req, rep.discovery.iid, rep.advertisement)
        sp = reactor.tcpServers[-1][1].buildProtocol(None)
        cp = reactor.tcpClients[-1][2].buildProtocol(None)
        pump = iosim.connect(sp, iosim.FakeTransport(sp, True), cp,
                             iosim.FakeTransport(cp, False))
        d = req.send({"type": "add", "a": 1, "b": 2})
        pump.flush()
        self.assertEqual(self.successResultOf(d), 3)
        req.stopService()
        rep.stopService()


class PeerObserverTests(SynchronousTestCase):
    """
    L{Component.addPeerObserver}: who else hears of the peers a component
    pairs with.
    """

    def setUp(self):
        self.reactor = MemoryReactorClock()
        self.req = make(Requester, reactor=self.reactor)
        self.req.startService()
        self.addCleanup(self.req.stopService)
        self.seen = []

    def added(self, peer):
        # the component took the peer in first: its link exists already
        self.seen.append(("added", peer.iid, peer.iid in self.req.links))

    def removed(self, peer):
        self.seen.append(("removed", peer.iid, peer.iid in self.req.links))

    def test_addedAndRemoved(self):
        """
        Matching peers are reported after the component handled them;
        others are not.
        """
        self.req.addPeerObserver(self.added, self.removed)
        announce(self.req, "r1", repAd())
        announce(self.req, "p1", repAd(axon_type="pub-emitter"))
        self.req.discovery._remove(self.req.discovery.peers["r1"])
        self.assertEqual(self.seen, [("added", "r1", True),
                                     ("removed", "r1", False)])

    def test_knownPeers(self):
        """
        Peers known when the observation starts are reported at once.
        """
        announce(self.req, "r1", repAd())
        self.req.addPeerObserver(self.added, self.removed)
        self.assertEqual(self.seen, [("added", "r1", True)])

    def test_stop(self):
        """
        The function returned stops the observation, once or more.
        """
        stop = self.req.addPeerObserver(self.added, self.removed)
        stop()
        stop()
        announce(self.req, "r1", repAd())
        self.assertEqual(self.seen, [])
        self.assertEqual(list(self.req.links), ["r1"])
