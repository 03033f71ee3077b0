# -*- test-case-name: tests.engine.test_engine -*-
"""
The service every running app publishes under its name: C{enqueue},
C{info}, C{control} (PROTOCOL.md section 5, app).
"""

from zope.interface import implementer

from cocaine.interfaces import IRPCService
from cocaine.protocol.services import APP, APP_VERSION


class PoolControl:
    """
    The target of a C{control} stream: each int pins the pool at that size
    (a negative one returns to scaling by load); closing it answers
    C{value []}.
    """

    def __init__(self, pin, upstream):
        """
        @param pin: C{pin(size)}.
        """
        self._pin = pin
        self._upstream = upstream

    def write(self, size):
        self._pin(size)

    def close(self):
        self._upstream.value()

    def error(self, *args):
        self._upstream.value()


class DeadControl:
    """
    The target of C{control} for an app that does not run: already
    answered with an error; further messages are ignored.
    """

    def write(self, size):
        pass

    def close(self):
        pass

    def error(self, *args):
        pass


@implementer(IRPCService)
class AppService:
    """
    The app protocol over one L{cocaine.engine.engine.AppEngine}.
    """

    protocol = APP
    version = APP_VERSION

    def __init__(self, engine, describe=None):
        """
        @param describe: C{() -> info map}, the app's whole info (its
            drivers' included); the engine's by default.
        """
        self.engine = engine
        self.describe = describe or engine.info
        # a whole request (cocaine.rpc.server) goes to the engine's own
        # method, without a call in between: every request an app client
        # sends is one (an engine without it takes them one by one)
        whole = getattr(engine, "enqueueWhole", None)
        if whole is not None:
            self.enqueueWhole = whole

    def enqueue(self, upstream, event, tag=None, headers=()):
        return self.engine.enqueue(upstream, event, tag, headers)

    def info(self):
        return (self.describe(),)

    def control(self, upstream):
        return PoolControl(self.engine.pin, upstream)
