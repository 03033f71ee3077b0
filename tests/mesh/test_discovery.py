# -*- test-case-name: tests.mesh.test_discovery -*-
"""
Tests for L{cocaine.mesh.discovery} and L{cocaine.mesh.hello}, with a fake
datagram transport and a L{Clock}.
"""

import json
import os
import socket

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.mesh.discovery import (
    LOOPBACK_BROADCAST,
    DiscoveryOptions,
    DiscoveryProtocol,
    addDiscoveryArguments,
    discoveryOptionsFrom,
    listenDiscovery,
)
from cocaine.mesh.hello import (
    BadSignature,
    MalformedHello,
    buildHello,
    checkSignature,
    decryptHello,
    encodeHello,
    encryptHello,
    evpBytesToKey,
    parseHello,
    signHello,
)
from cocaine.testing import FakeDatagramTransport

#: C{printf '{"event":"hello"}' | openssl enc -aes-256-cbc -md md5 -nosalt
#: -k s3cret | xxd -p}, the same bytes Node's C{crypto.createCipher('aes256',
#: 's3cret')} produces.
SECRET = "s3cret"
PLAINTEXT = b'{"event":"hello"}'
CIPHERTEXT = bytes.fromhex(
    "8d1615ab033522a694030bb22c62f952cb7507f36dc8d60ec7556877b1098ee7")
#: What node-discover puts on the wire for it: each byte as a Latin-1
#: character encoded in UTF-8 (computed once with Node 20).
WIRE = bytes.fromhex(
    "c28d1615c2ab033522c2a6c294030bc2b22c62c3b952c38b7507c3b36dc388c3960e"
    "c387556877c2b109c28ec3a7")

AD = {"type": "service", "name": "a", "key": "$$", "axon_type": "rep",
      "port": 4000}


def hello(iid="peer-1", ad=None, **kw):
    return encodeHello(buildHello(iid, ad or AD, pid="p", hostName="h", **kw))


class SecretTests(SynchronousTestCase):
    def test_key(self):
        key, iv = evpBytesToKey(SECRET)
        self.assertEqual((len(key), len(iv)), (32, 16))

    def test_vector(self):
        """
        Encryption matches OpenSSL and node-discover byte for byte.
        """
        self.assertEqual(encryptHello(PLAINTEXT, SECRET), WIRE)
        self.assertEqual(WIRE.decode("utf-8").encode("latin-1"), CIPHERTEXT)
        self.assertEqual(decryptHello(WIRE, SECRET), PLAINTEXT)

    def test_wrongSecret(self):
        self.assertRaises(MalformedHello, decryptHello, WIRE, "other")
        self.assertRaises(MalformedHello, decryptHello, b"\xff\xfe", SECRET)


class HelloTests(SynchronousTestCase):
    def test_fields(self):
        """
        A hello carries cote's exact field names.
        """
        h = buildHello("i", AD, pid="p", hostName="h", weight=-0.17,
                       processCommand=["x"])
        self.assertEqual(h, {
            "event": "hello", "pid": "p", "iid": "i", "hostName": "h",
            "data": {"isMaster": False, "isMasterEligible": True,
                     "weight": -0.17,
                     "address": "127.0.0.1", "advertisement": AD, "id": "i",
                     "processId": "p", "processCommand": ["x"]}})

    def test_weight(self):
        w = buildHello("i", AD)["data"]["weight"]
        self.assertTrue(-1 < w < 0)

    def test_parse(self):
        self.assertEqual(parseHello(hello())["iid"], "peer-1")
        secret = encodeHello(buildHello("i", AD), SECRET)
        self.assertEqual(parseHello(secret, SECRET)["iid"], "i")
        self.assertRaises(MalformedHello, parseHello, secret)

    def test_malformed(self):
        for bad in [b"", b"{", b"[]", b'{"event":"other"}',
                    b'{"event":"hello","iid":"x"}',
                    b'{"event":"hello","iid":"x","data":{}}',
                    json.dumps({"event": "hello", "iid": "x", "data": {
                        "advertisement": {"name": "n"}}}).encode(),
                    hello(ad=dict(AD, port="x")), b"\xff"]:
            self.assertRaises(MalformedHello, parseHello, bad)


