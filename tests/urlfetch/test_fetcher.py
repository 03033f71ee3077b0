"""
Tests for L{cocaine.urlfetch.fetcher}: fetching from a twisted.web server
this test runs on 127.0.0.1 (nothing else is ever fetched).
"""

import errno
import json
import zlib

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import (
    NOT_DONE_YET, GzipEncoderFactory, Site)
from twisted.web.resource import EncodingResourceWrapper

from cocaine.errors import FetchFailed, InvalidArgument
from cocaine.urlfetch.fetcher import Fetcher, uriBytes
from cocaine.urlfetch.network import DenyList


class _Hello(Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"X-Test", b"a")
        request.responseHeaders.setRawHeaders(b"X-Multi", [b"1", b"2"])
        return b"hello"


class _Echo(Resource):
    """
    Answers what it was sent: method, headers and body as JSON.
    """
    isLeaf = True

    def render(self, request):
        return json.dumps({
            "method": request.method.decode(),
            "cookies": request.requestHeaders.getRawHeaders(b"cookie", []),
            "x": request.requestHeaders.getRawHeaders(b"x-custom", []),
            "encodings": request.requestHeaders.getRawHeaders(
                b"accept-encoding", []),
            "body": request.content.read().decode(),
        }, default=lambda b: b.decode()).encode()


class _Status(Resource):
    isLeaf = True

    def __init__(self, code):
        Resource.__init__(self)
        self.code = code

    def render(self, request):
        request.setResponseCode(self.code)
        return b"status"


class _Redirect(Resource):
    isLeaf = True

    def __init__(self, target):
        Resource.__init__(self)
        self.target = target

    def render(self, request):
        request.redirect(self.target(request))
        return b""


class _Temporary(Resource):
    """
    A 307 to /echo.
    """
    isLeaf = True

    def render(self, request):
        request.setResponseCode(307)
        request.setHeader(b"Location", b"/echo")
        return b"moved"


class _Big(Resource):
    """
    2000 bytes, with a length or chunked.
    """
    isLeaf = True

    def __init__(self, chunked):
        Resource.__init__(self)
        self.chunked = chunked

    def render_GET(self, request):
        if not self.chunked:
            return b"x" * 2000
        for _ in range(20):
            request.write(b"x" * 100)
        request.finish()
        return NOT_DONE_YET


class _Hold(Resource):
    """
    Answers only when the test says so; counts the requests held.
    """
    isLeaf = True

    def __init__(self, start=b""):
        Resource.__init__(self)
        self.held = []
        self.arrived = None
        self.start = start

    def render_GET(self, request):
        self.held.append(request)
        if self.start:
            request.write(self.start)
        if self.arrived is not None:
            arrived, self.arrived = self.arrived, None
            arrived.callback(None)
        return NOT_DONE_YET


class _Server:

    def __init__(self, test):
        root = Resource()
        root.putChild(b"hello", _Hello())
        root.putChild(b"echo", _Echo())
        root.putChild(b"missing", _Status(404))
        root.putChild(b"down", _Status(503))
        root.putChild(b"odd", _Status(600))
        root.putChild(b"big", _Big(False))
        root.putChild(b"gzip", EncodingResourceWrapper(
            _Big(False), [GzipEncoderFactory()]))
        root.putChild(b"chunked", _Big(True))
        self.hold = _Hold()
        root.putChild(b"hold", self.hold)
        self.partial = _Hold(b"the beginning")
        root.putChild(b"partial", self.partial)
        root.putChild(b"redirect", _Redirect(lambda r: b"/hello"))
        root.putChild(b"post-redirect", _Redirect(lambda r: b"/echo"))
        root.putChild(b"temporary", _Temporary())
        root.putChild(b"by-name", _Redirect(
            lambda r: "http://localhost:{}/hello".format(self.port).encode()))
        root.putChild(b"by-name-echo", _Redirect(
            lambda r: "http://localhost:{}/echo".format(self.port).encode()))
        root.putChild(b"redirect-echo", _Redirect(lambda r: b"/echo"))
        root.putChild(b"metadata", _Redirect(
            lambda r: b"http://169.254.169.254/latest/meta-data/"))
        root.putChild(b"file", _Redirect(lambda r: b"file:///etc/passwd"))
        root.putChild(b"loop", _Redirect(lambda r: b"/loop"))
        self.listening = reactor.listenTCP(0, Site(root),
                                           interface="127.0.0.1")
        self.port = self.listening.getHost().port
        test.addCleanup(self.stop)

    def url(self, path):
        return "http://127.0.0.1:{}/{}".format(self.port, path)

    def stop(self):
        for request in self.hold.held + self.partial.held:
            if not request.finished and not request._disconnected:
                request.finish()
        return self.listening.stopListening()


