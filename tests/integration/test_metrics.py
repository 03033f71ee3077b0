"""
Metrics on a real node: the echo app serves a few requests, then
C{/metrics} (mounted by a small front plugin of this test, as the
dashboard and the gateway mount it) is parsed as Prometheus parses it, and
the C{metrics} service is called with our client SDK and with the real
Cocaine 0.12 framework.
"""

import os
import textwrap

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, readBody

from cocaine.errors import CocaineError, InvalidArgument
from tests.integration.framework import frameworkPython, frameworkSteps
from tests.integration.node import ROOT, Node, NodeClientMixin, freePort

ECHO = os.path.join(ROOT, "examples", "apps", "echo")
_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "framework_metrics.py")

#: A front that mounts /metrics, found in a services/ directory of the
#: test's own (no __init__.py: a plugin drop-in).
_PAGE_PLUGIN = textwrap.dedent('''
    from twisted.plugin import IPlugin
    from zope.interface import implementer

    from cocaine.interfaces import IServicePlugin


    @implementer(IPlugin, IServicePlugin)
    class _Page:
        name = "metricspage"

        def validate(self, path, args, config):
            pass

        def makeService(self, context, name, args):
            from twisted.application.internet import TCPServer
            from twisted.web.resource import Resource
            from twisted.web.server import Site
            from cocaine.metrics.web import MetricsPage
            root = Resource()
            root.putChild(b"metrics", MetricsPage(context.metrics))
            return TCPServer(args["port"], Site(root),
                             interface="127.0.0.1")


    page = _Page()
''')


class MetricsNodeTests(NodeClientMixin, TestCase):

    timeout = 120

    def setUp(self):
        directory = os.path.abspath(self.mktemp())
        plugins = os.path.join(directory, "plugins")
        os.makedirs(os.path.join(plugins, "services"))
        with open(os.path.join(plugins, "services", "metricspage.py"),
                  "w") as f:
            f.write(_PAGE_PLUGIN)
        self.pagePort = freePort()
        config = {"network": {"locator": 0}, "services": {
            "logging": {"type": "logging"},
            "storage": {"type": "storage"},
            "metrics": {"type": "metrics"},
            "node": {"type": "node", "args": {"local": {
                "echo": {"path": ECHO, "profile": {"pool-limit": 1}}}}},
            "page": {"type": "metricspage",
                     "args": {"port": self.pagePort}}}}
        self.startNode(Node(os.path.join(directory, "node"), config,
                            extraPath=[plugins]))

    async def serve(self):
        """
        Three pings (ok) and one C{fail} (the app raises: error).
        """
        echo = self.service("echo")
        for _ in range(3):
            channel = await echo.enqueue("ping")
            channel.close()
            self.assertEqual([c async for c in channel], [b"pong"])
        channel = await echo.enqueue("fail")
        channel.close()
        with self.assertRaises(CocaineError):
            [c async for c in channel]

    async def scrape(self):
        response = await Agent(reactor).request(
            b"GET", "http://127.0.0.1:{}/metrics".format(
                self.pagePort).encode("ascii"))
        self.assertEqual(response.code, 200)
        text = (await readBody(response)).decode("utf-8")
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[sample.name, frozenset(sample.labels.items())] = (
                    sample.value)
        return samples

    async def test_scrape(self):
        """
        The counts on /metrics are those of the requests served.
        """
        await self.serve()
        samples = await self.scrape()

        def value(name, **labels):
            return samples[name, frozenset(labels.items())]

        self.assertEqual(value("cocaine_app_requests_total", app="echo",
                               outcome="ok"), 3)
        self.assertEqual(value("cocaine_app_requests_total", app="echo",
                               outcome="error"), 1)
        self.assertEqual(value("cocaine_app_requests_total", app="echo",
                               outcome="rejected"), 0)
        self.assertEqual(value("cocaine_app_request_duration_seconds_count",
                               app="echo"), 4)
        self.assertEqual(value("cocaine_app_request_duration_seconds_bucket",
                               app="echo", le="+Inf"), 4)
        self.assertGreater(value("cocaine_app_request_duration_seconds_sum",
                                 app="echo"), 0)
        self.assertEqual(value("cocaine_app_workers_spawned_total",
                               app="echo"), 1)
        self.assertEqual(value("cocaine_app_workers_crashed_total",
                               app="echo"), 0)
        self.assertEqual(value("cocaine_app_queue_depth", app="echo"), 0)
        self.assertEqual(value("cocaine_app_workers", app="echo",
                               state="idle"), 1)
        pids = [dict(labels)["pid"] for name, labels in samples
                if name == "cocaine_worker_rss_bytes"]
        self.assertEqual(len(pids), 1)
        self.assertGreater(value("cocaine_worker_rss_bytes", app="echo",
                                 pid=pids[0]), 0)
        self.assertGreater(value("cocaine_node_rss_bytes"), 0)
        self.assertGreater(value("cocaine_node_open_fds"), 0)
        self.assertGreater(value("cocaine_node_cpu_seconds_total"), 0)
        # at least our own locator connection
        self.assertGreaterEqual(value("cocaine_node_connections"), 1)
        # the daemon froze its start-up out of garbage collection, after
        # the full collection that went first, timed with the others
        self.assertGreater(value("cocaine_node_gc_frozen_objects"), 1000)
        self.assertGreaterEqual(value("cocaine_node_gc_pause_seconds_count",
                                      generation="2"), 1)

    async def test_serviceWithOurClient(self):
        """
        C{metrics.fetch} answers the same figures with 0.12's names.
        """
        await self.serve()
        metrics = self.service("metrics")
        plain = await metrics.fetch()
        self.assertEqual(plain["echo.requests.accepted"], 4)
        self.assertEqual(plain["echo.requests.ok"], 3)
        self.assertEqual(plain["echo.slaves.spawned"], 1)
        self.assertEqual(plain["echo.timings.count"], 4)
        tree = await metrics.fetch("json", {
            "eq": [{"tag": [{"const": ["app"]}]}, {"const": ["echo"]}]})
        self.assertEqual(tree["echo"]["requests"]["error"], 1)
        self.assertNotIn("node", tree)

    async def test_serviceWithRealFramework(self):
        """
        The real 0.12 framework resolves and calls C{metrics.fetch}.
        """
        frameworkPython()
        await self.serve()
        steps = frameworkSteps(self, _SCRIPT, self.node.port)
        plain = steps["plain"]["value"]
        self.assertEqual(plain["echo.requests.ok"], 3)
        self.assertEqual(steps["json"]["value"]["echo"]["requests"][
            "accepted"], 4)
        self.assertEqual(set(steps["query"]["value"]), {
            name for name in plain if "requests" in name})
        self.assertEqual(steps["bad type"]["error"], [
            InvalidArgument.category, InvalidArgument.code])