class OptionsTests(SynchronousTestCase):
    def test_loopbackDefault(self):
        """
        With no option, hellos go to loopback broadcast only.
        """
        o = DiscoveryOptions()
        self.assertTrue(o.loopbackOnly)
        self.assertEqual(o.destinations(), [(LOOPBACK_BROADCAST, 12345)])
        self.assertEqual(o.bindAddress(), LOOPBACK_BROADCAST)

    def test_lan(self):
        o = DiscoveryOptions(broadcast="255.255.255.255", port=9)
        self.assertFalse(o.loopbackOnly)
        self.assertEqual(o.destinations(), [("255.255.255.255", 9)])
        self.assertEqual(o.bindAddress(), "0.0.0.0")
        unicast = DiscoveryOptions(unicast="10.0.0.1, 10.0.0.2")
        self.assertEqual(unicast.destinations(),
                         [("10.0.0.1", 12345), ("10.0.0.2", 12345)])
        multicast = DiscoveryOptions(multicast="239.1.2.3")
        self.assertEqual(multicast.destinations(), [("239.1.2.3", 12345)])

    def test_exclusive(self):
        self.assertRaises(ValueError, DiscoveryOptions, broadcast="x",
                          multicast="y")
        self.assertRaises(ValueError, DiscoveryOptions, nodeTimeout=1,
                          checkInterval=2)


class ProtocolTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.proto = DiscoveryProtocol(AD, DiscoveryOptions(),
                                       clock=self.clock, iid="me")
        self.transport = FakeDatagramTransport()
        self.added, self.removed = [], []
        self.proto.addObserver(self.added.append, self.removed.append)
        self.proto.makeConnection(self.transport)

    def tearDown(self):
        if self.proto.numPorts:
            self.proto.doStop()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def sent(self):
        return [(json.loads(d)["iid"], a) for d, a in self.transport.written]

    def test_helloEveryInterval(self):
        self.assertEqual(self.sent(), [("me", (LOOPBACK_BROADCAST, 12345))])
        self.clock.pump([1.0] * 4)
        self.assertEqual(len(self.sent()), 3)

    def test_peers(self):
        """
        Peers are keyed by iid, addressed by the source IP, dropped after
        nodeTimeout of silence.
        """
        self.proto.datagramReceived(hello(), ("127.0.0.2", 12345))
        self.assertEqual([p.iid for p in self.added], ["peer-1"])
        peer = self.proto.peers["peer-1"]
        self.assertEqual((peer.address, peer.port, peer.hostName),
                         ("127.0.0.2", 4000, "h"))
        self.clock.pump([1.0] * 3)
        self.proto.datagramReceived(hello(), ("127.0.0.2", 12345))
        self.assertEqual(len(self.added), 1)
        self.clock.pump([1.0] * 5)
        self.assertEqual(self.removed, [])
        self.clock.pump([1.0] * 4)
        self.assertEqual([p.iid for p in self.removed], ["peer-1"])
        self.assertEqual(self.proto.peers, {})

    def test_ownHello(self):
        self.proto.datagramReceived(hello("me"), ("127.0.0.1", 12345))
        self.assertEqual(self.proto.peers, {})

    def test_newcomerAnsweredAtOnce(self):
        """
        A new peer's hello is answered with a hello at once, rate-limited.
        """
        self.clock.advance(1.0)
        self.proto.datagramReceived(hello("a"), ("127.0.0.1", 1))
        self.assertEqual(len(self.sent()), 2)
        self.proto.datagramReceived(hello("b"), ("127.0.0.1", 1))
        self.proto.datagramReceived(hello("c"), ("127.0.0.1", 1))
        self.assertEqual(len(self.sent()), 2)
        self.clock.advance(0.2)
        self.assertEqual(len(self.sent()), 3)
        self.proto.datagramReceived(hello("a"), ("127.0.0.1", 1))
        self.clock.advance(0.5)
        self.assertEqual(len(self.sent()), 3)

    def test_malformedCounted(self):
        self.proto.datagramReceived(b"junk", ("127.0.0.1", 1))
        self.proto.datagramReceived(b'{"event":"hello"}', ("127.0.0.1", 1))
        self.assertEqual(self.proto.malformed, 2)
        self.assertEqual(self.proto.peers, {})

    def test_secret(self):
        """
        With a secret, hellos are encrypted and clear ones are malformed.
        """
        proto = DiscoveryProtocol(AD, DiscoveryOptions(secret=SECRET),
                                  clock=self.clock, iid="s")
        t = FakeDatagramTransport()
        proto.makeConnection(t)
        self.assertEqual(parseHello(t.written[0][0], SECRET)["iid"], "s")
        proto.datagramReceived(hello(), ("127.0.0.1", 1))
        self.assertEqual(proto.malformed, 1)
        proto.datagramReceived(encodeHello(buildHello("x", AD), SECRET),
                               ("127.0.0.1", 1))
        self.assertEqual(list(proto.peers), ["x"])
        proto.doStop()

    def test_stopRemovesPeers(self):
        self.proto.datagramReceived(hello(), ("127.0.0.1", 1))
        self.proto.doStop()
        self.assertEqual([p.iid for p in self.removed], ["peer-1"])


