# -*- test-case-name: tests.driver.test_fsmonitor -*-
"""
The C{filesystem-monitor} driver plugin: args C{{"path": DIR,
"recursive": false, "pattern": "*", "emit": event?}}.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IDriverPlugin


@implementer(IPlugin, IDriverPlugin)
class _FilesystemPlugin:
    name = "filesystem-monitor"

    def validate(self, path, args):
        from cocaine.driver.fsmonitor import checkArgs
        checkArgs(path, args)

    def makeDriver(self, context, name, args):
        from cocaine.driver.fsmonitor import FilesystemMonitor
        return FilesystemMonitor(context, name, args)


filesystem = _FilesystemPlugin()
