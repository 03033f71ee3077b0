# -*- test-case-name: tests.mesh.test_sockend -*-
"""
The L{Sockend}: cote's Sockend, Responders and Publishers exposed to
browsers over socket.io.

A Sockend discovers the Responders that advertise C{respondsTo} and the
Publishers that advertise C{broadcasts} (same key and environment as the
Sockend, any namespace, as cote's; see L{cocaine.mesh.exposure}) and
serves socket.io 4 clients (L{cocaine.mesh.browsers}), one socket.io
namespace per cote namespace: cote's C{""} (or none) is socket.io's
C{"/"}, C{"foo"} is C{"/foo"}.

  - A browser's C{socket.emit(type, data, callback)}, for a C{type} some
    responder of that namespace responds to, becomes the request
    C{{"type": type, ...data}} of a L{Requester}; the callback gets
    C{(err, result)} as with cote, C{err} being C{null} or an error object
    that always has a C{message} (ours; cote often sends C{{}}).
  - A publication of a topic that a publisher of that namespace
    C{broadcasts} is emitted to the sockets of that socket.io namespace
    under the topic's name; C{__room} / C{__rooms} in the published
    object restrict it to those socket.io rooms and are removed from it,
    as cote does.

The socket.io side needs Twisted's asyncio reactor:
C{python -m cocaine.mesh.sockend} (L{cocaine.mesh.sockendcli}) installs
it; code that builds a L{Sockend} itself installs it
(L{cocaine.mesh.browsers.installReactor}) before anything imports
C{twisted.internet.reactor}. Everything the browsers see is served on
C{127.0.0.1} unless told otherwise.

Requests are sent with L{Requester.send}'s C{where}, so that they only
reach responders that respond to their type (cote's sockend sends them
to any responder of the namespace).
"""

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from cocaine.mesh.browsers import (
    SocketInfo, SocketIOServer, installReactor, sockendErrorObject)
from cocaine.mesh.component import asDeferred, formatKey
from cocaine.mesh.discovery import (
    DiscoveryProtocol, discoveryOptions, listenDiscovery)
from cocaine.mesh.errors import MeshError
from cocaine.mesh.exposure import Exposure, socketNamespace
from cocaine.mesh.requester import DEFAULT_TIMEOUT, Requester
from cocaine.mesh.subscriber import Subscriber

#: installReactor: what code building a Sockend calls first
__all__ = ["Sockend", "installReactor"]

# named, so that logs read the same when this module runs as __main__
log = Logger(namespace="cocaine.mesh.sockend")

#: The socket.io events a Sockend answers itself when rooms are enabled.
ROOM_EVENTS = ("join", "leave")


def _call(f, *args):
    """
    C{f(*args)} as a Deferred, whether it returns a value, a Deferred or a
    coroutine, or raises.
    """
    try:
        result = f(*args)
    except Exception:
        return defer.fail()
    return asDeferred(result)


def _respondsTo(peer, requestType):
    types = peer.advertisement.get("respondsTo")
    return isinstance(types, list) and requestType in types


