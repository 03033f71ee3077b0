# -*- test-case-name: tests.engine.test_stats -*-
"""
What an app's engine counts while it serves (L{AppStats}): sessions by how
they ended, their durations in a fixed-bucket histogram, workers spawned
and crashed. Plain integers and one list, cheap enough for every request;
the metrics collector and the dashboard read them through
L{cocaine.interfaces.INode.stats}.

How a session ends, counted once, when the client has its answer or is
gone (L{cocaine.engine.session}):

    ok            the worker closed its response
    error         the worker answered an error, died, or the engine failed
                  the session after accepting it (spawn failed, app broke
                  or stopped while it waited)
    timeout       its deadline (C{request_timeout}) expired
    rejected      refused when it arrived: queue full, app broken or
                  stopped
    disconnected  the client went away before its answer
"""

from bisect import bisect_left

#: The upper bounds (seconds) of the duration buckets, the last infinite.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
           1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf"))

#: The outcomes, in the order L{AppStats.snapshot} lists them.
OUTCOMES = ("ok", "error", "timeout", "rejected", "disconnected")


class AppStats:
    """
    The counts of one app since it started.

    @ivar ok: sessions the worker closed normally.
    @ivar error: sessions that ended with an error of the app, its worker
        or the engine.
    @ivar timeout: sessions whose deadline expired.
    @ivar rejected: sessions refused on arrival.
    @ivar disconnected: sessions whose client went away first.
    @ivar spawned: workers spawned.
    @ivar crashed: workers whose process ended abnormally.
    @ivar counts: the sessions per duration bucket (not cumulative), one
        per L{BUCKETS}.
    @ivar total: the sum of the durations, in seconds.
    """

    __slots__ = ("now", "ok", "error", "timeout", "rejected",
                 "disconnected", "spawned", "crashed", "counts", "total")

    def __init__(self, clock):
        """
        @param clock: what gives the time (an C{IReactorTime}: C{seconds}).
        """
        #: the time now, as sessions are stamped with (the clock's own
        #: C{seconds}: one call on the hot path)
        self.now = clock.seconds
        self.ok = self.error = self.timeout = self.rejected = 0
        self.disconnected = self.spawned = self.crashed = 0
        self.counts = [0] * len(BUCKETS)
        self.total = 0.0

    def succeeded(self, since):
        """
        A session that started at C{since} ended well.
        """
        self.ok += 1
        elapsed = self.now() - since
        self.counts[bisect_left(BUCKETS, elapsed)] += 1
        self.total += elapsed

    def failed(self, since):
        """
        A session that started at C{since} ended with an error.
        """
        self.error += 1
        elapsed = self.now() - since
        self.counts[bisect_left(BUCKETS, elapsed)] += 1
        self.total += elapsed

    def observe(self, seconds):
        """
        Count one duration (for tests and fakes: sessions use
        L{succeeded} and L{failed}).
        """
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def snapshot(self):
        """
        The counts as L{cocaine.interfaces.INode.stats} gives them.
        """
        buckets = []
        running = 0
        for bound, count in zip(BUCKETS, self.counts):
            running += count
            buckets.append([bound, running])
        return {
            "requests": {"ok": self.ok, "error": self.error,
                         "timeout": self.timeout, "rejected": self.rejected,
                         "disconnected": self.disconnected},
            "duration": {"buckets": buckets, "sum": self.total,
                         "count": running},
            "workers": {"spawned": self.spawned, "crashed": self.crashed},
        }
