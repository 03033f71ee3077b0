# -*- test-case-name: tests.driver.test_timers -*-
"""
The C{cron} driver plugin: args C{{"schedule": "*/5 * * * *",
"timezone": "UTC", "emit": event?}}.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IDriverPlugin


@implementer(IPlugin, IDriverPlugin)
class _CronPlugin:
    name = "cron"

    def validate(self, path, args):
        from cocaine.errors import DriverError
        from cocaine.driver.cron import Schedule, zoneOf
        if "schedule" not in args:
            raise DriverError(path + ".schedule: is required")
        try:
            Schedule(args["schedule"])
        except DriverError as e:
            raise DriverError("{}.schedule: {}".format(path, e.message))
        zoneOf(path, args)

    def makeDriver(self, context, name, args):
        from cocaine.driver.cron import CronDriver
        return CronDriver(context, name, args)


cron = _CronPlugin()
