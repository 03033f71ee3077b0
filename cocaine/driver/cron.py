# -*- test-case-name: tests.driver.test_timers -*-
"""
The C{cron} driver: a job at each minute matching a five-field schedule
(minute hour day-of-month month day-of-week), with ranges (C{1-5}), lists
(C{1,15}), steps (C{*/10}, C{0-30/5}), names (C{jan}-C{dec},
C{sun}-C{sat}) and Sunday as 0 or 7. When both day fields are restricted a
day matches either, as in Vixie cron. C{timezone} (an IANA name, default
UTC) says in which zone the schedule is read.
"""

import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cocaine.driver.base import Driver
from cocaine.errors import DriverError

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
           "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

# name, low, high, names (index + offset = value)
_FIELDS = (
    ("minute", 0, 59, None, 0),
    ("hour", 0, 23, None, 0),
    ("day-of-month", 1, 31, None, 0),
    ("month", 1, 12, _MONTHS, 1),
    ("day-of-week", 0, 7, _DAYS, 0),
)


def _value(text, field):
    name, low, high, names, offset = field
    if names is not None and text.lower() in names:
        return names.index(text.lower()) + offset
    try:
        value = int(text)
    except ValueError:
        raise DriverError("cron: {} value {!r} is not a number{}".format(
            name, text, " or a name" if names else ""))
    if not low <= value <= high:
        raise DriverError("cron: {} value {} out of range {}-{}".format(
            name, value, low, high))
    return value


def parseField(text, field):
    """
    @return: the set of values C{text} stands for.
    @raise DriverError: naming the field and the bad part.
    """
    name, low, high, names, offset = field
    values = set()
    for part in text.split(","):
        if not part:
            raise DriverError("cron: {} has an empty list item".format(name))
        rangePart, _, stepText = part.partition("/")
        step = 1
        if stepText:
            try:
                step = int(stepText)
            except ValueError:
                step = 0
            if step <= 0:
                raise DriverError("cron: {} step {!r} must be a positive "
                                  "number".format(name, stepText))
        if rangePart == "*":
            first, last = low, high
        elif "-" in rangePart:
            a, _, b = rangePart.partition("-")
            first, last = _value(a, field), _value(b, field)
            if first > last:
                raise DriverError("cron: {} range {!r} runs backwards"
                                  .format(name, rangePart))
        else:
            first = _value(rangePart, field)
            last = high if stepText else first
        values.update(range(first, last + 1, step))
    return values


class Schedule:
    """
    A parsed cron expression.
    """

    def __init__(self, expression):
        if not isinstance(expression, str):
            raise DriverError("cron: the schedule must be a string, got "
                              "{!r}".format(expression))
        parts = expression.split()
        if len(parts) != 5:
            raise DriverError("cron: {!r} has {} fields; five are needed "
                              "(minute hour day-of-month month day-of-week)"
                              .format(expression, len(parts)))
        self.expression = expression
        (self.minutes, self.hours, self.days, self.months,
         days) = [parseField(p, f) for p, f in zip(parts, _FIELDS)]
        if 7 in days:
            days = (days - {7}) | {0}
        self.weekdays = days
        self.anyDay = parts[2] == "*"
        self.anyWeekday = parts[4] == "*"

    def _dayMatches(self, day):
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        if self.anyDay and self.anyWeekday:
            return True
        if self.anyDay:
            return dow
        if self.anyWeekday:
            return dom
        return dom or dow

    def next(self, after):
        """
        The first matching minute strictly after C{after} (an aware
        datetime), in C{after}'s zone.

        @raise DriverError: no such minute within eight years (a schedule
            like C{0 0 30 2 *}).
        """
        zone = after.tzinfo
        t = after.replace(second=0, microsecond=0) + datetime.timedelta(
            minutes=1)
        limit = t + datetime.timedelta(days=366 * 8)
        while t < limit:
            if t.month not in self.months:
                year, month = (t.year + 1, 1) if t.month == 12 else (
                    t.year, t.month + 1)
                t = t.replace(year=year, month=month, day=1, hour=0,
                              minute=0)
                continue
            if not self._dayMatches(t):
                t = (t + datetime.timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if t.hour not in self.hours:
                t = (t + datetime.timedelta(hours=1)).replace(minute=0)
                continue
            if t.minute not in self.minutes:
                t = t + datetime.timedelta(minutes=1)
                continue
            return t.astimezone(zone)
        raise DriverError("cron: {!r} never matches".format(self.expression))


def zoneOf(path, args):
    name = args.get("timezone", "UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise DriverError("{}.timezone: unknown time zone {!r}".format(
            path, name))


class CronDriver(Driver):
    type = "cron"

    def __init__(self, context, name, args):
        Driver.__init__(self, context, name, args)
        path = "drivers." + name
        if "schedule" not in args:
            raise DriverError(path + ".schedule: is required")
        try:
            self.schedule = Schedule(args["schedule"])
        except DriverError as e:
            raise DriverError("{}.schedule: {}".format(path, e.message))
        self.zone = zoneOf(path, args)
        self._call = None
        self.nextRun = None

    def start(self):
        self._schedule()

    def _now(self):
        return datetime.datetime.fromtimestamp(self.context.wallClock(),
                                               self.zone)

    def _schedule(self):
        now = self._now()
        upcoming = self.schedule.next(now)
        self.nextRun = upcoming.timestamp()
        delay = max(0.0, self.nextRun - self.context.wallClock())
        self._call = self.context.reactor.callLater(delay, self._fire)

    def _fire(self):
        self._call = None
        if self.queueFull():
            self.skipped += 1
        else:
            self.submit().addErrback(lambda _: None)
        self._schedule()

    def stop(self):
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def info(self):
        return dict(Driver.info(self), schedule=self.schedule.expression,
                    timezone=str(self.zone), next=self.nextRun)
