# -*- test-case-name: tests.mesh.test_link -*-
"""
A client's connection to one server peer (a L{Link}), reconnected with
backoff while the peer is known. Its lifecycle is one machine,
L{LinkMachine}:

  - C{idle}: made, not connecting yet.
  - C{connecting}: a TCP (or TLS) connection is being made.
  - C{handshaking}: TCP is up, the TLS handshake runs (TLS only).
  - C{up}: usable: plain TCP is up, or TLS verified the peer; the owner
    is told C{linkUp} on entering it and C{linkDown} on leaving it.
  - C{waiting}: the attempt failed or the connection dropped; the next
    attempt is scheduled after the backoff delay (0.1 s doubling to 5 s,
    each up to a tenth longer at random, back to 0.1 s once up).
  - C{closing}: closed while connected; waits for the connection to go.
  - C{closed}: for good.

Over TLS a link is up only once the handshake has verified the peer, so
nothing is sent to a peer that fails verification; the failure is logged
(once until the link comes up) and kept in L{Link.lastError}.

The per-message path does not go through the machine: the outputs set
L{Link.protocol} (the connection while up, else L{None}) and the
requester reads it. The link's owner (a L{cocaine.mesh.client.Client},
or the reporter of its status to monitors) provides C{reactor},
C{clock}, C{tls}, C{linkUp(link)}, C{linkDown(link)}, C{linksChanged()}
and C{messageReceived(link, args, parts)}.
"""

from typing import Protocol

from automat import TypeMachineBuilder
from twisted.internet import defer
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.backoff import backoffDelay
from cocaine.mesh.amp import AMPProtocol
from cocaine.mesh.tls import describeFailure, isTLSFailure
from cocaine.statemachine import build, nameStates

__all__ = ["Link", "LinkInputs", "LinkMachine"]

log = Logger()


class LinkInputs(Protocol):
    """
    What happens to a link.
    """

    def connect(self) -> None:
        "Connect: at first, or once the backoff delay has passed."

    def opened(self, protocol: object) -> None:
        "TCP is up and the TLS handshake begins (TLS only)."

    def connected(self, protocol: object) -> None:
        "The connection is usable: TCP is up, or TLS verified the peer."

    def failed(self, reason: object) -> None:
        "The attempt to connect failed."

    def lost(self, protocol: object, reason: object) -> None:
        "The connection is gone."

    def close(self, done: object) -> None:
        "Stop for good; C{done} (a Deferred) fires once it is closed."

    def stateName(self) -> str:
        "The name of the state it is in."


class Link:
    """
    The connection to one server peer.

    @ivar owner: who the link reports to (see the module docstring).
    @ivar peer: the server's L{cocaine.mesh.discovery.Peer}.
    @ivar protocol: the connection while the link is up, else L{None};
        set by the machine's outputs, read by the per-message path.
    @ivar pending: how many requests are in flight on it (the
        requester's).
    @ivar latency: the moving average of its reply times, or L{None}
        (the requester's).
    @ivar lastError: why the last TLS attempt failed, until one succeeds.
    @ivar failures: attempts failed in a row (the backoff's count).
    @ivar machine: its L{LinkMachine}.
    """

    initialDelay = 0.1
    maxDelay = 5.0
    factor = 2.0

    def __init__(self, owner, peer):
        self.owner = owner
        self.peer = peer
        self.tls = owner.tls
        self.protocol = None
        self.pending = 0
        self.latency = None
        self.lastError = None
        self.failures = 0
        # what the machine's outputs hold while in a state: the connector
        # (connecting), the connection (handshaking, up, closing), the
        # retry (waiting), who waits for the close (closing)
        self._connector = None
        self._connection = None
        self._retry = None
        self._waiters = []
        self.machine = LinkMachine(self)

    def __repr__(self):
        return "<Link {!r} {}>".format(self.peer, self.machine.stateName())

    def connect(self):
        """
        Start connecting.
        """
        self.machine.connect()

    def close(self):
        """
        Stop reconnecting and close the connection.

        @return: a Deferred that fires once the connection is gone.
        """
        done = defer.Deferred()
        self.machine.close(done)
        return done

    # -- what the outputs do --------------------------------------------------

    def _startConnecting(self):
        factory = _LinkFactory(self)
        reactor = self.owner.reactor
        address, port = self.peer.address, self.peer.port
        if self.tls is None:
            self._connector = reactor.connectTCP(address, port, factory)
        else:
            self._connector = reactor.connectSSL(
                address, port, factory, self.tls.clientOptions())

    def _scheduleRetry(self):
        # jittered: the requesters of a responder that restarts do not
        # all come back at the same instants
        self.failures += 1
        self._retry = self.owner.clock.callLater(
            backoffDelay(self.failures, self.initialDelay, self.maxDelay,
                         self.factor), self.connect)

    def _tlsFailed(self, reason):
        error = describeFailure(reason)
        if error != self.lastError:
            log.warn("TLS with {peer} failed: {error}", peer=self.peer,
                     error=error)
        self.lastError = error

    def _disconnect(self, done):
        self._waiters.append(done)
        self._connection.transport.loseConnection()

    def _fireWaiters(self):
        waiters, self._waiters = self._waiters, []
        for done in waiters:
            done.callback(None)


