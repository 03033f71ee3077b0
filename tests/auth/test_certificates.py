"""
Tests for L{cocaine.auth.certificates}: the identity a verified client
certificate proves, and the guard and server applying it to calls that
carry no C{authorization} header.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.auth.authenticators import Promiscuous
from cocaine.auth.certificates import certificateIdentity
from cocaine.auth.guard import Guard, buildGuard
from cocaine.auth.identity import ANONYMOUS, Identity
from cocaine.protocol.services import STORAGE
from cocaine.rpc.hosting import HostedService
from tests.auth.test_guard import Recorder, header
from tests.certs import CA
from tests.rpc.test_server import Connection


class _CA:
    ca = None

    @classmethod
    def get(cls):
        if cls.ca is None:
            cls.ca = CA()
        return cls.ca


def certificate(commonName, units=()):
    return _CA.get().client(commonName, units)[2]


class IdentityTests(SynchronousTestCase):
    """
    CN C{uid:N} is a uid, each OU C{cid:N} a cid; nothing else counts.
    """

    def test_uid(self):
        self.assertEqual(certificateIdentity(certificate("uid:0")),
                         Identity(uids=(0,)))
        self.assertTrue(certificateIdentity(certificate("uid:0")).admin)

    def test_uidAndCids(self):
        identity = certificateIdentity(certificate(
            "uid:5", ["cid:7", "ops", "cid:9", "cid:7"]))
        self.assertEqual(identity, Identity(uids=(5,), cids=(7, 9)))

    def test_cidsOnly(self):
        """
        A CN that is not C{uid:N} gives no uid; the cids still count.
        """
        self.assertEqual(certificateIdentity(certificate(
            "app.example", ["cid:3"])), Identity(cids=(3,)))

    def test_anonymous(self):
        """
        Names that are not exactly C{uid:N}/C{cid:N} with a decimal
        uint64 prove nothing.
        """
        for name in ("somebody", "uid:", "uid:-1", "uid:0x10", "uid: 1",
                     "UID:1", "uid:1x", "uid:{}".format(1 << 64),
                     "uid:\u0661"):
            self.assertEqual(certificateIdentity(certificate(name)),
                             ANONYMOUS, name)
        self.assertEqual(certificateIdentity(certificate(
            "x", ["uid:1", "cid:"])), ANONYMOUS)
        self.assertEqual(certificateIdentity(None), ANONYMOUS)

    def test_uint64(self):
        top = (1 << 64) - 1
        self.assertEqual(certificateIdentity(certificate(
            "uid:{}".format(top))), Identity(uids=(top,)))


class _TLSTransport:
    """
    What a server-side TLS transport offers: the peer's certificate.
    """

    def __init__(self, certificate):
        self.certificate = certificate
        self.asked = 0

    def getPeerCertificate(self):
        self.asked += 1
        return self.certificate


class GuardTests(SynchronousTestCase):
    """
    L{Guard.identifyPeer} maps certificates only when told that client
    certificates are verified (C{client-ca}).
    """

    def test_off(self):
        guard = Guard(Clock(), Promiscuous())
        self.assertEqual(guard.identifyPeer(
            _TLSTransport(certificate("uid:0"))), ANONYMOUS)

    def test_on(self):
        guard = Guard(Clock(), Promiscuous(), certificates=True)
        self.assertEqual(guard.identifyPeer(
            _TLSTransport(certificate("uid:3"))), Identity(uids=(3,)))
        self.assertEqual(guard.identifyPeer(_TLSTransport(None)), ANONYMOUS)
        self.assertEqual(guard.identifyPeer(object()), ANONYMOUS)

    def test_buildGuard(self):
        from cocaine.config import Authentication, Authorization
        guard = buildGuard(Clock(), Authentication("promiscuous"),
                           Authorization(event=False, storage=False), None,
                           certificates=True)
        self.assertTrue(guard.certificates)


class ServerTests(SynchronousTestCase):
    """
    The server asks the guard for the certificate's identity once per
    connection, for calls without a header; a header wins.
    """

    def connect(self, commonName):
        guard = Guard(Clock(), Promiscuous(), certificates=True)
        impl = Recorder(STORAGE)
        c = Connection(HostedService("storage", impl, STORAGE, 1, guard))
        tls = _TLSTransport(certificate(commonName))
        c.transport.getPeerCertificate = tls.getPeerCertificate
        return c, impl, tls

    def test_certificateIsTheIdentity(self):
        c, impl, tls = self.connect("uid:0")
        c.send(1, STORAGE.idOf("write"), ["keys", "k", b"v", []])
        c.send(2, STORAGE.idOf("write"), ["keys", "k", b"w", []])
        self.assertEqual([call[0] for call in impl.calls],
                         ["write", "write"])
        self.assertEqual(tls.asked, 1)

    def test_anonymousCertificate(self):
        c, impl, _ = self.connect("somebody")
        c.send(1, STORAGE.idOf("read"), ["notes", "a"])
        self.assertEqual(impl.calls, [])
        self.assertEqual(c.replies()[0][2][0], [9, 2])

    def test_headerWins(self):
        """
        A call with an C{authorization} header is that header's identity
        (here promiscuous uid 5, not the certificate's admin).
        """
        c, impl, _ = self.connect("uid:0")
        c.send(1, STORAGE.idOf("write"), ["keys", "k", b"v", []],
               header("5"))
        self.assertEqual(impl.calls, [])
        self.assertEqual(c.replies()[0][2][0], [9, 3])
