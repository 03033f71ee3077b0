# -*- test-case-name: tests.mesh.test_components -*-
"""
The server side of the mesh: a component that listens on TCP (or TLS)
and advertises its port. L{cocaine.mesh.responder.Responder},
L{cocaine.mesh.publisher.Publisher} and L{cocaine.mesh.monitor.Monitor}
are servers.
"""

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.mesh.amp import AMPProtocol
from cocaine.mesh.component import Component
from cocaine.mesh.tls import describeFailure

__all__ = ["Server"]

log = Logger()


@implementer(IHandshakeListener)
class _ServerConnection(AMPProtocol):
    """
    One client's connection to a L{Server}.
    """

    _handshaken = False

    def connectionMade(self):
        AMPProtocol.connectionMade(self)
        self._lost = []
        self.server = self.factory.server
        self.server._connections.add(self)

    def handshakeCompleted(self):
        self._handshaken = True

    def connectionLost(self, reason):
        server = self.server
        if server.tls is not None and not self._handshaken:
            log.warn("{name}: TLS with {peer} failed: {error}",
                     name=server.name, peer=self.transport.getPeer(),
                     error=describeFailure(reason))
        server._connections.discard(self)
        server.connectionGone(self)
        lost, self._lost = self._lost, []
        for d in lost:
            d.callback(None)

    def close(self):
        """
        Close the connection; the Deferred fires once it is gone.
        """
        d = defer.Deferred()
        self._lost.append(d)
        self.transport.loseConnection()
        return d

    def messageReceived(self, args, parts):
        self.server.messageReceived(self, args, parts)


class Server(Component):
    """
    A component that listens on TCP and advertises the port.

    @param port: the TCP port (0: any free port, advertised).
    @param host: the interface to listen on: C{127.0.0.1} when discovery
        stays on this host, else C{0.0.0.0}.
    """

    def __init__(self, name, port=0, host=None, **kwargs):
        Component.__init__(self, name, **kwargs)
        self.port = port
        if host is None:
            host = ("127.0.0.1" if self.discoveryOptions.loopbackOnly
                    else "0.0.0.0")
        self.host = host
        self._listening = None
        self._connections = set()
        if self.tls is not None:
            self.advertisement["tls"] = True

    def startService(self):
        Service.startService(self)
        factory = Factory.forProtocol(_ServerConnection)
        factory.server = self
        if self.tls is None:
            self._listening = self.reactor.listenTCP(
                self.port, factory, interface=self.host)
        else:
            self._listening = self.reactor.listenSSL(
                self.port, factory, self.tls.serverOptions(),
                interface=self.host)
        self.advertisement["port"] = self._listening.getHost().port
        self._startDiscovery()

    def stopService(self):
        """
        Stop listening, close every connection and stop discovery.

        @return: a Deferred that fires once they are all gone.
        """
        Service.stopService(self)
        stops = [self._stopDiscovery()]
        listening, self._listening = self._listening, None
        if listening is not None:
            stops.append(defer.maybeDeferred(listening.stopListening))
        stops.extend(c.close() for c in list(self._connections))
        return defer.gatherResults(stops).addCallback(lambda _: None)

    def messageReceived(self, connection, args, parts):
        """
        A message from a client's connection.
        """

    def connectionGone(self, connection):
        """
        A client's connection is gone.
        """
