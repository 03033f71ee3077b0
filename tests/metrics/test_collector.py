"""
Tests for L{cocaine.metrics.collector}: the node's figures as Prometheus
families, read from a L{MemoryNode} and a fake process.
"""

import os
from collections import namedtuple

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.trial.unittest import SynchronousTestCase

from cocaine.metrics.collector import (
    AppsCollector, GCPauses, ProcessCollector)
from cocaine.metrics.registry import Metrics
from cocaine.testing import FakeUpstream, MemoryNode


def scrape(collector):
    """
    @return: C{{(sample name, frozenset of labels): value}} as a scraper
        parses the exposition of C{collector}.
    """
    metrics = Metrics()
    metrics.register(collector)
    text = generate_latest(metrics.registry).decode("utf-8")
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = (
                sample.value)
    return samples


def _labels(**labels):
    return frozenset(labels.items())


class AppsCollectorTests(SynchronousTestCase):

    def setUp(self):
        self.node = MemoryNode()
        self.node.add("echo", info={
            "queue": {"capacity": 10, "depth": 3},
            "pool": {"active": 1, "idle": 2, "starting": 1, "capacity": 5,
                     "pinned": None},
            "workers": [
                {"pid": 101, "state": "active", "rss": 1000, "cpu": 12.5},
                {"pid": 102, "state": "terminating", "rss": None,
                 "cpu": None},
                {"pid": None, "state": "starting", "rss": None, "cpu": None},
            ]})

    def call(self, app):
        session = self.node.enqueue(app, FakeUpstream(), "go")
        session.close()

    def test_requestsAndDuration(self):
        """
        Outcomes are counters labelled by app and outcome; durations a
        histogram whose buckets a scraper reads back.
        """
        self.call("echo")
        self.call("echo")
        stats = self.node.appStats("echo")
        stats.timeout += 4
        stats.observe(0.3)
        samples = scrape(AppsCollector(self.node))
        self.assertEqual(samples["cocaine_app_requests_total", _labels(
            app="echo", outcome="ok")], 2)
        self.assertEqual(samples["cocaine_app_requests_total", _labels(
            app="echo", outcome="timeout")], 4)
        self.assertEqual(samples["cocaine_app_requests_total", _labels(
            app="echo", outcome="rejected")], 0)
        name = "cocaine_app_request_duration_seconds"
        self.assertEqual(samples[name + "_bucket", _labels(
            app="echo", le="0.0005")], 2)
        self.assertEqual(samples[name + "_bucket", _labels(
            app="echo", le="0.25")], 2)
        self.assertEqual(samples[name + "_bucket", _labels(
            app="echo", le="0.5")], 3)
        self.assertEqual(samples[name + "_bucket", _labels(
            app="echo", le="+Inf")], 3)
        self.assertEqual(samples[name + "_count", _labels(app="echo")], 3)
        self.assertAlmostEqual(samples[name + "_sum", _labels(app="echo")],
                               0.3)

    def test_poolAndWorkers(self):
        """
        Queue depth, workers by state and per-worker figures come from the
        app's info; unknown figures are left out.
        """
        self.node.appStats("echo").spawned = 7
        self.node.appStats("echo").crashed = 2
        samples = scrape(AppsCollector(self.node))
        self.assertEqual(samples["cocaine_app_queue_depth", _labels(
            app="echo")], 3)
        for state, count in [("active", 1), ("idle", 2), ("starting", 1),
                             ("stopping", 1)]:
            self.assertEqual(samples["cocaine_app_workers", _labels(
                app="echo", state=state)], count)
        self.assertEqual(samples["cocaine_app_workers_spawned_total",
                                 _labels(app="echo")], 7)
        self.assertEqual(samples["cocaine_app_workers_crashed_total",
                                 _labels(app="echo")], 2)
        self.assertEqual(samples["cocaine_worker_rss_bytes", _labels(
            app="echo", pid="101")], 1000)
        self.assertEqual(samples["cocaine_worker_cpu_percent", _labels(
            app="echo", pid="101")], 12.5)
        self.assertNotIn(("cocaine_worker_rss_bytes", _labels(
            app="echo", pid="102")), samples)

    def test_appGoneWhileCollecting(self):
        """
        An app that stops between the listing and the reading is skipped.
        """
        self.node.add("other")

        class Racing:
            def apps(inner):
                names = self.node.apps()
                self.node.remove("other")
                return names

            def __getattr__(inner, name):
                return getattr(self.node, name)

        samples = scrape(AppsCollector(Racing()))
        apps = {dict(labels).get("app") for _, labels in samples}
        self.assertEqual(apps, {"echo"})

    def test_noApps(self):
        self.node.remove("echo")
        self.assertEqual(scrape(AppsCollector(self.node)), {})


