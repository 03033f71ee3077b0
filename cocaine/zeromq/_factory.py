# -*- test-case-name: tests.driver.test_zeromq_sockets -*-
"""
The one txZMQ factory (one ZeroMQ context) of the process, shared by every
socket of ours: made when the first socket opens, shut down when the last
one closes. Nothing happens at import.

txZMQ uses the global reactor internally; so does every socket made here.
"""

from twisted.logger import Logger


class SharedFactory:
    """
    A reference-counted L{txzmq.ZmqFactory}.

    @ivar factory: the live factory, or L{None} when no socket is open.
    @ivar users: how many sockets hold it.
    """

    log = Logger()

    def __init__(self):
        self.factory = None
        self.users = 0

    def acquire(self):
        """
        @return: the factory, made now if no socket is open.
        """
        if self.factory is None:
            from txzmq import ZmqFactory
            self.factory = ZmqFactory()
            self.log.debug("ZeroMQ context created")
        self.users += 1
        return self.factory

    def release(self):
        """
        One user is gone; the last one shuts the factory (and the ZeroMQ
        context) down.
        """
        if self.users <= 0:
            return
        self.users -= 1
        if self.users == 0 and self.factory is not None:
            factory, self.factory = self.factory, None
            factory.shutdown()
            self.log.debug("ZeroMQ context terminated")


#: The process's shared factory.
shared = SharedFactory()
