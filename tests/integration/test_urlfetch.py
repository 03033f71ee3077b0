"""
C{urlfetch} on a real node, with our client and with the real Cocaine
0.12 framework, fetching only from a page this test serves on 127.0.0.1.
"""

import errno
import json

from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.web.resource import Resource
from twisted.web.server import Site

from cocaine.errors import (
    CATEGORY_DISPATCH, CATEGORY_SYSTEM, INVALID_ARGUMENT, CocaineError,
    InvalidArgument)
from tests.integration.basics import PRIMITIVE, BasicsNodeCase


class _Page(Resource):
    """
    Answers what it was sent as JSON: method, cookies, X-Test, body.
    """
    isLeaf = True

    def render(self, request):
        if request.path.endswith(b"/metadata"):
            request.redirect(b"http://169.254.169.254/latest/")
            return b""
        request.setHeader(b"X-Served", b"yes")
        return json.dumps({
            "method": request.method.decode(),
            "cookies": [c.decode() for c in request.requestHeaders
                        .getRawHeaders(b"cookie", [])],
            "test": [c.decode() for c in request.requestHeaders
                     .getRawHeaders(b"x-test", [])],
            "body": request.content.read().decode(),
        }).encode()


class _PageCase(BasicsNodeCase):

    def setUp(self):
        BasicsNodeCase.setUp(self)
        root = Resource()
        root.putChild(b"page", _Page())
        root.putChild(b"metadata", _Page())
        self.web = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.addCleanup(self.web.stopListening)
        self.page = "http://127.0.0.1:{}/page".format(
            self.web.getHost().port)

    async def refusedURL(self):
        port = reactor.listenTCP(0, Factory.forProtocol(Protocol),
                                 interface="127.0.0.1")
        number = port.getHost().port
        await port.stopListening()
        return "http://127.0.0.1:{}/gone".format(number)


class UrlfetchNodeTests(_PageCase):

    async def test_ourClient(self):
        """
        get and post answer C{(success, body, code, headers)}; cookies and
        headers reach the page.
        """
        fetcher = self.service("urlfetch")
        success, body, code, headers = await fetcher.get(
            self.page, 3000, {"session": "s1"}, {"X-Test": "yes"})
        self.assertEqual((success, code), (True, 200))
        self.assertEqual(headers["X-Served"], "yes")
        seen = json.loads(body)
        self.assertEqual((seen["method"], seen["cookies"], seen["test"]),
                         ("GET", ["session=s1"], ["yes"]))
        success, body, code, _ = await fetcher.post(self.page, b"data")
        self.assertEqual(json.loads(body)["body"], "data")
        success, body, code, _ = await fetcher.get(self.page + "-missing")
        self.assertEqual((success, code), (False, 404))
        self.assertIn(b"No Such Resource", body)

    async def test_errors(self):
        """
        A socket failure is an error naming the URL; a redirect to the
        metadata range is refused; a bad scheme is an invalid argument.
        """
        fetcher = self.service("urlfetch")
        refused = await self.refusedURL()
        with self.assertRaises(CocaineError) as caught:
            await fetcher.get(refused)
        self.assertEqual((caught.exception.category, caught.exception.code),
                         (CATEGORY_SYSTEM, errno.ECONNREFUSED))
        self.assertIn("Unable to download " + refused,
                      caught.exception.message)
        metadata = self.page.replace("/page", "/metadata")
        with self.assertRaises(CocaineError) as caught:
            await fetcher.get(metadata)
        self.assertEqual(caught.exception.code, errno.EACCES)
        self.assertIn("169.254.0.0/16", caught.exception.message)
        with self.assertRaises(InvalidArgument) as caught:
            await fetcher.get("ftp://127.0.0.1/")
        self.assertIn("ftp://127.0.0.1/", caught.exception.message)

    async def test_realFramework(self):
        """
        The real 0.12 framework calls get and post with 0.12's arguments
        and gets 0.12's answers and errors.
        """
        refused = await self.refusedURL()
        steps = await self.framework("urlfetch", self.page, refused)
        self.assertEqual(steps["resolve urlfetch"]["version"], 1)
        self.assertEqual(steps["resolve urlfetch"]["graph"], {
            "0": ["get", {}, PRIMITIVE], "1": ["post", {}, PRIMITIVE]})
        success, body, code, headers = steps["get"]["value"]
        self.assertEqual((success, code, json.loads(body)["method"]),
                         (True, 200, "GET"))
        self.assertEqual(headers["X-Served"], "yes")
        seen = json.loads(steps["get all args"]["value"][1])
        self.assertEqual((seen["cookies"], seen["test"]),
                         (["session=s1"], ["yes"]))
        self.assertEqual(json.loads(steps["post"]["value"][1])["body"],
                         "a body")
        self.assertEqual(steps["missing"]["value"][::2], [False, 404])
        self.assertEqual(steps["refused"]["error"],
                         [CATEGORY_SYSTEM, errno.ECONNREFUSED])
        self.assertIn(refused, steps["refused"]["reason"])
        self.assertEqual(steps["bad scheme"]["error"],
                         [CATEGORY_DISPATCH, INVALID_ARGUMENT])


class UrlfetchDenyTests(_PageCase):
    """
    A node whose urlfetch denies loopback.
    """

    urlfetchArgs = {"deny": ["127.0.0.0/8", "::1/128"],
                    "connections-limit": 2}

    async def test_denied(self):
        """
        A denied address is an error naming the URL and the network.
        """
        with self.assertRaises(CocaineError) as caught:
            await self.service("urlfetch").get(self.page)
        self.assertEqual(caught.exception.code, errno.EACCES)
        self.assertIn(self.page, caught.exception.message)
        self.assertIn("127.0.0.0/8", caught.exception.message)
