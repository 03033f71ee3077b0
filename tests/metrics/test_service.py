"""
Tests for L{cocaine.metrics.service}: Cocaine 0.12's C{metrics.fetch}
over the registry, its names, renderings and filters, and the plugin.
"""

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import InvalidArgument
from cocaine.metrics.collector import AppsCollector
from cocaine.metrics.registry import Metrics
from cocaine.metrics.service import (
    Metric, MetricsService, makeFilter, quantile)
from cocaine.plugins import loadPlugins
from cocaine.protocol.services import METRICS
from cocaine.rpc.memory import ServiceHarness
from cocaine.testing import FakeUpstream, MemoryNode, memoryContext


class _Gateway:
    """
    A family without a 0.12 name (as the HTTP gateway's).
    """

    def collect(self):
        family = CounterMetricFamily("cocaine_http_requests",
                                     "Requests by code.", labels=["code"])
        family.add_metric(["200"], 5)
        yield family
        yield GaugeMetricFamily("cocaine_node_rss_bytes", "RSS.", value=2048)


class _ServiceCase(SynchronousTestCase):

    def setUp(self):
        self.node = MemoryNode()
        self.node.add("echo", info={
            "queue": {"depth": 2},
            "pool": {"active": 1, "idle": 0, "starting": 0},
            "workers": [{"pid": 42, "state": "active", "rss": 100,
                         "cpu": 1.5}]})
        for _ in range(3):
            self.node.enqueue("echo", FakeUpstream(), "go").close()
        stats = self.node.appStats("echo")
        stats.rejected = 2
        stats.spawned = 1
        self.metrics = Metrics()
        self.metrics.register(AppsCollector(self.node))
        self.metrics.register(_Gateway())
        self.service = MetricsService(self.metrics)

    def fetch(self, *args):
        (value,) = self.service.fetch(*args)
        return value


class PlainTests(_ServiceCase):

    def test_default(self):
        """
        Without arguments: plain, every metric, with 0.12's names where
        0.12 had them (C{accepted} is every session not rejected).
        """
        plain = self.fetch()
        self.assertEqual(plain, self.fetch("plain"))
        self.assertEqual(plain["echo.requests.accepted"], 3)
        self.assertEqual(plain["echo.requests.rejected"], 2)
        self.assertEqual(plain["echo.requests.ok"], 3)
        self.assertEqual(plain["echo.slaves.spawned"], 1)
        self.assertEqual(plain["echo.slaves.crashed"], 0)
        self.assertEqual(plain["echo.queue.depth"], 2)
        self.assertEqual(plain["echo.pool.active"], 1)
        self.assertEqual(plain["echo.pool.slaves.42.rss"], 100)
        self.assertEqual(plain["echo.pool.slaves.42.cpu"], 1.5)
        self.assertEqual(plain["node.rss_bytes"], 2048)
        self.assertEqual(plain["http_requests_total.200"], 5)
        self.assertIsInstance(plain["echo.requests.ok"], int)

    def test_timer(self):
        """
        The duration histogram is a 0.12 timer: count, percentiles and
        mean in milliseconds.
        """
        plain = self.fetch()
        self.assertEqual(plain["echo.timings.count"], 3)
        for field in ("p50", "p75", "p90", "p95", "p98", "p99", "mean"):
            self.assertIn("echo.timings." + field, plain)
        # every duration is 0 on the memory node's clock: the first bucket
        self.assertLessEqual(plain["echo.timings.p99"], 0.5)
        self.assertEqual(plain["echo.timings.mean"], 0.0)


class TreeTests(_ServiceCase):

    def test_json(self):
        """
        C{"json"} splits names on dots into nested maps; a timer is a map
        of its fields.
        """
        tree = self.fetch("json")
        self.assertEqual(tree["echo"]["requests"]["accepted"], 3)
        self.assertEqual(tree["echo"]["pool"]["slaves"]["42"]["rss"], 100)
        self.assertEqual(tree["echo"]["timings"]["count"], 3)
        self.assertEqual(tree["node"]["rss_bytes"], 2048)

    def test_unknownType(self):
        self.assertRaises(InvalidArgument, self.service.fetch, "xml")


