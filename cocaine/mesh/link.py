# -*- test-case-name: tests.mesh.test_components -*-
"""
A client's connection to one server peer (a L{Link}), reconnected with
backoff while the peer is known.

The link's owner (a L{cocaine.mesh.client.Client}, or the reporter of its
status to monitors) provides C{reactor}, C{clock}, C{tls},
C{linkUp(link)}, C{linkDown(link)}, C{linksChanged()} and
C{messageReceived(link, args, parts)}.
"""

from twisted.internet import defer
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.mesh.amp import AMPProtocol
from cocaine.mesh.tls import describeFailure, isTLSFailure

__all__ = ["Link"]

log = Logger()


@implementer(IHandshakeListener)
class _ClientConnection(AMPProtocol):
    def connectionMade(self):
        AMPProtocol.connectionMade(self)
        self.factory.link.opened(self)

    def handshakeCompleted(self):
        self.factory.link.connected(self)

    def connectionLost(self, reason):
        self.factory.link.lost(self, reason)

    def messageReceived(self, args, parts):
        link = self.factory.link
        link.owner.messageReceived(link, args, parts)


class Link:
    """
    The connection to one server peer, reconnected with backoff while the
    peer is known.

    Over TLS (the owner's C{tls}) the link is up only once the handshake
    has verified the peer, so nothing is sent to a peer that fails
    verification; the failure is logged (once until the link comes up)
    and kept in L{lastError}.

    @ivar lastError: why the last TLS attempt failed, until one succeeds.
    """

    initialDelay = 0.1
    maxDelay = 5.0
    factor = 2.0

    def __init__(self, owner, peer):
        self.owner = owner
        self.peer = peer
        self.protocol = None
        self.pending = 0
        self.latency = None
        self.delay = self.initialDelay
        self.closed = False
        self._retry = None
        self._connector = None
        self._connecting = False
        self._open = None
        self._gone = []
        self.tls = owner.tls
        self.lastError = None

    def connect(self):
        self._retry = None
        if self.closed:
            return
        self._connecting = True
        factory = _LinkFactory(self)
        reactor = self.owner.reactor
        if self.tls is None:
            self._connector = reactor.connectTCP(
                self.peer.address, self.peer.port, factory)
        else:
            self._connector = reactor.connectSSL(
                self.peer.address, self.peer.port, factory,
                self.tls.clientOptions())

    def opened(self, protocol):
        """
        The TCP connection is up (over TLS: the handshake begins).
        """
        self._connecting = False
        self._open = protocol
        if self.tls is None:
            self.connected(protocol)

    def connected(self, protocol):
        self.lastError = None
        self.protocol = protocol
        self.delay = self.initialDelay
        self.owner.linksChanged()
        if self.closed:
            protocol.transport.loseConnection()
            return
        self.owner.linkUp(self)

    def lost(self, protocol, reason):
        if self._open is protocol:
            self._open = None
        if self.tls is not None and not self.closed and (
                self.protocol is not protocol or isTLSFailure(reason)):
            # never verified, or TLS itself failed (TLS 1.3 servers reject
            # a client's certificate after the client's handshake is done)
            error = describeFailure(reason)
            if error != self.lastError:
                log.warn("TLS with {peer} failed: {error}", peer=self.peer,
                         error=error)
            self.lastError = error
        if self.protocol is protocol:
            self.protocol = None
            self.owner.linksChanged()
            self.owner.linkDown(self)
        gone, self._gone = self._gone, []
        for d in gone:
            d.callback(None)
        self.retryLater()

    def failed(self, reason):
        self._connecting = False
        self.retryLater()

    def retryLater(self):
        if self.closed or self._retry is not None:
            return
        delay = self.delay
        self.delay = min(self.delay * self.factor, self.maxDelay)
        self._retry = self.owner.clock.callLater(delay, self.connect)

    def close(self):
        """
        Stop reconnecting and close the connection.

        @return: a Deferred that fires once the connection is gone.
        """
        self.closed = True
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        if self._open is not None:
            d = defer.Deferred()
            self._gone.append(d)
            self._open.transport.loseConnection()
            return d
        if self._connecting:
            self._connecting = False
            self._connector.stopConnecting()
        return defer.succeed(None)


class _LinkFactory(Factory):
    protocol = _ClientConnection

    def __init__(self, link):
        self.link = link

    # ClientFactory's interface, without its noise
    def startedConnecting(self, connector):
        pass

    def clientConnectionFailed(self, connector, reason):
        self.link.failed(reason)

    def clientConnectionLost(self, connector, reason):
        pass
