"""
Tests for L{cocaine.cluster.announce}: the announce codec, the datagram
protocol over a fake multicast transport and a L{Clock}.
"""

import msgpack
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.cluster.announce import (
    AnnounceProtocol, MalformedAnnounce, MulticastDiscovery, Unauthenticated,
    _mac, decodeAnnounce, decodeSigned, encodeAnnounce)
from cocaine.config import Cluster
from cocaine.testing import FakeDatagramTransport

US, THEM, OTHER = "uuid-us", "uuid-them", "uuid-other"
GROUP, PORT = "239.0.100.53", 10053
ENDPOINTS = [("127.0.0.1", 10053)]


class CodecTests(SynchronousTestCase):
    """
    L{encodeAnnounce} and L{decodeAnnounce}.
    """

    def test_wireFormat(self):
        """
        Without a secret the datagram is msgpack C{[uuid, [[address,
        port], ...]]}, as PROTOCOL.md section 10 says.
        """
        data = encodeAnnounce(US, [("127.0.0.1", 10053), ("10.0.0.1", 5)])
        self.assertEqual(msgpack.unpackb(data, raw=False),
                         [US, [["127.0.0.1", 10053], ["10.0.0.1", 5]]])
        self.assertEqual(decodeAnnounce(data), (
            US, [("127.0.0.1", 10053), ("10.0.0.1", 5)]))

    def test_rawStrings(self):
        """
        An announce from a packer without the bin type (text as raw) is
        accepted.
        """
        data = msgpack.packb([US.encode(), [[b"127.0.0.1", 1]]],
                             use_bin_type=False)
        self.assertEqual(decodeAnnounce(data), (US, [("127.0.0.1", 1)]))

    def test_hmac(self):
        """
        With a secret the time and a nonce follow, then HMAC-SHA256 over
        the first four; it verifies with the same secret only.
        """
        data = encodeAnnounce(US, ENDPOINTS, "s3cret", 12.5, b"n" * 16)
        value = msgpack.unpackb(data, raw=False)
        self.assertEqual(value[:4], [US, [list(ENDPOINTS[0])], 12.5,
                                     b"n" * 16])
        self.assertEqual(decodeSigned(data, "s3cret"),
                         (US, ENDPOINTS, (12.5, b"n" * 16)))
        self.assertEqual(decodeAnnounce(data, "s3cret"), (US, ENDPOINTS))
        self.assertRaises(Unauthenticated, decodeAnnounce, data, "other")
        self.assertRaises(Unauthenticated, decodeAnnounce,
                          encodeAnnounce(US, ENDPOINTS), "s3cret")
        for index, other in ((1, [["127.0.0.1", 2]]), (2, 13.5),
                             (3, b"m" * 16)):
            tampered = msgpack.unpackb(data, raw=False)
            tampered[index] = other
            self.assertRaises(Unauthenticated, decodeAnnounce,
                              msgpack.packb(tampered, use_bin_type=True),
                              "s3cret")

    def test_oldSignedFormatRefused(self):
        """
        The signed format before the replay window, C{[uuid, endpoints,
        mac]}, is refused with a secret (it has no time) and heard without
        one.
        """
        body = msgpack.packb([US, [list(ENDPOINTS[0])]], use_bin_type=True)
        old = msgpack.packb([US, [list(ENDPOINTS[0])], _mac("s3cret", body)],
                            use_bin_type=True)
        self.assertRaises(Unauthenticated, decodeAnnounce, old, "s3cret")
        self.assertEqual(decodeAnnounce(old), (US, ENDPOINTS))

    def test_timestampNeeded(self):
        """
        A signed announce is not made without its time.
        """
        self.assertRaises(ValueError, encodeAnnounce, US, ENDPOINTS, "s")

    def test_malformed(self):
        """
        Anything else is L{MalformedAnnounce}.
        """
        for data in [b"", b"\xc1", b"\x93\x01", msgpack.packb({"a": 1}),
                     msgpack.packb([US]), msgpack.packb([US, []]),
                     msgpack.packb(["", [["h", 1]]]),
                     msgpack.packb([5, [["h", 1]]]),
                     msgpack.packb([US, [["h", 0]]]),
                     msgpack.packb([US, [["h", 70000]]]),
                     msgpack.packb([US, [["h", "1"]]]),
                     msgpack.packb([US, [["h"]]]),
                     msgpack.packb([US, [["", 1]]]),
                     msgpack.packb([US, "x"]),
                     msgpack.packb([US, [[b"\xff", 1]]], use_bin_type=True),
                     b"\x92" + b"\xa1x" * 5000]:
            self.assertRaises(MalformedAnnounce, decodeAnnounce, data)


