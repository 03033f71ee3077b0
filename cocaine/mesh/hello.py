# -*- test-case-name: tests.mesh.test_discovery -*-
"""
The hello: what a component says on UDP to be discovered, exactly as
cote's node-discover sends it (L{buildHello}, L{encodeHello},
L{parseHello}), with the discovery secret (L{encryptHello},
L{decryptHello}) and our signature (L{signHello}, L{checkSignature}).

B{Signed hellos} (ours): with a C{signingKey}, every hello carries an
HMAC-SHA256 signature over its canonical JSON and the time, and hellos
that are unsigned, forged or signed more than C{signatureWindow} seconds
away from now are ignored and counted. cote peers ignore the extra field,
so they still find signed components; a component with a key does not
find them back.
"""

import hashlib
import hmac
import json
import socket
import sys
import time
import uuid

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cocaine.errors import CocaineError

__all__ = [
    "PROCESS_UUID",
    "MalformedHello",
    "BadSignature",
    "evpBytesToKey",
    "encryptHello",
    "decryptHello",
    "buildHello",
    "encodeHello",
    "parseHello",
    "signHello",
    "checkSignature",
]

#: One process identity, shared by all components of this process.
PROCESS_UUID = str(uuid.uuid4())


class MalformedHello(CocaineError):
    """
    A datagram that is not a usable hello (bad JSON, bad secret, missing
    fields).
    """


class BadSignature(MalformedHello):
    """
    A hello refused by a mesh with a signing key: unsigned, forged, or
    signed too long ago.
    """


def evpBytesToKey(secret, keyLength=32, ivLength=16):
    """
    OpenSSL's C{EVP_BytesToKey} with MD5, one round and no salt, as Node's
    C{crypto.createCipher} uses it.

    @return: C{(key, iv)}
    """
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    material = b""
    block = b""
    while len(material) < keyLength + ivLength:
        block = hashlib.md5(block + secret).digest()
        material += block
    return material[:keyLength], material[keyLength : keyLength + ivLength]


def encryptHello(plaintext, secret):
    """
    Encrypt a hello as node-discover does: AES-256-CBC, PKCS#7, the
    ciphertext bytes sent as Latin-1 characters encoded in UTF-8.

    @type plaintext: L{bytes}
    @rtype: L{bytes}
    """
    key, iv = evpBytesToKey(secret)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return ciphertext.decode("latin-1").encode("utf-8")


def decryptHello(datagram, secret):
    """
    The inverse of L{encryptHello}.

    @raise MalformedHello: when the datagram does not decrypt.
    """
    try:
        ciphertext = datagram.decode("utf-8").encode("latin-1")
        key, iv = evpBytesToKey(secret)
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as e:  # UnicodeError is a ValueError too
        raise MalformedHello("hello does not decrypt: {}".format(e))


def _weight():
    # node-discover: -(Date.now() / 10 ** digits) -- a small negative float.
    now = int(time.time() * 1000)
    return -(now / 10 ** len(str(now)))


def buildHello(iid, advertisement, pid=PROCESS_UUID, hostName=None,
               weight=None, processCommand=None):
    """
    The hello object exactly as cote sends it.
    """
    if hostName is None:
        hostName = socket.gethostname()
    return {
        "event": "hello",
        "pid": pid,
        "iid": iid,
        "hostName": hostName,
        "data": {
            "isMaster": False,
            "isMasterEligible": True,
            "weight": _weight() if weight is None else weight,
            "address": "127.0.0.1",
            "advertisement": advertisement,
            "id": iid,
            "processId": pid,
            "processCommand": (list(sys.argv) if processCommand is None
                               else processCommand),
        },
    }


#: what a signature covers besides the hello: a version tag and the time
SIGNATURE_CONTEXT = b"cocaine-mesh-hello-v1"
SIGNATURE_ALGORITHM = "HMAC-SHA256"


def _mac(hello, signedAt, signingKey):
    if isinstance(signingKey, str):
        signingKey = signingKey.encode("utf-8")
    unsigned = {k: v for k, v in hello.items() if k != "signature"}
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True).encode("ascii")
    message = b"\n".join([SIGNATURE_CONTEXT, str(signedAt).encode("ascii"),
                          canonical])
    return hmac.new(signingKey, message, hashlib.sha256).hexdigest()


def signHello(hello, signingKey, now):
    """
    Add our signature to a hello: C{"signature": {"alg", "time", "mac"}},
    an HMAC-SHA256 with the mesh's signing key over the hello's canonical
    JSON (sorted keys, without the signature) and the time in
    milliseconds. cote ignores the extra field.

    @param now: the time, in seconds.
    @return: the same hello, signed.
    """
    signedAt = int(now * 1000)
    hello["signature"] = {"alg": SIGNATURE_ALGORITHM, "time": signedAt,
                          "mac": _mac(hello, signedAt, signingKey)}
    return hello


def checkSignature(hello, signingKey, now, window=30.0):
    """
    Check a hello's signature.

    @param now: the time, in seconds.
    @param window: how far, in seconds, the signing time may be from
        C{now} (a replayed hello is refused once it is this old).
    @raise BadSignature: when it is missing, forged or out of the window.
    """
    signature = hello.get("signature")
    if not isinstance(signature, dict):
        raise BadSignature("hello is not signed")
    signedAt, mac = signature.get("time"), signature.get("mac")
    if (signature.get("alg") != SIGNATURE_ALGORITHM
            or not isinstance(signedAt, int) or isinstance(signedAt, bool)
            or not isinstance(mac, str)):
        raise BadSignature("hello has a malformed signature")
    if not hmac.compare_digest(mac, _mac(hello, signedAt, signingKey)):
        raise BadSignature("hello has a wrong signature")
    if abs(signedAt / 1000.0 - now) > window:
        raise BadSignature("hello was signed {:.0f} s away from now "
                           "(window {:g} s)".format(signedAt / 1000.0 - now,
                                                    window))


def encodeHello(hello, secret=None):
    """
    Serialise (and with a secret, encrypt) one hello into a datagram.
    """
    plaintext = json.dumps(hello, separators=(",", ":")).encode("utf-8")
    if secret:
        return encryptHello(plaintext, secret)
    return plaintext


def parseHello(datagram, secret=None):
    """
    Decode one datagram into a hello object.

    @raise MalformedHello: unless it is a hello with an C{iid} and an
        C{advertisement} carrying C{type}, C{name} and C{axon_type}-free
        string fields where present.
    """
    if secret:
        datagram = decryptHello(datagram, secret)
    try:
        hello = json.loads(datagram.decode("utf-8"))
    except ValueError as e:
        raise MalformedHello("hello is not JSON: {}".format(e))
    if not isinstance(hello, dict) or hello.get("event") != "hello":
        raise MalformedHello("not a hello")
    data = hello.get("data")
    iid = hello.get("iid")
    if not isinstance(iid, str) or not isinstance(data, dict):
        raise MalformedHello("hello without iid or data")
    advertisement = data.get("advertisement")
    if not isinstance(advertisement, dict):
        raise MalformedHello("hello without advertisement")
    for field in ("type", "name"):
        if not isinstance(advertisement.get(field), str):
            raise MalformedHello("advertisement without {}".format(field))
    port = advertisement.get("port")
    if port is not None and (not isinstance(port, int)
                             or isinstance(port, bool)
                             or not 0 < port < 65536):
        raise MalformedHello("advertisement with a bad port")
    return hello
