# -*- test-case-name: tests.protocol.test_crashlogs -*-
"""
How crashlogs are kept in storage (PROTOCOL.md section 7), in one place
for the pool that writes them and the tool and dashboard that read them:
collection C{crashlogs}, key C{<microseconds>:<worker uuid>}, tagged with
the app's name and the UTC day.

A node on a shared storage (docs/cluster.md, "Shared storage") puts its
name in the key: C{<microseconds>:<node>:<worker uuid>}. Cocaine 0.12's
tool splits a key at its first C{:} only (timestamp, rest) and reads the
key back as C{<timestamp>:<rest>}, so it lists, shows and removes these
too.
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


def crashlogKey(now, uuid, node=None):
    """
    The key of the crashlog of worker C{uuid} that ended at C{now}
    (seconds since the epoch).

    @param node: the node's name when its storage is shared, else
        L{None} (the 0.12 key).
    """
    if node is None:
        return "{}:{}".format(int(now * 1e6), uuid)
    return "{}:{}:{}".format(int(now * 1e6), node, uuid)


def splitKey(key):
    """
    C{(timestamp in microseconds or None, node or None, worker uuid)} of a
    crashlog key.
    """
    stamp, _, rest = key.partition(":")
    node, _, uuid = rest.rpartition(":")
    try:
        stamp = int(stamp)
    except ValueError:
        stamp = None
    return stamp, node or None, uuid


def parseKey(key):
    """
    C{(timestamp in microseconds or None, worker uuid)} of a crashlog key.
    """
    stamp, _, uuid = splitKey(key)
    return stamp, uuid


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

    @return: C{{"key", "timestamp", "time", "node", "uuid"}}; C{node} is
        the writing node's name, or L{None} in a 0.12 key.
    """
    stamp, node, uuid = splitKey(key)
    return {"key": key, "timestamp": stamp, "time": isoTime(stamp),
            "node": node, "uuid": uuid}


def oldestFirst(keys):
    """
    C{keys} sorted by their timestamps, oldest first (keys without one
    first).
    """
    return sorted(keys, key=lambda k: (parseKey(k)[0] or 0, k))
