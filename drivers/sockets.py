# -*- test-case-name: tests.driver.test_sockets -*-
"""
Socket server driver plugins: C{native-server}, C{native-sink} (args
C{{"endpoint": "tcp://127.0.0.1:PORT"}}) and C{raw-socket-server} (plus
C{"framing": "close" | "line" | "length-prefixed"}).
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IDriverPlugin


@implementer(IPlugin, IDriverPlugin)
class _SocketPlugin:

    def __init__(self, name, className):
        self.name = name
        self._className = className

    def validate(self, path, args):
        from cocaine.errors import DriverError
        from cocaine.driver.sockets import FRAMINGS, parseEndpoint
        parseEndpoint(path, args)
        if self.name == "raw-socket-server" and args.get(
                "framing", "close") not in FRAMINGS:
            raise DriverError("{}.framing: must be one of {}, got {!r}"
                              .format(path, ", ".join(FRAMINGS),
                                      args.get("framing")))

    def makeDriver(self, context, name, args):
        from cocaine.driver import sockets
        return getattr(sockets, self._className)(context, name, args)


nativeServer = _SocketPlugin("native-server", "NativeServer")
nativeSink = _SocketPlugin("native-sink", "NativeSink")
rawSocketServer = _SocketPlugin("raw-socket-server", "RawSocketServer")
