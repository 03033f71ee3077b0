# -*- test-case-name: tests.cluster.test_load -*-
"""
Per-app load, measured on a node and streamed to its peers (ours).

A load report is C{{"cpu": percent, "apps": {name: {"queue": depth,
"busy": busy workers, "sessions": sessions in progress, "capacity": pool
limit, "concurrency": sessions per worker}}}}. It travels on the locator
C{connect} stream only to a peer that asked for it with the optional
second argument of C{connect} (C{{"load": true}}), as a chunk of its own:
C{write [uuid, {}, {"load": report}]} (an empty service map, so whoever
reads only the first two elements changes nothing). A C{connect(uuid)}
with one argument, as Cocaine 0.12 sends it, never sees such a chunk.
"""

from twisted.logger import Logger

from cocaine.errors import AppNotRunning
from cocaine.protocol.load import score

#: A change of an app's score by this much is sent at once.
BIG_CHANGE = 0.25

#: Apps of one peer's report kept at most, unless configured.
MAX_REPORT_APPS = 256

#: The ranges a peer's report is clamped to: counts of sessions, queued
#: requests and busy workers; the pool limit; sessions per worker.
MAX_COUNT = 1000000
MAX_CAPACITY = 10000
MAX_CONCURRENCY = 10000

#: The longest app name kept from a peer's report.
MAX_NAME = 255


def _clamp(value, low, high, otherwise):
    if type(value) not in (int, float) or value != value:
        return otherwise
    return float(min(high, max(low, value)))


def _name(value):
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) and value else None


def clampReport(report, maxApps=MAX_REPORT_APPS):
    """
    A peer's load report made safe to compare (issue 14): C{cpu} within
    0-100 (a missing or non-number one counts as 100: busy), at most
    C{maxApps} apps (the first ones; names of text up to L{MAX_NAME}),
    each with C{queue}, C{busy} and C{sessions} within 0-L{MAX_COUNT}
    (missing: 0), C{capacity} within 1-L{MAX_CAPACITY} and C{concurrency}
    within 1-L{MAX_CONCURRENCY} (missing: 1); other fields are dropped.

    @raise ValueError: C{report} is not a map.
    """
    if not isinstance(report, dict):
        raise ValueError("load report must be a map: {!r}".format(
            type(report).__name__))
    cpu = report.get("cpu", report.get(b"cpu"))
    apps = report.get("apps", report.get(b"apps"))
    clamped = {}
    for rawName, load in (apps.items() if isinstance(apps, dict) else ()):
        if len(clamped) >= maxApps:
            break
        name = _name(rawName)
        if name is None or len(name) > MAX_NAME or not isinstance(load,
                                                                  dict):
            continue
        fields = {_name(k): v for k, v in load.items()}
        clamped[name] = {
            "queue": _clamp(fields.get("queue"), 0, MAX_COUNT, 0.0),
            "busy": _clamp(fields.get("busy"), 0, MAX_COUNT, 0.0),
            "sessions": _clamp(fields.get("sessions"), 0, MAX_COUNT, 0.0),
            "capacity": _clamp(fields.get("capacity"), 1, MAX_CAPACITY,
                               1.0),
            "concurrency": _clamp(fields.get("concurrency"), 1,
                                  MAX_CONCURRENCY, 1.0)}
    return {"cpu": _clamp(cpu, 0, 100, 100.0), "apps": clamped}


def nodeLoad(context, cpu=None):
    """
    The load report of this node: every app its node service runs.

    @param context: the node's L{cocaine.context.Context}; its C{node} is
        an L{cocaine.interfaces.INode} or L{None}.
    @param cpu: C{() -> percent}; psutil's system-wide CPU by default.
    """
    apps = {}
    node = getattr(context, "node", None)
    for name in (node.apps() if node is not None else ()):
        try:
            apps[name] = node.load(name)
        except AppNotRunning:
            continue
    if cpu is None:
        import psutil
        cpu = lambda: psutil.cpu_percent(None)  # noqa: E731
    return {"cpu": float(cpu()), "apps": apps}


class CpuSampler:
    """
    The node's CPU percent (psutil, system-wide), measured at most every
    C{period} seconds: a resolve asks for the local load each time, and
    psutil's figure over a few milliseconds is noise.
    """

    def __init__(self, clock, period=0.5, cpu=None):
        self.clock = clock
        self.period = period
        if cpu is None:
            import psutil
            cpu = lambda: psutil.cpu_percent(None)  # noqa: E731
        self._cpu = cpu
        self._value = 0.0
        self._at = None

    def __call__(self):
        now = self.clock.seconds()
        if self._at is None or now - self._at >= self.period:
            self._value, self._at = float(self._cpu()), now
        return self._value


def bigChange(old, new):
    """
    Whether report C{new} differs from C{old} enough to be sent at once:
    an app came or went, or its score moved by L{BIG_CHANGE} or more.
    """
    if old is None:
        return True
    oldApps, newApps = old.get("apps", {}), new.get("apps", {})
    if set(oldApps) != set(newApps):
        return True
    for name in newApps:
        if abs(score(old, name) - score(new, name)) >= BIG_CHANGE:
            return True
    return False


class LoadPublisher:
    """
    Sends this node's load report to the C{connect} streams that asked
    for it: at once on subscribing, every C{interval} (the announce
    interval / 2), and as soon as a check (every C{interval} / 5) sees a
    L{bigChange}.
    """

    log = Logger()

    def __init__(self, clock, uuid, source, interval):
        """
        @param source: C{() -> report}.
        """
        self.clock = clock
        self.uuid = uuid
        self.source = source
        self.interval = interval
        self.check = interval / 5.0
        self._upstreams = []
        self._last = None
        self._sentAt = None
        self._call = None

    def _measure(self):
        try:
            return self.source()
        except Exception:
            self.log.failure("cluster: load not measured")
            return {"cpu": 0.0, "apps": {}}

    def subscribe(self, upstream):
        """
        Send the report to C{upstream} now and from now on, until it
        closes.
        """
        if self._call is None:
            # not ticking: what we have may be old
            self._last = self._measure()
            self._sentAt = self.clock.seconds()
        self._upstreams.append(upstream)
        upstream.write(self.uuid, {}, {"load": self._last})

        def closed():
            if upstream in self._upstreams:
                self._upstreams.remove(upstream)
            if not self._upstreams:
                self._stopTimer()
        upstream.notifyClose(closed)
        if self._call is None:
            self._call = self.clock.callLater(self.check, self._tick)

    def _stopTimer(self):
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _tick(self):
        self._call = None
        if not self._upstreams:
            return
        report = self._measure()
        now = self.clock.seconds()
        if (bigChange(self._last, report)
                or now - self._sentAt >= self.interval - 1e-9):
            self._last, self._sentAt = report, now
            for upstream in list(self._upstreams):
                try:
                    upstream.write(self.uuid, {}, {"load": report})
                except Exception:
                    self.log.failure("cluster: load not sent")
        self._call = self.clock.callLater(self.check, self._tick)

    def stop(self):
        self._stopTimer()
        self._upstreams = []
