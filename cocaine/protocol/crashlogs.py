# -*- test-case-name: tests.protocol.test_crashlogs -*-
"""
How crashlogs are kept in storage (PROTOCOL.md section 7), in one place
for the pool that writes them and the tool and dashboard that read them:
collection C{crashlogs}, key C{<microseconds>:<worker uuid>}, tagged with
the app's name and the UTC day.
"""

import datetime
import time

#: Where crashlogs go.
CRASHLOGS = "crashlogs"


def crashlogTags(app, now):
    """
    The tags a crashlog is written with, as 0.12 writes them
    (cocaine-plugins v0.12 C{node/src/node/slave/machine.cpp}): the app,
    and the UTC day as C{cocaine-%Y-%m-%d}, which C{cocaine-tool crashlog
    list --day} and C{cleanrange} search.
    """
    return [app, time.strftime("cocaine-%Y-%m-%d", time.gmtime(now))]


def crashlogKey(now, uuid):
    """
    The key of the crashlog of worker C{uuid} that ended at C{now}
    (seconds since the epoch).
    """
    return "{}:{}".format(int(now * 1e6), uuid)


def parseKey(key):
    """
    C{(timestamp in microseconds or None, worker uuid)} of a crashlog key.
    """
    stamp, _, uuid = key.partition(":")
    try:
        return int(stamp), uuid
    except ValueError:
        return None, uuid


def isoTime(stamp):
    """
    The UTC time of a microsecond timestamp, ISO 8601, or L{None}.
    """
    if stamp is None:
        return None
    try:
        moment = datetime.datetime.fromtimestamp(
            stamp / 1e6, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def describe(key):
    """
    What a crashlog list shows of one key.

    @return: C{{"key", "timestamp", "time", "uuid"}}.
    """
    stamp, uuid = parseKey(key)
    return {"key": key, "timestamp": stamp, "time": isoTime(stamp),
            "uuid": uuid}


def oldestFirst(keys):
    """
    C{keys} sorted by their timestamps, oldest first (keys without one
    first).
    """
    return sorted(keys, key=lambda k: (parseKey(k)[0] or 0, k))
