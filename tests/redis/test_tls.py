"""
Tests for L{cocaine.redis.tls}: the options a C{rediss://} URL's files
make, and the errors that name a bad file.
"""

import os

from OpenSSL import SSL
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import ConfigError
from cocaine.redis.args import checkRedisURL
from cocaine.redis.tls import clientTLSOptions
from cocaine.redis.url import parseRedisURL
from tests.certs import CA, encryptedKey


def _connection(options):
    """
    @return: the OpenSSL connection C{options} make for a client.
    """
    factory = TLSMemoryBIOFactory(options, True,
                                  Factory.forProtocol(Protocol))
    return options.clientConnectionForTLS(factory.buildProtocol(None))


class ClientTLSOptionsTests(SynchronousTestCase):

    def setUp(self):
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        self.ca = CA()
        cert, key, _ = self.ca.client("node")
        self.files = {}
        for name, data in [("ca", self.ca.pem), ("cert", cert),
                           ("key", key), ("both", cert + key),
                           ("bundle", CA("other").pem + self.ca.pem),
                           ("text", b"not a certificate\n")]:
            self.files[name] = os.path.join(self.directory, name + ".pem")
            with open(self.files[name], "wb") as f:
                f.write(data)

    def options(self, query):
        return clientTLSOptions(parseRedisURL(
            "rediss://127.0.0.1:6380/0?" + query.format(**self.files)))

    def connection(self, query):
        return _connection(self.options(query))

    def test_systemAuthoritiesByDefault(self):
        """
        Without a query the connection verifies the server (against the
        system's authorities) and presents nothing.
        """
        connection = _connection(clientTLSOptions(parseRedisURL(
            "rediss://localhost/0")))
        self.assertTrue(connection.get_context().get_verify_mode()
                        & SSL.VERIFY_PEER)
        self.assertIsNone(connection.get_certificate())

    def test_privateCA(self):
        """
        With C{ssl_ca_certs} the server is verified too (against that
        file: C{tests.integration.test_redis_client.RedisTLSTests}).
        """
        connection = self.connection("ssl_ca_certs={ca}")
        self.assertTrue(connection.get_context().get_verify_mode()
                        & SSL.VERIFY_PEER)
        self.assertIsNone(connection.get_certificate())

    def test_bundle(self):
        """
        A file of several certificates trusts each of them.
        """
        self.options("ssl_ca_certs={bundle}")

    def test_clientCertificate(self):
        """
        C{ssl_certfile} with C{ssl_keyfile}, or a certificate file that
        holds its key, is presented.
        """
        for query in ("ssl_certfile={cert}&ssl_keyfile={key}",
                      "ssl_certfile={both}"):
            presented = self.connection(query).get_certificate()
            self.assertIsNotNone(presented, query)
            self.assertEqual(
                presented.get_subject().commonName, "node")

    def test_badFilesNamed(self):
        """
        A file that cannot be read, or that holds no certificate (or no
        key), is an error naming the key, the file and the server.
        """
        missing = os.path.join(self.directory, "missing.pem")
        files = dict(self.files, missing=missing, nul="/ca\x00.pem",
                     zero="/dev/zero")
        for query, named, words in [
                ("ssl_ca_certs={missing}", "missing", "cannot read it"),
                ("ssl_ca_certs={text}", "text", "holds no PEM certificate"),
                ("ssl_certfile={cert}", "cert", "holds no PEM private key"),
                ("ssl_certfile={text}&ssl_keyfile={key}", "text",
                 "holds no PEM certificate"),
                ("ssl_certfile={cert}&ssl_keyfile={text}", "text",
                 "holds no PEM private key"),
                ("ssl_certfile={cert}&ssl_keyfile={missing}", "missing",
                 "cannot read it"),
                ("ssl_ca_certs={nul}", "nul", "cannot read it"),
                ("ssl_ca_certs={zero}", "zero", "larger than")]:
            with self.assertRaises(ValueError) as e:
                clientTLSOptions(parseRedisURL(
                    "rediss://127.0.0.1:6380/0?" + query.format(**files)))
            message = str(e.exception)
            self.assertIn(words, message, query)
            self.assertIn("rediss://127.0.0.1:6380/0", message)
            self.assertIn(repr(files[named]), message, query)

    def refusedKey(self, data):
        """
        Write C{data} as the key of the C{cert} certificate.

        @return: the key file's path and the message of the error that
            refuses it.
        """
        path = os.path.join(self.directory, "key-under-test.pem")
        with open(path, "wb") as f:
            f.write(data)
        with self.assertRaises(ValueError) as e:
            self.options("ssl_certfile={cert}&ssl_keyfile=" + path)
        return path, str(e.exception)

    def test_encryptedKeyRefused(self):
        """
        An encrypted key is refused at once, saying so: OpenSSL's own
        loader would ask the terminal for its passphrase, and a node has
        nobody to answer.
        """
        path, message = self.refusedKey(encryptedKey())
        self.assertIn("the key is encrypted", message)
        self.assertIn(repr(path), message)

    def test_keyOfAnotherCertificateRefused(self):
        """
        A key that is not the certificate's is refused, naming the
        certificate's file.
        """
        _, message = self.refusedKey(self.ca.client("other")[1])
        self.assertIn("do not match", message)
        self.assertIn(repr(self.files["cert"]), message)

    def test_configCheckReadsTheFiles(self):
        """
        A config's check of a C{rediss://} URL reads its files: a missing
        CA stops the node at its start, named with the config's path.
        """
        checkRedisURL("storages.s.args.url",
                      "rediss://h/0?ssl_ca_certs=" + self.files["ca"])
        missing = os.path.join(self.directory, "missing.pem")
        e = self.assertRaises(
            ConfigError, checkRedisURL, "storages.s.args.url",
            "rediss://h/0?ssl_ca_certs=" + missing)
        self.assertEqual(e.path, "storages.s.args.url")
        self.assertIn(repr(missing), e.reason)