class FakeMulticastPort:
    def __init__(self):
        self.calls = []

    def setTTL(self, ttl):
        self.calls.append(("ttl", ttl))

    def joinGroup(self, group):
        self.calls.append(("join", group))


class FakeReactor:
    """
    Records how L{listenDiscovery} opens its sockets.
    """

    def __init__(self):
        self.adopted = []
        self.multicast = []

    def adoptDatagramPort(self, fileno, family, protocol):
        sock = socket.socket(fileno=os.dup(fileno))
        try:
            self.adopted.append((sock.getsockname(), protocol,
                                 sock.getsockopt(socket.SOL_SOCKET,
                                                 socket.SO_REUSEADDR) != 0,
                                 sock.getsockopt(socket.SOL_SOCKET,
                                                 socket.SO_BROADCAST) != 0))
        finally:
            sock.close()
        return object()

    def listenMulticast(self, port, protocol, interface, listenMultiple):
        self.multicast.append((port, protocol, interface, listenMultiple))
        self.port = FakeMulticastPort()
        return self.port


class ListenTests(SynchronousTestCase):
    def test_loopback(self):
        """
        By default the listening socket binds the loopback broadcast address
        (shared with SO_REUSEADDR) and hellos leave from 127.0.0.1.
        """
        reactor = FakeReactor()
        proto = DiscoveryProtocol(AD, DiscoveryOptions(port=0), clock=Clock())
        ports = listenDiscovery(reactor, proto)
        self.assertEqual(len(ports), 2)
        sending, listening = reactor.adopted
        sendAddr, sender, sendReuse, sendBroadcast = sending
        listenAddr, listener, reuse, bc = listening
        self.assertEqual(sendAddr[0], "127.0.0.1")
        self.assertTrue(sendBroadcast)
        self.assertEqual((listenAddr[0], listener, reuse),
                         (LOOPBACK_BROADCAST, proto, True))
        self.assertIs(proto.sendTransport, ports[1])

    def test_multicast(self):
        reactor = FakeReactor()
        options = DiscoveryOptions(multicast="239.1.2.3", port=9)
        proto = DiscoveryProtocol(AD, options, clock=Clock())
        listenDiscovery(reactor, proto)
        self.assertEqual(reactor.multicast, [(9, proto, "0.0.0.0", True)])
        self.assertEqual(reactor.port.calls,
                         [("ttl", 1), ("join", "239.1.2.3")])

    def test_broadcast(self):
        reactor = FakeReactor()
        options = DiscoveryOptions(broadcast="255.255.255.255", port=0,
                                   address="127.0.0.1")
        proto = DiscoveryProtocol(AD, options, clock=Clock())
        listenDiscovery(reactor, proto)
        ((addr, listener, reuse, broadcast),) = reactor.adopted
        self.assertEqual((addr[0], listener, reuse, broadcast),
                         ("127.0.0.1", proto, True, True))
        self.assertIsNone(proto.sendTransport)


KEY = b"mesh signing key"


