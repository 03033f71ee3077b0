# -*- test-case-name: tests.admin.test_access -*-
"""
Tests for L{cocaine.admin.access}: the dashboard's C{Host} check, its
tokens and permissions with auth on, the event stream's login cookie and
C{/metrics}, through a real twisted.web L{Site} over L{StringTransport}s.
"""

import json

from prometheus_client.core import CounterMetricFamily
from twisted.trial.unittest import SynchronousTestCase

from cocaine.admin.access import COOKIE, SESSION_SECONDS, Sessions
from cocaine.admin.overview import Overview
from cocaine.admin.service import AdminService
from cocaine.auth.acl import (
    COLLECTION_ACLS, READ, WRITE, EventACLs, StorageACLs, packCollectionACL)
from cocaine.auth.authenticators import TokenAuthenticator
from cocaine.auth.guard import Guard
from cocaine.auth.token import issue
from cocaine.config import ConfigError, parse
from cocaine.engine.pool import crashlogTags
from cocaine.metrics.registry import Metrics
from cocaine.plugins import checkConfig, loadPlugins
from cocaine.protocol.crashlogs import CRASHLOGS
from cocaine.protocol.framing import packValue
from cocaine.testing import memoryContext
from tests.admin.fakes import HTTPClient, StatsNode, clientOf, parseResponse
from tests.admin.test_web import _Locator

SECRET = b"s" * 32
KEY = "1700000000000000:worker-1"


class Dashboard:
    """
    An admin service on a L{StatsNode} running C{echo}; with C{auth}, the
    node's guard checks tokens signed with L{SECRET}, event ACLs and
    storage ACLs.
    """

    def __init__(self, test, auth=True, **kwargs):
        self.node = StatsNode()
        self.node.add("echo")
        self.context = memoryContext(node=self.node)
        self.context.metrics = Metrics()
        self.context.locator = _Locator()
        self.reactor = self.context.reactor
        self.reactor.advance(1000)
        self.storage = self.context.storage("core")
        self.guard = None
        if auth:
            self.guard = Guard(self.reactor, TokenAuthenticator([SECRET]),
                               EventACLs(self.reactor, self.storage),
                               StorageACLs(self.reactor, self.storage))
        self.context.guard = self.guard
        overview = Overview(self.context, None, cpu=lambda: 1.0,
                            processStart=lambda pid: 1000.0,
                            wallClock=lambda: 1060.0)
        self.service = AdminService(self.context, port=0, overview=overview,
                                    **kwargs)
        self.service.startService()
        test.addCleanup(self.service.stopService)
        self.http = clientOf(self.service)
        self.storage.write(CRASHLOGS, KEY, packValue(["boom"]),
                           crashlogTags("echo", 1700000000))

    def token(self, uid=None, cids=(), ttl=3600):
        return issue(SECRET, uids=() if uid is None else (uid,), cids=cids,
                     expiry=int(self.reactor.seconds()) + ttl)

    def as_(self, uid, scheme="token", host="127.0.0.1"):
        """
        A client sending a token of C{uid}.
        """
        return clientOf(self.service, host, {
            "Authorization": "{} {}".format(scheme, self.token(uid))})

    def allow(self, uid, *methods):
        self.guard.events.set("node", {}, {uid: frozenset(methods)})


