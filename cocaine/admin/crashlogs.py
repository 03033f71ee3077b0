# -*- test-case-name: tests.admin.test_crashlogs -*-
"""
An app's crashlogs as the dashboard shows them: the output of its workers
that died, kept in storage collection C{crashlogs} under
C{<microseconds>:<worker uuid>} and tagged with the app's name (as the
pool writes them, L{cocaine.engine.pool}; C{cocaine-tool crashlog} reads
the same).
"""

import datetime

from twisted.internet.defer import maybeDeferred

from cocaine.engine.pool import CRASHLOGS
from cocaine.errors import KeyNotFound
from cocaine.protocol.framing import unpackValue


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


def entry(key):
    """
    What the crashlog list shows of one key.
    """
    stamp, uuid = parseKey(key)
    return {"key": key, "timestamp": stamp, "time": isoTime(stamp),
            "uuid": uuid}


async def listCrashlogs(storage, app):
    """
    App C{app}'s crashlogs, newest first.

    @return: C{[{"key", "timestamp", "time", "uuid"}]}.
    """
    keys = await maybeDeferred(storage.find, CRASHLOGS, [app])
    keys = sorted(keys, key=lambda k: (parseKey(k)[0] or 0, k),
                  reverse=True)
    return [entry(key) for key in keys]


async def _owned(storage, app, key):
    keys = await maybeDeferred(storage.find, CRASHLOGS, [app])
    if key not in keys:
        raise KeyNotFound("no crashlog {!r} of app {!r}".format(key, app))


def _text(line):
    if isinstance(line, bytes):
        return line.decode("utf-8", "replace")
    return line if isinstance(line, str) else repr(line)


async def readCrashlog(storage, app, key):
    """
    One crashlog of app C{app}.

    @return: C{{"app", "key", "timestamp", "time", "uuid", "lines"}}.
    @raise KeyNotFound: C{app} has no crashlog C{key}.
    """
    await _owned(storage, app, key)
    value = unpackValue(await maybeDeferred(storage.read, CRASHLOGS, key))
    lines = value if isinstance(value, list) else [value]
    result = entry(key)
    result.update({"app": app, "lines": [_text(line) for line in lines]})
    return result


async def removeCrashlog(storage, app, key):
    """
    Remove one crashlog of app C{app}.

    @raise KeyNotFound: C{app} has no crashlog C{key}.
    """
    await _owned(storage, app, key)
    await maybeDeferred(storage.remove, CRASHLOGS, key)
