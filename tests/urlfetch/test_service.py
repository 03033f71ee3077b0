"""
Tests for L{cocaine.urlfetch.service} and the C{urlfetch} plugin: 0.12's
ids and graph, arguments, answers and errors on the wire, and the config.
"""

import errno

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.static import Data

from cocaine.config import ConfigError
from cocaine.errors import CATEGORY_DISPATCH, CATEGORY_SYSTEM, INVALID_ARGUMENT
from cocaine.plugins import loadPlugins
from cocaine.protocol.urlfetch import URLFETCH, URLFETCH_VERSION
from cocaine.testing import ServiceHarness, memoryContext
from cocaine.urlfetch.service import Settings, UrlfetchService, parseSettings


class ProtocolTests(SynchronousTestCase):

    def test_graph(self):
        """
        0.12's ids, names and primitive upstreams, version 1.
        """
        self.assertEqual(URLFETCH_VERSION, 1)
        self.assertEqual(URLFETCH.graph(), {
            0: ["get", {}, {0: ["value", {}], 1: ["error", {}]}],
            1: ["post", {}, {0: ["value", {}], 1: ["error", {}]}]})


class SettingsTests(SynchronousTestCase):

    def test_defaults(self):
        """
        0.12's connection limit, a 64 MiB cap, link-local denied.
        """
        settings = parseSettings("s", {})
        self.assertEqual(settings.connectionsLimit, 10)
        self.assertEqual(settings.maxBody, 64 * 1024 * 1024)
        self.assertEqual([str(n) for n in settings.deny.networks],
                         ["169.254.0.0/16", "fe80::/10"])
        self.assertIsNone(settings.deny.denying("127.0.0.1"))

    def test_bad(self):
        """
        A bad key or value is named.
        """
        for args, key in [({"limit": 1}, "s.limit"),
                          ({"connections-limit": 0}, "s.connections-limit"),
                          ({"connections-limit": "9"},
                           "s.connections-limit"),
                          ({"max-body": -1}, "s.max-body"),
                          ({"deny": "10.0.0.0/8"}, "s.deny"),
                          ({"deny": ["10.0.0.0/8", "nowhere"]}, "s.deny[1]")]:
            with self.assertRaises(ConfigError) as caught:
                parseSettings("s", args)
            self.assertIn(key, str(caught.exception))

    def test_plugin(self):
        """
        The plugin validates its args and builds the service on the
        context's reactor.
        """
        plugin = loadPlugins().services["urlfetch"]
        plugin.validate("services.u.args", {"connections-limit": 2}, None)
        with self.assertRaises(ConfigError):
            plugin.validate("services.u.args", {"bogus": 1}, None)
        service = plugin.makeService(memoryContext(), "u",
                                     {"max-body": 10})
        self.assertEqual(service.fetcher.maxBody, 10)
        self.assertIs(service.protocol, URLFETCH)


class WireTests(TestCase):
    """
    Through the declared protocol, against a server on 127.0.0.1.
    """

    def setUp(self):
        root = Resource()
        root.putChild(b"page", Data(b"content", "text/plain"))
        self.port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.service = UrlfetchService(reactor, Settings())
        self.addCleanup(self.service.stopService)
        self.harness = ServiceHarness(self.service, "urlfetch")
        self.addCleanup(self.harness.close)

    def url(self, path):
        return "http://127.0.0.1:{}/{}".format(self.port.getHost().port,
                                               path)

    async def answer(self, name, *args):
        channel = self.harness.open(name, *args)
        for _ in range(500):
            received = channel.received()
            if received:
                return received
            d = Deferred()
            reactor.callLater(0.01, d.callback, None)
            await d
        self.fail("no answer")

    async def test_get(self):
        """
        C{get(url)} answers C{[success, body, code, headers]}.
        """
        [(kind, args)] = await self.answer("get", self.url("page"))
        self.assertEqual(kind, "value")
        success, body, code, headers = args
        self.assertEqual((success, body, code), (True, b"content", 200))
        self.assertEqual(headers["Content-Type"], "text/plain")

    async def test_post(self):
        """
        C{post} takes the body and every optional argument.
        """
        [(kind, args)] = await self.answer(
            "post", self.url("page"), b"body", 2000, {"a": "b"},
            {"X-A": "1"}, False)
        self.assertEqual(kind, "value")
        # Data answers GET only
        self.assertEqual(args[:1] + args[2:3], [False, 405])

    async def test_missingPage(self):
        """
        A 404 is an answer with C{success} false.
        """
        [(kind, args)] = await self.answer("get", self.url("nothing"))
        self.assertEqual((kind, args[0], args[2]), ("value", False, 404))

    async def test_socketError(self):
        """
        A denied address is an C{error} naming the URL, in the system
        category.
        """
        url = "http://169.254.169.254/latest/"
        [(kind, args)] = await self.answer("get", url, 1000)
        self.assertEqual(kind, "error")
        self.assertEqual(args[0], [CATEGORY_SYSTEM, errno.EACCES])
        self.assertIn("Unable to download " + url, args[1])

    async def test_servesAfterABadURL(self):
        """
        A URL that cannot be encoded is answered with an error, and the
        service goes on serving.
        """
        [(kind, args)] = await self.answer("get", "http://a b.com/x")
        self.assertEqual((kind, args[0]),
                         ("error", [CATEGORY_DISPATCH, INVALID_ARGUMENT]))
        [(kind, args)] = await self.answer("get", self.url("page"))
        self.assertEqual((kind, args[:3]), ("value", [True, b"content", 200]))

    def test_badArguments(self):
        """
        Bad arguments are named in an invalid argument error.
        """
        url = self.url("page")
        for args, name in [((url, "5000"), "timeout"),
                           ((url, 0), "timeout"),
                           ((url, 100, ["a"]), "cookies"),
                           ((url, 100, {}, 7), "headers"),
                           ((url, 100, {}, {}, 1), "follow_location"),
                           (("gopher://x/",), "gopher://x/"),
                           (("http://a b.com/x",), "http://a b.com/x"),
                           ((7,), "url")]:
            [(kind, (code, message))] = self.harness.call("get", *args)
            self.assertEqual(kind, "error")
            self.assertEqual(code, [CATEGORY_DISPATCH, INVALID_ARGUMENT])
            self.assertIn(name, message)
