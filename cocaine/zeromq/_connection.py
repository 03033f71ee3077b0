# -*- test-case-name: tests.driver.test_zeromq_sockets -*-
"""
The one txZMQ connection class we use: any socket type, every received
message (a list of frames) handed to one callable. Imported only when the
first socket is made (txZMQ imports the global reactor).
"""

from txzmq import ZmqConnection


class Connection(ZmqConnection):
    """
    A txZMQ connection of the given socket type.
    """

    def __init__(self, factory, socketType, onMessage):
        """
        @param socketType: a C{zmq} socket type constant.
        @param onMessage: called with each message's frames (bytes).
        """
        self.socketType = socketType
        self._onMessage = onMessage
        ZmqConnection.__init__(self, factory)

    def messageReceived(self, message):
        self._onMessage(message)

    def logPrefix(self):
        return "cocaine.zeromq"