class HostTests(SynchronousTestCase):
    """
    The API and C{/metrics} answer only a C{Host} header that names the
    dashboard (DNS rebinding), with auth off and on.
    """

    def check(self, auth):
        d = Dashboard(self, auth=auth)
        port = d.service.port.getHost().port
        headers = {} if not auth else {
            "Authorization": "token " + d.token(0)}
        for host in ("evil.example:{}".format(port), "127.0.0.1:1",
                     "127.0.0.1", "evil.example"):
            http = HTTPClient(d.service.site, hostHeader=host,
                              headers=headers)
            for method, path in [("GET", "/api/overview"),
                                 ("GET", "/metrics"),
                                 ("GET", "/api/events"),
                                 ("POST", "/api/apps/echo/pause")]:
                status, error = http.json(method, path, {} if (
                    method == "POST") else None)
                self.assertEqual((host, path, status), (host, path, 403))
                self.assertIn("Host header", error["error"])
        self.assertEqual(d.node.apps(), ["echo"])
        for host in ("127.0.0.1:{}", "localhost:{}", "LOCALHOST:{}"):
            http = HTTPClient(d.service.site, hostHeader=host.format(port),
                              headers=headers)
            status, _ = http.json("GET", "/api/overview")
            self.assertEqual(status, 200, host)

    def test_authOff(self):
        self.check(auth=False)

    def test_authOn(self):
        self.check(auth=True)

    def test_configuredName(self):
        """
        A name in C{hosts} is accepted (a proxy's or the machine's name).
        """
        d = Dashboard(self, auth=False, hosts=["node1.example"])
        port = d.service.port.getHost().port
        http = HTTPClient(d.service.site,
                          hostHeader="node1.example:{}".format(port))
        self.assertEqual(http.json("GET", "/api/overview")[0], 200)

    def test_noHost(self):
        d = Dashboard(self, auth=False)
        protocol, transport = d.http.connect()
        protocol.dataReceived(b"GET /api/overview HTTP/1.0\r\n\r\n")
        self.assertEqual(parseResponse(transport.value())[0], 403)

    def test_pageNeedsNothing(self):
        """
        The page itself is the same everywhere: it needs no token (it
        asks for one).
        """
        d = Dashboard(self)
        status, _, body = d.http.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertIn(b"login", body)


class TokenTests(SynchronousTestCase):
    """
    With auth on, the read-only API needs an identity.
    """

    def setUp(self):
        self.d = Dashboard(self)

    def test_noToken(self):
        status, headers, body = self.d.http.request("GET", "/api/overview")
        self.assertEqual(status, 401)
        self.assertIn("Bearer", headers["www-authenticate"])
        error = json.loads(body)
        self.assertEqual(error["kind"], "Unauthorized")
        self.assertIn("authentication required", error["error"])

    def test_badTokens(self):
        forged = issue(b"x" * 32, uids=(0,), expiry=10 ** 10)
        expired = self.d.token(0, ttl=-1)
        for value in ("token " + forged, "token " + expired, "token x.y",
                      "Basic dXNlcjpwYXNz", "0"):
            status, error = self.d.http.json(
                "GET", "/api/overview", headers={"Authorization": value})
            self.assertEqual((value, status), (value, 401))
            self.assertEqual(error["kind"], "Unauthorized")

    def test_anyIdentityReads(self):
        for scheme in ("token", "Bearer", "bearer"):
            status, overview = self.d.as_(5, scheme).json(
                "GET", "/api/overview")
            self.assertEqual(status, 200)
            self.assertEqual(overview["apps"][0]["name"], "echo")
        status, _ = clientOf(self.d.service, headers={
            "Authorization": "token " + self.d.token(cids=(9,))}).json(
                "GET", "/api/overview")
        self.assertEqual(status, 200)

    def test_crashlogRead(self):
        """
        A crashlog's text is read under the storage ACL of C{crashlogs}.
        """
        path = "/api/crashlogs/echo/" + KEY
        self.assertEqual(self.d.http.json("GET", path)[0], 401)
        self.d.storage.write(COLLECTION_ACLS, CRASHLOGS,
                             packCollectionACL({}, {7: READ | WRITE}))
        status, error = self.d.as_(5).json("GET", path)
        self.assertEqual(status, 403)
        self.assertEqual(error["kind"], "AccessDenied")
        self.assertIn("storage.read", error["error"])
        status, crashlog = self.d.as_(7).json("GET", path)
        self.assertEqual(status, 200)
        self.assertEqual(crashlog["lines"], ["boom"])


