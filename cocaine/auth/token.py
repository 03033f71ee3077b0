# -*- test-case-name: tests.auth.test_token -*-
"""
Signed, expiring tokens: the C{token} authentication type.

A token is C{<payload>.<mac>}, both base64url without padding. The payload
is msgpack C{[1, key id, expiry, uids, cids]} (expiry in whole seconds
since the epoch); the mac is HMAC-SHA256 of the payload's bytes under the
secret the key id names. The key id is the first 8 hex digits of the
SHA-256 of the secret, so a node can tell a token signed under another
secret (rotation: configure both) from a forged one.

On the wire the token travels in the C{authorization} header as
C{"token <token>"} (C{"Bearer <token>"} is accepted too, for HTTP).
"""

import base64
import binascii
import hashlib
import hmac
import os
import stat

import msgpack

from cocaine.auth.identity import Identity

#: The version tag of the payload layout.
VERSION = 1

#: The longest token text accepted (a header is not a place for more).
MAX_TOKEN = 2048

#: The most ids of each kind a token may carry.
MAX_IDS = 64

_UINT64 = (1 << 64) - 1


class TokenError(Exception):
    """
    A token that does not verify.

    @ivar reason: C{"malformed"}, C{"forged"}, C{"expired"} or
        C{"unknown key"}: distinct in logs, one answer on the wire.
    """

    def __init__(self, reason, detail=""):
        Exception.__init__(self, reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self):
        return "{}{}".format(self.reason, ": " + self.detail
                             if self.detail else "")


def keyId(secret):
    """
    @param secret: the secret's bytes.
    @return: the key id of C{secret} (8 hex digits).
    """
    return hashlib.sha256(secret).hexdigest()[:8]


def readSecret(path):
    """
    Read a secret file: its content without surrounding whitespace.

    @raise ValueError: the file cannot be read, is empty or shorter than
        16 bytes, or others than its owner may read it.
    """
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            data = f.read(65536).strip()
    except OSError as e:
        raise ValueError("cannot read {}: {}".format(path, e.strerror or e))
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError("{} must be readable by its owner only (chmod "
                         "600), it has mode {:o}".format(
                             path, stat.S_IMODE(mode)))
    if len(data) < 16:
        raise ValueError("{} must hold a secret of at least 16 bytes"
                         .format(path))
    return data


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text):
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def _ids(value, what):
    ids = tuple(value)
    if len(ids) > MAX_IDS or not all(
            type(i) is int and 0 <= i <= _UINT64 for i in ids):
        raise ValueError("{} must be at most {} integers 0..2^64-1".format(
            what, MAX_IDS))
    return ids


def issue(secret, uids=(), cids=(), expiry=0):
    """
    Sign a token.

    @param secret: the secret's bytes.
    @param expiry: the second (since the epoch) after which the token is
        refused.
    @return: the token text.
    """
    payload = msgpack.packb([VERSION, keyId(secret), int(expiry),
                             list(_ids(uids, "uids")),
                             list(_ids(cids, "cids"))])
    mac = hmac.new(secret, payload, hashlib.sha256).digest()
    return _b64(payload) + "." + _b64(mac)


def verify(keys, token, now):
    """
    Check a token.

    @param keys: C{{key id: secret bytes}}.
    @param token: the token text (str or bytes).
    @param now: the current time, seconds since the epoch.
    @return: C{(Identity, expiry)}.
    @raise TokenError: naming why it does not verify.
    """
    if isinstance(token, str):
        token = token.encode("ascii", "replace")
    if len(token) > MAX_TOKEN or token.count(b".") != 1:
        raise TokenError("malformed")
    encoded, encodedMac = token.split(b".")
    try:
        payload = _unb64(encoded)
        mac = _unb64(encodedMac)
        fields = msgpack.unpackb(payload, raw=False, max_bin_len=0,
                                 max_str_len=64, max_array_len=MAX_IDS,
                                 max_map_len=0, max_ext_len=0)
        version, kid, expiry, uids, cids = fields
    except (binascii.Error, ValueError, TypeError,
            msgpack.UnpackException):
        raise TokenError("malformed")
    if version != VERSION or not isinstance(kid, str):
        raise TokenError("malformed", "version {!r}".format(version))
    secret = keys.get(kid)
    if secret is None:
        raise TokenError("unknown key", "key id {}".format(kid))
    expected = hmac.new(secret, payload, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, mac):
        raise TokenError("forged", "key id {}".format(kid))
    try:
        identity = Identity(_ids(uids, "uids"), _ids(cids, "cids"))
    except (TypeError, ValueError):
        raise TokenError("malformed", "ids")
    if type(expiry) is not int or expiry < now:
        raise TokenError("expired", "at {}".format(expiry))
    return identity, expiry
