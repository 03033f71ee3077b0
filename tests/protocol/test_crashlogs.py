"""
Tests for L{cocaine.protocol.crashlogs}.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.protocol.crashlogs import (
    crashlogKey, crashlogTags, describe, isoTime, oldestFirst, parseKey,
    splitKey)


class CrashlogKeyTests(SynchronousTestCase):
    """
    Crashlog keys are C{<microseconds>:<worker uuid>}, tagged with the app
    and the UTC day.
    """

    def test_roundTrip(self):
        """
        A key made for a moment and a worker parses back to both.
        """
        key = crashlogKey(1700000000.25, "w-1")
        self.assertEqual(key, "1700000000250000:w-1")
        self.assertEqual(parseKey(key), (1700000000250000, "w-1"))

    def test_nodeKey(self):
        """
        A node on a shared storage puts its name between the timestamp and
        the worker; the timestamp is still everything before the first
        C{:}, as Cocaine 0.12's tool reads it.
        """
        key = crashlogKey(1700000000.25, "w-1", node="node-a")
        self.assertEqual(key, "1700000000250000:node-a:w-1")
        self.assertEqual(splitKey(key), (1700000000250000, "node-a", "w-1"))
        self.assertEqual(parseKey(key), (1700000000250000, "w-1"))
        self.assertEqual(splitKey("5:w"), (5, None, "w"))
        self.assertEqual(describe(key)["node"], "node-a")
        self.assertEqual(oldestFirst([key, "1:w"]), ["1:w", key])

    def test_oddKeys(self):
        """
        Keys not made by the pool parse without a timestamp, or without a
        uuid.
        """
        self.assertEqual(parseKey("x:y"), (None, "y"))
        self.assertEqual(parseKey("12"), (12, ""))

    def test_tags(self):
        """
        The tags are the app and the UTC day, as 0.12 writes them.
        """
        self.assertEqual(crashlogTags("echo", 1700000000),
                         ["echo", "cocaine-2023-11-14"])

    def test_describe(self):
        """
        A list entry names the key, its timestamp, UTC time and worker.
        """
        self.assertEqual(describe("1700000000000000:w"), {
            "key": "1700000000000000:w", "timestamp": 1700000000000000,
            "time": "2023-11-14T22:13:20Z", "node": None, "uuid": "w"})
        self.assertIsNone(isoTime(None))
        self.assertIsNone(isoTime(10 ** 30))

    def test_oldestFirst(self):
        """
        Keys sort by timestamp, keys without one first.
        """
        self.assertEqual(oldestFirst(["20:a", "3:b", "x:c"]),
                         ["x:c", "3:b", "20:a"])
