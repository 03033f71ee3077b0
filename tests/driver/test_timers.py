"""
Tests for the timer and cron drivers with a L{Clock} and a fake engine.
"""

import datetime
from zoneinfo import ZoneInfo

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.driver.base import DriverContext
from cocaine.errors import DriverError
from cocaine.driver.cron import CronDriver, Schedule
from cocaine.plugins import checkDrivers, loadPlugins
from cocaine.driver.timers import DriftingTimer, RecurringTimer
from cocaine.testing import FakeEngine


class _DriverCase(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.engine = FakeEngine()
        self.context = DriverContext(self.clock, "app", self.engine,
                                     wallClock=self.clock.seconds)


class RecurringTimerTests(_DriverCase):

    def test_everyIntervalEvenWhileBusy(self):
        timer = RecurringTimer(self.context, "tick", {"interval": 500})
        timer.start()
        self.clock.pump([0.5] * 4)
        self.assertEqual(len(self.engine.sessions), 4)
        self.assertEqual({s.event for s in self.engine.sessions}, {"tick"})
        self.assertTrue(all(s.closed for s in self.engine.sessions))
        self.assertEqual(timer.info()["jobs"], 4)
        timer.stop()
        self.clock.pump([0.5] * 4)
        self.assertEqual(len(self.engine.sessions), 4)

    def test_emit(self):
        timer = RecurringTimer(self.context, "tick",
                               {"interval": 100, "emit": "work"})
        timer.start()
        self.clock.advance(0.1)
        self.assertEqual(self.engine.sessions[0].event, "work")

    def test_skipsWhenQueueFull(self):
        timer = RecurringTimer(self.context, "tick", {"interval": 100})
        timer.start()
        self.engine.full = True
        self.clock.pump([0.1] * 3)
        self.assertEqual((timer.jobs, timer.skipped), (0, 3))

    def test_errorsCounted(self):
        timer = RecurringTimer(self.context, "tick", {"interval": 100})
        timer.start()
        self.clock.advance(0.1)
        self.engine.sessions[0].upstream.send("error", [42, 100], "boom")
        self.engine.reject = True
        self.clock.advance(0.1)
        info = timer.info()
        self.assertEqual((info["jobs"], info["errors"]), (1, 2))
        self.assertEqual(info["last-error"], "queue full")
        self.assertEqual(info["last"], 0.2)

    def test_badInterval(self):
        for bad in (0, -5, "10", None, True):
            self.assertRaises(DriverError, RecurringTimer, self.context,
                              "tick", {"interval": bad})


class DriftingTimerTests(_DriverCase):

    def test_oneAtATime(self):
        timer = DriftingTimer(self.context, "drift", {"interval": 1000})
        timer.start()
        self.clock.advance(1)
        self.assertEqual(len(self.engine.sessions), 1)
        self.clock.pump([1] * 5)
        self.assertEqual(len(self.engine.sessions), 1)
        self.engine.sessions[0].answer(b"done")
        self.clock.advance(0.5)
        self.assertEqual(len(self.engine.sessions), 1)
        self.clock.advance(0.5)
        self.assertEqual(len(self.engine.sessions), 2)
        timer.stop()
        self.engine.sessions[1].answer()
        self.clock.pump([1] * 3)
        self.assertEqual(len(self.engine.sessions), 2)


class ScheduleTests(SynchronousTestCase):
    """
    The cron expression parser and the next-run computation.
    """

    def next(self, expression, *at):
        start = datetime.datetime(*at, tzinfo=ZoneInfo("UTC"))
        return Schedule(expression).next(start).replace(tzinfo=None)

    def test_monthEnds(self):
        self.assertEqual(self.next("0 0 31 * *", 2026, 1, 31, 12, 0),
                         datetime.datetime(2026, 3, 31))
        self.assertEqual(self.next("0 0 30 * *", 2026, 1, 31),
                         datetime.datetime(2026, 3, 30))
        self.assertEqual(self.next("30 2 29 2 *", 2026, 1, 1),
                         datetime.datetime(2028, 2, 29, 2, 30))
        self.assertEqual(self.next("59 23 31 12 *", 2026, 12, 31, 23, 59),
                         datetime.datetime(2027, 12, 31, 23, 59))

    def test_steps(self):
        self.assertEqual(self.next("*/15 * * * *", 2026, 1, 1, 10, 7),
                         datetime.datetime(2026, 1, 1, 10, 15))
        self.assertEqual(self.next("10-40/10 * * * *", 2026, 1, 1, 10, 41),
                         datetime.datetime(2026, 1, 1, 11, 10))
        self.assertEqual(self.next("0 */6 * * *", 2026, 1, 1, 19, 0),
                         datetime.datetime(2026, 1, 2, 0, 0))
        self.assertEqual(Schedule("5/20 * * * *").minutes, {5, 25, 45})

    def test_sundayAsZeroSevenAndName(self):
        # 2026-02-01 is a Sunday
        for expression in ("0 12 * * 0", "0 12 * * 7", "0 12 * * sun",
                           "0 12 * * SUN"):
            self.assertEqual(self.next(expression, 2026, 1, 28),
                             datetime.datetime(2026, 2, 1, 12), expression)

    def test_listsRangesNames(self):
        self.assertEqual(self.next("5 4 1,15 jan,jul *", 2026, 1, 31),
                         datetime.datetime(2026, 7, 1, 4, 5))
        self.assertEqual(self.next("0 9 * * mon-fri", 2026, 1, 30, 10),
                         datetime.datetime(2026, 2, 2, 9, 0))

    def test_dayFieldsEitherMatch(self):
        # the 13th, or any Friday (2026-02-06 is a Friday)
        self.assertEqual(self.next("0 0 13 * 5", 2026, 2, 1),
                         datetime.datetime(2026, 2, 6))

    def test_strictlyAfter(self):
        self.assertEqual(self.next("0 10 * * *", 2026, 1, 1, 10, 0),
                         datetime.datetime(2026, 1, 2, 10, 0))

    def test_errorsNameTheField(self):
        for expression, fragment in (
                ("* * * *", "five are needed"),
                ("60 * * * *", "minute value 60 out of range 0-59"),
                ("* 24 * * *", "hour value 24 out of range 0-23"),
                ("* * 0 * *", "day-of-month value 0 out of range 1-31"),
                ("* * * foo *", "month value 'foo' is not a number or a "
                                "name"),
                ("*/0 * * * *", "minute step '0' must be a positive"),
                ("5-1 * * * *", "minute range '5-1' runs backwards"),
                ("0 0 30 2 *", "never matches")):
            with self.assertRaises(DriverError) as caught:
                Schedule(expression).next(datetime.datetime(
                    2026, 1, 1, tzinfo=ZoneInfo("UTC")))
            self.assertIn(fragment, caught.exception.message, expression)


class CronDriverTests(_DriverCase):

    def test_firesAtMatchingMinutes(self):
        # start at 2026-01-01 00:00:30 UTC
        self.clock.advance(1767225630)
        driver = CronDriver(self.context, "nightly",
                            {"schedule": "*/10 * * * *"})
        driver.start()
        self.assertEqual(driver.info()["next"], 1767226200)
        self.clock.advance(569)
        self.assertEqual(self.engine.sessions, [])
        self.clock.advance(1)
        self.assertEqual(len(self.engine.sessions), 1)
        self.clock.advance(600)
        self.assertEqual(len(self.engine.sessions), 2)
        driver.stop()
        self.clock.advance(6000)
        self.assertEqual(len(self.engine.sessions), 2)

    def test_timezone(self):
        self.clock.advance(1767225600)      # 2026-01-01 00:00 UTC
        driver = CronDriver(self.context, "t", {
            "schedule": "0 9 * * *", "timezone": "Asia/Tokyo"})
        driver.start()
        # 09:00 in Tokyo is 00:00 UTC: the next one is a day later
        self.assertEqual(driver.info()["next"], 1767225600 + 86400)

    def test_badArguments(self):
        with self.assertRaises(DriverError) as caught:
            CronDriver(self.context, "c", {"schedule": "61 * * * *"})
        self.assertIn("drivers.c.schedule: cron: minute value 61",
                      caught.exception.message)
        with self.assertRaises(DriverError) as caught:
            CronDriver(self.context, "c", {"schedule": "* * * * *",
                                           "timezone": "Mars/Olympus"})
        self.assertIn("unknown time zone", caught.exception.message)


class RegistryTests(SynchronousTestCase):

    def test_pluginsFound(self):
        self.assertTrue({"recurring-timer", "drifting-timer", "cron"}
                        <= set(loadPlugins().drivers))

    def test_checkNamesAppAndDriver(self):
        plugins = loadPlugins()
        with self.assertRaises(DriverError) as caught:
            checkDrivers("app", {"nightly": {"type": "cron",
                                             "schedule": "bad"}}, plugins)
        self.assertIn("app 'app': driver 'nightly' (cron): "
                      "drivers.nightly.schedule", caught.exception.message)
        with self.assertRaises(DriverError) as caught:
            checkDrivers("app", {"x": {"type": "teleport"}}, plugins)
        self.assertIn("unknown type 'teleport'", caught.exception.message)
        with self.assertRaises(DriverError) as caught:
            checkDrivers("app", {"x": "cron"}, plugins)
        self.assertEqual(caught.exception.message, "app 'app': driver 'x': "
                         "must be a map with a type, got 'cron'")
