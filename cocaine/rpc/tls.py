# -*- test-case-name: tests.rpc.test_tls -*-
"""
TLS on native endpoints (C{network.tls}, C{docs/security.md}): the context
a node's endpoints listen with, the options a client connects with, and
the certificate a verified client presented.

TLS is all-or-nothing per node: when C{network.tls} is set every native
endpoint (the locator, services, apps) listens with TLS 1.2 or later, and
C{resolve} answers exactly as in 0.12 (endpoints only); a client is told
to use TLS (L{ClientTLS}, or C{COCAINE_TLS_CA} and friends) for that node.

Twisted's TLS needs pyOpenSSL (C{twisted[tls]}); it is imported only when
TLS is configured, so plain nodes and clients never load it.
"""

import os
import re
from pathlib import Path

__all__ = ["ClientTLS", "serverOptions", "wrapServer", "peerCertificate",
           "pemCertificates", "privateKey", "privateCertificate",
           "namedSource", "minimumVersion"]

_cache = {}


def _read(source):
    """
    PEM bytes from bytes or a path.
    """
    if isinstance(source, bytes):
        return source
    return Path(source).read_bytes()


def namedSource(source):
    """
    How errors name where PEM came from.

    @param source: PEM bytes or text, or a path (L{str} or L{Path}).
    @return: C{" 'PATH'"} for a path; nothing for PEM itself.
    """
    if isinstance(source, bytes) or (
            isinstance(source, str)
            and source.lstrip().startswith("-----BEGIN")):
        return ""
    return " {!r}".format(str(source))


def pemCertificates(data):
    """
    Every certificate of a PEM bundle, in order, as Twisted
    L{Certificate}s; other blocks (a private key beside them) are skipped.

    @raise Exception: OpenSSL's, for a certificate block it cannot read.
    """
    from twisted.internet import ssl
    marker = b"-----END CERTIFICATE-----"
    return [ssl.Certificate.loadPEM(part + marker)
            for part in data.split(marker)
            if b"-----BEGIN CERTIFICATE-----" in part]


_KEY = re.compile(
    rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----",
    re.DOTALL)


def privateKey(data, what):
    """
    The first private key of PEM C{data}, loaded by C{cryptography}, which
    never asks for a passphrase: OpenSSL's own loader (Twisted's
    C{KeyPair.load}, C{PrivateCertificate.loadPEM}) asks the terminal for
    an encrypted key's, and a daemon waiting there ignores C{SIGTERM}.

    @param what: names the key's file in errors (C{"network.tls.key
        '/etc/node.key'"}, say).
    @return: Twisted's L{twisted.internet.ssl.KeyPair}.
    @raise ValueError: naming C{what}: no key, an encrypted key, or one
        that cannot be read.
    """
    from cryptography.hazmat.primitives.serialization import (
        load_pem_private_key)
    from OpenSSL.crypto import PKey
    from twisted.internet.ssl import KeyPair
    found = _KEY.search(data)
    if found is None:
        raise ValueError("{} holds no PEM private key".format(what))
    try:
        key = load_pem_private_key(found.group(0), None)
    except TypeError:
        raise ValueError("{}: the key is encrypted; give it unencrypted "
                         "(no passphrase is ever asked for)".format(what))
    except Exception as e:
        raise ValueError("{}: not a private key: {}".format(
            what, e or type(e).__name__))
    try:
        return KeyPair(PKey.from_cryptography_key(key))
    except Exception as e:
        # a key TLS cannot sign with (X25519, DH): OpenSSL's TypeError
        raise ValueError("{}: not a key TLS can use ({}): {}".format(
            what, type(key).__name__, e or type(e).__name__))


def privateCertificate(certificate, key, what, certificateName):
    """
    A certificate and its key as Twisted's L{PrivateCertificate}, the key
    loaded by L{privateKey}.

    @param certificate: PEM bytes; its first certificate is ours.
    @param key: PEM bytes holding the key (the certificate's own bytes
        when the key follows the certificate in one file).
    @param what: names the key's file in errors.
    @param certificateName: names the certificate's file in errors.
    @raise ValueError: naming the file at fault: a bad key, one that is
        not the certificate's, or no certificate.
    """
    from twisted.internet import ssl
    try:
        found = pemCertificates(certificate)
    except Exception as e:
        raise ValueError("{}: not a certificate: {}".format(
            certificateName, e or type(e).__name__))
    if not found:
        raise ValueError("{} holds no PEM certificate".format(
            certificateName))
    keyPair = privateKey(key, what)
    try:
        return ssl.PrivateCertificate.fromCertificateAndKeyPair(
            found[0], keyPair)
    except Exception as e:
        raise ValueError("{}: not the certificate's key ({})".format(
            what, e or type(e).__name__))


def minimumVersion():
    """
    @return: the oldest TLS version any of our connections speaks (1.2).
    """
    from twisted.internet.ssl import TLSVersion
    return TLSVersion.TLSv1_2


def serverOptions(tls):
    """
    The context factory the node's endpoints listen with (one per config,
    shared by every endpoint).

    @param tls: the config's L{cocaine.config.TLS}.
    """
    options = _cache.get(tls)
    if options is None:
        from twisted.internet import ssl
        pem = _read(tls.cert)
        chain = pemCertificates(pem)
        ours = privateCertificate(pem, _read(tls.key),
                                  "network.tls.key {!r}".format(tls.key),
                                  "network.tls.cert {!r}".format(tls.cert))
        extra = {}
        if tls.clientCA is not None:
            # verifies client certificates and requires one
            extra["trustRoot"] = ssl.trustRootFromCertificates(
                pemCertificates(_read(tls.clientCA)))
        options = _cache[tls] = ssl.CertificateOptions(
            privateKey=ours.privateKey.original, certificate=ours.original,
            extraCertChain=[c.original for c in chain[1:]],
            raiseMinimumTo=minimumVersion(), **extra)
    return options