class AnnounceProtocolTests(SynchronousTestCase):
    """
    L{AnnounceProtocol} over a fake transport.
    """

    secret = None

    def setUp(self):
        self.clock = Clock()
        self.heard = []
        self.endpoints = list(ENDPOINTS)
        self.protocol = AnnounceProtocol(
            self.clock, US, lambda: self.endpoints,
            lambda *a: self.heard.append(a), GROUP, PORT, 5.0,
            "127.0.0.1", 1, True, self.secret)
        self.transport = FakeDatagramTransport()
        self.protocol.makeConnection(self.transport)
        self.addCleanup(self.protocol.stopProtocol)

    def sent(self):
        return [(decodeAnnounce(data, self.secret), address)
                for data, address in self.transport.written]

    def receive(self, uuid, endpoints=(("127.0.0.1", 2000),), secret=None):
        self.protocol.datagramReceived(
            encodeAnnounce(uuid, list(endpoints), secret or self.secret,
                           self.clock.seconds()),
            ("127.0.0.1", PORT))

    def test_setUp(self):
        """
        Starting sets TTL, loopback mode and the outgoing interface, joins
        the group on the explicit interface, and announces at once.
        """
        self.assertEqual(self.transport.calls, [
            ("setTTL", 1), ("setLoopbackMode", True),
            ("setOutgoingInterface", "127.0.0.1"),
            ("joinGroup", GROUP, "127.0.0.1")])
        self.assertEqual(self.sent(), [((US, ENDPOINTS), (GROUP, PORT))])

    def test_everyInterval(self):
        """
        One announce per interval, with the endpoints of the moment.
        """
        self.clock.pump([5.0] * 3)
        self.assertEqual(len(self.transport.written), 4)
        self.endpoints = [("127.0.0.1", 4242)]
        self.clock.advance(5.0)
        self.assertEqual(self.sent()[-1][0], (US, [("127.0.0.1", 4242)]))
        self.assertEqual(self.protocol.stats["sent"], 5)

    def test_nothingWithoutEndpoints(self):
        """
        Before the locator listens there is nothing to announce.
        """
        self.endpoints = []
        self.clock.advance(5.0)
        self.assertEqual(len(self.transport.written), 1)

    def test_stopStopsTheLoop(self):
        """
        Stopping the protocol leaves no timer behind.
        """
        self.receive("node-1")
        self.receive("node-2")
        self.assertEqual(len(self.clock.getDelayedCalls()), 2)
        self.protocol.stopProtocol()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_heard(self):
        """
        A valid announce of another node is reported with its endpoints;
        our own (looped back) is not.
        """
        self.receive(THEM, [("127.0.0.1", 2000)])
        self.receive(US)
        self.assertEqual(self.heard, [(THEM, [("127.0.0.1", 2000)])])
        self.assertEqual(self.protocol.stats["heard"], 1)

    def test_newNodeAnsweredAtOnce(self):
        """
        A newly heard uuid is answered at once when our last announce is
        older than the reply gap; a known one is not answered again.
        """
        self.clock.advance(2.0)
        self.receive(THEM)
        self.assertEqual(len(self.transport.written), 2)
        self.receive(THEM)
        self.assertEqual(len(self.transport.written), 2)
        self.assertEqual(self.protocol.stats["replies"], 1)

    def test_repliesRateLimited(self):
        """
        Many new nodes at once cost at most one announce per reply gap.
        """
        gap = self.protocol.replyGap
        self.assertEqual(gap, 1.0)
        for i in range(50):
            self.receive("node-{}".format(i))
        # we announced at 0: the answer waits until the gap has passed
        self.assertEqual(len(self.transport.written), 1)
        self.clock.advance(gap)
        self.assertEqual(len(self.transport.written), 2)
        self.clock.advance(0.5)
        for i in range(50, 100):
            self.receive("node-{}".format(i))
        self.clock.advance(0.5)
        self.assertEqual(len(self.transport.written), 3)
        self.assertEqual(len(self.heard), 100)
        self.assertEqual(self.protocol.stats["replies"], 2)

    def test_forgottenAnsweredAgain(self):
        """
        A node that was dropped and comes back is answered at once again.
        """
        self.clock.advance(2.0)
        self.receive(THEM)
        self.clock.advance(2.0)
        self.protocol.forget(THEM)
        self.receive(THEM)
        self.assertEqual(len(self.transport.written), 3)

    def test_malformedCounted(self):
        """
        Garbage is ignored and counted, and does not stop the protocol.
        """
        for data in [b"", b"\xff" * 100, msgpack.packb([1, 2, 3, 4])]:
            self.protocol.datagramReceived(data, ("127.0.0.1", 1))
        self.assertEqual(self.protocol.stats["malformed"], 3)
        self.assertEqual(self.heard, [])
        self.receive(THEM)
        self.assertEqual(len(self.heard), 1)

    def test_signedAnnounceWithoutSecret(self):
        """
        Without a secret of ours a signed announce is still heard.
        """
        if self.secret is not None:
            return
        self.receive(THEM, secret="theirs")
        self.assertEqual(len(self.heard), 1)