class SignedHelloTests(SynchronousTestCase):
    """
    With a signing key, hellos carry an HMAC and unsigned, forged or stale
    ones are refused and counted; cote's parser still reads signed ones.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.proto = DiscoveryProtocol(
            AD, DiscoveryOptions(signingKey=KEY, signatureWindow=30.0),
            clock=self.clock, iid="me")
        self.transport = FakeDatagramTransport()
        self.proto.makeConnection(self.transport)
        self.addCleanup(self.proto.doStop)

    def signed(self, iid="peer-1", key=KEY, at=None):
        found = buildHello(iid, AD, pid="p", hostName="h")
        signHello(found, key, self.clock.seconds() if at is None else at)
        return found

    def test_ourHelloIsSigned(self):
        """
        Our hello verifies with the key and is still a hello anyone parses
        (cote ignores the extra field).
        """
        sent = parseHello(self.transport.written[0][0])
        self.assertEqual(sent["iid"], "me")
        self.assertEqual(sent["signature"]["alg"], "HMAC-SHA256")
        checkSignature(sent, KEY, self.clock.seconds())
        self.assertRaises(BadSignature, checkSignature, sent, b"other",
                          self.clock.seconds())

    def test_signedAccepted(self):
        self.proto.datagramReceived(encodeHello(self.signed()),
                                    ("127.0.0.2", 1))
        self.assertEqual(list(self.proto.peers), ["peer-1"])
        self.assertEqual(self.proto.unsigned, 0)

    def test_refusedAndCounted(self):
        """
        Unsigned, signed with another key, tampered with after signing and
        replayed after the window: all refused, none a peer.
        """
        tampered = self.signed("t")
        tampered["data"]["advertisement"] = dict(AD, port=4001)
        for datagram in (
                hello("plain"),
                encodeHello(self.signed("other", key=b"not the key")),
                encodeHello(tampered),
                encodeHello(self.signed("old",
                                        at=self.clock.seconds() - 31))):
            self.proto.datagramReceived(datagram, ("127.0.0.2", 1))
        self.assertEqual(self.proto.peers, {})
        self.assertEqual(self.proto.unsigned, 4)
        self.assertEqual(self.proto.malformed, 0)

    def test_withSecret(self):
        """
        Signing and the discovery secret combine: signed inside, encrypted
        outside.
        """
        proto = DiscoveryProtocol(
            AD, DiscoveryOptions(signingKey=KEY, secret=SECRET),
            clock=self.clock, iid="s")
        transport = FakeDatagramTransport()
        proto.makeConnection(transport)
        self.addCleanup(proto.doStop)
        sent = parseHello(transport.written[0][0], SECRET)
        checkSignature(sent, KEY, self.clock.seconds())
        self.proto.options.secret = SECRET
        self.proto.datagramReceived(transport.written[0][0], ("127.0.0.2", 1))
        self.assertEqual(list(self.proto.peers), ["s"])

    def test_keyFile(self):
        """
        The command lines take the key from a file, refusing an empty one.
        """
        import argparse
        parser = argparse.ArgumentParser()
        addDiscoveryArguments(parser)
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"  k3y\n")
        options = discoveryOptionsFrom(parser.parse_args(
            ["--signing-key-file", path]))
        self.assertEqual(options.signingKey, b"k3y")
        self.assertIsNone(discoveryOptionsFrom(parser.parse_args([]))
                          .signingKey)
        with open(path, "wb") as f:
            f.write(b"\n")
        self.assertRaises(ValueError, discoveryOptionsFrom,
                          parser.parse_args(["--signing-key-file", path]))
        missing = os.path.abspath(self.mktemp())
        error = self.assertRaises(ValueError, discoveryOptionsFrom,
                                  parser.parse_args(["--signing-key-file",
                                                     missing]))
        self.assertIn(missing, str(error))

    def test_commandLineErrors(self):
        """
        The monitor and the sockend answer a bad discovery flag with one
        line naming it, and exit 1.
        """
        import subprocess
        import sys
        missing = os.path.abspath(self.mktemp())
        for module in ("cocaine.mesh.monitor", "cocaine.mesh.sockend"):
            for argv, expected in (
                    (["--signing-key-file", missing],
                     missing + ": cannot read the signing key file"),
                    (["--broadcast", "127.255.255.255", "--multicast",
                      "239.1.1.1"], "choose one of broadcast")):
                result = subprocess.run(
                    [sys.executable, "-m", module] + argv,
                    capture_output=True, text=True, timeout=60)
                self.assertEqual(result.returncode, 1, result.stderr)
                lines = result.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, result.stderr)
                self.assertTrue(lines[0].startswith(
                    "{}: {}".format(module, expected)), lines)
