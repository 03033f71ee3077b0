# -*- test-case-name: tests.mesh.test_components -*-
"""
The cote components: L{Requester}, L{Responder}, L{Publisher} and
L{Subscriber}, wire-compatible with cote 1.2.0.

Each component is a L{twisted.application.service.Service} with its own
discovery (its own C{iid}, as in cote). Servers (Responder, Publisher)
listen on TCP and advertise their port; clients (Requester, Subscriber)
open one connection to every matching server and reconnect with backoff
while the server keeps saying hello. Two components match when their
C{axon_type}s pair up (C{req}/C{rep}, C{sub-emitter}/C{pub-emitter}),
their key strings are equal (C{"<environment>:$$<key>"}) and their
namespaces are equal.
"""

import collections
import inspect
import itertools
import os
import re

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from cocaine.errors import CocaineError
from cocaine.mesh.amp import AMPProtocol, pack
from cocaine.mesh.discovery import DiscoveryOptions, DiscoveryProtocol, listenDiscovery

__all__ = [
    "MeshError",
    "RequestTimeout",
    "QueueFull",
    "ResponderLost",
    "RemoteError",
    "formatKey",
    "errorObject",
    "Requester",
    "Responder",
    "Publisher",
    "Subscriber",
    "run",
]

log = Logger()

#: Seconds a request waits for its reply unless told otherwise (ours).
DEFAULT_TIMEOUT = 10.0
#: How many requests may wait for a responder (ours).
DEFAULT_QUEUE_LIMIT = 1000
SUBSET_IDENTIFIER = "__subset"
#: Weight of the newest reply time in a responder's moving average.
LATENCY_WEIGHT = 0.3


class MeshError(CocaineError):
    """
    A mesh failure. Raise it (or a subclass) in a handler to choose the
    C{code} the requester sees.
    """

    code = "EMESH"

    def __init__(self, message, code=None):
        CocaineError.__init__(self, message)
        self.message = message
        if code is not None:
            self.code = code


class RequestTimeout(MeshError):
    """
    No reply within the request's timeout.
    """

    code = "ETIMEDOUT"


class QueueFull(MeshError):
    """
    No responder is connected and the queue of waiting requests is full.
    """

    code = "EQUEUEFULL"


class ResponderLost(MeshError):
    """
    The connection to the responder handling the request was lost.
    """

    code = "ECONNRESET"


class RemoteError(MeshError):
    """
    The responder answered with an error object.

    @ivar error: the error exactly as received (any JSON value).
    @ivar name: its C{name}, when it had one.
    """

    def __init__(self, error):
        if isinstance(error, dict):
            message = error.get("message")
            code = error.get("code")
            name = error.get("name")
        else:
            message, code, name = None, None, None
        if message is None:
            message = "remote error: %r" % (error,)
        MeshError.__init__(self, message, code if code is not None else "EREMOTE")
        self.error = error
        self.name = name


def formatKey(key=None, environment=None):
    """
    The key string as cote builds it: C{"<environment>:$$<key>"}, C{"$$<key>"}
    without environment, C{"$$"} with neither. The environment defaults to
    C{$COTE_ENV}.
    """
    if environment is None:
        environment = os.environ.get("COTE_ENV", "")
    prefix = environment + ":" if environment else ""
    return prefix + "$$" + (key or "")


def errorObject(error):
    """
    The JSON object a responder sends for an exception (ours: never C{{}}).

    @type error: an exception or a L{Failure}
    """
    if isinstance(error, Failure):
        error = error.value
    message = getattr(error, "message", None)
    if not isinstance(message, str):
        message = str(error) or error.__class__.__name__
    code = getattr(error, "code", None)
    if code is not None and not isinstance(code, (str, int)):
        code = str(code)
    return {"message": message, "code": code if code is not None else "EHANDLER",
            "name": error.__class__.__name__}


