"""
Tests for https in L{cocaine.urlfetch.fetcher}: a server on 127.0.0.1
with a certificate of a CA this test makes.
"""

from twisted.internet import reactor, ssl
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.static import Data

from cocaine.errors import FetchFailed
from cocaine.urlfetch.fetcher import Fetcher
from tests.certs import CA


class HTTPSTests(TestCase):

    def setUp(self):
        self.ca = CA()
        cert, key, _ = self.ca.server("127.0.0.1")
        options = ssl.PrivateCertificate.loadPEM(
            key.decode() + cert.decode()).options()
        root = Resource()
        root.putChild(b"page", Data(b"secret", "text/plain"))
        self.port = reactor.listenSSL(0, Site(root), options,
                                      interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.url = "https://127.0.0.1:{}/page".format(
            self.port.getHost().port)

    def fetcher(self, trustRoot=None):
        fetcher = Fetcher(reactor, trustRoot=trustRoot)
        self.addCleanup(fetcher.close)
        return fetcher

    async def test_trusted(self):
        """
        A server whose certificate chains to the trust root is fetched.
        """
        fetcher = self.fetcher(ssl.Certificate.loadPEM(self.ca.pem))
        success, body, code, _ = await fetcher.fetch("GET", self.url)
        self.assertEqual((success, body, code), (True, b"secret", 200))

    async def test_untrusted(self):
        """
        One the platform's authorities do not vouch for is an error naming
        the URL.
        """
        with self.assertRaises(FetchFailed) as caught:
            await self.fetcher().fetch("GET", self.url)
        self.assertIn("Unable to download " + self.url,
                      caught.exception.message)
