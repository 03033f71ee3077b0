"""
Tests for L{cocaine.auth.token}: signing, verification and the reasons a
token is refused.
"""

import os

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from cocaine.auth.identity import Identity
from cocaine.auth.token import (
    TokenError, _b64, _unb64, issue, keyId, readSecret, verify)

SECRET = b"s" * 32
OTHER = b"o" * 32
KEYS = {keyId(SECRET): SECRET}


class TokenTests(SynchronousTestCase):

    def reason(self, keys, token, now=100):
        with self.assertRaises(TokenError) as e:
            verify(keys, token, now)
        return e.exception.reason

    def test_roundTrip(self):
        """
        A token verifies to its uids, cids and expiry.
        """
        token = issue(SECRET, uids=[7], cids=[1, 2], expiry=200)
        self.assertEqual(verify(KEYS, token, 100),
                         (Identity((7,), (1, 2)), 200))
        self.assertEqual(verify(KEYS, token.encode(), 200)[0].uids, (7,))

    def test_textIsBase64url(self):
        """
        The token is two base64url parts without padding.
        """
        token = issue(SECRET, uids=[2 ** 64 - 1], expiry=2 ** 40)
        self.assertRegex(token, r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")

    def test_expired(self):
        token = issue(SECRET, uids=[7], expiry=99)
        self.assertEqual(self.reason(KEYS, token), "expired")

    def test_forgedMac(self):
        """
        A token whose payload was changed (uid 7 made 0) is forged.
        """
        token = issue(SECRET, uids=[7], expiry=200)
        payload, mac = token.split(".")
        admin = issue(OTHER, uids=[0], expiry=200).split(".")[0]
        # same key id as SECRET's so only the mac can tell
        forged = issue(SECRET, uids=[0], expiry=200).split(".")[0]
        self.assertEqual(self.reason(KEYS, forged + "." + mac), "forged")
        self.assertEqual(self.reason(KEYS, admin + "." + mac),
                         "unknown key")
        self.assertEqual(self.reason(KEYS, payload + "." + _b64(b"x" * 32)),
                         "forged")

    def test_unknownKey(self):
        token = issue(OTHER, uids=[7], expiry=200)
        self.assertEqual(self.reason(KEYS, token), "unknown key")
        keys = dict(KEYS, **{keyId(OTHER): OTHER})
        self.assertEqual(verify(keys, token, 100)[0].uids, (7,))

    def test_malformed(self):
        for token in ("", "abc", "a.b.c", "!!.??", "a" * 5000 + ".b",
                      _b64(b"\xc1") + ".x", _b64(b"\x93\x01\x02\x03") + ".x"):
            self.assertEqual(self.reason(KEYS, token), "malformed", token)

    def test_badIdsRefusedAtIssue(self):
        self.assertRaises(ValueError, issue, SECRET, uids=[-1])
        self.assertRaises(ValueError, issue, SECRET, uids=[2 ** 64])
        self.assertRaises(ValueError, issue, SECRET, cids=range(65))

    @settings(deadline=None, derandomize=True, database=None,
              max_examples=200)
    @given(st.binary(max_size=300))
    def test_garbageNeverPasses(self, data):
        """
        Arbitrary bytes are refused with a reason, never an exception of
        another kind.
        """
        for token in (data, _b64(data).encode() + b"." + _b64(data[:32])
                      .encode()):
            with self.assertRaises(TokenError):
                verify(KEYS, token, 0)

    def test_unb64(self):
        self.assertEqual(_unb64(_b64(b"abcd").encode()), b"abcd")


class SecretFileTests(SynchronousTestCase):

    def write(self, data, mode):
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def test_read(self):
        path = self.write(b"  " + SECRET + b"\n", 0o600)
        self.assertEqual(readSecret(path), SECRET)

    def test_worldReadable(self):
        path = self.write(SECRET, 0o644)
        e = self.assertRaises(ValueError, readSecret, path)
        self.assertIn("chmod 600", str(e))
        self.assertIn("644", str(e))

    def test_tooShort(self):
        path = self.write(b"short", 0o600)
        self.assertIn("16 bytes", str(self.assertRaises(
            ValueError, readSecret, path)))

    def test_missing(self):
        self.assertIn("cannot read", str(self.assertRaises(
            ValueError, readSecret, self.mktemp())))