class ActionTests(SynchronousTestCase):
    """
    With auth on, an action needs the permission of its native call.
    """

    def setUp(self):
        self.d = Dashboard(self)

    def test_noToken(self):
        status, _, body = self.d.http.request(
            "POST", "/api/apps/echo/pause", b"{}",
            {"Content-Type": "application/json"})
        self.assertEqual(status, 401)
        self.assertEqual(self.d.node.apps(), ["echo"])

    def test_notAllowed(self):
        user = self.d.as_(5)
        self.d.storage.write(COLLECTION_ACLS, CRASHLOGS,
                             packCollectionACL({}, {7: READ | WRITE}))
        for path, value, method in [
                ("/api/apps/echo/pause", {}, "node.pause_app"),
                ("/api/apps/echo/start", {"profile": "default"},
                 "node.start_app"),
                ("/api/apps/echo/pool", {"size": 2}, "node.control"),
                ("/api/crashlogs/echo/{}/remove".format(KEY), {},
                 "storage.remove")]:
            status, error = user.json("POST", path, value)
            self.assertEqual((path, status), (path, 403))
            self.assertEqual(error["kind"], "AccessDenied")
            self.assertIn(method, error["error"])
            self.assertIn("uid 5", error["error"])
        self.assertEqual(self.d.node.apps(), ["echo"])
        self.assertEqual(self.d.node.info("echo")["pool"]["pinned"], None)
        self.assertIn(KEY, self.d.storage.find(CRASHLOGS, ["echo"]))

    def test_eventACL(self):
        """
        A uid listed for C{pause_app} pauses; C{start_app} it is not
        listed for stays refused.
        """
        self.d.allow(5, "pause_app", "control")
        user = self.d.as_(5)
        self.assertEqual(user.json("POST", "/api/apps/echo/pool",
                                   {"size": 1})[0], 200)
        self.assertEqual(user.json("POST", "/api/apps/echo/pause", {})[0], 200)
        self.assertEqual(self.d.node.apps(), [])
        self.assertEqual(
            user.json("POST", "/api/apps/echo/start", {})[0], 403)

    def test_storageACL(self):
        self.d.storage.write(COLLECTION_ACLS, CRASHLOGS,
                             packCollectionACL({}, {7: READ | WRITE}))
        status, _ = self.d.as_(7).json(
            "POST", "/api/crashlogs/echo/{}/remove".format(KEY), {})
        self.assertEqual(status, 200)
        self.assertEqual(self.d.storage.find(CRASHLOGS, ["echo"]), [])

    def test_admin(self):
        """
        uid 0 may do everything, and (auth being on) from any address.
        """
        admin = self.d.as_(0, host="10.1.2.3")
        self.assertEqual(admin.json("POST", "/api/apps/echo/pool",
                                    {"size": 1})[0], 200)
        self.assertEqual(admin.json("POST", "/api/apps/echo/pause",
                                    {})[0], 200)
        self.assertEqual(admin.json("POST", "/api/apps/echo/start",
                                    {"profile": "default"})[0], 200)
        self.assertEqual(self.d.node.calls[-1],
                         ("startApp", "echo", "default"))
        self.assertEqual(admin.json(
            "POST", "/api/crashlogs/echo/{}/remove".format(KEY), {})[0], 200)
        self.assertEqual(self.d.storage.find(CRASHLOGS, ["echo"]), [])

    def test_stillJSONFromOurPage(self):
        admin = self.d.as_(0)
        status, _, _ = admin.request(
            "POST", "/api/apps/echo/pause", b"a=b",
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 415)
        status, _ = admin.json("POST", "/api/apps/echo/pause", {},
                               {"Origin": "http://evil.example"})
        self.assertEqual(status, 403)
        self.assertEqual(self.d.node.apps(), ["echo"])

    def test_refusalsLogged(self):
        logged = []
        self.patch(self.d.guard, "refused",
                   lambda *args: logged.append(args[:2]))
        self.d.as_(5).json("POST", "/api/apps/echo/pause", {})
        self.d.http.json("GET", "/api/overview")
        self.assertEqual(logged, [("admin", "node.pause_app"),
                                  ("admin", "/api/overview")])


