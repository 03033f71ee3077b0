"""
Tests for L{cocaine.worker.tls}: the asyncio client's TLS context from
the C{COCAINE_TLS_*} variables.
"""

import os
import ssl

from twisted.trial.unittest import SynchronousTestCase

from cocaine.worker.tls import clientContext, serverName
from tests.certs import CA, encryptedKey, write


class ClientContextTests(SynchronousTestCase):

    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        self.ca = CA()
        self.caPath = write(self.directory, "ca.pem", self.ca.pem, 0o644)

    def test_none(self):
        self.assertIsNone(clientContext({}))
        self.assertIsNone(clientContext({"COCAINE_TLS_CA": ""}))

    def test_ca(self):
        context = clientContext({"COCAINE_TLS_CA": self.caPath})
        self.assertEqual(context.verify_mode, ssl.CERT_REQUIRED)
        self.assertTrue(context.check_hostname)
        self.assertEqual(context.minimum_version, ssl.TLSVersion.TLSv1_2)
        self.assertEqual(len(context.get_ca_certs()), 1)

    def test_clientCertificate(self):
        cert, key, _ = self.ca.client("uid:1")
        context = clientContext({
            "COCAINE_TLS_CA": self.caPath,
            "COCAINE_TLS_CERT": write(self.directory, "c.pem", cert),
            "COCAINE_TLS_KEY": write(self.directory, "c.key", key)})
        self.assertIsNotNone(context)

    def test_encryptedKeyRefused(self):
        """
        An encrypted key is refused at once, naming its variable and file:
        OpenSSL would ask the terminal for its passphrase.
        """
        cert, _, _ = self.ca.client("uid:1")
        certPath = write(self.directory, "c.pem", cert)
        keyPath = write(self.directory, "c.key", encryptedKey())
        e = self.assertRaises(ValueError, clientContext, {
            "COCAINE_TLS_CERT": certPath, "COCAINE_TLS_KEY": keyPath})
        self.assertEqual(str(e), "COCAINE_TLS_KEY {!r}: the key is "
                         "encrypted; give it unencrypted (a worker cannot "
                         "ask for a passphrase)".format(keyPath))
        # the key in the certificate's file
        both = write(self.directory, "both.pem", cert + encryptedKey())
        e = self.assertRaises(ValueError, clientContext, {
            "COCAINE_TLS_CERT": both})
        self.assertIn("COCAINE_TLS_CERT {!r}: the key is encrypted"
                      .format(both), str(e))

    def test_keyWithoutCertificate(self):
        self.assertRaises(ValueError, clientContext, {
            "COCAINE_TLS_CA": self.caPath, "COCAINE_TLS_KEY": self.caPath})

    def test_missingCA(self):
        self.assertRaises(OSError, clientContext, {
            "COCAINE_TLS_CA": os.path.join(self.directory, "nope")})

    def test_serverName(self):
        self.assertEqual(serverName("127.0.0.1", {}), "127.0.0.1")
        self.assertEqual(serverName("127.0.0.1", {
            "COCAINE_TLS_SERVER_NAME": "node"}), "node")
