"""
Tests for L{cocaine.rpc.tls} and the C{network.tls} config it reads: the
config's checks, the client's options, and a node endpoint's factory
speaking TLS to our client in memory (L{twisted.test.iosim}).
"""

import os
from pathlib import Path

from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.internet.task import Clock
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import DEFAULTS, TLS, ConfigError, parse
from cocaine.rpc.tls import (
    ClientTLS, namedSource, peerCertificate, pemCertificates,
    privateCertificate, privateKey, serverOptions, wrapServer)
from tests.certs import CA, encryptedKey, write


class _Files(SynchronousTestCase):

    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        self.ca = CA()
        cert, key, _ = self.ca.server("127.0.0.1")
        self.cert = write(self.directory, "node.pem", cert, 0o644)
        self.key = write(self.directory, "node.key", key, 0o600)
        self.caPath = write(self.directory, "ca.pem", self.ca.pem, 0o644)

    def parse(self, tls):
        value = dict(DEFAULTS)
        value["network"] = {"bind": "127.0.0.1", "tls": tls}
        return parse(value)

    def assertError(self, tls, path, text):
        error = self.assertRaises(ConfigError, self.parse, tls)
        self.assertEqual(error.path, path)
        self.assertIn(text, error.reason)


class ConfigTests(_Files):
    """
    C{network.tls}: every key checked, the error naming it.
    """

    def test_parsed(self):
        config = self.parse({"cert": self.cert, "key": self.key,
                             "client-ca": self.caPath, "endpoints": "all"})
        self.assertEqual(config.network.tls, TLS(self.cert, self.key,
                                                 self.caPath, "all"))
        self.assertEqual(config.network.bind, "127.0.0.1")

    def test_off(self):
        self.assertIsNone(parse(DEFAULTS).network.tls)

    def test_required(self):
        self.assertError({"key": self.key}, "network.tls.cert",
                         "is required")
        self.assertError({"cert": self.cert}, "network.tls.key",
                         "is required")
        self.assertError("yes", "network.tls", "must be a map")

    def test_unknownKey(self):
        self.assertError({"cert": self.cert, "key": self.key, "ca": "x"},
                         "network.tls.ca", "unknown key")

    def test_unreadable(self):
        missing = os.path.join(self.directory, "nope.pem")
        self.assertError({"cert": missing, "key": self.key},
                         "network.tls.cert", "cannot read certificate")
        self.assertError({"cert": self.cert, "key": self.key,
                          "client-ca": missing},
                         "network.tls.client-ca", "cannot read")

    def test_notPEM(self):
        junk = write(self.directory, "junk", b"junk", 0o600)
        self.assertError({"cert": junk, "key": self.key},
                         "network.tls.cert", "not a PEM file")
        self.assertError({"cert": self.key, "key": self.key},
                         "network.tls.cert", "not a PEM certificate")

    def test_keyReadableByOthers(self):
        os.chmod(self.key, 0o644)
        self.assertError({"cert": self.cert, "key": self.key},
                         "network.tls.key", "mode 644")
        os.chmod(self.key, 0o640)
        self.parse({"cert": self.cert, "key": self.key})

    def test_keyOfAnotherCertificate(self):
        _, other, _ = self.ca.server("127.0.0.2")
        other = write(self.directory, "other.key", other, 0o600)
        self.assertError({"cert": self.cert, "key": other},
                         "network.tls.key", "is not the key of")

    def test_endpoints(self):
        self.assertError({"cert": self.cert, "key": self.key,
                          "endpoints": "some"},
                         "network.tls.endpoints", 'must be "all"')


class ClientTLSTests(_Files):
    """
    L{ClientTLS} and its environment variables.
    """

    def test_fromEnvironment(self):
        self.assertIsNone(ClientTLS.fromEnvironment({}))
        self.assertIsNone(ClientTLS.fromEnvironment({"COCAINE_TLS_CA": ""}))
        tls = ClientTLS.fromEnvironment({"COCAINE_TLS_CA": self.caPath,
                                         "COCAINE_TLS_SERVER_NAME": "n"})
        self.assertEqual(tls.ca, self.ca.pem)
        self.assertEqual(tls.serverName, "n")

    def test_keyWithoutCertificate(self):
        self.assertRaises(ValueError, ClientTLS, self.caPath, None, self.key)

    def test_missingFile(self):
        self.assertRaises(OSError, ClientTLS, os.path.join(
            self.directory, "nope"))


