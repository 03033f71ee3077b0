"""
Tests for L{cocaine.unicorn.gateway}'s encoding helpers, its reading of
the gateway's answers and watch stream parsing (calls against a real etcd
are in L{tests.integration.test_unicorn_etcd}).
"""

import json

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import ConnectionLoss, UnicornError
from cocaine.unicorn.gateway import (
    EtcdGateway, _WatchStream, b64, number, rangeEnd, unb64)


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


class _Response:
    """
    A treq response with a code and a whole body, which records whether
    it was read.
    """

    def __init__(self, code, body):
        self.code = code
        self.body = body
        self.read = False

    def content(self):
        self.read = True
        return succeed(self.body)


class _Client:
    """
    A treq client that answers each endpoint from its own list of
    responses, and records the URLs posted to.
    """

    def __init__(self, answers):
        self.answers = answers
        self.posted = []

    def post(self, url, json, reactor, timeout, unbuffered=False):
        self.posted.append(url)
        return succeed(self.answers[url.split("/v3/")[0]].pop(0))


#: What etcd's gateway answers while etcd stops ("transport is closing"),
#: seen against etcd 3.4 during a restart.
_CLOSING = json.dumps({"error": "transport is closing", "code": 14,
                       "message": "transport is closing"}).encode()


class AnswerTests(SynchronousTestCase):
    """
    L{EtcdGateway.call} and L{EtcdGateway.watch} tell etcd being
    unavailable for a moment (L{ConnectionLoss}, the next endpoint tried)
    from a call it refuses (L{UnicornError}).
    """

    first, second = "http://127.0.0.1:1", "http://127.0.0.1:2"

    def gateway(self, first, second=()):
        gateway = EtcdGateway(MemoryReactorClock(),
                              [self.first, self.second])
        client = _Client({self.first: list(first),
                          self.second: list(second)})
        gateway._client = gateway._streams = client
        return gateway, client

    def call(self, gateway, *failure):
        """
        @param failure: the error expected, if any.
        @return: the answer of a C{range} call, or its failure.
        """
        d = Deferred.fromCoroutine(gateway.call("/v3/kv/range", {}))
        if failure:
            return self.failureResultOf(d, *failure).value
        return self.successResultOf(d)

    def test_unavailableTriesNext(self):
        """
        An answer with gRPC's UNAVAILABLE moves the call, and the calls
        after it, to the next endpoint.
        """
        gateway, client = self.gateway(
            [_Response(503, _CLOSING)], [_Response(200, b'{"kvs": []}')] * 2)
        self.assertEqual(self.call(gateway), {"kvs": []})
        self.assertEqual(self.call(gateway), {"kvs": []})
        self.assertEqual([url.split("/v3/")[0] for url in client.posted],
                         [self.first, self.second, self.second])

    def test_allUnavailable(self):
        """
        When every endpoint is unavailable the call fails with
        L{ConnectionLoss} naming the last one and etcd's reason, as when
        none answers.
        """
        gateway, _ = self.gateway([_Response(503, _CLOSING)],
                                  [_Response(503, b"Service Unavailable")])
        self.assertEqual(str(self.call(gateway, ConnectionLoss)), "etcd at {} unavailable for "
                         "/v3/kv/range: HTTP 503".format(self.second))
        gateway, _ = self.gateway([_Response(503, _CLOSING)] * 2)
        gateway.endpoints = [self.first]
        self.assertIn("transport is closing",
                      str(self.call(gateway, ConnectionLoss)))

    def test_refused(self):
        """
        A call etcd refuses fails with L{UnicornError} at once, not
        L{ConnectionLoss}, naming etcd's reason; no other endpoint is
        tried.
        """
        refused = json.dumps({"error": "etcdserver: key is not provided",
                              "code": 3, "message": "etcdserver: key is "
                              "not provided"}).encode()
        gateway, client = self.gateway([_Response(400, refused)])
        error = self.call(gateway, UnicornError)
        self.assertIs(type(error), UnicornError)
        self.assertIn("key is not provided", str(error))
        self.assertEqual(len(client.posted), 1)
        for body in (b"<html>", b"[1, 2]"):
            gateway, _ = self.gateway([_Response(500, body)])
            self.assertIn("no JSON map (HTTP 500)",
                          str(self.call(gateway, UnicornError)))

    def test_watchUnavailable(self):
        """
        A watch that etcd cannot open yet fails with L{ConnectionLoss}
        (its owner resumes it later) and moves on to the next endpoint;
        one refused otherwise fails with L{UnicornError}. Either answer's
        body is read and dropped.
        """
        closing = _Response(503, _CLOSING)
        gateway, _ = self.gateway([closing])
        failure = self.failureResultOf(
            gateway.watch(b"/a", b"/b", 1, None, None), ConnectionLoss)
        self.assertIn("unavailable for a watch", str(failure.value))
        self.assertEqual(gateway._current, 1)
        missing = _Response(404, b"")
        gateway, _ = self.gateway([missing])
        failure = self.failureResultOf(
            gateway.watch(b"/a", b"/b", 1, None, None), UnicornError)
        self.assertNotIsInstance(failure.value, ConnectionLoss)
        # their bodies are read, so that their connections close
        self.assertEqual((closing.read, missing.read), (True, True))
