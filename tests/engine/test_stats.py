"""
Tests for L{cocaine.engine.stats}: the counts themselves, and how an
engine's sessions and workers feed them (with the fakes of
L{tests.engine.test_engine}).
"""

import msgpack
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.stats import BUCKETS, AppStats
from tests.engine.test_engine import _EngineCase

INF = float("inf")


def _requests(engine):
    return engine.stats.snapshot()["requests"]


def _only(**counts):
    """
    The requests map with C{counts} and zero elsewhere.
    """
    result = dict.fromkeys(
        ["ok", "error", "timeout", "rejected", "disconnected"], 0)
    result.update(counts)
    return result


class AppStatsTests(SynchronousTestCase):
    """
    L{AppStats} counts outcomes and durations in fixed buckets.
    """

    def setUp(self):
        self.clock = Clock()
        self.stats = AppStats(self.clock)

    def test_empty(self):
        """
        A new one has every count at zero, and one bucket per bound, the
        last infinite.
        """
        snapshot = self.stats.snapshot()
        self.assertEqual(snapshot["requests"], _only())
        self.assertEqual(snapshot["workers"], {"spawned": 0, "crashed": 0})
        self.assertEqual(snapshot["duration"]["buckets"],
                         [[bound, 0] for bound in BUCKETS])
        self.assertEqual(snapshot["duration"]["buckets"][-1][0], INF)
        self.assertEqual((snapshot["duration"]["sum"],
                          snapshot["duration"]["count"]), (0.0, 0))

    def test_bounds(self):
        """
        The bounds are those of the brief, ascending.
        """
        self.assertEqual(BUCKETS, (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                                   60, INF))

    def test_durationsCumulative(self):
        """
        Ok and failed sessions are timed from when they started; the
        buckets count cumulatively (a duration equal to a bound is in its
        bucket) and the sum adds them up.
        """
        start = self.clock.seconds()
        self.clock.advance(0.1)
        self.stats.succeeded(start)
        self.clock.advance(0.9)
        self.stats.failed(start)
        self.clock.advance(99)
        self.stats.succeeded(start)
        snapshot = self.stats.snapshot()
        self.assertEqual(snapshot["requests"], _only(ok=2, error=1))
        buckets = dict((bound, count) for bound, count in
                       snapshot["duration"]["buckets"])
        self.assertEqual(buckets[0.05], 0)
        self.assertEqual(buckets[0.1], 1)
        self.assertEqual(buckets[0.5], 1)
        self.assertEqual(buckets[1], 2)
        self.assertEqual(buckets[60], 2)
        self.assertEqual(buckets[INF], 3)
        self.assertEqual(snapshot["duration"]["count"], 3)
        self.assertAlmostEqual(snapshot["duration"]["sum"], 101.1)

    def test_observe(self):
        self.stats.observe(0.0001)
        self.stats.observe(3)
        buckets = self.stats.snapshot()["duration"]["buckets"]
        self.assertEqual(buckets[0], [0.0005, 1])
        self.assertEqual(buckets[12], [5, 2])


