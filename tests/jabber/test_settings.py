# -*- test-case-name: tests.jabber.test_settings -*-
"""
Tests for L{cocaine.jabber.settings} and the plugin's C{validate}: every
bad arg is named.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import ConfigError
from cocaine.jabber.settings import SettingsError, parse
from services.jabber import jabber
from tests.certs import CA

GOOD = {"jid": "alice@example.org", "password": "secret"}


class ParseTests(SynchronousTestCase):

    def assertBad(self, args, key, words):
        with self.assertRaises(SettingsError) as caught:
            parse(args, readFile=self.readFile)
        self.assertEqual(caught.exception.key, key)
        self.assertIn(words, caught.exception.reason)

    def readFile(self, path):
        if path == "ca.pem":
            return CA().pem
        if path == "junk.pem":
            return b"not a certificate"
        raise FileNotFoundError(2, "No such file or directory")

    def test_defaults(self):
        """
        The server is the JID's domain on 5222, TLS required, the
        platform's trust roots, a buffer of 1000.
        """
        settings = parse(dict(GOOD))
        self.assertEqual(settings.jid.full(), "alice@example.org")
        self.assertEqual(settings.account, "alice@example.org")
        self.assertEqual((settings.host, settings.port, settings.tls,
                          settings.caPEM, settings.buffer),
                         ("example.org", 5222, "required", None, 1000))

    def test_everything(self):
        settings = parse(dict(GOOD, jid="alice@example.org/bot",
                              host="127.0.0.1", port=15222, tls="optional",
                              ca="ca.pem", buffer=5),
                         readFile=self.readFile)
        self.assertEqual(settings.jid.resource, "bot")
        self.assertEqual(settings.account, "alice@example.org")
        self.assertEqual((settings.host, settings.port, settings.tls,
                          settings.buffer),
                         ("127.0.0.1", 15222, "optional", 5))
        self.assertIn(b"BEGIN CERTIFICATE", settings.caPEM)
        self.assertIsNotNone(settings.tlsOptions())

    def test_bad(self):
        self.assertBad(dict(GOOD, server="x"), "server", "unknown key")
        self.assertBad({"password": "x"}, "jid", "required")
        self.assertBad({"jid": "a@b"}, "password", "required")
        self.assertBad(dict(GOOD, jid="example.org"), "jid", "account")
        self.assertBad(dict(GOOD, jid="a@b@c"), "jid", "not a JID")
        self.assertBad(dict(GOOD, jid=7), "jid", "string")
        self.assertBad(dict(GOOD, password=""), "password", "string")
        self.assertBad(dict(GOOD, host=""), "host", "string")
        self.assertBad(dict(GOOD, port=0), "port", "port number")
        self.assertBad(dict(GOOD, port="5222"), "port", "port number")
        self.assertBad(dict(GOOD, tls=True), "tls", "required, optional")
        self.assertBad(dict(GOOD, ca="missing.pem"), "ca", "cannot be read")
        self.assertBad(dict(GOOD, ca="junk.pem"), "ca", "no PEM")
        self.assertBad(dict(GOOD, buffer=0), "buffer", "1 to 1000000")
        self.assertBad([], "", "map")


class PluginTests(SynchronousTestCase):

    def test_validateNamesTheKey(self):
        """
        The plugin's C{validate} raises a L{ConfigError} whose path ends
        with the bad key.
        """
        jabber.validate("services.chat.args", dict(GOOD), None)
        with self.assertRaises(ConfigError) as caught:
            jabber.validate("services.chat.args", dict(GOOD, port=-1), None)
        self.assertEqual(caught.exception.path, "services.chat.args.port")

    def test_makeService(self):
        from cocaine.jabber.service import JabberService
        from cocaine.testing import FakeReactor

        class Context:
            reactor = FakeReactor()
        service = jabber.makeService(Context(), "chat", dict(GOOD))
        self.assertIsInstance(service, JabberService)
        self.assertEqual(service.name, "chat")
