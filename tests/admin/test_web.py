# -*- test-case-name: tests.admin.test_web -*-
"""
Tests for L{cocaine.admin.web}, through a real twisted.web L{Site} of an
L{AdminService} over L{StringTransport}s, on a L{StatsNode}, a memory
storage and a L{FakeReactor} clock.
"""

import json

from prometheus_client.core import CounterMetricFamily
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from cocaine.admin.overview import Overview
from cocaine.admin.service import AdminService
from cocaine.admin.web import isLoopback, plotlyScript
from cocaine.cluster.remote import RemoteTable
from cocaine.engine.pool import crashlogTags
from cocaine.metrics.registry import Metrics
from cocaine.protocol.framing import packValue
from cocaine.testing import FakeUpstream, MemoryNode, memoryContext
from tests.admin.fakes import StatsNode, clientOf, parseResponse

KEY = "1700000000000000:worker-1"


class _Locator:
    def __init__(self):
        self.remote = RemoteTable()


class Dashboard:
    """
    An admin service on a L{StatsNode} with app C{echo}, started.
    """

    def __init__(self, test):
        self.node = StatsNode()
        self.node.add("echo")
        self.context = memoryContext(node=self.node)
        self.context.metrics = Metrics()
        self.context.locator = _Locator()
        self.reactor = self.context.reactor
        self.overview = Overview(self.context, None, cpu=lambda: 12.5,
                                 processStart=lambda pid: 1000.0,
                                 wallClock=lambda: 1060.0)
        self.service = AdminService(self.context, port=0,
                                    overview=self.overview)
        self.service.startService()
        test.addCleanup(self.service.stopService)
        self.http = clientOf(self.service)
        self.storage = self.context.storage("core")

    def crash(self, key=KEY, lines=("Traceback", "ValueError: boom")):
        self.storage.write("crashlogs", key, packValue(list(lines)),
                           crashlogTags("echo", 1700000000))


class OverviewTests(SynchronousTestCase):

    def setUp(self):
        self.d = Dashboard(self)

    def test_runningApp(self):
        """
        A running app with its pool, queue, workers (uptime from the
        process start), rates from the last two samples and its kept
        history.
        """
        self.d.node.serve("echo", 10, seconds=0.005)
        self.d.reactor.advance(1.0)
        self.d.node.serve("echo", 4, seconds=0.05)
        self.d.node.serve("echo", 1, outcome="error", seconds=0.05)
        self.d.reactor.advance(1.0)
        status, overview = self.d.http.json("GET", "/api/overview")
        self.assertEqual(status, 200)
        self.assertEqual(overview["uuid"], "memory-node")
        (app,) = overview["apps"]
        self.assertEqual(app["name"], "echo")
        self.assertEqual((app["state"], app["running"]), ("running", True))
        self.assertEqual(app["pool"], {"active": 1, "idle": 1,
                                       "starting": 0, "capacity": 4,
                                       "pinned": None})
        self.assertEqual(app["queue"], {"depth": 0, "capacity": 100})
        self.assertEqual([(w["pid"], w["state"], w["uptime"], w["rss"])
                          for w in app["workers"]],
                         [(101, "active", 60.0, 10485760),
                          (102, "idle", 60.0, 10485760)])
        self.assertEqual(app["rates"]["rps"], 5.0)
        self.assertEqual(app["rates"]["eps"], 1.0)
        self.assertTrue(0.01 < app["rates"]["p50"] <= 0.1)
        self.assertEqual([p["rps"] for p in app["history"]], [10.0, 5.0])

    def test_nodes(self):
        """
        This node with its CPU and its apps' scores, then the linked
        nodes: with their load report, or without one yet.
        """
        remote = self.d.context.locator.remote
        remote.link("peer-b", ["10.0.0.2", 10053], {})
        remote.setLoad("peer-b", {"cpu": 50.0, "apps": {"echo": {
            "queue": 2, "busy": 1, "sessions": 2, "capacity": 4,
            "concurrency": 1}}})
        remote.link("peer-c", ["10.0.0.3", 10053], {})
        _, overview = self.d.http.json("GET", "/api/overview")
        own, b, c = overview["nodes"]
        self.assertEqual((own["uuid"], own["self"], own["cpu"]),
                         ("memory-node", True, 12.5))
        self.assertIn("echo", own["apps"])
        self.assertEqual((b["uuid"], b["endpoint"], b["cpu"]),
                         ("peer-b", ["10.0.0.2", 10053], 50.0))
        self.assertAlmostEqual(b["apps"]["echo"]["score"], 1.0 + 0.05)
        self.assertEqual((c["uuid"], c["cpu"], c["apps"]),
                         ("peer-c", None, None))

    def test_crashlogs(self):
        """
        The list names each crashlog; its text is read by key.
        """
        self.d.crash()
        _, overview = self.d.http.json("GET", "/api/overview")
        self.assertEqual(overview["apps"][0]["crashlogs"], [
            {"key": KEY, "timestamp": 1700000000000000,
             "time": "2023-11-14T22:13:20Z", "node": None,
             "uuid": "worker-1"}])
        status, log = self.d.http.json(
            "GET", "/api/crashlogs/echo/" + KEY.replace(":", "%3A"))
        self.assertEqual(status, 200)
        self.assertEqual(log["lines"], ["Traceback", "ValueError: boom"])

    def test_unknownCrashlog(self):
        """
        A key the app has no crashlog under is 404, naming it: another
        app's too.
        """
        self.d.crash()
        status, error = self.d.http.json("GET", "/api/crashlogs/other/" +
                                         KEY)
        self.assertEqual(status, 404)
        self.assertIn(repr(KEY), error["error"])
        self.assertEqual(error["kind"], "KeyNotFound")

    def test_stoppedApps(self):
        """
        Apps deployed in storage that do not run are listed as stopped,
        with the profiles to start them with.
        """
        self.d.storage.write("apps", "stored", b"", ["app"])
        self.d.storage.write("profiles", "small", b"", ["profile"])
        _, overview = self.d.http.json("GET", "/api/overview")
        self.assertEqual([(a["name"], a["state"]) for a in overview["apps"]],
                         [("echo", "running"), ("stored", "stopped")])
        self.assertEqual(overview["profiles"], ["small"])


