# -*- test-case-name: tests.jabber.test_connection -*-
"""
A jabber account's connection to its XMPP server (a L{Connection}),
reconnected with backoff until it is closed. Its lifecycle is one machine,
L{ConnectionMachine}:

  - C{idle}: made, not connecting yet.
  - C{connecting}: the TCP connection is being made.
  - C{negotiating}: TCP is up; the XMPP stream is being set up (STARTTLS
    as the TLS policy says, SASL, resource binding, session).
  - C{online}: logged in: stanzas can be sent; the presence is sent on
    entering it.
  - C{waiting}: the attempt failed (refused, TLS or login failed) or the
    connection dropped; the next attempt comes after the backoff delay
    (0.5 s doubling to 30 s, each up to a tenth longer at random, back to
    0.5 s once online).
  - C{closing}: closed while connected; waits for the connection to go.
  - C{closed}: for good.

Why the last attempt failed is kept in L{Connection.lastError} (and
logged when it changes), so that a call made while not online fails at
once with an error that says it (L{BackendUnavailable}).
"""

import uuid
from typing import Protocol

from automat import TypeMachineBuilder
from twisted.internet import defer
from twisted.internet.protocol import ClientFactory
from twisted.logger import Logger
from twisted.words.protocols.jabber import client, sasl, xmlstream
from twisted.words.protocols.jabber.error import StreamError
from twisted.words.xish import domish

from cocaine.backoff import backoffDelay
from cocaine.errors import BackendUnavailable
from cocaine.statemachine import build, nameStates

__all__ = ["Connection", "ConnectionInputs", "ConnectionMachine",
           "describeFailure"]

log = Logger()

NS_CLIENT = "jabber:client"


class ConnectionInputs(Protocol):
    """
    What happens to a jabber connection.
    """

    def connect(self) -> None:
        "Connect: at first, or once the backoff delay has passed."

    def opened(self, stream: object) -> None:
        "TCP is up; the XMPP stream negotiation begins."

    def authenticated(self, stream: object) -> None:
        "The stream is set up and logged in."

    def failed(self, reason: object) -> None:
        "The TCP connection could not be made."

    def lost(self, stream: object, reason: object) -> None:
        "The connection is gone."

    def close(self, done: object) -> None:
        "Stop for good; C{done} (a Deferred) fires once it is closed."

    def stateName(self) -> str:
        "The name of the state it is in."


def describeFailure(reason):
    """
    A short text for why an attempt failed.

    @param reason: a Failure or an exception.
    """
    error = getattr(reason, "value", reason)
    if isinstance(error, sasl.SASLAuthError):
        return "authentication failed ({})".format(error.condition)
    if isinstance(error, sasl.SASLNoAcceptableMechanism):
        return "authentication failed (no SASL mechanism both support)"
    if isinstance(error, xmlstream.FeatureNotAdvertized):
        return ("the server does not offer STARTTLS (set \"tls\" to "
                "\"optional\" to go on without it)")
    if isinstance(error, xmlstream.TLSRequired):
        return "the server requires TLS (\"tls\" is \"off\")"
    if isinstance(error, xmlstream.TLSFailed):
        return "the server refused STARTTLS"
    if isinstance(error, StreamError):
        return "the server ended the stream ({})".format(error.condition)
    if type(error).__module__.startswith("OpenSSL"):
        return "TLS failed: {}".format(_sslText(error))
    return str(error).strip().rstrip(".") or type(error).__name__


def _sslText(error):
    try:
        return "; ".join(part[2] for part in error.args[0])
    except (IndexError, TypeError):
        return str(error)