class _Greeting(Protocol):
    def connectionMade(self):
        self.transport.write(b"hello")


class _Reader(Protocol):
    received = b""

    def dataReceived(self, data):
        self.received += data


class HandshakeTests(_Files):
    """
    The factory an endpoint listens with, against our client's options,
    in memory.
    """

    def pump(self, clientTLS, clientCA=None):
        tls = TLS(self.cert, self.key, clientCA)
        clock = Clock()
        server = wrapServer(tls, Factory.forProtocol(_Greeting), clock)
        reader = _Reader()
        readers = Factory()
        readers.buildProtocol = lambda addr: reader
        client = TLSMemoryBIOFactory(clientTLS.creator("127.0.0.1"), True,
                                     readers, clock=clock)
        serverProtocol = server.buildProtocol(None)
        clientProtocol = client.buildProtocol(None)
        pump = iosim.connect(serverProtocol, iosim.makeFakeServer(
            serverProtocol), clientProtocol, iosim.makeFakeClient(
                clientProtocol))
        for _ in range(10):
            clock.advance(0)
            pump.flush()
        return serverProtocol, reader

    def test_plain(self):
        self.assertIs(wrapServer(None, self), self)

    def test_refusedByTheWrappedFactory(self):
        """
        A connection the wrapped factory refuses (L{None}: a connection
        limit) is refused, not wrapped.
        """
        refusing = Factory()
        refusing.buildProtocol = lambda addr: None
        server = wrapServer(TLS(self.cert, self.key), refusing, Clock())
        self.assertIsNone(server.buildProtocol(None))

    def test_verified(self):
        _, reader = self.pump(ClientTLS(self.caPath))
        self.assertEqual(reader.received, b"hello")

    def test_otherCA(self):
        other = write(self.directory, "other.pem", CA("other").pem, 0o644)
        _, reader = self.pump(ClientTLS(other))
        self.assertEqual(reader.received, b"")

    def test_wrongName(self):
        _, reader = self.pump(ClientTLS(self.caPath, serverName="10.0.0.1"))
        self.assertEqual(reader.received, b"")

    def test_clientCertificate(self):
        cert, key, _ = self.ca.client("uid:4", ["cid:2"])
        cert = write(self.directory, "c.pem", cert)
        key = write(self.directory, "c.key", key)
        server, reader = self.pump(ClientTLS(self.caPath, cert, key),
                                   clientCA=self.caPath)
        self.assertEqual(reader.received, b"hello")
        from cryptography.x509.oid import NameOID
        subject = peerCertificate(server).subject
        self.assertEqual(subject.get_attributes_for_oid(
            NameOID.COMMON_NAME)[0].value, "uid:4")

    def test_clientCertificateRequired(self):
        _, reader = self.pump(ClientTLS(self.caPath), clientCA=self.caPath)
        self.assertEqual(reader.received, b"")

    def test_peerCertificateWithoutTLS(self):
        self.assertIsNone(peerCertificate(object()))


class PemCertificatesTests(SynchronousTestCase):
    """
    L{pemCertificates}: every certificate of a PEM bundle, in order, with
    a private key beside them skipped wherever it is.
    """

    def test_keySkipped(self):
        ca = CA()
        cert, key, _ = ca.client("leaf")

        def names(data):
            return [c.getSubject().commonName
                    for c in pemCertificates(data)]
        self.assertEqual(names(cert + ca.pem + key), [b"leaf", b"test CA"])
        self.assertEqual(names(key + cert), [b"leaf"])
        self.assertEqual(names(key), [])