def _maybeDeferred(f, *args):
    try:
        result = f(*args)
    except BaseException:
        return defer.fail()
    return _asDeferred(result)


def _asDeferred(result):
    """
    A handler's result as a L{Deferred}: itself, one awaiting a coroutine
    (or other awaitable), or one already fired with a plain value.
    """
    if inspect.isawaitable(result) and not isinstance(result, defer.Deferred):
        async def wait():
            return await result
        return defer.Deferred.fromCoroutine(wait())
    return defer.maybeDeferred(lambda: result)


#: Result types a handler returns that are neither Deferreds nor awaitable:
#: the Responder answers them at once, without a Deferred.
_PLAIN_RESULTS = frozenset([type(None), bool, int, float, str, bytes, dict, list, tuple])


class _Component(Service):
    """
    What all components share: the advertisement and discovery.

    @param name: the component's name, sent in every hello.
    @param key: the segmentation key (see L{formatKey}).
    @param namespace: the namespace; only equal namespaces pair.
    @param environment: the environment (default C{$COTE_ENV}).
    @param advertisement: more advertisement fields.
    @param discovery: a L{DiscoveryOptions}; or pass its keywords instead.
    @param reactor: the reactor (TCP, UDP); default the global one.
    @param clock: the clock of timers; default C{reactor}.
    @param tls: a L{cocaine.mesh.tls.MeshTLS}: mutual TLS with our own
        components that have it too, and no connection with any other
        (ours). L{None}: plain TCP, as cote.
    """

    axonType = None
    oppo = None
    #: How discovery sockets are opened (tests replace it).
    _listenDiscovery = staticmethod(listenDiscovery)

    def __init__(self, name, key=None, namespace=None, environment=None,
                 advertisement=None, discovery=None, reactor=None, clock=None, tls=None,
                 **options):
        if reactor is None:
            from twisted.internet import reactor
        self.name = name
        self.tls = tls
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.namespace = namespace
        ad = {"type": "service"}
        ad.update(advertisement or {})
        ad["name"] = name
        ad["key"] = formatKey(key, environment)
        ad["axon_type"] = self.axonType
        if namespace is not None:
            ad["namespace"] = namespace
        self.advertisement = ad
        if discovery is None:
            discovery = DiscoveryOptions(**options)
        elif options:
            raise TypeError("pass discovery options either as discovery= or as keywords")
        self.discoveryOptions = discovery
        self.discovery = None
        self._discoveryPorts = []

    def matches(self, peer):
        """
        Whether a discovered peer pairs with this component (as cote decides).
        """
        ad = peer.advertisement
        return (ad.get("axon_type") == self.oppo
                and ad.get("key") == self.advertisement["key"]
                and ad.get("namespace") == self.advertisement.get("namespace"))

    def _startDiscovery(self):
        self.discovery = DiscoveryProtocol(self.advertisement, self.discoveryOptions,
                                           clock=self.clock)
        self.discovery.addObserver(self._peerAdded, self._peerRemoved)
        self._discoveryPorts = self._listenDiscovery(self.reactor, self.discovery)

    def _stopDiscovery(self):
        ports, self._discoveryPorts = self._discoveryPorts, []
        return defer.gatherResults([defer.maybeDeferred(p.stopListening) for p in ports])

    def _peerAdded(self, peer):
        if self.matches(peer):
            self.peerAdded(peer)

    def _peerRemoved(self, peer):
        if self.matches(peer):
            self.peerRemoved(peer)

    def peerAdded(self, peer):
        pass

    def peerRemoved(self, peer):
        pass


# ---------------------------------------------------------------- servers


def _tlsError(reason):
    """
    Why a TLS connection failed, in a few words (OpenSSL's reasons).
    """
    from OpenSSL.SSL import Error

    if reason.check(Error):
        reasons = [r[-1] for r in reason.value.args[0] if isinstance(r, tuple) and r] \
            if reason.value.args and isinstance(reason.value.args[0], list) else []
        return ", ".join(str(r) for r in reasons) or str(reason.value)
    if reason.check(ConnectionDone):
        return "closed by the peer during the TLS handshake"
    return reason.getErrorMessage()