class FetcherTests(TestCase):

    def setUp(self):
        self.server = _Server(self)
        self.fetcher = self.makeFetcher()

    def makeFetcher(self, **kwargs):
        fetcher = Fetcher(reactor, **kwargs)
        self.addCleanup(fetcher.close)
        return fetcher

    async def test_get(self):
        """
        A GET answers success, the body, the code and the headers (the last
        value of a repeated one).
        """
        success, body, code, headers = await self.fetcher.fetch(
            "GET", self.server.url("hello"))
        self.assertEqual((success, body, code), (True, b"hello", 200))
        self.assertEqual(headers["X-Test"], "a")
        self.assertEqual(headers["X-Multi"], "2")
        self.assertEqual(headers["Content-Length"], "5")
        self.assertNotIn("Content-Encoding", headers)

    async def test_answersLeaveAtTheTurnsEnd(self):
        """
        What answering a fetch writes through L{cocaine.rpc.writes} (the
        service's reply to its client) waits for the end of the
        reactor's turn, to leave with the other answers that turn
        completes in one send per client.
        """
        from twisted.internet.task import deferLater

        from cocaine.rpc import writes
        from tests.rpc.test_writes import FakeDescriptor
        client = FakeDescriptor()
        sentWhileAnswering = []

        def answer(result):
            writes.write(client, b"answer")
            sentWhileAnswering.extend(client.sent)
            return result
        result = await self.fetcher.fetch(
            "GET", self.server.url("hello")).addCallback(answer)
        self.assertEqual(result[:3], (True, b"hello", 200))
        self.assertEqual(sentWhileAnswering, [])
        await deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(client.sent, [b"answer"])

    async def test_postCookiesHeaders(self):
        """
        A POST sends its body; cookies go as one C{Cookie} header each,
        headers as given.
        """
        success, body, code, _ = await self.fetcher.fetch(
            "POST", self.server.url("echo"), b"payload",
            cookies={b"a": b"1", "b": "2"}, headers={b"X-Custom": b"yes"})
        self.assertEqual((success, code), (True, 200))
        seen = json.loads(body)
        self.assertEqual(seen["method"], "POST")
        self.assertEqual(seen["body"], "payload")
        self.assertEqual(sorted(seen["cookies"]), ["a=1", "b=2"])
        self.assertEqual(seen["x"], ["yes"])

    async def test_encodingAsGiven(self):
        """
        No C{Accept-Encoding} goes out unless the caller gives one, and a
        compressed body comes back as the server sent it (as curl does),
        so the body cap holds for what is received.
        """
        _, body, _, _ = await self.fetcher.fetch("GET",
                                                 self.server.url("echo"))
        self.assertEqual(json.loads(body)["encodings"], [])
        _, body, _, _ = await self.fetcher.fetch(
            "GET", self.server.url("echo"), headers={"Accept-Encoding": "br"})
        self.assertEqual(json.loads(body)["encodings"], ["br"])
        success, body, code, headers = await self.fetcher.fetch(
            "GET", self.server.url("gzip"),
            headers={"Accept-Encoding": "gzip"})
        self.assertEqual(headers.get("Content-Encoding"), "gzip", headers)
        self.assertEqual(zlib.decompress(body, 16 + zlib.MAX_WBITS),
                         b"x" * 2000)
        self.assertLess(len(body), 2000)

    async def test_noCookieKept(self):
        """
        A cookie a server sets is not sent with the next request.
        """
        success, body, code, _ = await self.fetcher.fetch(
            "GET", self.server.url("echo"))
        self.assertEqual(json.loads(body)["cookies"], [])

    async def test_httpErrors(self):
        """
        4xx and 5xx are answers, not errors: C{success} is false; 600 and
        over count as success, as in 0.12.
        """
        for path, code, success in [("missing", 404, False),
                                    ("down", 503, False),
                                    ("odd", 600, True)]:
            result = await self.fetcher.fetch("GET", self.server.url(path))
            self.assertEqual((result[0], result[1], result[2]),
                             (success, b"status", code))

    async def test_followLocation(self):
        """
        Redirects are followed by default and answered as they are when
        C{followLocation} is false.
        """
        result = await self.fetcher.fetch("GET", self.server.url("redirect"))
        self.assertEqual(result[:3], (True, b"hello", 200))
        result = await self.fetcher.fetch("GET", self.server.url("redirect"),
                                          followLocation=False)
        self.assertEqual(result[2], 302)
        self.assertTrue(result[0])
        self.assertTrue(result[3]["Location"].endswith("/hello"))

    async def test_postRedirect(self):
        """
        A POST redirected with 302 goes on as a GET, as curl and browsers
        do.
        """
        result = await self.fetcher.fetch(
            "POST", self.server.url("post-redirect"), b"x")
        self.assertEqual(json.loads(result[1])["method"], "GET")

    async def test_postTemporaryRedirect(self):
        """
        A POST answered 307 gets that answer (its body is not sent again);
        a GET follows it.
        """
        result = await self.fetcher.fetch(
            "POST", self.server.url("temporary"), b"x")
        self.assertEqual(result[1:3], (b"moved", 307))
        result = await self.fetcher.fetch("GET", self.server.url("temporary"))
        self.assertEqual(json.loads(result[1])["method"], "GET")

    async def test_crossOriginCookies(self):
        """
        Cookies are not carried to another origin on a redirect.
        """
        result = await self.fetcher.fetch(
            "GET", self.server.url("by-name-echo"), cookies={"a": "1"})
        self.assertEqual(json.loads(result[1])["cookies"], [])
        result = await self.fetcher.fetch(
            "GET", self.server.url("redirect-echo"), cookies={"a": "1"})
        self.assertEqual(json.loads(result[1])["cookies"], ["a=1"])

    async def test_byName(self):
        """
        A host name is resolved (localhost here).
        """
        result = await self.fetcher.fetch("GET", self.server.url("by-name"))
        self.assertEqual(result[:3], (True, b"hello", 200))

    async def assertFails(self, d, code, *texts):
        with self.assertRaises(FetchFailed) as caught:
            await d
        self.assertEqual(caught.exception.code, code)
        self.assertIn("Unable to download ", caught.exception.message)
        for text in texts:
            self.assertIn(text, caught.exception.message)
        return caught.exception

    async def test_refused(self):
        """
        Nothing listening: an error naming the URL, code ECONNREFUSED.
        """
        port = reactor.listenTCP(0, Factory.forProtocol(Protocol),
                                 interface="127.0.0.1")
        number = port.getHost().port
        await port.stopListening()
        url = "http://127.0.0.1:{}/x".format(number)
        await self.assertFails(self.fetcher.fetch("GET", url),
                               errno.ECONNREFUSED, url, "refused")

    async def test_timeout(self):
        """
        No answer within the timeout: ETIMEDOUT naming the URL; the server
        sees the connection go.
        """
        url = self.server.url("hold")
        await self.assertFails(self.fetcher.fetch("GET", url, timeout=0.2),
                               errno.ETIMEDOUT, url, "200 ms")

    async def test_timeoutInBody(self):
        """
        The timeout covers the body too: a body that stops coming is
        ETIMEDOUT.
        """
        url = self.server.url("partial")
        await self.assertFails(self.fetcher.fetch("GET", url, timeout=0.2),
                               errno.ETIMEDOUT, url)
        self.assertEqual(len(self.server.partial.held), 1)

    async def test_bodyCap(self):
        """
        A body over the cap is an error naming the URL and the cap, with a
        length or chunked.
        """
        fetcher = self.makeFetcher(maxBody=1000)
        for path in ("big", "chunked"):
            url = self.server.url(path)
            await self.assertFails(fetcher.fetch("GET", url), errno.EFBIG,
                                   url, "1000 bytes")
        result = await fetcher.fetch("GET", self.server.url("hello"))
        self.assertEqual(result[1], b"hello")

    async def test_denied(self):
        """
        An address in a denied network is never connected to.
        """
        fetcher = self.makeFetcher(deny=DenyList(["127.0.0.0/8", "::1"]))
        url = self.server.url("hello")
        await self.assertFails(fetcher.fetch("GET", url), errno.EACCES,
                               url, "127.0.0.1", "127.0.0.0/8")
        self.assertEqual(self.server.hold.held, [])

    async def test_deniedByName(self):
        """
        The check holds the address a name resolves to.
        """
        fetcher = self.makeFetcher(deny=DenyList(["127.0.0.0/8", "::1"]))
        url = "http://localhost:{}/hello".format(self.server.port)
        await self.assertFails(fetcher.fetch("GET", url), errno.EACCES, url)

    async def test_redirectToDenied(self):
        """
        By default the link-local (metadata) range is denied, redirects
        included.
        """
        url = self.server.url("metadata")
        await self.assertFails(self.fetcher.fetch("GET", url), errno.EACCES,
                               url, "169.254.169.254", "169.254.0.0/16")

    async def test_redirectToOtherScheme(self):
        """
        A redirect to anything but http or https is refused.
        """
        url = self.server.url("file")
        await self.assertFails(self.fetcher.fetch("GET", url),
                               errno.EPROTONOSUPPORT, url)

    async def test_redirectLoop(self):
        """
        Endless redirects end as an error.
        """
        url = self.server.url("loop")
        await self.assertFails(self.fetcher.fetch("GET", url), errno.ELOOP,
                               url, "redirects")

    def test_badURL(self):
        """
        Not an http(s) URL with a host: InvalidArgument naming it.
        """
        for url in ("ftp://127.0.0.1/x", "file:///etc/passwd", "nothing",
                    "http://", "http://127.0.0.1:99999999/",
                    "http://a b.com/x"):
            with self.assertRaises(InvalidArgument) as caught:
                self.fetcher.fetch("GET", url)
            self.assertIn(repr(url), caught.exception.message)

    def test_badHeader(self):
        """
        A header or cookie that is not text, or that would split the
        request, is InvalidArgument naming it.
        """
        url = self.server.url("hello")
        for headers, cookies, text in [
                ({b"X": 1}, None, "'X'"),
                ({b"X": b"a\r\nEvil: 1"}, None, "line breaks"),
                ({b"Bad Name": b"a"}, None, "Bad Name"),
                (None, {b"c": 2}, "cookie 'c'")]:
            with self.assertRaises(InvalidArgument) as caught:
                self.fetcher.fetch("GET", url, headers=headers,
                                   cookies=cookies)
            self.assertIn(text, caught.exception.message)

    async def test_connectionsLimit(self):
        """
        At most C{connectionsLimit} requests are in flight; the next one
        waits for a place.
        """
        fetcher = self.makeFetcher(connectionsLimit=1)
        hold = self.server.hold
        arrived = hold.arrived = Deferred()
        first = fetcher.fetch("GET", self.server.url("hold"), timeout=30)
        second = fetcher.fetch("GET", self.server.url("hello"), timeout=30)
        await arrived
        # the hello request never went out while the first is held
        for _ in range(20):
            await _turn()
        self.assertFalse(second.called)
        hold.held[0].write(b"done")
        hold.held[0].finish()
        self.assertEqual((await first)[1], b"done")
        self.assertEqual((await second)[1], b"hello")


