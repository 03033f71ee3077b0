# -*- test-case-name: tests.admin.test_rates -*-
"""
What the dashboard charts, computed from two successive snapshots of an
app's counters (L{cocaine.interfaces.INode.stats}): requests and errors
per second, and the 50th and 99th percentile of the latency of the
requests that finished between them. Pure: no clock, no node.

A snapshot is::

    {"requests": {"ok": n, "error": n, "timeout": n, "rejected": n,
                  "disconnected": n},
     "duration": {"buckets": [[le, cumulative count], ..., [inf, n]],
                  "sum": seconds, "count": n},
     "workers": {"spawned": n, "crashed": n}}

counted since the app started: when a counter goes down between two
snapshots the app was started again, and the later snapshot is taken as
the whole window.
"""

import math

#: The outcomes counted as errors (a client that went away is not one).
ERRORS = ("error", "timeout", "rejected")


def _count(value):
    if type(value) in (int, float) and value == value and value >= 0:
        return value
    return 0


def _requests(snapshot):
    requests = snapshot.get("requests") if isinstance(snapshot, dict) else {}
    return requests if isinstance(requests, dict) else {}


def _buckets(snapshot):
    """
    C{[(le, cumulative count)]} of a snapshot's latency histogram.
    """
    duration = snapshot.get("duration") if isinstance(snapshot, dict) else {}
    if not isinstance(duration, dict):
        return []
    buckets = []
    for bucket in duration.get("buckets") or ():
        try:
            le, count = bucket
            buckets.append((float(le), _count(count)))
        except (TypeError, ValueError):
            return []
    return buckets


def restarted(previous, current):
    """
    Whether a counter of C{current} is below C{previous}'s: the app was
    started again between the two.
    """
    old, new = _requests(previous), _requests(current)
    if any(_count(new.get(k)) < _count(v) for k, v in old.items()):
        return True
    oldBuckets, newBuckets = _buckets(previous), _buckets(current)
    return len(oldBuckets) == len(newBuckets) and any(
        n < o for (_, o), (_, n) in zip(oldBuckets, newBuckets))


def bucketDeltas(previous, current):
    """
    The histogram of the requests finished between two snapshots, still
    cumulative: C{[(le, count)]}; C{current}'s own when the app restarted
    or the bucket bounds changed.
    """
    new = _buckets(current)
    old = _buckets(previous) if previous is not None else []
    if (previous is None or restarted(previous, current)
            or [le for le, _ in old] != [le for le, _ in new]):
        return new
    return [(le, n - o) for (le, n), (_, o) in zip(new, old)]


def quantile(buckets, q):
    """
    The C{q} quantile (0 < q < 1) of a cumulative histogram, interpolated
    linearly inside the bucket it falls in (as Prometheus's
    C{histogram_quantile} does): the lower bound of the first bucket is 0;
    in the last, unbounded bucket the answer is the highest finite bound.

    @param buckets: C{[(le, cumulative count)]}, ascending C{le}, the last
        one C{inf}.
    @return: seconds, or L{None} when the histogram is empty.
    """
    if not buckets:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    target = q * total
    lower, below = 0.0, 0
    for le, count in buckets:
        if count >= target and count > below:
            if math.isinf(le):
                return lower
            fraction = (target - below) / (count - below)
            return lower + (le - lower) * fraction
        if not math.isinf(le):
            lower = le
        below = max(below, count)
    return lower


def rates(previous, current, elapsed):
    """
    The chart point of the window between two snapshots.

    @param previous: the earlier snapshot, or L{None} (then there is no
        window yet: every figure is L{None}).
    @param elapsed: seconds between them.
    @return: C{{"rps", "eps", "p50", "p99"}}: finished requests and errors
        per second, the latency quantiles in seconds (L{None} when no
        request finished in the window).
    """
    if previous is None or not elapsed or elapsed <= 0:
        return {"rps": None, "eps": None, "p50": None, "p99": None}
    new = _requests(current)
    old = {} if restarted(previous, current) else _requests(previous)
    delta = {k: max(0, _count(v) - _count(old.get(k)))
             for k, v in new.items()}
    buckets = bucketDeltas(previous, current)
    return {"rps": sum(delta.values()) / elapsed,
            "eps": sum(delta.get(k, 0) for k in ERRORS) / elapsed,
            "p50": quantile(buckets, 0.5),
            "p99": quantile(buckets, 0.99)}