class FilterTests(_ServiceCase):

    def names(self, query):
        return set(self.fetch("plain", query))

    def test_eqTag(self):
        """
        C{eq} of a tag and a constant (as a client's msgpack gives them,
        bytes).
        """
        query = {b"eq": [{b"tag": [{b"const": [b"outcome"]}]},
                         {b"const": [b"ok"]}]}
        self.assertEqual(self.names(query), {"echo.requests.ok"})

    def test_containsName(self):
        query = {"contains": [{"name": []}, {"const": ["slaves."]}]}
        self.assertEqual(self.names(query), {
            "echo.slaves.spawned", "echo.slaves.crashed",
            "echo.pool.slaves.42.rss", "echo.pool.slaves.42.cpu"})

    def test_type(self):
        query = {"eq": [{"type": []}, {"const": ["timer"]}]}
        self.assertEqual({name.rpartition(".")[0] for name in
                          self.names(query)}, {"echo.timings"})

    def test_andOr(self):
        query = {"and": [
            {"contains": [{"name": []}, {"const": ["echo.slaves"]}]},
            {"or": [{"eq": [{"name": []}, {"const": ["echo.slaves.spawned"]}]},
                    {"eq": [{"name": []}, {"const": ["nothing"]}]}]}]}
        self.assertEqual(self.names(query), {"echo.slaves.spawned"})
        self.assertEqual(self.names({"or": []}), set())
        self.assertEqual(len(self.names({"and": []})), len(self.fetch()))

    def test_ge(self):
        """
        C{ge} compares numbers with numbers and text with text.
        """
        metric = Metric("a.b", "gauge", {"n": "5"}, 5)
        self.assertTrue(makeFilter({"ge": [{"const": [5]}, {"const": [4]}]})(
            metric))
        self.assertFalse(makeFilter({"ge": [{"const": [3]},
                                            {"const": [4]}]})(metric))
        self.assertTrue(makeFilter({"ge": [{"name": []},
                                           {"const": ["a"]}]})(metric))
        self.assertFalse(makeFilter({"ge": [{"name": []},
                                            {"const": [1]}]})(metric))

    def test_missingTag(self):
        """
        A tag a metric lacks reads as the empty string.
        """
        query = {"eq": [{"tag": [{"const": ["nope"]}]}, {"const": [""]}]}
        self.assertEqual(len(self.names(query)), len(self.fetch()))

    def test_malformed(self):
        """
        What 0.12 refuses is an invalid argument.
        """
        for query in ([], {"eq": []}, {"eq": [1, 2]}, {"nope": []},
                      {"eq": [{"name": [1]}, {"const": [1]}]},
                      {"eq": [{"x": []}, {"const": [1]}]},
                      {"and": [{}]}, {"and": "x"},
                      {"eq": [{"name": []}], "or": []}):
            self.assertRaises(InvalidArgument, self.service.fetch, "plain",
                              query)


class QuantileTests(SynchronousTestCase):

    def test_interpolated(self):
        buckets = [(0.1, 0), (0.2, 10), (float("inf"), 10)]
        self.assertAlmostEqual(quantile(0.5, buckets), 0.15)
        self.assertAlmostEqual(quantile(1.0, buckets), 0.2)

    def test_infiniteBucket(self):
        """
        Past the last finite bound, the estimate is that bound.
        """
        buckets = [(1.0, 1), (float("inf"), 4)]
        self.assertEqual(quantile(0.99, buckets), 1.0)

    def test_empty(self):
        self.assertEqual(quantile(0.5, [(1.0, 0), (float("inf"), 0)]), 0.0)


class WireTests(SynchronousTestCase):
    """
    The service on the native protocol, and the plugin.
    """

    def test_fetchOverTheWire(self):
        metrics = Metrics()
        metrics.register(_Gateway())
        harness = ServiceHarness(MetricsService(metrics))
        self.assertEqual(METRICS[0].name, "fetch")
        reply = harness.call("fetch", "json")
        self.assertEqual(reply, [("value", [{
            "http_requests_total": {"200": 5},
            "node": {"rss_bytes": 2048}}])])

    def test_plugin(self):
        """
        The C{metrics} plugin serves the context's registry.
        """
        plugin = loadPlugins().services["metrics"]
        context = memoryContext()
        context.metrics = Metrics()
        context.metrics.register(_Gateway())
        service = plugin.makeService(context, "metrics", {})
        self.assertEqual(service.fetch()[0]["node.rss_bytes"], 2048)
