# -*- test-case-name: tests.management.test_signing -*-
"""
Version 3 request signatures: RSA (PKCS#1 v1.5) over the exact request
bytes, with SHA-256 (ours) or SHA-1 (the original tools), checked against
the user's PEM public key in storage collection C{keys} (key: the user
name; value: msgpack of the PEM text, as C{cocaine-tool keys add} writes
it).

Needs the C{cryptography} package, imported when a signature is checked.
"""

from twisted.internet.defer import maybeDeferred

from cocaine.errors import KeyNotFound
from cocaine.protocol.framing import unpackValue

#: The storage collection of users' public keys.
KEYS = "keys"


async def userKey(storage, username):
    """
    @return: the user's PEM public key (bytes), or L{None} when there is
        none (or the stored value is not text).
    """
    try:
        raw = await maybeDeferred(storage.read, KEYS, username)
    except KeyNotFound:
        return None
    try:
        value = unpackValue(raw)
    except Exception:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    return value if isinstance(value, bytes) and value else None


def verify(pem, data, signature):
    """
    Check an RSA PKCS#1 v1.5 signature made with SHA-256 or SHA-1.

    @param pem: the PEM public key (C{PUBLIC KEY} or C{RSA PUBLIC KEY}).
    @return: the digest that verified (C{"sha256"} or C{"sha1"}), or
        L{None} when neither does.
    @raise ValueError: the key is not a usable RSA public key.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    for name, digest in (("sha256", hashes.SHA256()),
                         ("sha1", hashes.SHA1())):
        try:
            key.verify(signature, data, padding.PKCS1v15(), digest)
        except InvalidSignature:
            continue
        return name
    return None
