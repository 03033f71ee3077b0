"""
Tests for L{cocaine.unicorn.gateway}'s encoding helpers and watch stream
parsing (calls against a real etcd are in
L{tests.integration.test_unicorn_etcd}).
"""

import json

from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import ConnectionLoss
from cocaine.unicorn.gateway import _WatchStream, b64, number, rangeEnd, unb64


class HelperTests(SynchronousTestCase):

    def test_base64(self):
        self.assertEqual(b64("/a"), "L2E=")
        self.assertEqual(unb64("L2E="), b"/a")
        self.assertEqual(unb64(None), b"")

    def test_rangeEnd(self):
        """
        The end of a prefix range is the prefix with its last byte plus
        one (trailing 0xff dropped).
        """
        self.assertEqual(rangeEnd(b"/a/"), b"/a0")
        self.assertEqual(rangeEnd("/a\xff"), b"/a\xc3\xc0")
        self.assertEqual(rangeEnd(b"a\xff\xff"), b"b")
        self.assertEqual(rangeEnd(b"\xff"), b"\x00")

    def test_number(self):
        self.assertEqual(number("12"), 12)
        self.assertEqual(number(None), 0)


class _Transport:
    stopped = False

    def stopProducing(self):
        self.stopped = True


class WatchStreamTests(SynchronousTestCase):

    def setUp(self):
        self.batches, self.lost = [], []
        self.stream = _WatchStream(
            lambda events, revision: self.batches.append((events,
                                                          revision)),
            self.lost.append)
        self.stream.makeConnection(_Transport())

    def message(self, result):
        return (json.dumps({"result": result}) + "\n").encode()

    def test_events(self):
        """
        Messages split anywhere are put together; the creation message
        carries no events.
        """
        data = (self.message({"header": {"revision": "2"},
                              "created": True})
                + self.message({"header": {"revision": "3"}, "events": [
                    {"kv": {"key": "L2E="}}]}))
        for i in range(0, len(data), 7):
            self.stream.dataReceived(data[i:i + 7])
        self.assertEqual(self.batches, [([{"kv": {"key": "L2E="}}], 3)])
        self.assertEqual(self.lost, [])

    def test_compacted(self):
        """
        A compacted start revision ends the stream once, as lost.
        """
        self.stream.dataReceived(self.message({
            "header": {"revision": "9"}, "canceled": True,
            "compact_revision": "5"}))
        self.stream.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(len(self.lost), 1)
        self.assertIsInstance(self.lost[0], ConnectionLoss)
        self.assertTrue(self.stream.transport.stopped)

    def test_dropped(self):
        """
        The stream ending by itself is reported; one cancelled is not.
        """
        self.stream.connectionLost(Failure(ConnectionDone()))
        self.assertIsInstance(self.lost[0], ConnectionLoss)
        other = _WatchStream(lambda *a: None, self.lost.append)
        other.makeConnection(_Transport())
        other.cancel()
        other.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(len(self.lost), 1)