class MemoryNodeTests(SynchronousTestCase):
    """
    The figures of L{MemoryNode}'s own counters (the shape of
    C{INode.stats} as the engine counts).
    """

    def test_rates(self):
        context = memoryContext()
        reactor = context.reactor
        node = context.node = MemoryNode(clock=reactor)

        def slow(event, chunks):
            d = Deferred()
            reactor.callLater(0.03, d.callback, chunks)
            return d
        node.add("slow", slow)
        service = AdminService(context, port=0, overview=Overview(
            context, None, cpu=lambda: 0.0, processStart=lambda pid: None))
        service.startService()
        self.addCleanup(service.stopService)
        for n in range(6):
            node.enqueue("slow", FakeUpstream(), "go").close()
        reactor.advance(0.03)
        reactor.advance(0.97)
        _, overview = clientOf(service).json("GET", "/api/overview")
        rates = overview["apps"][0]["rates"]
        self.assertEqual((rates["rps"], rates["eps"]), (6.0, 0.0))
        self.assertTrue(0.025 < rates["p50"] <= 0.05, rates)


class ActionTests(SynchronousTestCase):

    def setUp(self):
        self.d = Dashboard(self)
        self.http = self.d.http

    def test_pauseAndStart(self):
        """
        Paused, the app is shown stopped; it starts again with a profile
        (or, a development app, as it ran before).
        """
        status, answer = self.http.json("POST", "/api/apps/echo/pause", {})
        self.assertEqual((status, answer), (200, {"app": "echo",
                                                  "paused": True}))
        _, overview = self.http.json("GET", "/api/overview")
        self.assertEqual([(a["name"], a["state"]) for a in overview["apps"]],
                         [("echo", "stopped")])
        status, error = self.http.json("POST", "/api/apps/echo/start", {})
        self.assertEqual(status, 400)
        self.assertIn("give a profile", error["error"])
        status, _ = self.http.json("POST", "/api/apps/echo/start",
                                   {"profile": "default"})
        self.assertEqual(status, 200)
        self.assertEqual(self.d.node.calls[-1],
                         ("startApp", "echo", "default"))

    def test_startLocalAgain(self):
        self.d.node.add("dev", local=True, path="/src/dev", profile="p")
        self.http.json("GET", "/api/overview")
        self.http.json("POST", "/api/apps/dev/pause", {})
        status, _ = self.http.json("POST", "/api/apps/dev/start", {})
        self.assertEqual(status, 200)
        self.assertEqual(self.d.node.calls[-1],
                         ("startLocal", "dev", "/src/dev", "p"))

    def test_startRunning(self):
        status, error = self.http.json("POST", "/api/apps/echo/start",
                                       {"profile": "default"})
        self.assertEqual((status, error["kind"]), (409, "AppAlreadyRunning"))

    def test_badProfile(self):
        status, error = self.http.json("POST", "/api/apps/x/start",
                                       {"profile": 5})
        self.assertEqual(status, 400)
        self.assertIn("not 5", error["error"])

    def test_pauseUnknown(self):
        status, error = self.http.json("POST", "/api/apps/nope/pause", {})
        self.assertEqual(status, 404)
        self.assertIn("'nope'", error["error"])

    def test_resize(self):
        """
        A size pins the pool; null returns to scaling by load.
        """
        status, answer = self.http.json("POST", "/api/apps/echo/pool",
                                        {"size": 2})
        self.assertEqual((status, answer["pinned"]), (200, 2))
        _, overview = self.http.json("GET", "/api/overview")
        self.assertEqual(overview["apps"][0]["pool"]["pinned"], 2)
        self.http.json("POST", "/api/apps/echo/pool", {"size": None})
        _, overview = self.http.json("GET", "/api/overview")
        self.assertIsNone(overview["apps"][0]["pool"]["pinned"])

    def test_badSizes(self):
        """
        A size that is not an integer, one above the pool limit or none
        at all is 400, naming it; an unknown app 404.
        """
        cases = [({"size": "x"}, 400, "'x'"),
                 ({"size": 2.5}, 400, "2.5"),
                 ({"size": True}, 400, "True"),
                 ({"size": 99}, 400, "pool limit 4"),
                 ({}, 400, "give the pool size")]
        for body, code, named in cases:
            status, error = self.http.json("POST", "/api/apps/echo/pool",
                                           body)
            self.assertEqual(status, code, body)
            self.assertIn(named, error["error"])
        status, _ = self.http.json("POST", "/api/apps/nope/pool",
                                   {"size": 1})
        self.assertEqual(status, 404)

    def test_removeCrashlog(self):
        self.d.crash()
        path = "/api/crashlogs/echo/{}/remove".format(KEY)
        status, answer = self.http.json("POST", path, {})
        self.assertEqual((status, answer["removed"]), (200, KEY))
        self.assertEqual(self.d.storage.find("crashlogs", ["echo"]), [])
        status, _ = self.http.json("POST", path, {})
        self.assertEqual(status, 404)

    def test_noNode(self):
        """
        On a node without a node service every app action is 503, saying
        so; the overview lists the apps in storage, stopped.
        """
        self.d.context.node = None
        self.d.storage.write("apps", "stored", b"", ["app"])
        for path, body in (("/api/apps/echo/start", {"profile": "p"}),
                           ("/api/apps/echo/pause", {}),
                           ("/api/apps/echo/pool", {"size": 1})):
            status, error = self.http.json("POST", path, body)
            self.assertEqual(status, 503, path)
            self.assertIn("this node runs no node service", error["error"])
        status, overview = self.http.json("GET", "/api/overview")
        self.assertEqual(status, 200)
        self.assertEqual([(a["name"], a["state"], a["stored"])
                          for a in overview["apps"]],
                         [("stored", "stopped", True)])

    def test_noStorage(self):
        """
        Without core storage a crashlog cannot be removed (503) and the
        overview has no crashlogs, stored apps or profiles.
        """
        del self.d.context.storages["core"]
        status, error = self.http.json(
            "POST", "/api/crashlogs/echo/{}/remove".format(KEY), {})
        self.assertEqual(status, 503)
        self.assertIn("no core storage", error["error"])
        status, overview = self.http.json("GET", "/api/overview")
        self.assertEqual(status, 200)
        self.assertEqual(overview["apps"][0]["crashlogs"], [])
        self.assertEqual(overview["profiles"], [])

    def test_notFromElsewhere(self):
        """
        Actions from a client that is not on loopback are 403, saying
        why; reading is allowed.
        """
        http = clientOf(self.d.service, host="10.1.2.3")
        status, error = http.json("POST", "/api/apps/echo/pause", {})
        self.assertEqual(status, 403)
        self.assertIn("only from loopback clients (this one is 10.1.2.3)",
                      error["error"])
        self.assertEqual(self.d.node.apps(), ["echo"])
        status, _ = http.json("GET", "/api/overview")
        self.assertEqual(status, 200)

    def test_jsonOnly(self):
        """
        A form post (what a page of another site can send unasked) is
        refused.
        """
        status, _, body = self.http.request(
            "POST", "/api/apps/echo/pause", b"x=1",
            {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 415)
        self.assertIn(b"application/json", body)
        self.assertEqual(self.d.node.apps(), ["echo"])

    def test_otherOrigin(self):
        status, error = self.http.json(
            "POST", "/api/apps/echo/pause", {},
            {"Origin": "http://evil.example"})
        self.assertEqual(status, 403)
        self.assertIn("http://evil.example", error["error"])
        status, _ = self.http.json(
            "POST", "/api/apps/echo/pause", {},
            {"Origin": "http://" + self.http.hostHeader})
        self.assertEqual(status, 200)

    def test_badBody(self):
        status, _, body = self.http.request(
            "POST", "/api/apps/echo/pool", b"{nope",
            {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertIn(b"not JSON", body)
        status, error = self.http.json("POST", "/api/apps/echo/pool", [1])
        self.assertEqual(status, 400)

    def test_paths(self):
        """
        An unknown path is 404 and a wrong method 405, both naming them.
        """
        status, error = self.http.json("GET", "/api/nothing")
        self.assertEqual(status, 404)
        self.assertIn("/api/nothing", error["error"])
        status, error = self.http.json("GET", "/api/apps/echo/pause")
        self.assertEqual(status, 405)
        self.assertIn("takes POST, not GET", error["error"])


class PageTests(SynchronousTestCase):

    def setUp(self):
        self.d = Dashboard(self)

    def test_page(self):
        status, headers, body = self.d.http.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertIn(b"<title>Cocaine dashboard</title>", body)
        for path in (b"/static/admin.js", b"/static/admin.css",
                     b"/static/plotly.min.js"):
            self.assertIn(path, body)
            status, _, content = self.d.http.request("GET", path.decode())
            if path.endswith(b"plotly.min.js") and plotlyScript() is None:
                self.assertEqual(status, 404)
                continue
            self.assertEqual((status, bool(content)), (200, True), path)

    def test_plotly(self):
        """
        plotly.js is the one of the installed plotly package.
        """
        path = plotlyScript()
        if path is None:
            raise SkipTest("plotly is not installed")
        _, headers, content = self.d.http.request(
            "GET", "/static/plotly.min.js")
        with open(path, "rb") as f:
            self.assertEqual(content, f.read())
        self.assertIn("javascript", headers["content-type"])

    def test_metrics(self):
        """
        C{/metrics} is the node's registry in Prometheus text.
        """
        class Collector:
            def collect(self):
                family = CounterMetricFamily("cocaine_test", "a test",
                                             labels=["app"])
                family.add_metric(["echo"], 7)
                yield family
        self.d.context.metrics.register(Collector())
        status, headers, body = self.d.http.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn("text/plain", headers["content-type"])
        self.assertIn(b'cocaine_test_total{app="echo"} 7.0', body)


class EventsTests(SynchronousTestCase):

    def setUp(self):
        self.d = Dashboard(self)

    def events(self, transport):
        _, _, body = parseResponse(transport.value())
        return [json.loads(block[len(b"data: "):])
                for block in body.split(b"\n\n")
                if block.startswith(b"data: ")]

    def test_stream(self):
        """
        A snapshot at once, then one after every sample with that
        window's rates; none once the client went away.
        """
        protocol, transport = self.d.http.send("GET", "/api/events")
        self.assertIn(b"text/event-stream", transport.value())
        self.assertIn(b"retry: 2000", transport.value())
        (first,) = self.events(transport)
        self.assertEqual(first["apps"][0]["name"], "echo")
        self.assertNotIn("history", first["apps"][0])
        self.d.node.serve("echo", 3)
        self.d.reactor.advance(1.0)
        self.d.node.serve("echo", 7)
        self.d.reactor.advance(1.0)
        snapshots = self.events(transport)
        self.assertEqual([s["apps"][0]["rates"]["rps"]
                          for s in snapshots[1:]], [3.0, 7.0])
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.d.service.events.clients, set())
        self.d.reactor.advance(1.0)

    def test_stopEnds(self):
        """
        Stopping the service ends the streams.
        """
        _, transport = self.d.http.send("GET", "/api/events")
        self.d.service.stopService()
        self.assertEqual(self.d.service.events.clients, set())
        self.assertTrue(transport.disconnecting)


class LoopbackTests(SynchronousTestCase):

    def test_addresses(self):
        for host in ("127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"):
            self.assertTrue(isLoopback(host), host)
        for host in ("10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1",
                     "localhost", ""):
            self.assertFalse(isLoopback(host), host)
