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

    def __init__(self, engine, upstream):
        self._engine = engine
        self._upstream = upstream

    def write(self, size):
        self._engine.pin(size)

    def close(self):
        self._upstream.value()

    def error(self, *args):
        self._upstream.value()


@implementer(IRPCService)
class AppService:
    """
    The app protocol over one L{cocaine.engine.engine.AppEngine}.
    """

    protocol = APP
    version = APP_VERSION

    def __init__(self, engine):
        self.engine = engine

    def enqueue(self, upstream, event, tag=None, headers=()):
        return self.engine.enqueue(upstream, event, tag, headers)

    def info(self):
        return (self.engine.info(),)

    def control(self, upstream):
        return PoolControl(self.engine, upstream)
