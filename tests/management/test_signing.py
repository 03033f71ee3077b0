"""
Tests for L{cocaine.management.signing}.
"""

from cryptography.hazmat.primitives import serialization
from twisted.trial.unittest import TestCase

from cocaine.management.signing import userKey, verify
from cocaine.protocol.framing import packValue
from cocaine.storage.memory import MemoryStorage
from tests.management._keys import sign, testKey


class VerifyTests(TestCase):

    def setUp(self):
        self.key, self.pem = testKey("alice")
        self.other, _ = testKey("mallory")

    def test_sha256(self):
        data = b'{"version": 3}'
        self.assertEqual(verify(self.pem.encode(), data,
                                sign(self.key, data)), "sha256")

    def test_sha1ForOldClients(self):
        data = b'{"version": 3}'
        self.assertEqual(verify(self.pem.encode(), data,
                                sign(self.key, data, "sha1")), "sha1")

    def test_pkcs1PublicKey(self):
        pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        self.assertTrue(pem.startswith(b"-----BEGIN RSA PUBLIC KEY"))
        self.assertEqual(verify(pem, b"x", sign(self.key, b"x")), "sha256")

    def test_refused(self):
        data = b'{"version": 3}'
        good = sign(self.key, data)
        self.assertIsNone(verify(self.pem.encode(), data + b" ", good))
        self.assertIsNone(verify(self.pem.encode(), data,
                                 sign(self.other, data)))
        self.assertIsNone(verify(self.pem.encode(), data, b"junk"))

    def test_notAKey(self):
        self.assertRaises(ValueError, verify, b"not a pem", b"x", b"y")


class UserKeyTests(TestCase):

    async def test_layout(self):
        storage = MemoryStorage()
        storage.write("keys", "alice", packValue("PEM TEXT"), ["key"])
        storage.write("keys", "bob", packValue(b"PEM BYTES"), ["key"])
        storage.write("keys", "carol", packValue(5), ["key"])
        self.assertEqual(await userKey(storage, "alice"), b"PEM TEXT")
        self.assertEqual(await userKey(storage, "bob"), b"PEM BYTES")
        self.assertIsNone(await userKey(storage, "carol"))
        self.assertIsNone(await userKey(storage, "nobody"))
