# -*- test-case-name: tests.http.test_routing -*-
"""
Tests for L{cocaine.http.routing}: the 0.12 proxies' routing.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.http.routing import PING, Route, RouteError, route


class RouteTests(SynchronousTestCase):

    def assertRefused(self, code, target, headers=()):
        error = self.assertRaises(RouteError, route, target, headers)
        self.assertEqual(error.code, code)
        return error

    def test_path(self):
        """
        C{/app/event/rest?q} goes to app's event with C{/rest?q} as the
        URI, and the app gets the dispatch headers as from tornado.
        """
        self.assertEqual(route(b"/echo/http/a/b?x=1", []), Route(
            "echo", "http", b"/a/b?x=1",
            [(b"X-Cocaine-Service", b"echo"),
             (b"X-Cocaine-Event", b"http")]))

    def test_pathWithoutRest(self):
        """
        With nothing after the event the URI is C{/}; a query right after
        the event stays, behind a C{/}.
        """
        self.assertEqual(route(b"/echo/http", []).uri, b"/")
        self.assertEqual(route(b"/echo/http/", []).uri, b"/")
        self.assertEqual(route(b"/echo/http?x=1", []).uri, b"/?x=1")
        self.assertEqual(route(b"/echo/http?x=1", []).event, "http")

    def test_pathNotUnquoted(self):
        """
        The path is not unquoted (as the proxies: the raw URI).
        """
        where = route(b"/echo/ht%20tp/a%2Fb", [])
        self.assertEqual((where.event, where.uri), ("ht%20tp", b"/a%2Fb"))

    def test_headers(self):
        """
        C{X-Cocaine-Service} and C{X-Cocaine-Event} (any case) route the
        request and the URI stays as it is.
        """
        where = route(b"/some/where?x=1", [
            (b"x-cocaine-SERVICE", b"echo"), (b"Host", b"h"),
            (b"X-Cocaine-Event", b"http")])
        self.assertEqual(where, Route("echo", "http", b"/some/where?x=1"))

    def test_onlyOneHeader(self):
        """
        One dispatch header without the other is a 400.
        """
        self.assertRefused(400, b"/echo/http", [(b"X-Cocaine-Service",
                                                  b"echo")])
        self.assertRefused(400, b"/echo/http", [(b"X-Cocaine-Event",
                                                  b"http")])

    def test_emptyHeader(self):
        """
        An empty dispatch header is a 400.
        """
        self.assertRefused(400, b"/", [(b"X-Cocaine-Service", b""),
                                       (b"X-Cocaine-Event", b"http")])

    def test_noApp(self):
        """
        A path that names no app and event is a 404, as in tornado.
        """
        for target in (b"/", b"/echo", b"//http", b"/echo/", b"/echo/?x",
                       b"*"):
            self.assertRefused(404, target)

    def test_ping(self):
        """
        C{/ping} (with or without a query) is the health check; with
        dispatch headers it is routed like anything else.
        """
        self.assertIs(route(b"/ping", []), PING)
        self.assertIs(route(b"/ping?x", []), PING)
        self.assertEqual(route(b"/ping/pong", []).app, "ping")
        self.assertEqual(route(b"/ping", [(b"X-Cocaine-Service", b"a"),
                                          (b"X-Cocaine-Event", b"b")]).uri,
                         b"/ping")

    def test_notUTF8(self):
        """
        An app name that is not UTF-8 is a 400.
        """
        self.assertRefused(400, b"/\xff/http")
