"""
RSA keys and signatures for the version 3 tests.
"""

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


_made = {}


def testKey(name):
    """
    @return: C{(private key, public PEM text)}, made once per C{name} for
        the whole test run (2048-bit generation is slow).
    """
    if name not in _made:
        _made[name] = generateKey()
    return _made[name]


def generateKey():
    """
    @return: C{(private key, public PEM text)}.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    return key, pem


def sign(key, data, digest="sha256"):
    algorithm = hashes.SHA256() if digest == "sha256" else hashes.SHA1()
    return key.sign(data, padding.PKCS1v15(), algorithm)
