# -*- test-case-name: tests.metrics.test_collector -*-
"""
The node's figures as Prometheus metric families: L{AppsCollector} over
the apps of an L{cocaine.interfaces.INode} (its C{stats} and C{info}),
L{ProcessCollector} over the node's own process (psutil). Both are
C{prometheus_client} custom collectors: nothing is kept between scrapes,
every figure is read when C{collect} runs, on the reactor thread.
L{GCPauses} is the exception: it times the garbage collector's pauses as
they happen, which nothing could read afterwards.

See docs/metrics.md for every name, its labels and its meaning.
"""

import gc
import time

from prometheus_client.core import (
    CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily)
from prometheus_client.utils import floatToGoString

from cocaine.errors import AppNotRunning

#: Upper bounds of the garbage collector's pause buckets, in seconds.
PAUSE_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5)

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


class GCPauses:
    """
    Times each pause of the garbage collector, by generation, between
    L{start} and L{close}: a collector for the node's metrics registry.

    @ivar counts: per generation, a list of pause counts per bucket of
        L{PAUSE_BUCKETS} (not cumulative), the last for longer ones.
    @ivar sums: per generation, the seconds paused in all.
    """

    def __init__(self, clock=time.perf_counter, callbacks=None):
        """
        @param clock: a monotonic clock in seconds.
        @param callbacks: the list the collector calls (C{gc.callbacks}
            by default).
        """
        self._clock = clock
        self._callbacks = gc.callbacks if callbacks is None else callbacks
        self._began = None
        self.counts = [[0] * (len(PAUSE_BUCKETS) + 1) for _ in range(3)]
        self.sums = [0.0, 0.0, 0.0]

    def start(self):
        """
        Start timing pauses (again, after L{close}).
        """
        if self._phase not in self._callbacks:
            self._callbacks.append(self._phase)

    def _phase(self, phase, info):
        if phase == "start":
            self._began = self._clock()
            return
        began, self._began = self._began, None
        if began is None:
            return
        generation = min(info.get("generation", 0), 2)
        paused = self._clock() - began
        self.sums[generation] += paused
        counts = self.counts[generation]
        for index, bound in enumerate(PAUSE_BUCKETS):
            if paused <= bound:
                counts[index] += 1
                break
        else:
            counts[-1] += 1

    def close(self):
        """
        Stop timing pauses.
        """
        try:
            self._callbacks.remove(self._phase)
        except ValueError:
            pass

    def collect(self):
        family = HistogramMetricFamily(
            "cocaine_node_gc_pause_seconds",
            "Pauses of the node's garbage collector, by generation (2 is "
            "a full collection).", labels=["generation"])
        for generation in range(3):
            buckets = []
            total = 0
            for bound, count in zip(PAUSE_BUCKETS + (float("inf"),),
                                    self.counts[generation]):
                total += count
                buckets.append((_le(bound), total))
            family.add_metric([str(generation)], buckets,
                              self.sums[generation])
        frozen = GaugeMetricFamily(
            "cocaine_node_gc_frozen_objects", "Objects of the node's "
            "start-up frozen out of garbage collection (cocaine.heap).",
            value=gc.get_freeze_count())
        return [family, frozen]