class PrivateKeyTests(_Files):
    """
    L{privateKey} and L{privateCertificate}: keys are loaded without ever
    asking for a passphrase, and a bad one is refused naming its file.
    OpenSSL's own loader asks the terminal for an encrypted key's
    passphrase, and a node or a client waiting there ignores C{SIGTERM}.
    """

    def test_encryptedRefused(self):
        e = self.assertRaises(ValueError, privateKey, encryptedKey(),
                              "the key 'k.pem'")
        self.assertEqual(str(e), "the key 'k.pem': the key is encrypted; "
                         "give it unencrypted (no passphrase is ever asked "
                         "for)")

    def test_namedSource(self):
        """
        Errors name a path, and nothing for PEM given itself.
        """
        self.assertEqual(namedSource("/etc/k.pem"), " '/etc/k.pem'")
        self.assertEqual(namedSource(Path("/etc/k.pem")), " '/etc/k.pem'")
        self.assertEqual(namedSource(b"-----BEGIN PRIVATE KEY-----"), "")
        self.assertEqual(namedSource("-----BEGIN PRIVATE KEY-----\n"), "")

    def test_noKey(self):
        e = self.assertRaises(ValueError, privateKey, self.ca.pem, "k")
        self.assertEqual(str(e), "k holds no PEM private key")

    def test_notAKey(self):
        e = self.assertRaises(
            ValueError, privateKey, b"-----BEGIN PRIVATE KEY-----\nAAAA\n"
            b"-----END PRIVATE KEY-----\n", "k")
        self.assertIn("k: not a private key", str(e))

    def test_certificateAndItsKey(self):
        with open(self.cert, "rb") as f:
            cert = f.read()
        with open(self.key, "rb") as f:
            key = f.read()
        ours = privateCertificate(cert, key, "k", "c")
        self.assertEqual(ours.getSubject(), pemCertificates(cert)[0]
                         .getSubject())
        # the key may follow the certificate in its file
        self.assertEqual(privateCertificate(cert + key, cert + key, "k",
                                            "c").digest(), ours.digest())

    def test_keyOfAnotherCertificate(self):
        with open(self.cert, "rb") as f:
            cert = f.read()
        e = self.assertRaises(ValueError, privateCertificate, cert,
                              self.ca.client("other")[1], "k", "c")
        self.assertIn("k: not the certificate's key", str(e))

    def test_clientEncryptedKey(self):
        """
        L{ClientTLS} (C{COCAINE_TLS_KEY}) refuses an encrypted key as it
        is made, before anything connects, naming the file.
        """
        path = write(self.directory, "client.key", encryptedKey(), 0o600)
        cert, _, _ = self.ca.client("tool")
        certPath = write(self.directory, "client.pem", cert, 0o644)
        e = self.assertRaises(ValueError, ClientTLS, self.caPath, certPath,
                              path)
        self.assertIn("the TLS client key {!r}: the key is encrypted"
                      .format(path), str(e))

    def test_serverEncryptedKey(self):
        """
        The node's endpoints refuse an encrypted key, naming its file (its
        config check refuses it first).
        """
        path = write(self.directory, "encrypted.key", encryptedKey(), 0o600)
        e = self.assertRaises(ValueError, serverOptions,
                              TLS(cert=self.cert, key=path))
        self.assertIn("network.tls.key {!r}: the key is encrypted"
                      .format(path), str(e))

    def test_keyTLSCannotUse(self):
        """
        A key C{cryptography} reads but TLS cannot sign with (X25519) is
        refused naming its file, not with OpenSSL's bare TypeError.
        """
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import x25519
        pem = x25519.X25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        e = self.assertRaises(ValueError, privateKey, pem, "k")
        self.assertIn("k: not a key TLS can use (", str(e))

    def test_noCertificateNamesTheCertificate(self):
        """
        A certificate file without a certificate is named as such, not
        as the key's.
        """
        with open(self.key, "rb") as f:
            key = f.read()
        e = self.assertRaises(ValueError, privateCertificate, key, key,
                              "the key 'k'", "the cert 'c'")
        self.assertEqual(str(e), "the cert 'c' holds no PEM certificate")
        path = write(self.directory, "not-a-cert.pem", b"nothing", 0o644)
        e = self.assertRaises(ValueError, ClientTLS, self.caPath, path,
                              self.key)
        self.assertEqual(str(e), "the TLS client certificate {!r} holds no "
                         "PEM certificate".format(path))