def _isTLSError(reason):
    from OpenSSL.SSL import Error

    return reason.check(Error) is not None


@implementer(IHandshakeListener)
class _ServerConnection(AMPProtocol):
    _handshaken = False

    def connectionMade(self):
        AMPProtocol.connectionMade(self)
        self._lost = []
        self.factory.component._connections.add(self)

    def handshakeCompleted(self):
        self._handshaken = True

    def connectionLost(self, reason):
        component = self.factory.component
        if component.tls is not None and not self._handshaken:
            log.warn("{name}: TLS with {peer} failed: {error}", name=component.name,
                     peer=self.transport.getPeer(), error=_tlsError(reason))
        self.factory.component._connections.discard(self)
        self.factory.component.connectionGone(self)
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
        self.factory.component.messageReceived(self, args, parts)


class _Server(_Component):
    """
    A component that listens on TCP and advertises the port.

    @ivar host: the interface to listen on: C{127.0.0.1} when discovery
        stays on this host, else C{0.0.0.0}.
    """

    def __init__(self, name, port=0, host=None, **kwargs):
        _Component.__init__(self, name, **kwargs)
        self.port = port
        if host is None:
            host = "127.0.0.1" if self.discoveryOptions.loopbackOnly else "0.0.0.0"
        self.host = host
        self._listening = None
        self._connections = set()
        if self.tls is not None:
            self.advertisement["tls"] = True

    def startService(self):
        Service.startService(self)
        factory = Factory.forProtocol(_ServerConnection)
        factory.component = self
        if self.tls is None:
            self._listening = self.reactor.listenTCP(self.port, factory, interface=self.host)
        else:
            self._listening = self.reactor.listenSSL(
                self.port, factory, self.tls.serverOptions(), interface=self.host)
        self.advertisement["port"] = self._listening.getHost().port
        self._startDiscovery()

    def stopService(self):
        Service.stopService(self)
        d = self._stopDiscovery()
        listening, self._listening = self._listening, None
        stops = [d]
        if listening is not None:
            stops.append(defer.maybeDeferred(listening.stopListening))
        stops.extend(connection.close() for connection in list(self._connections))
        return defer.gatherResults(stops).addCallback(lambda _: None)

    def messageReceived(self, connection, args, parts):
        pass

    def connectionGone(self, connection):
        pass


class Responder(_Server):
    """
    Answers requests by their C{type}.

    Handlers are plain functions, coroutine functions or functions returning
    Deferreds; they get the request object. A raised exception reaches the
    requester as C{{"message", "code", "name"}} (see L{errorObject}); a
    request for a type without handler gets an C{ENOHANDLER} error.
    """

    axonType = "rep"
    oppo = "req"

    def __init__(self, name, respondsTo=None, subset=None, **kwargs):
        _Server.__init__(self, name, **kwargs)
        self.handlers = {}
        self._respondsTo = respondsTo
        if subset is not None:
            self.advertisement["subset"] = subset

    def on(self, requestType, handler):
        """
        Handle requests of C{requestType} with C{handler(request)}.
        """
        self.handlers[requestType] = handler
        return handler

    def startService(self):
        self.advertisement["respondsTo"] = list(
            self._respondsTo if self._respondsTo is not None else self.handlers)
        _Server.startService(self)

    def messageReceived(self, connection, args, parts):
        if len(args) < 2:
            return
        request, idPart = args[0], parts[-1]
        if not isinstance(request, dict) or not isinstance(request.get("type"), str):
            self._reply(connection, [errorObject(MeshError(
                "a request is an object with a type", "EBADREQUEST")), idPart])
            return
        handler = self.handlers.get(request["type"])
        if handler is None:
            self._reply(connection, [errorObject(MeshError(
                "no handler for request type %r" % (request["type"],), "ENOHANDLER")), idPart])
            return
        try:
            result = handler(request)
        except BaseException:
            d = defer.fail()
        else:
            if type(result) in _PLAIN_RESULTS:
                # the usual case, answered without a Deferred and its callbacks
                try:
                    self._answered(result, connection, idPart)
                except Exception:
                    log.failure("cannot reply")
                return
            d = _asDeferred(result)
        d.addCallbacks(self._answered, self._failed, callbackArgs=(connection, idPart),
                       errbackArgs=(connection, request["type"], idPart))
        d.addErrback(lambda f: log.failure("cannot reply", f))

    def _answered(self, result, connection, idPart):
        if connection in self._connections:
            connection.sendMessage([None, result, idPart])

    def _failed(self, f, connection, requestType, idPart):
        if f.check(MeshError):
            log.info("handler for {type} answered an error: {error}",
                     type=requestType, error=f.getErrorMessage())
        else:
            log.failure("handler for {type} failed", f, type=requestType)
        self._reply(connection, [errorObject(f), idPart])

    def _reply(self, connection, args):
        if connection in self._connections:
            connection.sendMessage(args)


