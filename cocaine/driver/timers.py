# -*- test-case-name: tests.driver.test_timers -*-
"""
Timer drivers (PROTOCOL.md section 9).

  - C{recurring-timer} C{{interval}} (ms): a job every interval, whether or
    not the earlier ones finished.
  - C{drifting-timer} C{{interval}} (ms): the next job is scheduled an
    interval after the previous one finished, so one runs at a time.

When the app's queue is full a timer skips that job and counts the skip.

  - C{manual} (no args): jobs only when triggered, with C{node.trigger(app,
    driver, request?)} (or C{cocaine-tool call node.trigger APP DRIVER}).
"""

from twisted.internet.task import LoopingCall

from cocaine.driver.base import Driver
from cocaine.errors import DriverError


def checkInterval(path, args):
    """
    @return: the interval in seconds.
    @raise DriverError: naming the argument.
    """
    interval = args.get("interval")
    if isinstance(interval, bool) or not isinstance(
            interval, (int, float)) or interval <= 0:
        raise DriverError("{}.interval: must be a positive number of "
                          "milliseconds, got {!r}".format(path, interval))
    return interval / 1000.0


def _ignore(failure):
    return None


class RecurringTimer(Driver):
    type = "recurring-timer"

    def __init__(self, context, name, args):
        Driver.__init__(self, context, name, args)
        self.interval = checkInterval("drivers." + name, args)
        self._loop = None

    def start(self):
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self.context.reactor
        self._loop.start(self.interval, now=False)

    def _tick(self):
        if self.queueFull():
            self.skipped += 1
            return
        self.submit().addErrback(_ignore)

    def stop(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def info(self):
        return dict(Driver.info(self), interval=self.interval * 1000)


class DriftingTimer(Driver):
    type = "drifting-timer"

    def __init__(self, context, name, args):
        Driver.__init__(self, context, name, args)
        self.interval = checkInterval("drivers." + name, args)
        self._call = None
        self._running = False

    def start(self):
        self._running = True
        self._schedule()

    def _schedule(self, _=None):
        if self._running:
            self._call = self.context.reactor.callLater(self.interval,
                                                        self._fire)

    def _fire(self):
        self._call = None
        if self.queueFull():
            self.skipped += 1
            self._schedule()
            return
        d = self.submit()
        d.addErrback(_ignore)
        d.addBoth(self._schedule)

    def stop(self):
        self._running = False
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def info(self):
        return dict(Driver.info(self), interval=self.interval * 1000)


class ManualDriver(Driver):
    type = "manual"

    def trigger(self, chunks=()):
        """
        Run one job now.

        @return: a Deferred of the worker's answer chunks.
        """
        return self.submit(chunks)