_Times = namedtuple("_Times", "user system")
_Memory = namedtuple("_Memory", "rss")
_Connection = namedtuple("_Connection", "status")


class _Process:
    """
    What L{ProcessCollector} reads of a C{psutil.Process}.
    """

    def __init__(self):
        self.kinds = []

    def oneshot(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def cpu_times(self):
        return _Times(1.5, 0.25)

    def memory_info(self):
        return _Memory(4096)

    def num_fds(self):
        return 17

    def net_connections(self, kind):
        self.kinds.append(kind)
        return [_Connection("LISTEN"), _Connection("ESTABLISHED"),
                _Connection("ESTABLISHED"), _Connection("CLOSE_WAIT")]


class ProcessCollectorTests(SynchronousTestCase):

    def test_figures(self):
        """
        CPU seconds (user and system), RSS, open fds, and TCP connections
        without the listening sockets.
        """
        process = _Process()
        samples = scrape(ProcessCollector(process))
        self.assertEqual(samples["cocaine_node_cpu_seconds_total",
                                 frozenset()], 1.75)
        self.assertEqual(samples["cocaine_node_rss_bytes", frozenset()],
                         4096)
        self.assertEqual(samples["cocaine_node_open_fds", frozenset()], 17)
        self.assertEqual(samples["cocaine_node_connections", frozenset()],
                         3)
        self.assertEqual(process.kinds, ["tcp"])

    def test_thisProcess(self):
        """
        By default it reads this process, for real.
        """
        samples = scrape(ProcessCollector())
        self.assertGreater(samples["cocaine_node_rss_bytes", frozenset()], 0)
        self.assertGreater(samples["cocaine_node_open_fds", frozenset()], 0)
        self.assertLessEqual(samples["cocaine_node_open_fds", frozenset()],
                             len(os.listdir("/proc/self/fd")) + 1)


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class GCPausesTests(SynchronousTestCase):
    """
    L{GCPauses} times the collector's pauses by generation.
    """

    def setUp(self):
        self.clock = _Clock()
        self.callbacks = []
        self.pauses = GCPauses(self.clock, self.callbacks)

    def pause(self, generation, seconds):
        for callback in list(self.callbacks):
            callback("start", {"generation": generation})
        self.clock.now += seconds
        for callback in list(self.callbacks):
            callback("stop", {"generation": generation, "collected": 0})

    def test_startAndClose(self):
        """
        It listens to the collector from C{start} (once, however often it
        is called) to C{close}.
        """
        self.assertEqual(self.callbacks, [])
        self.pauses.start()
        self.pauses.start()
        self.assertEqual(len(self.callbacks), 1)
        self.pause(2, 0.02)
        self.pauses.close()
        self.pauses.close()
        self.assertEqual(self.callbacks, [])
        self.pause(2, 0.02)
        self.assertEqual(sum(self.pauses.counts[2]), 1)

    def test_histogram(self):
        """
        Each pause lands in its generation's bucket; the sum is the time
        paused.
        """
        self.pauses.start()
        self.pause(0, 0.00005)
        self.pause(0, 0.0003)
        self.pause(2, 0.015)
        self.pause(2, 2.0)
        samples = scrape(self.pauses)
        name = "cocaine_node_gc_pause_seconds"
        self.assertEqual(samples[name + "_bucket",
                                 _labels(generation="0", le="0.0001")], 1)
        self.assertEqual(samples[name + "_bucket",
                                 _labels(generation="0", le="0.0005")], 2)
        self.assertEqual(samples[name + "_count", _labels(generation="0")],
                         2)
        self.assertEqual(samples[name + "_bucket",
                                 _labels(generation="2", le="0.01")], 0)
        self.assertEqual(samples[name + "_bucket",
                                 _labels(generation="2", le="0.05")], 1)
        self.assertEqual(samples[name + "_bucket",
                                 _labels(generation="2", le="+Inf")], 2)
        self.assertAlmostEqual(samples[name + "_sum",
                                       _labels(generation="2")], 2.015)
        self.assertEqual(samples[name + "_count", _labels(generation="1")],
                         0)

    def test_realCollector(self):
        """
        By default it listens to Python's own collector: a full
        collection is a generation 2 pause; the frozen objects are
        counted.
        """
        import gc
        pauses = GCPauses()
        pauses.start()
        self.addCleanup(pauses.close)
        gc.collect()
        samples = scrape(pauses)
        self.assertGreaterEqual(samples["cocaine_node_gc_pause_seconds_count",
                                        _labels(generation="2")], 1)
        self.assertEqual(samples["cocaine_node_gc_frozen_objects",
                                 frozenset()], gc.get_freeze_count())