def wrapServer(tls, factory, clock=None):
    """
    C{factory} behind TLS when C{tls} (the config's L{cocaine.config.TLS})
    is set; C{factory} itself when it is L{None}.

    @param clock: the reactor (TLS batches small writes with it).
    """
    if tls is None:
        return factory
    return _serverFactory()(serverOptions(tls), False, factory, clock=clock)


def _serverFactory():
    """
    The factory class, made on first use (C{twisted.protocols.tls} needs
    pyOpenSSL).
    """
    if "factory" in _cache:
        return _cache["factory"]
    from twisted.protocols.tls import TLSMemoryBIOFactory

    class ServerTLSFactory(TLSMemoryBIOFactory):
        """
        Refuses a connection (L{None}) when the wrapped factory does (a
        connection limit), instead of wrapping nothing.
        """

        def buildProtocol(self, addr):
            wrapped = self.wrappedFactory.buildProtocol(addr)
            if wrapped is None:
                return None
            return self.protocol(self, wrapped)
    _cache["factory"] = ServerTLSFactory
    return ServerTLSFactory


def peerCertificate(transport):
    """
    The certificate the peer presented on a TLS connection, as a
    C{cryptography} certificate, or L{None} (no TLS, no certificate). A
    server with C{client-ca} only completes handshakes with certificates
    it verified.
    """
    get = getattr(transport, "getPeerCertificate", None)
    if get is None:
        return None
    try:
        certificate = get()
    except Exception:
        return None
    if certificate is None:
        return None
    convert = getattr(certificate, "to_cryptography", None)
    return convert() if convert is not None else certificate


class ClientTLS:
    """
    How a client connects to a node whose endpoints use TLS.

    @ivar ca: the CA certificates (PEM bytes) the node's certificate must
        chain to, or L{None} for the system's trust store.
    @ivar serverName: the name (or IP address) the node's certificate must
        carry; by default the host each endpoint is reached at.
    """

    def __init__(self, ca=None, cert=None, key=None, serverName=None):
        """
        @param ca: PEM bytes, or a path.
        @param cert: our client certificate (PEM bytes or path), for nodes
            with C{client-ca}; L{None} for none.
        @param key: its private key (PEM bytes or path); by default in the
            certificate file.
        @param serverName: see L{serverName}.
        @raise ValueError: a file that cannot be used (no certificate, an
            encrypted key, a key not the certificate's), named.
        @raise OSError: a file that cannot be read.
        """
        if key is not None and cert is None:
            raise ValueError("a TLS client key needs its certificate")
        # read and checked here, not at the first connection: a key that
        # cannot be used (encrypted, not the certificate's) is a mistake
        # in the settings, reported as such before anything connects
        self.ca = None if ca is None else _read(ca)
        self._trustRoot = None
        if self.ca is not None:
            from twisted.internet import ssl
            try:
                certificates = pemCertificates(self.ca)
            except Exception as e:
                raise ValueError("the TLS CA{}: a certificate that cannot "
                                 "be read ({})".format(namedSource(ca), e))
            if not certificates:
                raise ValueError("the TLS CA{} holds no PEM certificate"
                                 .format(namedSource(ca)))
            self._trustRoot = ssl.trustRootFromCertificates(certificates)
        self._clientCertificate = None
        if cert is not None:
            certificate = _read(cert)
            self._clientCertificate = privateCertificate(
                certificate, certificate if key is None else _read(key),
                "the TLS client key" + namedSource(
                    cert if key is None else key),
                "the TLS client certificate" + namedSource(cert))
        self.serverName = serverName
        self._creators = {}

    @classmethod
    def fromEnvironment(cls, environ=None):
        """
        The options C{COCAINE_TLS_CA}, C{COCAINE_TLS_CERT},
        C{COCAINE_TLS_KEY} and C{COCAINE_TLS_SERVER_NAME} describe, or
        L{None} when none of them is set (plain TCP).
        """
        environ = os.environ if environ is None else environ
        values = [environ.get("COCAINE_TLS_" + name) or None
                  for name in ("CA", "CERT", "KEY", "SERVER_NAME")]
        if not any(values):
            return None
        return cls(*values)

    def creator(self, host):
        """
        The connection creator for an endpoint at C{host}.
        """
        name = self.serverName or host
        creator = self._creators.get(name)
        if creator is None:
            from twisted.internet import ssl
            extra = {}
            if self._trustRoot is not None:
                extra["trustRoot"] = self._trustRoot
            if self._clientCertificate is not None:
                extra["clientCertificate"] = self._clientCertificate
            creator = self._creators[name] = ssl.optionsForClientTLS(
                name,
                extraCertificateOptions={"raiseMinimumTo": minimumVersion()},
                **extra)
        return creator

    def wrap(self, endpoint, host):
        """
        A client endpoint that speaks TLS over C{endpoint}.
        """
        from twisted.internet.endpoints import wrapClientTLS
        return wrapClientTLS(self.creator(host), endpoint)