class Sockend(Service):
    """
    Exposes the Responders and Publishers of one key to browsers over
    socket.io (cote's Sockend; see the module docstring).

    @param name: the Sockend's name, sent in its hellos.
    @param key: the segmentation key: only components with the same key
        string (see L{formatKey}) are exposed.
    @param environment: the environment (default C{$COTE_ENV}).
    @param namespaces: the cote namespaces to expose (C{""} is the default
        one), or L{None} for every namespace discovered (cote's
        behaviour). Connections to other socket.io namespaces are refused.
    @param host: the HTTP interface: C{127.0.0.1} unless told otherwise.
    @param port: the HTTP port (0: any free port; see L{port} once
        started).
    @param timeout: the longest a browser's request may wait, in seconds;
        a request's C{__timeout} (milliseconds, as cote) may shorten it.
    @param rooms: when true, the browser events C{join} and C{leave}
        (C{socket.emit("join", "room")}) put the socket into or out of a
        socket.io room; off by default, since any browser could then join
        any room. Code can always use L{enterRoom} and L{leaveRoom}.
    @param static: a directory served at C{/} (its C{index.html} for
        C{/}).
    @param clientScript: a file served at C{/socket.io/socket.io.js}, as
        Node's socket.io serves its client (e.g. C{socket.io.min.js} from
        the npm package C{socket.io-client}'s C{dist/}).
    @param corsOrigins: origins (C{"http://127.0.0.1:8000"}) whose pages
        may connect; the default allows only pages of the same origin.
    @param discovery: a L{DiscoveryOptions}, or pass its keywords instead.
    @param reactor: the reactor; serving browsers needs Twisted's asyncio
        reactor.
    @param clock: the clock of timers; default C{reactor}.
    @param socketServer: the socket.io side (tests pass a fake); default a
        L{SocketIOServer} made at L{startService}.
    @param requesterFactory: how L{Requester}s are made (tests).
    @param subscriberFactory: how L{Subscriber}s are made (tests).

    @ivar requestTransformers: callables C{f(request, socketInfo)} run on
        every request before it is sent, as cote's
        C{requesterTransformators} (they may change the request in place,
        e.g. add the user of a session cookie; an exception fails the
        request).
    @ivar dropped: how many publications were not forwarded because no
        publisher of their namespace advertises their topic.
    @ivar exposure: what is exposed, an L{Exposure}.
    @ivar sockets: L{dict} of C{(socket.io namespace, sid)} to the
        L{SocketInfo} of each connected browser socket.
    """

    axonType = "sockend"
    #: How discovery sockets are opened (tests replace it).
    _listenDiscovery = staticmethod(listenDiscovery)

    def __init__(self, name="sockend", key=None, environment=None,
                 namespaces=None, host="127.0.0.1", port=0,
                 timeout=DEFAULT_TIMEOUT, rooms=False, static=None,
                 clientScript=None, corsOrigins=None, discovery=None,
                 reactor=None, clock=None, socketServer=None,
                 requesterFactory=Requester, subscriberFactory=Subscriber,
                 **options):
        if reactor is None:
            from twisted.internet import reactor
        self.name = name
        self.key = key
        self.environment = environment
        if namespaces is not None:
            namespaces = [n or "" for n in namespaces]
        self.namespaces = namespaces
        self.host = host
        self.port = port
        self.timeout = timeout
        self.rooms = rooms
        self.static = static
        self.clientScript = clientScript
        self.corsOrigins = corsOrigins
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.discoveryOptions = discoveryOptions(discovery, options)
        self.advertisement = {"type": "service", "name": name,
                              "key": formatKey(key, environment),
                              "axon_type": self.axonType}
        self.socketServer = socketServer
        self.requesterFactory = requesterFactory
        self.subscriberFactory = subscriberFactory
        self.requestTransformers = []
        self.dropped = 0
        self.discovery = None
        self.exposure = Exposure(self.advertisement["key"], namespaces,
                                 self._makeRequester, self._makeSubscriber)
        self.sockets = {}
        self._discoveryPorts = []
        self._connectHooks = []

    # -- lifecycle ------------------------------------------------------------

    def startService(self):
        """
        Listen for browsers (the port is bound before this returns, so a
        taken port fails here) and start discovery.
        """
        Service.startService(self)
        if self.socketServer is None:
            namespaces = None
            if self.namespaces is not None:
                namespaces = [socketNamespace(n) for n in self.namespaces]
            self.socketServer = SocketIOServer(
                self, self.reactor, host=self.host, port=self.port,
                namespaces=namespaces, corsOrigins=self.corsOrigins,
                static=self.static, clientScript=self.clientScript)
        self.port = self.socketServer.listen()
        self.discovery = DiscoveryProtocol(
            self.advertisement, self.discoveryOptions, clock=self.clock)
        self.discovery.addObserver(self.peerAdded, self.peerRemoved)
        self._discoveryPorts = self._listenDiscovery(self.reactor,
                                                     self.discovery)
        log.info("sockend {name} serving browsers on {host}:{port}",
                 name=self.name, host=self.host, port=self.port)

    def stopService(self):
        """
        Stop serving browsers, stop discovery and every requester and
        subscriber.

        @return: a Deferred that fires once they are all gone.
        """
        Service.stopService(self)
        ports, self._discoveryPorts = self._discoveryPorts, []
        stops = [defer.maybeDeferred(p.stopListening) for p in ports]
        for component in self.exposure.components():
            if component.running:
                stops.append(defer.maybeDeferred(component.stopService))
        if self.socketServer is not None:
            stops.append(self.socketServer.stop())
        return defer.gatherResults(stops, consumeErrors=True).addCallback(
            lambda _: None)

    # -- discovery ------------------------------------------------------------

    def peerAdded(self, peer):
        """
        A discovered component: expose it when it is a Responder with
        C{respondsTo} or a Publisher with C{broadcasts}, of our key.
        """
        namespace = self.exposure.peerAdded(peer)
        if namespace is not None:
            self._changed(namespace)

    def peerRemoved(self, peer):
        """
        A component is gone: stop exposing what only it offered. (The
        namespace's requester and subscriber stay, as in cote.)
        """
        for namespace in self.exposure.peerRemoved(peer):
            self._changed(namespace)

    def _changed(self, namespace):
        if self.running:
            self.exposure.changed(namespace)

    def _componentOptions(self, namespace):
        return dict(key=self.key, environment=self.environment,
                    namespace=namespace, discovery=self.discoveryOptions,
                    reactor=self.reactor, clock=self.clock)

    def _makeRequester(self, namespace):
        requester = self.requesterFactory(
            "sockendReq", timeout=self.timeout,
            **self._componentOptions(namespace))
        if self.running:
            requester.startService()
        return requester

    def _makeSubscriber(self, channel):
        subscriber = self.subscriberFactory(
            "sockendSub", subscribesTo=["*"],
            **self._componentOptions(channel.namespace))
        subscriber.on("*", lambda data, topic: self.published(
            channel, topic, data))
        if self.running:
            subscriber.startService()
        return subscriber

    def exposed(self):
        """
        What browsers can use, by socket.io namespace.

        @return: C{{"/ns": {"requests": [...], "broadcasts": [...]}}},
            sorted.
        """
        return self.exposure.exposed()

    def observe(self, callback):
        """
        Call C{callback(namespace, requests, broadcasts)} (a socket.io
        namespace and two sorted lists) whenever what a namespace exposes
        changes.
        """
        self.exposure.observe(callback)

    # -- browsers -------------------------------------------------------------

    def onConnect(self, hook):
        """
        Call C{hook(socketInfo)} for every browser socket that connects; it
        may return (or fire a Deferred with) C{False} to refuse it, and may
        L{enterRoom} (cote's example joins every socket to a room in
        C{io.on("connection")}).
        """
        self._connectHooks.append(hook)

    def socketConnected(self, namespace, sid, environ=None, auth=None):
        """
        A browser socket connects to a socket.io namespace.

        @return: a Deferred firing with whether to accept it.
        """
        return defer.Deferred.fromCoroutine(
            self._connected(namespace, sid, environ, auth))

    async def _connected(self, namespace, sid, environ, auth):
        if self.namespaces is not None and namespace not in [
                socketNamespace(n) for n in self.namespaces]:
            return False
        info = SocketInfo(sid, namespace, environ, auth)
        for hook in list(self._connectHooks):
            if await _call(hook, info) is False:
                return False
        self.sockets[(namespace, sid)] = info
        return True

    def socketDisconnected(self, namespace, sid):
        """
        A browser socket is gone.
        """
        self.sockets.pop((namespace, sid), None)

    def socketEvent(self, namespace, sid, event, args):
        """
        A browser emitted C{event} with C{args} (without its callback) on a
        socket.io namespace.

        @return: a Deferred firing with the callback's arguments
            C{(err, result)}: C{(None, result)} or C{(errorObject, None)}.
            It never fails.
        """
        return defer.Deferred.fromCoroutine(
            self._event(namespace, sid, event, args))

    async def _event(self, namespace, sid, event, args):
        try:
            if self.rooms and event in ROOM_EVENTS:
                return self._roomEvent(namespace, sid, event, args)
            data = args[0] if args else None
            return (None, await self.request(namespace, sid, event, data))
        except Exception as e:
            if not isinstance(e, MeshError):
                log.failure("sockend request {type} on {namespace} failed",
                            type=event, namespace=namespace)
            return (sockendErrorObject(e), None)

    async def request(self, namespace, sid, requestType, data):
        """
        Send a browser's request to a responder of the namespace that
        responds to its type.

        @param namespace: the socket.io namespace.
        @param data: the object the browser sent (L{None}: C{{}}).
        @return: the responder's result.
        @raise MeshError: C{EBADREQUEST} when C{data} is no object,
            C{ENOHANDLER} when no responder of the namespace responds to
            the type, and the failures of L{Requester.send}.
        """
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise MeshError("a request is an object, not {}".format(
                type(data).__name__), "EBADREQUEST")
        channel = self.exposure.channelFor(namespace, requestType)
        if channel is None:
            raise MeshError("no responder on socket.io namespace {} responds "
                            "to {!r}".format(namespace, requestType),
                            "ENOHANDLER")
        request = dict(data)
        request["type"] = requestType
        info = (self.sockets.get((namespace, sid))
                or SocketInfo(sid, namespace))
        for transform in list(self.requestTransformers):
            transform(request, info)
        request["type"] = requestType
        timeout = self.timeout
        wanted = request.get("__timeout")
        if (isinstance(wanted, (int, float)) and not isinstance(wanted, bool)
                and wanted > 0):
            wanted = wanted / 1000.0
            timeout = wanted if timeout is None else min(timeout, wanted)
        return await channel.requester.send(
            request, timeout=timeout,
            where=lambda peer: _respondsTo(peer, requestType))

    def _roomEvent(self, namespace, sid, event, args):
        room = args[0] if args else None
        if not isinstance(room, str) or not room:
            raise MeshError("{} takes a room name".format(event),
                            "EBADREQUEST")
        if event == "join":
            self.enterRoom(sid, room, namespace)
        else:
            self.leaveRoom(sid, room, namespace)
        return (None, True)

    def enterRoom(self, sid, room, namespace="/"):
        """
        Put a browser socket into a socket.io room.
        """
        self.socketServer.enterRoom(sid, room, namespace)

    def leaveRoom(self, sid, room, namespace="/"):
        """
        Take a browser socket out of a socket.io room.
        """
        self.socketServer.leaveRoom(sid, room, namespace)

    # -- publications ---------------------------------------------------------

    def published(self, channel, topic, data):
        """
        A publication from the mesh: emit it to the browsers of its
        namespace when a publisher there advertises its topic, honouring
        C{__room} and C{__rooms} as cote does.
        """
        if topic not in channel.topics():
            self.dropped += 1
            return
        rooms = None
        if isinstance(data, dict) and ("__room" in data
                                       or "__rooms" in data):
            data = dict(data)
            room = data.pop("__room", None)
            listed = data.pop("__rooms", None)
            if isinstance(listed, str):
                listed = [listed]
            rooms = set(r for r in (listed or []) if isinstance(r, str))
            if isinstance(room, str):
                rooms.add(room)
            rooms = sorted(rooms)
        namespace = socketNamespace(channel.namespace)
        if rooms == []:
            return  # cote: rooms given, none valid: nobody
        d = self.socketServer.emit(namespace, topic, data, rooms)
        if d is not None:
            d.addErrback(lambda f: log.failure(
                "cannot emit {topic} on {namespace}", f, topic=topic,
                namespace=namespace))


if __name__ == "__main__":
    from cocaine.mesh.sockendcli import main

    main()
