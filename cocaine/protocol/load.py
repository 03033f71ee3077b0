# -*- test-case-name: tests.cluster.test_load -*-
"""
The load report (ours) and the one score computed from it.

A node's load report is C{{"cpu": percent, "apps": {name: {"queue": depth,
"busy": busy workers, "sessions": sessions in progress, "capacity": pool
limit, "concurrency": sessions per worker}}}}; nodes send it to peers on
the locator's C{connect} stream (L{cocaine.cluster.load}). L{score} is
how busy a node is for one app: the gateway picks the node with the lowest
one and C{cocaine-tool} shows it, so both always agree.
"""

#: How much node CPU (0..1) weighs against an app's utilisation.
CPU_WEIGHT = 0.1


def _number(value, default=0.0):
    if type(value) in (int, float) and value == value and value >= 0:
        return float(value)
    return default


def score(report, name):
    """
    How busy node C{report} is for app C{name}: the sessions in progress
    plus the queue, over what its pool can run at once (0 idle, 1 every
    slot taken, above 1 queueing), plus L{CPU_WEIGHT} x the node's CPU
    share; L{None} when the report has no such app.

    @param report: a load report (decoded: text keys).
    """
    if not isinstance(report, dict):
        return None
    apps = report.get("apps")
    if not isinstance(apps, dict):
        return None
    load = apps.get(name)
    if not isinstance(load, dict):
        return None
    slots = max(1.0, _number(load.get("capacity"), 1.0)
                * max(1.0, _number(load.get("concurrency"), 1.0)))
    waiting = _number(load.get("sessions")) + _number(load.get("queue"))
    cpu = min(100.0, _number(report.get("cpu"))) / 100.0
    return waiting / slots + CPU_WEIGHT * cpu