def _turn():
    d = Deferred()
    reactor.callLater(0.01, d.callback, None)
    return d


class URIBytesTests(TestCase):
    """
    L{uriBytes}: the URL as the agent takes it.
    """

    def test_ascii(self):
        """
        An ASCII URL goes as it is.
        """
        self.assertEqual(uriBytes("http://127.0.0.1:8080/a%20b?c=d"),
                         b"http://127.0.0.1:8080/a%20b?c=d")

    def test_unsafeCharacters(self):
        """
        Characters a URI may not hold as they are (a space, a bar) are
        percent-encoded, and an escape already there is kept.
        """
        self.assertEqual(uriBytes("http://h/a b|c?d=e f&g=%41"),
                         b"http://h/a%20b%7Cc?d=e%20f&g=%41")

    def test_ipv6(self):
        """
        An IPv6 literal goes as it is.
        """
        self.assertEqual(uriBytes("http://[::1]:8080/x"),
                         b"http://[::1]:8080/x")

    def test_badHost(self):
        """
        A host IDNA cannot encode is an L{InvalidArgument} naming the URL.
        """
        error = self.assertRaises(InvalidArgument, uriBytes,
                                  "http://a b.com/x")
        self.assertIn("bad URL 'http://a b.com/x'", str(error))

    def test_international(self):
        """
        A host beyond ASCII goes IDNA-encoded, a path and a query
        percent-encoded as UTF-8.
        """
        self.assertEqual(
            uriBytes("http://\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444"
                     "/\u043f\u0443\u0442\u044c?q=\u00e9"),
            b"http://xn--e1afmkfd.xn--p1ai/%D0%BF%D1%83%D1%82%D1%8C"
            b"?q=%C3%A9")
