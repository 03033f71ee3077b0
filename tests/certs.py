"""
Certificates for TLS tests, made with C{cryptography}: a CA, server
certificates for an IP address, client certificates with a subject of our
choosing, all as PEM written into a directory.
"""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _keyPEM(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def encryptedKey(passphrase=b"passphrase"):
    """
    @return: a new private key, PEM, encrypted with C{passphrase} (what a
        node or a worker must refuse rather than ask a terminal for).
    """
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase))


def _builder(subject, issuer, publicKey):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer)
            .public_key(publicKey)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)))


class CA:
    """
    A certificate authority that signs server and client certificates.

    @ivar pem: its certificate, PEM bytes.
    """

    def __init__(self, commonName="test CA", issuer=None):
        """
        @param issuer: the L{CA} that signs this one's certificate (an
            intermediate authority), or L{None} for a root.
        """
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                  commonName)])
        signer = self if issuer is None else issuer
        self.cert = (_builder(self.name, signer.name, self.key.public_key())
                     .add_extension(x509.BasicConstraints(ca=True,
                                                          path_length=None),
                                    critical=True)
                     .sign(signer.key, hashes.SHA256()))
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def _sign(self, subject, extensions):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _builder(subject, self.name, key.public_key())
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return (cert.public_bytes(serialization.Encoding.PEM),
                _keyPEM(key), cert)

    def server(self, address="127.0.0.1"):
        """
        @return: C{(certificate PEM, key PEM, x509)} for C{address}.
        """
        return self._sign(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]),
            [x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(address))]),
             x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])])

    def client(self, commonName="uid:0", units=()):
        """
        @param units: organizationalUnitName values (C{"cid:7"}).
        @return: C{(certificate PEM, key PEM, x509)}.
        """
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, commonName)]
        attributes += [x509.NameAttribute(
            NameOID.ORGANIZATIONAL_UNIT_NAME, unit) for unit in units]
        return self._sign(
            x509.Name(attributes),
            [x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])])


def write(directory, name, data, mode=0o600):
    """
    Write C{data} to C{directory/name} with C{mode}.

    @return: the path.
    """
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path