class Connection:
    """
    One account's connection.

    @ivar settings: its L{cocaine.jabber.settings.Settings}.
    @ivar name: the service's name, for errors and logs.
    @ivar stream: the logged-in XmlStream while C{online}, else L{None};
        set by the machine's outputs.
    @ivar lastError: why the last attempt failed, until one succeeds.
    @ivar failures: attempts failed in a row (the backoff's count).
    @ivar status: the presence status sent on each login.
    @ivar machine: its L{ConnectionMachine}.
    """

    initialDelay = 0.5
    maxDelay = 30.0
    factor = 2.0
    #: Seconds a closing connection may take before it is aborted.
    closeTimeout = 5.0

    def __init__(self, reactor, settings, name, onMessage):
        """
        @param reactor: connects TCP and schedules the retries.
        @param onMessage: called with C{(sender, body, type)} (text) for
            each incoming message that has a body.
        """
        self.reactor = reactor
        self.settings = settings
        self.name = name
        self._onMessage = onMessage
        self.stream = None
        self.lastError = None
        self._loggedError = None
        self.failures = 0
        self.status = ""
        self._connector = None
        self._negotiating = None
        self._retry = None
        self._abort = None
        self._waiters = []
        self.machine = ConnectionMachine(self)

    def __repr__(self):
        return "<Connection {} {}>".format(self.settings.account,
                                           self.machine.stateName())

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

    # -- stanzas ------------------------------------------------------------

    def _online(self):
        stream = self.stream
        if stream is None:
            settings = self.settings
            why = self.lastError or "{} to {}:{}".format(
                self.machine.stateName(), settings.host, settings.port)
            raise BackendUnavailable(
                "jabber service {!r} ({}) is not connected: {}".format(
                    self.name, settings.account, why))
        return stream

    def sendMessage(self, to, body, type="chat"):
        """
        Send a message stanza.

        @param to: the recipient's JID (text).
        @return: the stanza's id.
        @raise BackendUnavailable: not C{online}.
        """
        stream = self._online()
        message = domish.Element((NS_CLIENT, "message"))
        message["to"] = to
        message["type"] = type
        message["id"] = ident = uuid.uuid4().hex
        message.addElement("body", content=body)
        stream.send(message)
        return ident

    def sendPresence(self, status):
        """
        Announce the account available with C{status} (no status when
        empty), now and on every later login.

        @raise BackendUnavailable: not C{online} (nothing is remembered).
        """
        stream = self._online()
        self.status = status
        stream.send(self._presence())

    def _presence(self):
        presence = domish.Element((NS_CLIENT, "presence"))
        if self.status:
            presence.addElement("status", content=self.status)
        return presence

    def _received(self, element):
        body = None
        for child in element.elements():
            if child.name == "body":
                body = str(child)
                break
        if body is None:
            # chat states, receipts, ...: nothing to deliver
            return
        self._onMessage(element.getAttribute("from", ""), body,
                        element.getAttribute("type", "normal"))

    # -- what the outputs do -----------------------------------------------

    def _startConnecting(self):
        settings = self.settings
        self._connector = self.reactor.connectTCP(
            settings.host, settings.port, _StreamFactory(self))

    def _scheduleRetry(self, error):
        self.lastError = error
        self.failures += 1
        delay = backoffDelay(self.failures, self.initialDelay, self.maxDelay,
                             self.factor)
        if error != self._loggedError:
            self._loggedError = error
            log.warn("jabber service {service} ({account}): {error}; "
                     "reconnecting to {host}:{port} in {delay:.1f} s",
                     service=self.name,
                     account=self.settings.account, error=error,
                     host=self.settings.host, port=self.settings.port,
                     delay=delay)
        self._retry = self.reactor.callLater(delay, self.connect)

    def _loggedIn(self, stream):
        self._negotiating = None
        self.stream = stream
        self.lastError = self._loggedError = None
        self.failures = 0
        stream.addObserver("/message", self._received)
        stream.send(self._presence())
        log.info("jabber service {service}: {jid} online at {host}:{port}",
                 service=self.name, jid=stream.authenticator.jid.full(),
                 host=self.settings.host, port=self.settings.port)

    def _disconnect(self, stream, done, footer=True):
        self._waiters.append(done)
        transport = stream.transport
        self._abort = self.reactor.callLater(
            self.closeTimeout, transport.abortConnection)
        try:
            if footer:
                stream.sendFooter()
        finally:
            transport.loseConnection()

    def _fireWaiters(self):
        abort, self._abort = self._abort, None
        if abort is not None and abort.active():
            abort.cancel()
        waiters, self._waiters = self._waiters, []
        for done in waiters:
            done.callback(None)


def _lostText(stream, reason, what):
    failure = getattr(stream, "failure", None)
    if failure is not None:
        # why the stream ended: a failed login, a stream error
        return failure
    return "{}: {}".format(what, describeFailure(reason))


_builder = TypeMachineBuilder(ConnectionInputs, Connection)
_idle = _builder.state("idle")
_connecting = _builder.state("connecting")
_negotiating = _builder.state("negotiating")
_online = _builder.state("online")
_waiting = _builder.state("waiting")
_closing = _builder.state("closing")
_closed = _builder.state("closed")

nameStates([_idle, _connecting, _negotiating, _online, _waiting, _closing,
            _closed], ConnectionInputs.stateName)


@_idle.upon(ConnectionInputs.connect).to(_connecting)
@_waiting.upon(ConnectionInputs.connect).to(_connecting)
def _connect(inputs, connection):
    connection._retry = None
    connection._startConnecting()


@_connecting.upon(ConnectionInputs.opened).to(_negotiating)
def _negotiate(inputs, connection, stream):
    connection._connector = None
    connection._negotiating = stream