_builder = TypeMachineBuilder(LinkInputs, Link)
_idle = _builder.state("idle")
_connecting = _builder.state("connecting")
_handshaking = _builder.state("handshaking")
_up = _builder.state("up")
_waiting = _builder.state("waiting")
_closing = _builder.state("closing")
_closed = _builder.state("closed")

nameStates([_idle, _connecting, _handshaking, _up, _waiting, _closing,
            _closed], LinkInputs.stateName)


@_idle.upon(LinkInputs.connect).to(_connecting)
@_waiting.upon(LinkInputs.connect).to(_connecting)
def _connect(inputs, link):
    link._retry = None
    link._startConnecting()


@_connecting.upon(LinkInputs.opened).to(_handshaking)
def _handshake(inputs, link, protocol):
    link._connector = None
    link._connection = protocol


@_connecting.upon(LinkInputs.connected).to(_up)
@_handshaking.upon(LinkInputs.connected).to(_up)
def _linkUp(inputs, link, protocol):
    link._connector = None
    link._connection = link.protocol = protocol
    link.lastError = None
    link.failures = 0
    link.owner.linksChanged()
    link.owner.linkUp(link)


@_connecting.upon(LinkInputs.failed).to(_waiting)
def _retryLater(inputs, link, reason):
    link._connector = None
    link._scheduleRetry()


@_handshaking.upon(LinkInputs.lost).to(_waiting)
def _handshakeFailed(inputs, link, protocol, reason):
    link._connection = None
    link._tlsFailed(reason)
    link._scheduleRetry()


@_up.upon(LinkInputs.lost).to(_waiting)
def _linkDown(inputs, link, protocol, reason):
    link._connection = link.protocol = None
    if link.tls is not None and isTLSFailure(reason):
        # TLS 1.3 servers reject a client's certificate after the
        # client's handshake is done: the link came up for a moment
        link._tlsFailed(reason)
    link._scheduleRetry()
    link.owner.linksChanged()
    link.owner.linkDown(link)


@_idle.upon(LinkInputs.close).to(_closed)
@_closed.upon(LinkInputs.close).to(_closed)
def _closedAlready(inputs, link, done):
    done.callback(None)


@_connecting.upon(LinkInputs.close).to(_closed)
def _stopConnecting(inputs, link, done):
    connector, link._connector = link._connector, None
    connector.stopConnecting()
    done.callback(None)


@_waiting.upon(LinkInputs.close).to(_closed)
def _cancelRetry(inputs, link, done):
    retry, link._retry = link._retry, None
    if retry.active():
        retry.cancel()
    done.callback(None)


@_handshaking.upon(LinkInputs.close).to(_closing)
def _closeHandshaking(inputs, link, done):
    link._disconnect(done)


@_up.upon(LinkInputs.close).to(_closing)
def _closeUp(inputs, link, done):
    link.protocol = None
    link._disconnect(done)
    link.owner.linksChanged()
    link.owner.linkDown(link)


@_closing.upon(LinkInputs.close).to(_closing)
def _waitForClose(inputs, link, done):
    link._waiters.append(done)


@_closing.upon(LinkInputs.lost).to(_closed)
def _gone(inputs, link, protocol, reason):
    link._connection = None
    link._fireWaiters()


# what no longer matters: a handshake that completes while the connection
# is being closed, the failure stopConnecting reports once closed
_closing.upon(LinkInputs.connected).loop().returns(None)
_closed.upon(LinkInputs.failed).loop().returns(None)

#: The lifecycle of a client's connection to one server.
LinkMachine = build(_builder)


class _ClientConnection(AMPProtocol):
    """
    A plain TCP connection of a link: usable once made.
    """

    def connectionMade(self):
        AMPProtocol.connectionMade(self)
        link = self.factory.link
        self._link = link
        self._deliver = link.owner.messageReceived
        link.machine.connected(self)

    def connectionLost(self, reason):
        self._link.machine.lost(self, reason)

    def messageReceived(self, args, parts):
        self._deliver(self._link, args, parts)


@implementer(IHandshakeListener)
class _TLSClientConnection(_ClientConnection):
    """
    A TLS connection of a link: usable once the handshake verified the
    peer.
    """

    def connectionMade(self):
        AMPProtocol.connectionMade(self)
        link = self.factory.link
        self._link = link
        self._deliver = link.owner.messageReceived
        link.machine.opened(self)

    def handshakeCompleted(self):
        self._link.machine.connected(self)


class _LinkFactory(Factory):
    def __init__(self, link):
        self.link = link
        self.protocol = (_ClientConnection if link.tls is None
                         else _TLSClientConnection)

    # ClientFactory's interface, without its noise
    def startedConnecting(self, connector):
        pass

    def clientConnectionFailed(self, connector, reason):
        self.link.machine.failed(reason)

    def clientConnectionLost(self, connector, reason):
        pass