class EngineOutcomeTests(_EngineCase):
    """
    Every session of an engine is counted once, by how it ended.
    """

    profile = {"queue-limit": 1, "pool-limit": 1, "concurrency": 1}

    def serve(self, *messages, event="echo"):
        upstream, session = self.enqueue(event)
        if not any(w.connection for w in self.engine.pool.workers.values()):
            self.connection, _ = self.handshake(self.isolate.processes[0])
        channel = max(w._nextChannel for w in
                      self.engine.pool.workers.values()) - 1
        for mtype, args in messages:
            self.connection.dataReceived(msgpack.packb([channel, mtype,
                                                        args]))
        return upstream, session

    def test_ok(self):
        """
        A response the worker closes is ok, timed from the enqueue.
        """
        upstream, session = self.enqueue()
        self.clock.advance(0.2)
        connection, _ = self.handshake(self.isolate.processes[0])
        self.clock.advance(0.1)
        connection.dataReceived(msgpack.packb([2, 2, []]))
        self.assertEqual(upstream.sent, [("close",)])
        snapshot = self.engine.stats.snapshot()
        self.assertEqual(snapshot["requests"], _only(ok=1))
        self.assertAlmostEqual(snapshot["duration"]["sum"], 0.3)
        buckets = dict((b, c) for b, c in snapshot["duration"]["buckets"])
        self.assertEqual((buckets[0.25], buckets[0.5]), (0, 1))

    def test_workerError(self):
        self.serve((1, [[42, 1], "boom"]))
        snapshot = self.engine.stats.snapshot()
        self.assertEqual(snapshot["requests"], _only(error=1))
        self.assertEqual(snapshot["duration"]["count"], 1)

    def test_workerDied(self):
        """
        A worker that dies under a session is an error, and a crash.
        """
        self.serve()
        self.end(self.isolate.processes[0], code=1)
        snapshot = self.engine.stats.snapshot()
        self.assertEqual(snapshot["requests"], _only(error=1))
        self.assertEqual(snapshot["workers"], {"spawned": 1, "crashed": 1})

    def test_workerStoppedIsNoCrash(self):
        self.serve((2, []))
        self.end(self.isolate.processes[0])
        self.assertEqual(self.engine.stats.snapshot()["workers"],
                         {"spawned": 1, "crashed": 0})

    def test_timeoutRunning(self):
        """
        A deadline that passes on a worker is a timeout, counted once
        even when the worker closes afterwards, and not timed.
        """
        upstream, _ = self.enqueue(headers=[(b"request_timeout", b"1")])
        connection, _ = self.handshake(self.isolate.processes[0])
        self.clock.advance(1.5)
        connection.dataReceived(msgpack.packb([2, 2, []]))
        snapshot = self.engine.stats.snapshot()
        self.assertEqual(snapshot["requests"], _only(timeout=1))
        self.assertEqual(snapshot["duration"]["count"], 0)

    def test_timeoutQueued(self):
        self.enqueue(headers=[(b"request_timeout", b"1")])
        self.clock.advance(1.5)
        self.assertEqual(_requests(self.engine), _only(timeout=1))

    def test_queueFullRejected(self):
        """
        A session refused on arrival is rejected; info's C{requests} agree.
        """
        self.enqueue()
        upstream, _ = self.enqueue()
        self.assertEqual(upstream.sent[0][1], [0x51FF, 2])
        self.assertEqual(_requests(self.engine), _only(rejected=1))
        self.assertEqual(self.engine.info()["requests"],
                         {"accepted": 1, "rejected": 1})

    def test_stoppedRejected(self):
        self.engine.stop()
        self.enqueue()
        self.assertEqual(_requests(self.engine), _only(rejected=1))

    def test_brokenFailsWaitingAndRejectsNew(self):
        """
        The session on the worker that breaks the app and the one
        waiting end in error; later ones are rejected.
        """
        self.serve()
        self.enqueue()
        self.connection.dataReceived(msgpack.packb([1, 1, [2, "corrupt"]]))
        self.enqueue()
        self.assertEqual(_requests(self.engine), _only(error=2, rejected=1))

    def test_spawnFailedIsError(self):
        self.isolate.fail = OSError("no such file")
        self.enqueue()
        self.assertEqual(_requests(self.engine), _only(error=1))
        self.assertEqual(self.engine.stats.spawned, 0)

    def test_disconnectedQueued(self):
        _, session = self.enqueue()
        session.connectionLost()
        self.assertEqual(_requests(self.engine), _only(disconnected=1))

    def test_disconnectedRunning(self):
        """
        A client that goes while the worker serves is disconnected, once,
        whatever the worker does next.
        """
        _, session = self.serve()
        session.connectionLost()
        self.connection.dataReceived(msgpack.packb([2, 2, []]))
        self.assertEqual(_requests(self.engine), _only(disconnected=1))

    def test_disconnectedAnswering(self):
        _, session = self.serve()
        session.close()
        session.connectionLost()
        self.end(self.isolate.processes[0], code=1)
        self.assertEqual(_requests(self.engine), _only(disconnected=1))

    def test_manyOk(self):
        for _ in range(3):
            self.serve((2, []))
        self.assertEqual(_requests(self.engine), _only(ok=3))
        self.assertEqual(self.engine.stats.spawned, 1)
