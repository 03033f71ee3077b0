# -*- test-case-name: tests.redis.test_tls -*-
"""
The TLS side of a C{rediss://} address: whom to trust and what to
present, read from the PEM files its URL names (L{cocaine.redis.url}).

Without C{ssl_ca_certs} the server's certificate must come from one of the
system's authorities, as before; with it, from one of the file's (a
private CA, the usual case for a Redis of one's own). With
C{ssl_certfile} the connection presents that client certificate, which a
Redis with C{tls-auth-clients yes} (its default) requires, with the
intermediate certificates that follow it in the file. Its key (in
C{ssl_keyfile}, or after the certificates) must not be encrypted: a node
has nobody to ask for a passphrase. The server's certificate must name
the URL's host either way, and TLS is 1.2 or later, as on the node's own
endpoints (L{cocaine.rpc.tls}, whose PEM bundle and key reading this
shares).
"""

from twisted.internet.ssl import (
    PrivateCertificate, optionsForClientTLS, trustRootFromCertificates)

from cocaine.rpc.tls import minimumVersion, pemCertificates, privateKey


#: The most a PEM file may hold (the system's whole CA bundle is about
#: 0.2 MiB); past it, or from a device that never ends, it is refused.
MAX_PEM_BYTES = 4 * 1024 * 1024


def _read(address, key, path):
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PEM_BYTES + 1)
    except (OSError, ValueError) as e:
        # ValueError: a path with a NUL byte
        raise ValueError("{}: {} {!r}: cannot read it: {}".format(
            address.safe, key, path, getattr(e, "strerror", None) or e))
    if len(data) > MAX_PEM_BYTES:
        raise ValueError("{}: {} {!r}: larger than {} bytes: not a PEM "
                         "file".format(address.safe, key, path,
                                       MAX_PEM_BYTES))
    return data


def _authorities(address):
    certificates, _ = _certificates(address, "ssl_ca_certs",
                                    address.caFile)
    return trustRootFromCertificates(certificates)


def _certificates(address, key, path):
    """
    @return: C{(certificates, data)}: the certificates of the PEM file
        C{path} (named by C{key}), at least one, and the file's bytes.
    @raise ValueError: naming the file when it cannot be read, holds no
        certificate or one OpenSSL cannot read.
    """
    data = _read(address, key, path)
    try:
        certificates = pemCertificates(data)
    except Exception as e:
        raise ValueError("{}: {} {!r}: not a certificate: {}".format(
            address.safe, key, path, e or type(e).__name__))
    if not certificates:
        raise ValueError("{}: {} {!r} holds no PEM certificate".format(
            address.safe, key, path))
    return certificates, data


def _privateKey(address, data):
    """
    The client certificate's key (L{cocaine.rpc.tls.privateKey}: never
    asks for a passphrase).
    """
    which, name = ("ssl_certfile", address.certFile)
    if address.keyFile is not None:
        which, name = ("ssl_keyfile", address.keyFile)
    return privateKey(data, "{}: {} {!r}".format(address.safe, which, name))


def _clientCertificate(address):
    """
    @return: C{(certificate, chain)}: the client's L{PrivateCertificate}
        and the OpenSSL certificates after it in C{ssl_certfile} (its
        intermediate authorities, sent with it).
    """
    certificates, data = _certificates(address, "ssl_certfile",
                                       address.certFile)
    keyData = data if address.keyFile is None else _read(
        address, "ssl_keyfile", address.keyFile)
    keyPair = _privateKey(address, keyData)
    try:
        client = PrivateCertificate.fromCertificateAndKeyPair(
            certificates[0], keyPair)
    except Exception as e:
        raise ValueError("{}: ssl_certfile {!r}: {}".format(
            address.safe, address.certFile, e or type(e).__name__))
    return client, [certificate.original for certificate in certificates[1:]]


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
    client = None
    extra = {"raiseMinimumTo": minimumVersion()}
    if address.certFile is not None:
        client, chain = _clientCertificate(address)
        if chain:
            extra["extraCertChain"] = chain
    return optionsForClientTLS(address.host, trustRoot=trustRoot,
                               clientCertificate=client,
                               extraCertificateOptions=extra)