class Publisher(_Server):
    """
    Publishes to every connected subscriber; fire-and-forget.
    """

    axonType = "pub-emitter"
    oppo = "sub-emitter"

    def __init__(self, name, broadcasts=None, **kwargs):
        _Server.__init__(self, name, **kwargs)
        if broadcasts is not None:
            self.advertisement["broadcasts"] = list(broadcasts)

    def publish(self, topic, data):
        """
        Send C{data} under C{topic} to every connected subscriber.
        """
        if not self._connections:
            return
        prefix = "message::"
        if self.namespace:
            prefix += self.namespace + "::"
        message = pack([prefix + topic, data])
        for connection in tuple(self._connections):
            connection._sendPacked(message)


# ---------------------------------------------------------------- clients


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
        self.factory.link.component.messageReceived(self.factory.link, args, parts)


class _Link:
    """
    The connection to one server peer, reconnected with backoff while the
    peer is known.

    Over TLS (the component's C{tls}) the link is up only once the
    handshake has verified the peer, so nothing is sent to a peer that
    fails verification; the failure is logged (once until the link comes
    up) and kept in L{lastError}.

    @ivar lastError: why the last TLS attempt failed, until one succeeds.
    """

    initialDelay = 0.1
    maxDelay = 5.0
    factor = 2.0

    def __init__(self, component, peer):
        self.component = component
        self.peer = peer
        self.protocol = None
        self.pending = 0
        self.latency = None
        self.delay = self.initialDelay
        self.closed = False
        self.attempts = 0
        self._retry = None
        self._connector = None
        self._connecting = False
        self._open = None
        self._gone = []
        self.tls = component.tls
        self.lastError = None

    def connect(self):
        self._retry = None
        if self.closed:
            return
        self.attempts += 1
        self._connecting = True
        factory = _LinkFactory(self)
        reactor = self.component.reactor
        if self.tls is None:
            self._connector = reactor.connectTCP(self.peer.address, self.peer.port, factory)
        else:
            self._connector = reactor.connectSSL(self.peer.address, self.peer.port, factory,
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
        self.component._linksChanged()
        if self.closed:
            protocol.transport.loseConnection()
            return
        self.component.linkUp(self)

    def lost(self, protocol, reason):
        if self._open is protocol:
            self._open = None
        if self.tls is not None and not self.closed and (
                self.protocol is not protocol or _isTLSError(reason)):
            # never verified, or TLS itself failed (TLS 1.3 servers reject a
            # client's certificate after the client's handshake is done)
            error = _tlsError(reason)
            if error != self.lastError:
                log.warn("TLS with {peer} failed: {error}", peer=self.peer, error=error)
            self.lastError = error
        if self.protocol is protocol:
            self.protocol = None
            self.component._linksChanged()
            self.component.linkDown(self)
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
        self._retry = self.component.clock.callLater(delay, self.connect)

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

    # ClientFactory interface, without its noise
    def startedConnecting(self, connector):
        pass

    def clientConnectionFailed(self, connector, reason):
        self.link.failed(reason)

    def clientConnectionLost(self, connector, reason):
        pass


class _StatusReporter:
    """
    The connections of a client to the monitors it discovered, and the
    C{status} messages it sends them every C{statusInterval} seconds, as
    cote's requesters and subscribers do:
    C{[s:status, j:{"id": <iid>, "nodes": [<iids of connected servers>]}]}.
    """

    def __init__(self, client, interval):
        self.client = client
        self.reactor = client.reactor
        self.tls = client.tls
        self.clock = client.clock
        self.interval = interval
        self.links = {}
        self._loop = None

    def add(self, peer):
        if peer.port is None or peer.iid in self.links or not self.client._tlsAgrees(peer):
            return
        link = self.links[peer.iid] = _Link(self, peer)
        link.connect()
        if self._loop is None:
            from twisted.internet.task import LoopingCall
            self._loop = LoopingCall(self.report)
            self._loop.clock = self.clock
            self._loop.start(self.interval, now=False)

    def remove(self, peer):
        link = self.links.pop(peer.iid, None)
        if link is not None:
            link.close()

    def status(self):
        return {"id": self.client.discovery.iid if self.client.discovery else None,
                "nodes": [l.peer.iid for l in self.client.connectedLinks()]}

    def report(self):
        """
        Send one status message to every connected monitor.
        """
        links = [l for l in self.links.values() if l.protocol is not None]
        if not links:
            return
        status = self.status()
        for link in links:
            link.protocol.sendMessage(["status", status])

    def _linksChanged(self):
        pass

    def linkUp(self, link):
        # a newly connected monitor learns our connections at once
        link.protocol.sendMessage(["status", self.status()])

    def linkDown(self, link):
        pass

    def messageReceived(self, link, args, parts):
        pass

    def close(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        stops = [link.close() for link in list(self.links.values())]
        self.links.clear()
        return stops


class _Client(_Component):
    """
    A component that connects to every matching server, and reports its
    connections to every monitor whose key prefixes its own (as cote).

    @param statusInterval: seconds between status messages to monitors
        (cote: 5000 ms).
    """

    def __init__(self, name, statusInterval=5.0, **kwargs):
        _Component.__init__(self, name, **kwargs)
        self.links = {}
        self.monitors = _StatusReporter(self, statusInterval)
        self._connectedCache = None
        self._tlsSkipped = set()

    def _tlsAgrees(self, peer):
        """
        Whether we and C{peer} agree on TLS: we connect with TLS exactly to
        the servers advertising C{"tls": true}. The first skip of a peer is
        logged.
        """
        if (peer.advertisement.get("tls") is True) == (self.tls is not None):
            return True
        if peer.iid not in self._tlsSkipped:
            self._tlsSkipped.add(peer.iid)
            log.warn("{name}: not connecting to {peer}: {why}", name=self.name, peer=peer,
                     why="it requires TLS and we have none" if self.tls is None
                     else "it does not offer TLS")
        return False

    def _isMonitor(self, peer):
        ad = peer.advertisement
        key = ad.get("key")
        return (ad.get("type") == "monitor" and isinstance(key, str)
                and self.advertisement["key"].startswith(key))

    def _peerAdded(self, peer):
        if self._isMonitor(peer):
            self.monitors.add(peer)
        _Component._peerAdded(self, peer)

    def _peerRemoved(self, peer):
        self._tlsSkipped.discard(peer.iid)
        self.monitors.remove(peer)
        _Component._peerRemoved(self, peer)

    def startService(self):
        Service.startService(self)
        self._startDiscovery()

    def stopService(self):
        Service.stopService(self)
        stops = [link.close() for link in list(self.links.values())]
        self.links.clear()
        self._linksChanged()
        stops.extend(self.monitors.close())
        stops.append(self._stopDiscovery())
        return defer.gatherResults(stops).addCallback(lambda _: None)

    def peerAdded(self, peer):
        if peer.port is None or peer.iid in self.links or not self._tlsAgrees(peer):
            return
        link = self.links[peer.iid] = _Link(self, peer)
        link.connect()

    def peerRemoved(self, peer):
        link = self.links.pop(peer.iid, None)
        if link is not None:
            self._linksChanged()
            link.close()

    def connectedLinks(self):
        return list(self._connected())

    def _connected(self):
        """
        The connected links, in the order of L{links}, kept until a link
        connects, drops or goes (not rebuilt for every request).
        """
        links = self._connectedCache
        if links is None:
            links = self._connectedCache = [
                l for l in self.links.values() if l.protocol is not None]
        return links

    def _linksChanged(self):
        self._connectedCache = None

    def linkUp(self, link):
        pass

    def linkDown(self, link):
        pass

    def messageReceived(self, link, args, parts):
        pass


class _Pending:
    __slots__ = ("message", "deferred", "subset", "where", "timeout", "queued", "link", "id",
                 "sentAt")

    def __init__(self, message, deferred, subset, where=None):
        self.message = message
        self.deferred = deferred
        self.subset = subset
        self.where = where
        self.timeout = None
        self.queued = False
        self.link = None
        self.id = None
        self.sentAt = None


class _Deadlines:
    """
    The timeouts of a Requester's requests, with one timer for all.

    A DelayedCall per request, scheduled at send and cancelled at reply, was
    a tenth of a Requester's time with requests in flight. Requests with
    the same timeout expire in the order they were sent, so each timeout
    value keeps its requests in an insertion-ordered dict, and the one
    timer waits for the oldest of them.

    @ivar buckets: L{dict} of a timeout in seconds to a L{dict} of the
        requests (L{_Pending}) with that timeout to their deadlines.
    """

    def __init__(self, clock, expired):
        self.clock = clock
        self.expired = expired
        self.buckets = {}
        self._timer = None
        self._at = None
        self._firing = False

    def add(self, pending, timeout, now):
        """
        Call C{expired(pending)} C{timeout} seconds after C{now}, unless
        L{remove}d before.
        """
        deadline = now + timeout
        bucket = self.buckets.get(timeout)
        if bucket is None:
            bucket = self.buckets[timeout] = {}
        bucket[pending] = deadline
        pending.timeout = timeout
        if self._firing:
            return
        if self._timer is None:
            self._at = deadline
            self._timer = self.clock.callLater(max(0.0, deadline - self.clock.seconds()),
                                               self._fire)
        elif deadline < self._at:
            self._at = deadline
            self._timer.reset(max(0.0, deadline - self.clock.seconds()))

    def remove(self, pending):
        timeout, pending.timeout = pending.timeout, None
        bucket = self.buckets.get(timeout)
        if bucket is None or bucket.pop(pending, None) is None:
            return
        if not bucket:
            del self.buckets[timeout]
            if not self.buckets and self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def clear(self):
        self.buckets.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self):
        self._timer = None
        now = self.clock.seconds()
        expired = []
        for bucket in self.buckets.values():
            for pending, deadline in bucket.items():
                if deadline > now:
                    break
                expired.append((deadline, pending))
        expired.sort(key=lambda e: e[0])
        self._firing = True
        try:
            for _, pending in expired:
                if pending.timeout is not None:
                    self.expired(pending)
        finally:
            self._firing = False
            if self.buckets and self._timer is None:
                self._at = min(next(iter(b.values())) for b in self.buckets.values())
                self._timer = self.clock.callLater(max(0.0, self._at - self.clock.seconds()),
                                                   self._fire)


class Requester(_Client):
    """
    Sends requests to matching responders.

    @ivar timeout: the default timeout in seconds (L{None}: wait forever).
    @ivar queueLimit: how many requests may wait for a responder.
    @ivar balance: C{"round-robin"} (cote's), C{"pending"} (the responder
        with the fewest requests in flight) or C{"latency"} (the responder
        with the lowest moving average of reply times; unmeasured ones
        first). Ties go in round-robin order.
    """

    axonType = "req"
    oppo = "rep"

    def __init__(self, name, requests=None, timeout=DEFAULT_TIMEOUT,
                 queueLimit=DEFAULT_QUEUE_LIMIT, balance="round-robin", **kwargs):
        _Client.__init__(self, name, **kwargs)
        if balance not in ("round-robin", "pending", "latency"):
            raise ValueError("balance is round-robin, pending or latency, not %r"
                             % (balance,))
        if requests is not None:
            self.advertisement["requests"] = list(requests)
        self.timeout = timeout
        self.queueLimit = queueLimit
        self.balance = balance
        self.queue = collections.deque()
        self.inFlight = {}
        self._ids = itertools.count()
        self._n = 0
        self._identity = "%d-%s" % (os.getpid(), id(self))
        self._deadlines = _Deadlines(self.clock, self._timedOut)

    def send(self, message, timeout=None, where=None):
        """
        Send a request object (with a C{type}); C{__subset} directs it to
        responders advertising that subset.

        @param timeout: seconds, or the default L{timeout}.
        @param where: ours: only responders whose discovered peer passes
            C{where(peer)} (a L{cocaine.mesh.discovery.Peer}) may take it.
        @return: a L{Deferred} firing with the result, or failing with
            L{RemoteError}, L{RequestTimeout}, L{QueueFull} or
            L{ResponderLost}. It can be awaited.
        """
        if not isinstance(message, dict) or "type" not in message:
            return defer.fail(MeshError("a request is an object with a type", "EBADREQUEST"))
        message = dict(message)
        subset = message.pop(SUBSET_IDENTIFIER, None)
        d = defer.Deferred(lambda _: self._forget(pending))
        pending = _Pending(message, d, subset, where)
        if timeout is None:
            timeout = self.timeout
        link = self._choose(subset, where)
        if link is None:
            if len(self.queue) >= self.queueLimit:
                return defer.fail(QueueFull(
                    "no responder connected and %d requests queued" % (len(self.queue),)))
            self.queue.append(pending)
            pending.queued = True
        now = self.clock.seconds()
        if timeout is not None:
            self._deadlines.add(pending, timeout, now)
        if link is not None:
            self._write(link, pending, now)
        return d

    def _choose(self, subset, where=None):
        links = self._connected()
        if subset is not None:
            links = [l for l in links if l.peer.advertisement.get("subset") == subset]
        if where is not None:
            links = [l for l in links if where(l.peer)]
        if not links:
            return None
        index = self._n % len(links)
        self._n += 1
        balance = self.balance
        if balance == "round-robin":
            return links[index]
        ordered = links[index:] + links[:index]
        if balance == "pending":
            return min(ordered, key=lambda l: l.pending)
        if balance == "latency":
            return min(ordered, key=lambda l: -1.0 if l.latency is None else l.latency)
        return links[index]

    def _write(self, link, pending, now=None):
        pending.id = "%s:%d" % (self._identity, next(self._ids))
        pending.link = link
        pending.sentAt = self.clock.seconds() if now is None else now
        link.pending += 1
        self.inFlight[pending.id] = pending
        link.protocol.sendMessage([pending.message, pending.id])

    def _forget(self, pending):
        if pending.timeout is not None:
            self._deadlines.remove(pending)
        if pending.id is not None and self.inFlight.pop(pending.id, None) is not None:
            pending.link.pending -= 1
        if pending.queued:
            pending.queued = False
            try:
                self.queue.remove(pending)
            except ValueError:
                pass

    def _timedOut(self, pending):
        timeout = pending.timeout
        queued = pending.queued
        self._forget(pending)
        message = "no reply to %r within %g s" % (pending.message.get("type"), timeout)
        failed = ["%s: %s" % (l.peer.advertisement.get("name"), l.lastError)
                  for l in self.links.values() if l.lastError is not None]
        if queued and failed:
            message += "; no responder connected (TLS failed with %s)" % ("; ".join(failed),)
        pending.deferred.errback(RequestTimeout(message))

    def linkUp(self, link):
        for pending in list(self.queue):
            chosen = self._choose(pending.subset, pending.where)
            if chosen is None:
                continue
            self.queue.remove(pending)
            pending.queued = False
            self._write(chosen, pending)

    def linkDown(self, link):
        for pending in [p for p in self.inFlight.values() if p.link is link]:
            self._forget(pending)
            pending.deferred.errback(ResponderLost(
                "lost the connection to responder %s while it handled %r%s"
                % (link.peer.advertisement.get("name"), pending.message.get("type"),
                   "" if link.lastError is None else " (TLS: %s)" % (link.lastError,))))

    def messageReceived(self, link, args, parts):
        if not args or not isinstance(args[-1], str):
            return
        pending = self.inFlight.get(args[-1])
        if pending is None:
            return
        self._forget(pending)
        elapsed = self.clock.seconds() - pending.sentAt
        link.latency = elapsed if link.latency is None else (
            LATENCY_WEIGHT * elapsed + (1 - LATENCY_WEIGHT) * link.latency)
        error = args[0] if len(args) > 1 else None
        if error is not None:
            pending.deferred.errback(RemoteError(error))
        else:
            pending.deferred.callback(args[1] if len(args) > 2 else None)

    def stopService(self):
        d = _Client.stopService(self)
        for pending in list(self.queue) + list(self.inFlight.values()):
            self._forget(pending)
            pending.deferred.errback(MeshError("requester stopped", "ESTOPPED"))
        self._deadlines.clear()
        return d


def _topicPattern(topic):
    return re.compile("^" + ".+".join(re.escape(p) for p in topic.split("*")) + "$")


class Subscriber(_Client):
    """
    Receives publications of matching publishers.

    C{on(topic, callback)} calls C{callback(data, topic)}; a C{*} in a topic
    matches any run of characters, so C{"*"} matches every topic.
    """

    axonType = "sub-emitter"
    oppo = "pub-emitter"

    def __init__(self, name, subscribesTo=None, **kwargs):
        _Client.__init__(self, name, **kwargs)
        self.advertisement["subscribesTo"] = list(subscribesTo or ["*"])
        self._listeners = []

    def on(self, topic, callback):
        """
        Call C{callback(data, topic)} for each publication matching C{topic}.
        """
        self._listeners.append((_topicPattern(topic), callback))
        return callback

    def messageReceived(self, link, args, parts):
        if len(args) < 1 or not isinstance(args[0], str):
            return
        topic = args[0]
        if not topic.startswith("message::"):
            return
        topic = topic[len("message::"):]
        if self.namespace:
            prefix = self.namespace + "::"
            if not topic.startswith(prefix):
                return
            topic = topic[len(prefix):]
        data = args[1] if len(args) > 1 else None
        for pattern, callback in list(self._listeners):
            if pattern.match(topic):
                try:
                    callback(data, topic)
                except Exception:
                    log.failure("subscriber callback for {topic} failed", topic=topic)


def run(main, *args):
    """
    Run C{main(reactor, *args)} (a coroutine function or a function returning
    a Deferred) under the global reactor and exit with its outcome: the
    plain-script entry point, a thin wrapper of L{twisted.internet.task.react}.
    """
    from twisted.internet import task

    def start(reactor, *a):
        return _maybeDeferred(main, reactor, *a)

    task.react(start, args)
