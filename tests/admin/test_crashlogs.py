# -*- test-case-name: tests.admin.test_crashlogs -*-
"""
Tests for L{cocaine.admin.crashlogs}, on a memory storage written as the
pool writes crashlogs.
"""

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from cocaine.admin.crashlogs import (
    listCrashlogs, parseKey, readCrashlog, removeCrashlog)
from cocaine.engine.pool import crashlogTags
from cocaine.errors import KeyNotFound
from cocaine.protocol.framing import packValue
from cocaine.storage.memory import MemoryStorage


def run(coroutine):
    return Deferred.fromCoroutine(coroutine)


class CrashlogTests(SynchronousTestCase):

    def setUp(self):
        self.storage = MemoryStorage()
        for stamp, app in [(1000000, "echo"), (3000000, "echo"),
                           (2000000, "other")]:
            self.storage.write("crashlogs", "{}:w{}".format(stamp, stamp),
                               packValue(["out {}".format(stamp), b"\xff"]),
                               crashlogTags(app, stamp / 1e6))

    def test_list(self):
        """
        An app's crashlogs, newest first.
        """
        logs = self.successResultOf(run(listCrashlogs(self.storage, "echo")))
        self.assertEqual([(c["key"], c["time"], c["uuid"]) for c in logs], [
            ("3000000:w3000000", "1970-01-01T00:00:03Z", "w3000000"),
            ("1000000:w1000000", "1970-01-01T00:00:01Z", "w1000000")])

    def test_read(self):
        log = self.successResultOf(run(readCrashlog(
            self.storage, "echo", "1000000:w1000000")))
        self.assertEqual(log["lines"], ["out 1000000", "\ufffd"])
        self.assertEqual(log["app"], "echo")

    def test_otherApps(self):
        """
        Another app's crashlog is not found through this one.
        """
        for action in (readCrashlog, removeCrashlog):
            failure = self.failureResultOf(run(action(
                self.storage, "echo", "2000000:w2000000")), KeyNotFound)
            self.assertIn("'2000000:w2000000'", str(failure.value))
        self.assertEqual(self.storage.find("crashlogs", ["other"]),
                         ["2000000:w2000000"])

    def test_remove(self):
        self.successResultOf(run(removeCrashlog(
            self.storage, "echo", "1000000:w1000000")))
        self.assertEqual(self.storage.find("crashlogs", ["echo"]),
                         ["3000000:w3000000"])

    def test_oddKeys(self):
        self.assertEqual(parseKey("x:y"), (None, "y"))
        self.assertEqual(parseKey("12"), (12, ""))
