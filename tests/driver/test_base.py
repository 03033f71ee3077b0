# -*- test-case-name: tests.driver.test_base -*-
"""
Tests for L{cocaine.driver.base}: the upstream a job's answer arrives on,
the context drivers are given, and job submission with its counters and
reports to the app's monitor, on a L{FakeEngine} and a L{Clock}.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.driver.base import Driver, DriverContext, JobUpstream
from cocaine.errors import QueueFull, ServiceNotAvailable, toWire
from cocaine.testing import FakeEngine


class JobUpstreamTests(SynchronousTestCase):
    """
    L{JobUpstream} turns a worker's answer into one Deferred.
    """

    def test_chunksThenClose(self):
        """
        C{write}s are collected in order; C{close} fires C{result} with
        them. A C{write} without a chunk is an empty one.
        """
        upstream = JobUpstream()
        upstream.send("write", b"a")
        upstream.send("write")
        upstream.send("write", b"c")
        self.assertNoResult(upstream.result)
        upstream.send("close")
        self.assertTrue(upstream.closed)
        self.assertEqual(self.successResultOf(upstream.result),
                         [b"a", b"", b"c"])

    def test_errorFromTheWire(self):
        """
        An C{error} message fails C{result} with the error it encodes.
        """
        upstream = JobUpstream()
        upstream.send("write", b"partial")
        upstream.send("error", *toWire(QueueFull("queue full")))
        self.assertTrue(upstream.closed)
        failure = self.failureResultOf(upstream.result, QueueFull)
        self.assertEqual(failure.value.message, "queue full")

    def test_errorBeforeSending(self):
        """
        L{JobUpstream.error} (the engine refusing the job) fails C{result}
        with that exception.
        """
        upstream = JobUpstream()
        error = QueueFull("queue full")
        upstream.error(error)
        self.assertTrue(upstream.closed)
        self.assertIs(self.failureResultOf(upstream.result).value, error)

    def test_nothingAfterTheEnd(self):
        """
        Once closed, further messages and errors are ignored: C{result}
        fires once, with what it had.
        """
        upstream = JobUpstream()
        upstream.send("write", b"a")
        upstream.send("close")
        upstream.send("write", b"late")
        upstream.send("error", *toWire(QueueFull("late")))
        upstream.send("close")
        upstream.error(QueueFull("late"))
        self.assertEqual(self.successResultOf(upstream.result), [b"a"])

        failed = JobUpstream()
        failed.error(QueueFull("first"))
        failed.send("close")
        failed.error(QueueFull("second"))
        self.assertEqual(self.failureResultOf(failed.result).value.message,
                         "first")

    def test_onChunk(self):
        """
        With C{onChunk}, chunks go to it as they come and C{result} fires
        with none collected.
        """
        seen = []
        upstream = JobUpstream(onChunk=seen.append)
        upstream.send("write", b"a")
        self.assertEqual(seen, [b"a"])
        upstream.send("write", b"b")
        upstream.send("close")
        self.assertEqual(seen, [b"a", b"b"])
        self.assertEqual(self.successResultOf(upstream.result), [])

    def test_unknownMessage(self):
        """
        A message that is none of C{write}, C{close} and C{error} changes
        nothing.
        """
        upstream = JobUpstream()
        upstream.send("headers", [])
        self.assertFalse(upstream.closed)
        self.assertNoResult(upstream.result)


class DriverContextTests(SynchronousTestCase):

    def test_fields(self):
        clock = Clock()
        engine = FakeEngine()
        context = DriverContext(clock, "app", engine,
                                wallClock=lambda: 12.0, directory="/apps/a")
        self.assertIs(context.reactor, clock)
        self.assertEqual((context.app, context.directory), ("app", "/apps/a"))
        self.assertIs(context.engine, engine)
        self.assertEqual(context.wallClock(), 12.0)

    def test_monitor(self):
        """
        C{monitor} is the engine's C{monitor}, read when asked (the node
        sets it once the app's monitor starts); L{None} without one.
        """
        engine = FakeEngine()
        context = DriverContext(Clock(), "app", engine)
        self.assertIsNone(context.monitor)
        engine.monitor = monitor = object()
        self.assertIs(context.monitor, monitor)


class DriverTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(100)
        self.engine = FakeEngine()
        self.context = DriverContext(self.clock, "app", self.engine,
                                     wallClock=self.clock.seconds)
        self.reports = []

    def driver(self, name="tick", **args):
        return Driver(self.context, name, args)

    def test_event(self):
        """
        A driver submits its own name as the event unless C{emit} names
        another; a false C{emit} is no event name.
        """
        self.assertEqual(self.driver().event, "tick")
        self.assertEqual(self.driver(emit="work").event, "work")
        self.assertEqual(self.driver(emit="").event, "tick")
        self.assertEqual(self.driver(emit=None).event, "tick")

    def test_submit(self):
        """
        L{Driver.submit} opens a session for the event, writes the chunks
        and closes the request; the result is the answer's chunks.
        """
        driver = self.driver(emit="work")
        d = driver.submit([b"x", b"y"])
        [session] = self.engine.sessions
        self.assertEqual(session.event, "work")
        self.assertEqual(session.request, [b"x", b"y"])
        self.assertTrue(session.closed)
        self.assertNoResult(d)
        session.answer(b"done", b"!")
        self.assertEqual(self.successResultOf(d), [b"done", b"!"])
        self.assertEqual(driver.info(), {
            "type": "driver", "event": "work", "jobs": 1, "errors": 0,
            "skipped": 0, "last": 100.0, "last-error": None})

    def test_submitStreaming(self):
        """
        With C{onChunk}, the answer's chunks go to it and the result is
        empty.
        """
        seen = []
        d = self.driver().submit(onChunk=seen.append)
        self.engine.sessions[0].answer(b"1", b"2")
        self.assertEqual(seen, [b"1", b"2"])
        self.assertEqual(self.successResultOf(d), [])

    def test_error(self):
        """
        A job the worker answers with an error fails with it, counted as
        an error with its message kept; the job still counts.
        """
        driver = self.driver()
        d = driver.submit()
        self.clock.advance(5)
        self.engine.sessions[0].upstream.send(
            "error", *toWire(ServiceNotAvailable("no storage")))
        self.failureResultOf(d, ServiceNotAvailable)
        info = driver.info()
        self.assertEqual((info["jobs"], info["errors"], info["last-error"]),
                         (1, 1, "no storage"))
        self.assertEqual(info["last"], 100.0)

    def test_rejected(self):
        """
        A job the engine refuses at once fails, counts as an error and
        not as a job, and nothing is written to the refused session.
        """
        self.engine.reject = True
        driver = self.driver()
        d = driver.submit([b"x"])
        self.failureResultOf(d, QueueFull)
        self.assertEqual(self.engine.sessions, [])
        info = driver.info()
        self.assertEqual((info["jobs"], info["errors"], info["last-error"]),
                         (0, 1, "queue full"))
        # the attempt is the last submission all the same
        self.assertEqual(info["last"], 100.0)

    def test_monitor(self):
        """
        Each job's outcome is reported to the app's monitor under the
        driver's name: C{result} with the chunks, or C{error} with the
        message; the job's own result is unchanged.
        """
        self.engine.monitor = lambda *args: self.reports.append(args)
        driver = self.driver("nightly")
        ok = driver.submit()
        self.engine.sessions[0].answer(b"done")
        self.assertEqual(self.successResultOf(ok), [b"done"])
        self.engine.reject = True
        failed = driver.submit()
        self.failureResultOf(failed, QueueFull)
        self.assertEqual(self.reports, [
            ("nightly", "result", [b"done"]),
            ("nightly", "error", "queue full")])

    def test_queueFull(self):
        driver = self.driver()
        self.assertFalse(driver.queueFull())
        self.engine.full = True
        self.assertTrue(driver.queueFull())

    def test_startStop(self):
        """
        The base driver has nothing to start or stop.
        """
        driver = self.driver()
        self.assertIsNone(driver.start())
        self.assertIsNone(driver.stop())
        self.assertEqual(driver.info()["last"], None)
