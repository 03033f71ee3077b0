# -*- test-case-name: tests.driver.test_timers -*-
"""
Timer driver plugins: C{recurring-timer} and C{drifting-timer}, args
C{{"interval": milliseconds, "emit": event?}}; C{manual} (jobs only when
triggered through the node).
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IDriverPlugin


@implementer(IPlugin, IDriverPlugin)
class _TimerPlugin:

    def __init__(self, name, className):
        self.name = name
        self._className = className

    def validate(self, path, args):
        from cocaine.driver.timers import checkInterval
        checkInterval(path, args)

    def makeDriver(self, context, name, args):
        from cocaine.driver import timers
        return getattr(timers, self._className)(context, name, args)


@implementer(IPlugin, IDriverPlugin)
class _ManualPlugin:
    name = "manual"

    def validate(self, path, args):
        pass

    def makeDriver(self, context, name, args):
        from cocaine.driver.timers import ManualDriver
        return ManualDriver(context, name, args)


recurring = _TimerPlugin("recurring-timer", "RecurringTimer")
drifting = _TimerPlugin("drifting-timer", "DriftingTimer")
manual = _ManualPlugin()