@_connecting.upon(ConnectionInputs.failed).to(_waiting)
def _retryLater(inputs, connection, reason):
    connection._connector = None
    connection._scheduleRetry("cannot connect to {}:{}: {}".format(
        connection.settings.host, connection.settings.port,
        describeFailure(reason)))


@_negotiating.upon(ConnectionInputs.authenticated).to(_online)
def _goOnline(inputs, connection, stream):
    connection._loggedIn(stream)


@_negotiating.upon(ConnectionInputs.lost).to(_waiting)
def _negotiationFailed(inputs, connection, stream, reason):
    connection._negotiating = None
    connection._scheduleRetry(_lostText(
        stream, reason, "the connection ended while logging in"))


@_online.upon(ConnectionInputs.lost).to(_waiting)
def _goOffline(inputs, connection, stream, reason):
    connection.stream = None
    connection._scheduleRetry(_lostText(
        stream, reason, "connection lost"))


@_idle.upon(ConnectionInputs.close).to(_closed)
@_closed.upon(ConnectionInputs.close).to(_closed)
def _closedAlready(inputs, connection, done):
    done.callback(None)


@_connecting.upon(ConnectionInputs.close).to(_closed)
def _stopConnecting(inputs, connection, done):
    connector, connection._connector = connection._connector, None
    connector.stopConnecting()
    done.callback(None)


@_waiting.upon(ConnectionInputs.close).to(_closed)
def _cancelRetry(inputs, connection, done):
    retry, connection._retry = connection._retry, None
    if retry.active():
        retry.cancel()
    done.callback(None)


@_negotiating.upon(ConnectionInputs.close).to(_closing)
def _closeNegotiating(inputs, connection, done):
    stream, connection._negotiating = connection._negotiating, None
    connection._disconnect(stream, done, footer=False)


@_online.upon(ConnectionInputs.close).to(_closing)
def _closeOnline(inputs, connection, done):
    stream, connection.stream = connection.stream, None
    connection._disconnect(stream, done)


@_closing.upon(ConnectionInputs.close).to(_closing)
def _waitForClose(inputs, connection, done):
    connection._waiters.append(done)


@_closing.upon(ConnectionInputs.lost).to(_closed)
def _gone(inputs, connection, stream, reason):
    connection._fireWaiters()


# what no longer matters: a login that completes while the connection is
# being closed, the failure stopConnecting reports once closed
_closing.upon(ConnectionInputs.authenticated).loop().returns(None)
_closed.upon(ConnectionInputs.failed).loop().returns(None)

#: The lifecycle of a jabber account's connection.
ConnectionMachine = build(_builder)


class _Authenticator(client.XMPPAuthenticator):
    """
    The XMPP client's stream setup with the account's TLS policy.
    """

    def __init__(self, settings):
        client.XMPPAuthenticator.__init__(
            self, settings.jid, settings.password,
            configurationForTLS=(None if settings.tls == "off"
                                 else settings.tlsOptions()))
        self._tls = settings.tls

    def associateWithStream(self, xs):
        client.XMPPAuthenticator.associateWithStream(self, xs)
        for initializer in xs.initializers:
            if isinstance(initializer, xmlstream.TLSInitiatingInitializer):
                initializer.required = self._tls == "required"
                initializer.wanted = self._tls != "off"


class _StreamFactory(ClientFactory):
    """
    Makes the one XmlStream of one connection attempt and reports what
    happens to it to the connection's machine.
    """

    noisy = False

    def __init__(self, connection):
        self.connection = connection

    def buildProtocol(self, addr):
        machine = self.connection.machine
        stream = xmlstream.XmlStream(_Authenticator(self.connection.settings))
        stream.factory = self
        stream.failure = None

        def initFailed(failure):
            stream.failure = describeFailure(failure)
            stream.transport.loseConnection()

        def streamError(failure):
            stream.failure = describeFailure(failure)

        def opened(_):
            # a server that vanishes without closing is noticed, in time
            keepAlive = getattr(stream.transport, "setTcpKeepAlive", None)
            if keepAlive is not None:
                keepAlive(True)
            machine.opened(stream)

        stream.addObserver(xmlstream.STREAM_CONNECTED_EVENT, opened)
        stream.addObserver(xmlstream.STREAM_AUTHD_EVENT,
                           lambda _: machine.authenticated(stream))
        stream.addObserver(xmlstream.INIT_FAILED_EVENT, initFailed)
        stream.addObserver(xmlstream.STREAM_ERROR_EVENT, streamError)
        stream.addObserver(xmlstream.STREAM_END_EVENT,
                           lambda reason: machine.lost(stream, reason))
        return stream

    # ClientFactory's interface, without its noise
    def startedConnecting(self, connector):
        pass

    def clientConnectionFailed(self, connector, reason):
        self.connection.machine.failed(reason)

    def clientConnectionLost(self, connector, reason):
        pass
