# -*- test-case-name: tests.driver.test_zeromq_sockets -*-
"""
Our small interface over txZMQ. Every ZeroMQ socket of the drivers, the
management plane and app monitoring is made here.

One ZeroMQ context serves the process: it is created when the first socket
is made (not at import, not in C{makeService}) and terminated when the last
one is closed, so a node without ZeroMQ users never has one. txZMQ uses the
global reactor; nothing here takes another.

Importing this package does not import txZMQ (nor the reactor).
"""

from cocaine.zeromq._endpoints import (
    EndpointError, MAX_IPC_PATH, checkEndpoint)
from cocaine.zeromq._sockets import (
    ReplySocket, Socket, ZeroMQError, bindPublisher, bindPull, bindReply,
    bindRouter, connectSubscriber, splitEnvelope)

__all__ = ["EndpointError", "MAX_IPC_PATH", "checkEndpoint", "ReplySocket",
           "Socket", "ZeroMQError", "bindPublisher", "bindPull",
           "bindReply", "bindRouter", "connectSubscriber", "splitEnvelope"]