class SecretTests(AnnounceProtocolTests):
    """
    The same with a cluster secret: our announces carry the HMAC, and
    announces without a valid one are ignored and counted.
    """

    secret = "cluster-secret"

    def test_unauthenticatedCounted(self):
        self.protocol.datagramReceived(
            encodeAnnounce(THEM, [("127.0.0.1", 1)]), ("127.0.0.1", 1))
        self.protocol.datagramReceived(
            encodeAnnounce(OTHER, [("127.0.0.1", 1)], "wrong", 0.0),
            ("127.0.0.1", 1))
        self.assertEqual(self.heard, [])
        self.assertEqual(self.protocol.stats["unauthenticated"], 2)
        self.assertEqual(self.protocol.stats["replies"], 0)
        self.assertEqual(len(self.transport.written), 1)

    def test_replayIgnored(self):
        """
        An announce heard once is not heard again from a replay of the
        same datagram within the window, and is counted C{replayed}.
        """
        data = encodeAnnounce(THEM, ENDPOINTS, self.secret, 0.0)
        self.protocol.datagramReceived(data, ("127.0.0.1", 1))
        self.clock.advance(10)
        self.protocol.datagramReceived(data, ("127.0.0.1", 1))
        self.assertEqual(len(self.heard), 1)
        self.assertEqual(self.protocol.stats["replayed"], 1)

    def test_staleIgnored(self):
        """
        A signed announce made more than C{replay-window} seconds before
        (or after: a clock ahead) ours is ignored and counted C{stale};
        within the window, either way, it is heard.
        """
        self.clock.advance(1000)
        for when in (1000 - 31, 1000 + 31):
            self.protocol.datagramReceived(
                encodeAnnounce(THEM, ENDPOINTS, self.secret, when),
                ("127.0.0.1", 1))
        self.assertEqual(self.heard, [])
        self.assertEqual(self.protocol.stats["stale"], 2)
        for when in (1000 - 29, 1000 + 29):
            self.protocol.datagramReceived(
                encodeAnnounce(THEM, ENDPOINTS, self.secret, when),
                ("127.0.0.1", 1))
        self.assertEqual(len(self.heard), 2)

    def test_ownAnnouncesTimestamped(self):
        """
        Our announces carry our clock's time and a fresh nonce each.
        """
        self.clock.advance(3)
        self.protocol.announce()
        stamps = [decodeSigned(data, self.secret)[2]
                  for data, _ in self.transport.written]
        self.assertEqual([t for t, _ in stamps], [0.0, 3.0])
        self.assertNotEqual(stamps[0][1], stamps[1][1])


class MulticastDiscoveryTests(SynchronousTestCase):
    """
    L{MulticastDiscovery} listens with C{listenMulticast}.
    """

    def test_listens(self):
        """
        It listens on the group's port, bound to the group address, with
        C{listenMultiple}, and stops listening when stopped.
        """
        reactor = MemoryReactorClock()
        calls = []
        reactor.listenMulticast = lambda port, proto, interface="", \
            maxPacketSize=8192, listenMultiple=False: calls.append(
                (port, proto, interface, listenMultiple)) or _Port()
        service = MulticastDiscovery(
            reactor, Cluster(discovery="multicast", port=4444), US,
            lambda: ENDPOINTS, lambda *a: None)
        service.startService()
        self.assertEqual(calls, [(4444, service.protocol, GROUP, True)])
        self.assertEqual(service.protocol.interface, "127.0.0.1")
        service.stopService()
        self.assertTrue(service._port is None)


class _Port:
    def stopListening(self):
        return None
