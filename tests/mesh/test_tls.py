# -*- test-case-name: tests.mesh.test_tls -*-
"""
Mutual TLS between our own components (L{cocaine.mesh.tls}), over real
loopback sockets with a private discovery port, with a throwaway CA and
leaf certificates made here.
"""

import datetime
import os
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import defer, reactor, task
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from cocaine.mesh import (
    DiscoveryOptions,
    Publisher,
    RemoteError,
    Requester,
    RequestTimeout,
    ResponderLost,
    Responder,
    Subscriber,
)
from cocaine.mesh.tls import DEFAULT_HOSTNAME, MeshTLS
from tests.certs import encryptedKey
from tests.ports import freeUDPPort


def _name(commonName):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, commonName)])


def _pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def makeCA(commonName):
    """
    A self-signed CA: (certificate, key).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(commonName)).issuer_name(_name(commonName))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                           critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def makeLeaf(ca, commonName, dnsName=DEFAULT_HOSTNAME):
    """
    A leaf certificate signed by C{ca}, with C{dnsName} in its
    subjectAltName: (certificate, key).
    """
    caCert, caKey = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(commonName)).issuer_name(caCert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(dnsName)]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .sign(caKey, hashes.SHA256()))
    return cert, key


class TLSTests(TestCase):
    timeout = 30

    def setUp(self):
        self.options = DiscoveryOptions(port=freeUDPPort(), helloInterval=0.1,
                                        checkInterval=0.5, nodeTimeout=1.0)
        self.dir = tempfile.mkdtemp()
        self.addCleanup(self._removeDir)
        self.ca = makeCA("mesh test CA")
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def _removeDir(self):
        for name in os.listdir(self.dir):
            os.remove(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def identity(self, name, ca=None):
        """
        A L{MeshTLS} from PEM files: a leaf named C{name} signed by C{ca}
        (default ours), trusting our CA.
        """
        cert, key = makeLeaf(ca or self.ca, name)
        return MeshTLS.fromFiles(
            certificate=self.write(
                name + ".crt", cert.public_bytes(serialization.Encoding.PEM)),
            privateKey=self.write(name + ".key", _pem(key)),
            ca=self.write("ca.crt",
                          self.ca[0].public_bytes(serialization.Encoding.PEM)))

    def start(self, component):
        component.startService()
        self.addCleanup(component.stopService)
        return component

    async def until(self, condition, seconds=5.0):
        for _ in range(int(seconds / 0.05)):
            if condition():
                return
            await task.deferLater(reactor, 0.05)
        self.fail("not within {:g} s: {!r}".format(seconds, condition))

    def logged(self, text):
        from twisted.logger import formatEvent
        return [formatEvent(e) for e in self.events if text in formatEvent(e)]

    async def test_requestReply(self):
        """
        A TLS Requester calls a TLS Responder: replies and error objects
        cross, over a TLS transport; the Responder advertises C{"tls"}.
        """
        rep = Responder("r", discovery=self.options, tls=self.identity("rep"))
        rep.on("add", lambda r: r["a"] + r["b"])

        def boom(r):
            raise ValueError("nope")

        rep.on("boom", boom)
        self.start(rep)
        self.assertIs(rep.advertisement["tls"], True)
        req = self.start(Requester("q", discovery=self.options, timeout=10,
                                   tls=self.identity("req")))
        self.assertEqual(await req.send({"type": "add", "a": 2, "b": 3}), 5)
        with self.assertRaises(RemoteError) as c:
            await req.send({"type": "boom"})
        self.assertEqual(c.exception.error,
                         {"message": "nope", "code": "EHANDLER",
                          "name": "ValueError"})
        self.flushLoggedErrors(ValueError)
        [link] = req.connectedLinks()
        from twisted.protocols.tls import TLSMemoryBIOProtocol
        self.assertIsInstance(link.protocol.transport, TLSMemoryBIOProtocol)
        # many pipelined requests: the write batching (sendNow) must go
        # through TLS, not around it onto the socket
        results = await defer.gatherResults(
            [req.send({"type": "add", "a": i, "b": 1}) for i in range(200)])
        self.assertEqual(results, [i + 1 for i in range(200)])

    async def test_pubSub(self):
        """
        A TLS Publisher reaches a TLS Subscriber, also with a backlog far
        over what the write path keeps in Twisted's buffer.
        """
        pub = self.start(Publisher("p", discovery=self.options,
                                   tls=self.identity("pub")))
        sub = Subscriber("s", discovery=self.options, tls=self.identity("sub"))
        got = []
        done = defer.Deferred()

        def received(data, topic):
            got.append(data)
            if data == "last":
                done.callback(None)

        sub.on("t", received)
        self.start(sub)
        await self.until(lambda: sub.connectedLinks() and pub._connections)
        await task.deferLater(reactor, 0.05)
        pub.publish("t", [1, 2])
        blob = "x" * 1024
        for i in range(2000):  # ~2 MB at once: the backlog producer over TLS
            pub.publish("t", [i, blob])
        pub.publish("t", "last")
        await done
        self.assertEqual(got[0], [1, 2])
        self.assertEqual([d[0] for d in got[1:-1]], list(range(2000)))

    async def test_otherCA(self):
        """
        A Responder whose certificate another CA signed is never connected:
        requests queue and time out naming the TLS failure, which both ends
        log.
        """
        other = makeCA("another CA")
        rep = Responder("r", discovery=self.options,
                        tls=self.identity("rep", ca=other))
        rep.on("add", lambda r: r["a"] + r["b"])
        self.start(rep)
        req = self.start(Requester("q", discovery=self.options,
                                   tls=self.identity("req")))
        d = req.send({"type": "add", "a": 2, "b": 3}, timeout=1.5)
        with self.assertRaises(RequestTimeout) as c:
            await d
        self.assertIn("TLS failed with r:", str(c.exception))
        self.assertIn("certificate verify failed", str(c.exception))
        self.assertEqual(req.connectedLinks(), [])
        self.assertTrue(self.logged("TLS with <Peer r"), self.events)
        self.assertTrue(self.logged("r: TLS with"), self.events)

    async def test_plainBesideTLS(self):
        """
        A plain Requester does not connect to a TLS Responder (and logs it
        once), and a TLS Requester not to a plain one; each pair still works.
        """
        tlsRep = Responder("tlsRep", discovery=self.options,
                           tls=self.identity("rep"))
        tlsRep.on("who", lambda r: "tls")
        self.start(tlsRep)
        plainRep = Responder("plainRep", discovery=self.options)
        plainRep.on("who", lambda r: "plain")
        self.start(plainRep)
        plainReq = self.start(Requester("plainReq", discovery=self.options,
                                        timeout=5))
        tlsReq = self.start(Requester("tlsReq", discovery=self.options,
                                      timeout=5, tls=self.identity("req")))
        for _ in range(4):
            self.assertEqual(await plainReq.send({"type": "who"}), "plain")
            self.assertEqual(await tlsReq.send({"type": "who"}), "tls")
        await self.until(lambda: len(self.logged("not connecting to")) >= 2)
        # many more hellos: still logged once
        await task.deferLater(reactor, 0.5)
        self.assertEqual([l.peer.advertisement["name"]
                          for l in plainReq.connectedLinks()],
                         ["plainRep"])
        self.assertEqual([l.peer.advertisement["name"]
                          for l in tlsReq.connectedLinks()],
                         ["tlsRep"])
        self.assertEqual(
            len(self.logged("plainReq: not connecting to <Peer tlsRep")), 1)
        self.assertEqual(
            len(self.logged("tlsReq: not connecting to <Peer plainRep")), 1)
        self.assertEqual(len(tlsRep._connections), 1)

    async def test_requesterFromOtherCA(self):
        """
        A Requester whose certificate another CA signed is refused by the
        Responder, which logs it; its requests fail naming TLS (with TLS 1.3
        the client's handshake ends before the server checks its
        certificate, so the link may come up for a moment).
        """
        rep = Responder("r", discovery=self.options, tls=self.identity("rep"))
        rep.on("add", lambda r: r["a"] + r["b"])
        self.start(rep)
        tls = self.identity("req", ca=makeCA("another CA"))
        req = self.start(Requester("q", discovery=self.options, tls=tls))
        with self.assertRaises((RequestTimeout, ResponderLost)) as c:
            await req.send({"type": "add", "a": 2, "b": 3}, timeout=1.5)
        self.assertIn("TLS", str(c.exception))
        self.assertTrue(self.logged("r: TLS with"), self.events)


class KeyFileTests(TestCase):
    """
    A component's key is loaded without ever asking for a passphrase: an
    encrypted one is refused at once, naming its file (OpenSSL's own
    loader asked the terminal, and the component waited there).
    """

    def test_encryptedKeyRefused(self):
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        ca = makeCA("mesh test CA")
        cert, _ = makeLeaf(ca, "component")
        paths = {}
        for name, data in (
                ("c.crt", cert.public_bytes(serialization.Encoding.PEM)),
                ("c.key", encryptedKey()),
                ("ca.crt", ca[0].public_bytes(serialization.Encoding.PEM))):
            paths[name] = os.path.join(directory, name)
            with open(paths[name], "wb") as f:
                f.write(data)
        e = self.assertRaises(ValueError, MeshTLS.fromFiles,
                              certificate=paths["c.crt"],
                              privateKey=paths["c.key"], ca=paths["ca.crt"])
        self.assertIn("the mesh's TLS key {!r}: the key is encrypted"
                      .format(paths["c.key"]), str(e))
