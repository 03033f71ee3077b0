# -*- test-case-name: tests.metrics.test_collector -*-
"""
The node's figures as Prometheus metric families: L{AppsCollector} over
the apps of an L{cocaine.interfaces.INode} (its C{stats} and C{info}),
L{ProcessCollector} over the node's own process (psutil). Both are
C{prometheus_client} custom collectors: nothing is kept between scrapes,
every figure is read when C{collect} runs, on the reactor thread.

See docs/metrics.md for every name, its labels and its meaning.
"""

from prometheus_client.core import (
    CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily)
from prometheus_client.utils import floatToGoString

from cocaine.errors import AppNotRunning

#: The worker machine states counted as leaving the pool.
_STOPPING = ("terminating", "signalled", "killed")


def _le(bound):
    return floatToGoString(bound)


class AppsCollector:
    """
    Per app and per worker figures of the apps a node runs now.
    """

    def __init__(self, node):
        """
        @param node: an L{cocaine.interfaces.INode}.
        """
        self._node = node

    def collect(self):
        requests = CounterMetricFamily(
            "cocaine_app_requests", "Sessions of an app by how they ended "
            "(ok, error, timeout, rejected, disconnected).",
            labels=["app", "outcome"])
        duration = HistogramMetricFamily(
            "cocaine_app_request_duration_seconds", "Time from enqueue to "
            "the end of an app's sessions that ended ok or in error.",
            labels=["app"])
        queue = GaugeMetricFamily(
            "cocaine_app_queue_depth", "Sessions waiting for a worker.",
            labels=["app"])
        workers = GaugeMetricFamily(
            "cocaine_app_workers", "An app's workers by state: active "
            "(serving), idle, starting (spawned, not yet handshaken), "
            "stopping.", labels=["app", "state"])
        spawned = CounterMetricFamily(
            "cocaine_app_workers_spawned", "Workers spawned.",
            labels=["app"])
        crashed = CounterMetricFamily(
            "cocaine_app_workers_crashed", "Workers whose process ended "
            "abnormally.", labels=["app"])
        rss = GaugeMetricFamily(
            "cocaine_worker_rss_bytes", "Resident memory of a worker.",
            labels=["app", "pid"])
        cpu = GaugeMetricFamily(
            "cocaine_worker_cpu_percent", "CPU use of a worker since the "
            "previous reading, in percent of one core.",
            labels=["app", "pid"])
        for app in self._node.apps():
            try:
                stats = self._node.stats(app)
                info = self._node.info(app)
            except AppNotRunning:
                # stopped between the listing and the reading
                continue
            for outcome, count in stats["requests"].items():
                requests.add_metric([app, outcome], count)
            timing = stats["duration"]
            duration.add_metric(
                [app], [(_le(bound), count)
                        for bound, count in timing["buckets"]],
                timing["sum"])
            queue.add_metric([app], info.get("queue", {}).get("depth", 0))
            pool = info.get("pool", {})
            states = info.get("workers", [])
            for state in ("active", "idle", "starting"):
                workers.add_metric([app, state], pool.get(state, 0))
            workers.add_metric([app, "stopping"], sum(
                1 for w in states if w.get("state") in _STOPPING))
            spawned.add_metric([app], stats["workers"]["spawned"])
            crashed.add_metric([app], stats["workers"]["crashed"])
            for worker in states:
                pid = worker.get("pid")
                if pid is None:
                    continue
                if worker.get("rss") is not None:
                    rss.add_metric([app, str(pid)], worker["rss"])
                if worker.get("cpu") is not None:
                    cpu.add_metric([app, str(pid)], worker["cpu"])
        return [requests, duration, queue, workers, spawned, crashed, rss,
                cpu]


class ProcessCollector:
    """
    The node process: CPU time, resident memory, open file descriptors and
    TCP connections (every TCP socket of the process that is not a
    listening one: clients of its services and its own links to other
    nodes and services).
    """

    def __init__(self, process=None):
        """
        @param process: a C{psutil.Process}; this process by default.
        """
        if process is None:
            import psutil
            process = psutil.Process()
        self._process = process

    def collect(self):
        process = self._process
        families = []
        with process.oneshot():
            times = process.cpu_times()
            families.append(CounterMetricFamily(
                "cocaine_node_cpu_seconds", "CPU time of the node process "
                "(user and system).", value=times.user + times.system))
            families.append(GaugeMetricFamily(
                "cocaine_node_rss_bytes", "Resident memory of the node "
                "process.", value=process.memory_info().rss))
            families.append(GaugeMetricFamily(
                "cocaine_node_open_fds", "Open file descriptors of the node "
                "process.", value=process.num_fds()))
        # psutil < 6 names it connections
        listing = getattr(process, "net_connections", None) or (
            process.connections)
        connections = listing(kind="tcp")
        families.append(GaugeMetricFamily(
            "cocaine_node_connections", "TCP connections of the node "
            "process (not counting its listening sockets).",
            value=sum(1 for c in connections if c.status != "LISTEN")))
        return families