class LoginTests(SynchronousTestCase):
    """
    The event stream: C{EventSource} sends no headers, so C{POST
    /api/login} checks the token and sets a cookie for it alone.
    """

    def setUp(self):
        self.d = Dashboard(self)

    def login(self, uid=5):
        status, headers, body = self.d.as_(uid).request(
            "POST", "/api/login")
        self.assertEqual(status, 200, body)
        return headers["set-cookie"], json.loads(body)

    def stream(self, cookie=None):
        headers = {} if cookie is None else {"Cookie": cookie}
        _, transport = self.d.http.send("GET", "/api/events", None, headers)
        return transport.value()

    def test_cookie(self):
        cookie, answer = self.login()
        self.assertEqual(answer["identity"], "uid 5")
        self.assertFalse(answer["admin"])
        parts = [p.strip().lower() for p in cookie.split(";")]
        self.assertIn("httponly", parts)
        self.assertIn("samesite=strict", parts)
        self.assertIn("path=/api/events", parts)
        self.assertIn("max-age={}".format(SESSION_SECONDS), parts)
        pair = cookie.split(";")[0]
        self.assertIn(b"text/event-stream", self.stream(pair))

    def test_refused(self):
        self.assertIn(b" 401 ", self.stream())
        self.assertIn(b" 401 ", self.stream(COOKIE.decode() + "=nope"))
        status, headers, _ = self.d.http.request("POST", "/api/login")
        self.assertEqual(status, 401)
        self.assertNotIn("set-cookie", headers)

    def test_cookieOpensOnlyTheStream(self):
        cookie, _ = self.login()
        status, _ = self.d.http.json("GET", "/api/overview",
                                     headers={"Cookie": cookie})
        self.assertEqual(status, 401)

    def test_expires(self):
        cookie, _ = self.login()
        self.d.reactor.advance(SESSION_SECONDS + 1)
        self.assertIn(b" 401 ", self.stream(cookie.split(";")[0]))

    def test_notBeyondTheToken(self):
        """
        A session ends with the token that opened it.
        """
        http = clientOf(self.d.service, headers={
            "Authorization": "token " + self.d.token(5, ttl=30)})
        _, headers, _ = http.request("POST", "/api/login")
        self.assertIn("Max-Age=30", headers["set-cookie"])
        self.d.reactor.advance(31)
        self.assertIn(b" 401 ",
                      self.stream(headers["set-cookie"].split(";")[0]))

    def test_authOff(self):
        d = Dashboard(self, auth=False)
        status, answer = d.http.json("POST", "/api/login")
        self.assertEqual((status, answer), (200, {"auth": False}))


class SessionsTests(SynchronousTestCase):

    def test_bounded(self):
        from twisted.internet.task import Clock
        from cocaine.admin import access
        from cocaine.auth.identity import Identity
        self.patch(access, "MAX_SESSIONS", 3)
        sessions = Sessions(Clock())
        ids = [sessions.open(Identity(uids=(i,)), None)[0]
               for i in range(5)]
        self.assertEqual(len(sessions), 3)
        self.assertIsNone(sessions.identity(ids[0]))
        self.assertEqual(sessions.identity(ids[4]), Identity(uids=(4,)))


class MetricsTests(SynchronousTestCase):

    def registry(self, d):
        class Collector:
            def collect(self):
                family = CounterMetricFamily("cocaine_test", "a test")
                family.add_metric([], 7)
                yield family
        d.context.metrics.register(Collector())

    def test_tokenNeeded(self):
        d = Dashboard(self)
        self.registry(d)
        status, headers, _ = d.http.request("GET", "/metrics")
        self.assertEqual(status, 401)
        self.assertIn("Bearer", headers["www-authenticate"])
        status, _, body = d.as_(5, "Bearer").request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"cocaine_test_total 7.0", body)

    def test_public(self):
        d = Dashboard(self, metricsPublic=True)
        self.registry(d)
        status, _, body = d.http.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"cocaine_test_total 7.0", body)

    def test_authOff(self):
        d = Dashboard(self, auth=False)
        self.assertEqual(d.http.request("GET", "/metrics")[0], 200)


class ConfigTests(SynchronousTestCase):

    def config(self, args):
        root = self.mktemp()
        return parse({
            "paths": {"data": root + "/data", "spool": root + "/spool",
                      "runtime": root + "/run"},
            "storages": {"core": {"type": "memory"}},
            "services": {"admin": {"type": "admin", "args": args}}})

    def test_keys(self):
        for args, key in [({"hosts": "x"}, "hosts"),
                          ({"hosts": [1]}, "hosts"),
                          ({"metrics-public": "yes"}, "metrics-public")]:
            error = self.assertRaises(ConfigError, checkConfig,
                                      self.config(args), loadPlugins())
            self.assertIn("services.admin.args." + key, str(error))
        checkConfig(self.config({"hosts": ["a.example"],
                                 "metrics-public": True}), loadPlugins())

    def test_plugin(self):
        context = memoryContext()
        service = loadPlugins().services["admin"].makeService(
            context, "admin", {"port": 0, "hosts": ["a.example"],
                               "metrics-public": True})
        self.assertEqual(service.access.hosts, frozenset(["a.example"]))
        self.assertTrue(service.access.metricsPublic)
