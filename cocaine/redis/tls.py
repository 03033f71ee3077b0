# -*- test-case-name: tests.redis.test_tls -*-
"""
The TLS side of a C{rediss://} address: whom to trust and what to
present, read from the PEM files its URL names (L{cocaine.redis.url}).

Without C{ssl_ca_certs} the server's certificate must come from one of the
system's authorities, as before; with it, from one of the file's (a
private CA, the usual case for a Redis of one's own). With
C{ssl_certfile} the connection presents that client certificate, which a
Redis with C{tls-auth-clients yes} (its default) requires. The server's
certificate must name the URL's host either way.
"""

import re

from twisted.internet.ssl import (
    Certificate, PrivateCertificate, optionsForClientTLS,
    trustRootFromCertificates)

_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def _read(address, key, path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ValueError("{}: {} {!r}: cannot read it: {}".format(
            address.safe, key, path, e.strerror or e))


def _authorities(address):
    data = _read(address, "ssl_ca_certs", address.caFile)
    blocks = _CERTIFICATE.findall(data)
    if not blocks:
        raise ValueError("{}: ssl_ca_certs {!r} holds no PEM certificate"
                         .format(address.safe, address.caFile))
    try:
        return trustRootFromCertificates(
            [Certificate.loadPEM(block) for block in blocks])
    except Exception as e:
        raise ValueError("{}: ssl_ca_certs {!r}: not a certificate: {}"
                         .format(address.safe, address.caFile, e))


def _clientCertificate(address):
    data = _read(address, "ssl_certfile", address.certFile)
    if address.keyFile is not None:
        data += b"\n" + _read(address, "ssl_keyfile", address.keyFile)
    try:
        return PrivateCertificate.loadPEM(data)
    except Exception as e:
        where = (repr(address.certFile) if address.keyFile is None else
                 "{!r} with ssl_keyfile {!r}".format(address.certFile,
                                                     address.keyFile))
        raise ValueError("{}: ssl_certfile {}: not a certificate and its "
                         "key in PEM: {}".format(address.safe, where,
                                                 e or type(e).__name__))


def clientTLSOptions(address):
    """
    The TLS options of connections to C{address}.

    @param address: a C{rediss://} L{cocaine.redis.url.RedisAddress}.
    @return: an L{twisted.internet.interfaces.IOpenSSLClientConnectionCreator}
        that checks the server's certificate names C{address.host}.
    @raise ValueError: a file it names cannot be read or holds no
        certificate (or key), named with the URL.
    """
    trustRoot = None if address.caFile is None else _authorities(address)
    client = (None if address.certFile is None
              else _clientCertificate(address))
    return optionsForClientTLS(address.host, trustRoot=trustRoot,
                               clientCertificate=client)
