# -*- test-case-name: tests.admin.test_crashlogs -*-
"""
An app's crashlogs as the dashboard shows them: the output of its workers
that died, kept in storage collection C{crashlogs} under
C{<microseconds>:<worker uuid>} and tagged with the app's name (as the
pool writes them, L{cocaine.protocol.crashlogs}; C{cocaine-tool
crashlog} reads the same).
"""

from twisted.internet.defer import maybeDeferred

from cocaine.errors import KeyNotFound
from cocaine.protocol.crashlogs import CRASHLOGS, describe, oldestFirst
from cocaine.protocol.framing import unpackValue


async def listCrashlogs(storage, app):
    """
    App C{app}'s crashlogs, newest first.

    @return: C{[{"key", "timestamp", "time", "uuid"}]}.
    """
    keys = await maybeDeferred(storage.find, CRASHLOGS, [app])
    return [describe(key) for key in reversed(oldestFirst(keys))]


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
    result = describe(key)
    result.update({"app": app, "lines": [_text(line) for line in lines]})
    return result


async def removeCrashlog(storage, app, key):
    """
    Remove one crashlog of app C{app}.

    @raise KeyNotFound: C{app} has no crashlog C{key}.
    """
    await _owned(storage, app, key)
    await maybeDeferred(storage.remove, CRASHLOGS, key)
