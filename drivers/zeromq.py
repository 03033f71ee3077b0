# -*- test-case-name: tests.driver.test_zeromq -*-
"""
ZeroMQ driver plugins: C{zeromq-server} (args C{{"endpoint":
"ipc://..." | "tcp://127.0.0.1:PORT", "backlog": n?}}), C{zeromq-sink}
(C{{"endpoint"}}) and C{zeromq-subscriber} (C{{"endpoint",
"subscription": prefix or [prefixes]?}}).
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IDriverPlugin


@implementer(IPlugin, IDriverPlugin)
class _ZeroMQPlugin:

    def __init__(self, name, className):
        self.name = name
        self._className = className

    def validate(self, path, args):
        from cocaine.driver.zeromq import checkArgs
        checkArgs(self.name, path, args)

    def makeDriver(self, context, name, args):
        from cocaine.driver import zeromq
        return getattr(zeromq, self._className)(context, name, args)


zeromqServer = _ZeroMQPlugin("zeromq-server", "ZeroMQServer")
zeromqSink = _ZeroMQPlugin("zeromq-sink", "ZeroMQSink")
zeromqSubscriber = _ZeroMQPlugin("zeromq-subscriber", "ZeroMQSubscriber")
