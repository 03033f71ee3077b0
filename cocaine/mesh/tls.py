# -*- test-case-name: tests.mesh.test_tls -*-
"""
Mutual TLS between our own mesh components (ours; cote has none).

A component given C{tls=MeshTLS(...)} listens (servers) or connects
(clients) with TLS, and both ends verify each other against one CA: a
component without a certificate signed by that CA cannot join. Inside TLS
the wire is cote's AMP framing, unchanged.

Components find each other by IP address, so no certificate can name the
address it is reached at. Instead every server certificate carries one
fixed DNS name in its subjectAltName, L{DEFAULT_HOSTNAME}
(C{"cocaine-mesh"}) unless told otherwise, and clients check that name
(and the CA) rather than the address. Servers check only that the client's
certificate chains to the CA. One certificate with that name, usable for
both server and client authentication (no extendedKeyUsage, or both
C{serverAuth} and C{clientAuth}), can serve every component.

Creating the options from PEM files::

    from cocaine.mesh import Requester, Responder
    from cocaine.mesh.tls import MeshTLS

    tls = MeshTLS.fromFiles(certificate="mesh.crt", privateKey="mesh.key",
                            ca="ca.crt")
    rep = Responder("adder", tls=tls)      # advertises "tls": true
    req = Requester("client", tls=tls)     # connects only to TLS responders

Twisted's TLS needs pyOpenSSL and service_identity (C{twisted[tls]}); they
are imported when a L{MeshTLS} is made, so plain components never need them.
"""

from pathlib import Path

__all__ = ["DEFAULT_HOSTNAME", "MeshTLS", "describeFailure", "isTLSFailure"]

#: The DNS name in every server certificate's subjectAltName, which clients
#: verify instead of the IP address they connect to.
DEFAULT_HOSTNAME = "cocaine-mesh"


def _read(source):
    """
    PEM data from bytes, text, or a path (L{str} or L{Path}) to read.
    """
    if isinstance(source, bytes):
        return source
    if isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        return source.encode("ascii")
    return Path(source).read_bytes()


class MeshTLS:
    """
    A component's TLS identity: its certificate and private key, and the
    CA its peers' certificates must chain to.

    @ivar hostname: the DNS name clients require in a server's certificate.
    @ivar certificate: our L{twisted.internet.ssl.PrivateCertificate}.
    @ivar ca: the L{twisted.internet.ssl.Certificate} peers are verified
        against.
    """

    def __init__(self, certificate, privateKey, ca, hostname=DEFAULT_HOSTNAME):
        """
        @param certificate: our certificate, PEM (bytes, or a path to read).
        @param privateKey: its private key, PEM (bytes, or a path).
        @param ca: the CA certificate, PEM (bytes, or a path).
        @param hostname: see L{hostname}.
        """
        from twisted.internet import ssl

        from cocaine.rpc.tls import namedSource, privateCertificate
        self.hostname = hostname
        self.certificate = privateCertificate(
            _read(certificate), _read(privateKey),
            "the mesh's TLS key" + namedSource(privateKey),
            "the mesh's TLS certificate" + namedSource(certificate))
        self.ca = ssl.Certificate.loadPEM(_read(ca))
        self._server = None
        self._client = None

    @classmethod
    def fromFiles(cls, certificate, privateKey, ca, hostname=DEFAULT_HOSTNAME):
        """
        The same as the constructor, said explicitly for paths.
        """
        return cls(Path(certificate), Path(privateKey), Path(ca), hostname)

    def serverOptions(self):
        """
        The context factory a server listens with: our certificate, and a
        client certificate required and verified against the CA.
        """
        if self._server is None:
            from twisted.internet import ssl

            self._server = ssl.CertificateOptions(
                privateKey=self.certificate.privateKey.original,
                certificate=self.certificate.original,
                trustRoot=self.ca)  # verifies, and requires a certificate
        return self._server

    def clientOptions(self):
        """
        The connection creator a client connects with: the server must
        present a certificate for L{hostname} signed by the CA, and we
        present ours.
        """
        if self._client is None:
            from twisted.internet import ssl

            self._client = ssl.optionsForClientTLS(
                self.hostname, trustRoot=self.ca,
                clientCertificate=self.certificate)
        return self._client

    def __repr__(self):
        def name(certificate):
            commonName = certificate.getSubject().commonName
            return commonName.decode("utf-8", "replace") if commonName else "?"

        return "<MeshTLS {} ca={} hostname={}>".format(
            name(self.certificate), name(self.ca), self.hostname)


def isTLSFailure(reason):
    """
    Whether a connection was lost because of TLS itself (OpenSSL's error).

    @type reason: L{twisted.python.failure.Failure}
    """
    from OpenSSL.SSL import Error

    return reason.check(Error) is not None


def describeFailure(reason):
    """
    Why a TLS connection failed, in a few words: OpenSSL's reasons
    (C{certificate verify failed}), or that the peer closed it during the
    handshake.

    @type reason: L{twisted.python.failure.Failure}
    """
    from twisted.internet.error import ConnectionDone

    if isTLSFailure(reason):
        args = reason.value.args
        reasons = []
        if args and isinstance(args[0], list):
            reasons = [r[-1] for r in args[0] if isinstance(r, tuple) and r]
        return ", ".join(str(r) for r in reasons) or str(reason.value)
    if reason.check(ConnectionDone):
        return "closed by the peer during the TLS handshake"
    return reason.getErrorMessage()
