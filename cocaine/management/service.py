# -*- test-case-name: tests.management.test_service -*-
"""
The management plane as a node service: binds its ZeroMQ REP socket in
C{startService}, closes it in C{stopService}, and is published at the
locator with one message of its own, C{info}, telling where the plane
listens.
"""

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.interfaces import IRPCService
from cocaine.management.plane import ManagementPlane
from cocaine.management.protocol import encodeReply
from cocaine.protocol.idl import Message, Protocol
from cocaine.zeromq import ZeroMQError, bindReply

#: What the service answers over our own protocol.
MANAGEMENT = Protocol("management", [Message("info", [])])
MANAGEMENT_VERSION = 1

#: The default endpoint (loopback only).
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5000"

#: The largest request message accepted (ZeroMQ's MAXMSGSIZE: a larger one
#: disconnects its sender unread), unless configured.
DEFAULT_MAX_MESSAGE = 1024 * 1024

#: Seconds a signed request is accepted either side of our clock.
DEFAULT_REPLAY_WINDOW = 30.0


@implementer(IRPCService)
class ManagementService(Service):
    """
    @ivar plane: the L{ManagementPlane} while running.
    """

    protocol = MANAGEMENT
    version = MANAGEMENT_VERSION
    log = Logger()

    def __init__(self, context, endpoint=DEFAULT_ENDPOINT,
                 requireSignature=False, maxMessage=DEFAULT_MAX_MESSAGE,
                 replayWindow=DEFAULT_REPLAY_WINDOW):
        """
        @param maxMessage: the largest request in bytes (C{max-message}).
        @param replayWindow: seconds a signed request is accepted either
            side of our clock (C{replay-window}).
        """
        self.context = context
        self.endpoint = endpoint
        self.requireSignature = requireSignature
        self.maxMessage = maxMessage
        self.replayWindow = replayWindow
        self.plane = None
        self._socket = None

    def startService(self):
        from cocaine.errors import StartupError
        Service.startService(self)
        self.plane = ManagementPlane(
            self.context.node, self.context.storage("core"),
            self.context.uuid, self.requireSignature,
            clock=getattr(self.context, "reactor", None),
            replayWindow=self.replayWindow)
        try:
            self._socket = bindReply(self.endpoint, self._request,
                                     self.maxMessage)
        except ZeroMQError as e:
            self.running = 0
            raise StartupError("management: {}".format(e))
        self.log.info("management plane listening on {endpoint} "
                      "(signatures {required})",
                      endpoint=self._socket.endpoint,
                      required="required" if self.requireSignature
                      else "optional")

    def _request(self, frames, reply):
        d = Deferred.fromCoroutine(self.plane.handle(frames))
        d.addCallback(lambda answer: reply([encodeReply(answer)]))
        d.addErrback(lambda f: self.log.failure(
            "management reply not sent", f))

    def stopService(self):
        Service.stopService(self)
        socket, self._socket = self._socket, None
        if socket is not None:
            socket.close()

    def info(self):
        plane = self.plane
        return ({"endpoint": self._socket.endpoint if self._socket
                 else self.endpoint,
                 "require-signature": self.requireSignature,
                 "requests": plane.requests if plane else 0,
                 "errors": plane.errors if plane else 0},)
