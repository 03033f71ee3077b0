# -*- test-case-name: tests.admin.test_web -*-
"""
What the dashboard shows, gathered from the node in one JSON-ready map
(L{Overview.snapshot}): this node and the cluster's other nodes with their
load, every app (running ones with their pool, queue, workers and chart
points; stopped ones the node has or had), the profiles an app can be
started with, and each app's crashlogs.
"""

import time

from twisted.internet.defer import maybeDeferred

from cocaine.admin.crashlogs import listCrashlogs
from cocaine.cluster.load import CpuSampler, nodeLoad
from cocaine.errors import AppNotRunning
from cocaine.protocol.load import score


def _processStart():
    """
    C{pid -> epoch seconds the process started, or None} (psutil), each
    pid asked once.
    """
    import psutil
    known = {}

    def start(pid):
        if pid not in known:
            try:
                known[pid] = psutil.Process(pid).create_time()
            except Exception:
                # gone, or not ours to read: unknown
                return None
            if len(known) > 4096:
                known.clear()
        return known.get(pid)
    return start


def _number(value):
    return value if type(value) in (int, float) else None


class Overview:
    """
    @ivar seen: C{{app: origin}} of every app seen running (L{INode.origin}
        map), so a paused development app can be started again.
    """

    def __init__(self, context, sampler, cpu=None, processStart=None,
                 wallClock=time.time):
        """
        @param context: the node's L{cocaine.context.Context}.
        @param sampler: the L{cocaine.admin.sampler.Sampler} of chart
            points.
        @param cpu: C{() -> percent} of the node's CPU; psutil's, sampled
            at most twice a second, by default.
        @param processStart: C{pid -> epoch seconds or None}, for worker
            uptimes; psutil's by default.
        """
        self.context = context
        self.sampler = sampler
        self.seen = {}
        self._cpu = cpu or CpuSampler(context.reactor)
        self._processStart = processStart or _processStart()
        self._wallClock = wallClock

    @property
    def node(self):
        return self.context.node

    @property
    def storage(self):
        return self.context.storages.get("core")

    async def _find(self, collection, tag):
        if self.storage is None:
            return []
        try:
            return sorted(await maybeDeferred(self.storage.find, collection,
                                              [tag]))
        except Exception:
            return []

    async def snapshot(self, history=False):
        """
        Everything the page shows.

        @param history: include each running app's kept chart points
            (the first load of the page), not only the latest.
        @return: C{{"uuid", "time", "nodes", "apps", "profiles"}}.
        """
        node = self.node
        running = node.apps() if node is not None else []
        stored = await self._find("apps", "app")
        runlist = {}
        if node is not None:
            try:
                runlist = await maybeDeferred(node.runlist)
            except Exception:
                runlist = {}
        apps = []
        for name in sorted(set(running) | set(stored) | set(self.seen)):
            view = None
            if name in running:
                view = self.runningApp(name, history)
            if view is None:
                view = self.stoppedApp(name, name in stored)
            view["runlist"] = name in runlist
            view["crashlogs"] = (await listCrashlogs(self.storage, name)
                                 if self.storage is not None else [])
            apps.append(view)
        return {"uuid": self.context.uuid, "time": self._wallClock(),
                "nodes": self.nodes(), "apps": apps,
                "profiles": await self._find("profiles", "profile")}

    def runningApp(self, name, history=False):
        """
        A running app's view, or L{None} if it stopped meanwhile.
        """
        node = self.node
        try:
            info = node.info(name)
            origin = node.origin(name)
        except AppNotRunning:
            return None
        self.seen[name] = origin
        pool = info.get("pool") or {}
        queue = info.get("queue") or {}
        now = self._wallClock()
        workers = []
        for worker in info.get("workers") or ():
            pid = worker.get("pid")
            started = self._processStart(pid) if pid else None
            workers.append({
                "uuid": worker.get("uuid"), "pid": pid,
                "state": worker.get("state"), "load": worker.get("load"),
                "uptime": None if started is None else max(
                    0.0, now - started),
                "rss": _number(worker.get("rss")),
                "cpu": _number(worker.get("cpu"))})
        view = {
            "name": name, "state": info.get("state", "running"),
            "running": True, "local": bool(origin.get("local")),
            "pool": {k: pool.get(k) for k in (
                "active", "idle", "starting", "capacity", "pinned")},
            "queue": {"depth": queue.get("depth"),
                      "capacity": queue.get("capacity")},
            "sessions": (info.get("sessions") or {}).get("pending"),
            "workers": workers,
            "rates": self.sampler.latest(name)}
        if history:
            view["history"] = list(self.sampler.history.get(name, ()))
        return view

    def stoppedApp(self, name, stored):
        """
        The view of an app that does not run: one deployed in storage, or
        one seen running before.
        """
        origin = self.seen.get(name) or {}
        return {"name": name, "state": "stopped", "running": False,
                "stored": stored, "local": bool(origin.get("local")),
                "pool": None, "queue": None, "workers": [], "rates": None}

    def nodes(self):
        """
        This node and the linked ones, each C{{"uuid", "self", "endpoint",
        "cpu", "apps": {app: load record with its "score"}}}; a linked node
        whose load is not known yet has C{cpu} and C{apps} L{None}.
        """
        context = self.context
        ownEntry = context.registry.lookup("locator")
        own = nodeLoad(context, self._cpu)
        result = [self._node(context.uuid, True, list(ownEntry[0][0])
                             if ownEntry else None, own)]
        remote = getattr(context.locator, "remote", None)
        if remote is not None:
            for uuid, endpoint in sorted(remote.nodes().items()):
                result.append(self._node(uuid, False, endpoint,
                                         remote.load(uuid)))
        return result

    def _node(self, uuid, own, endpoint, report):
        if not isinstance(report, dict):
            return {"uuid": uuid, "self": own, "endpoint": endpoint,
                    "cpu": None, "apps": None}
        apps = {}
        for name, load in (report.get("apps") or {}).items():
            if isinstance(load, dict):
                apps[name] = dict(load, score=score(report, name))
        return {"uuid": uuid, "self": own, "endpoint": endpoint,
                "cpu": _number(report.get("cpu")), "apps": apps}
