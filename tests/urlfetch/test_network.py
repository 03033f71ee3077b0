"""
Tests for L{cocaine.urlfetch.network}: the deny list and the endpoints.
"""

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import URI
from twisted.web.error import SchemeNotSupported

from cocaine.testing import FakeReactor
from cocaine.urlfetch.network import (
    DenyList, GuardedEndpoint, GuardedEndpoints)


class DenyListTests(SynchronousTestCase):

    def test_default(self):
        """
        By default link-local is denied (IPv6 and IPv4-mapped too), the
        rest allowed.
        """
        deny = DenyList()
        for address in ("169.254.169.254", "fe80::1", "fe80::1%eth0",
                        "::ffff:169.254.169.254"):
            self.assertIsNotNone(deny.denying(address), address)
        for address in ("127.0.0.1", "10.1.2.3", "::1", "2001:db8::1"):
            self.assertIsNone(deny.denying(address), address)

    def test_configured(self):
        """
        The networks given, and only them.
        """
        deny = DenyList(["127.0.0.0/8", "::1/128"])
        self.assertEqual(str(deny.denying("127.0.0.2")), "127.0.0.0/8")
        self.assertEqual(str(deny.denying("::1")), "::1/128")
        self.assertIsNone(deny.denying("169.254.169.254"))

    def test_bad(self):
        """
        Not a network: ValueError.
        """
        self.assertRaises(ValueError, DenyList, ["nowhere"])


class EndpointsTests(SynchronousTestCase):

    def test_schemes(self):
        """
        http and https get a guarded endpoint; any other scheme is
        refused.
        """
        endpoints = GuardedEndpoints(FakeReactor(), DenyList())
        for url in (b"http://example.test/", b"https://example.test:8443/",
                    b"http://[::1]:80/"):
            self.assertIsInstance(
                endpoints.endpointForURI(URI.fromBytes(url)), GuardedEndpoint)
        self.assertRaises(SchemeNotSupported, endpoints.endpointForURI,
                          URI.fromBytes(b"ftp://example.test/"))

    def test_deniedLiteral(self):
        """
        A denied address literal fails without any connection attempt.
        """
        reactor = FakeReactor()
        endpoint = GuardedEndpoint(reactor, "169.254.169.254", 80,
                                   DenyList())
        failure = self.failureResultOf(endpoint.connect(object()))
        self.assertIn("169.254.0.0/16", failure.getErrorMessage())
        self.assertEqual(reactor.tcpClients, [])

    def test_connectsToChecked(self):
        """
        An allowed address is the one connected to.
        """
        reactor = FakeReactor()
        endpoint = GuardedEndpoint(reactor, "127.0.0.1", 8080, DenyList())
        endpoint.connect(object())
        self.assertEqual(reactor.tcpClients[0][:2], ("127.0.0.1", 8080))
