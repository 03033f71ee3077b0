# -*- test-case-name: tests.mesh.test_sockend -*-
"""
The L{Sockend}: cote's Sockend, Responders and Publishers exposed to
browsers over socket.io.

A Sockend discovers the Responders that advertise C{respondsTo} and the
Publishers that advertise C{broadcasts} (same key and environment as the
Sockend, any namespace, as cote's) and serves socket.io 4 clients, one
socket.io namespace per cote namespace: cote's C{""} (or none) is
socket.io's C{"/"}, C{"foo"} is C{"/foo"}.

  - A browser's C{socket.emit(type, data, callback)}, for a C{type} some
    responder of that namespace responds to, becomes the request
    C{{"type": type, ...data}} of a L{Requester}; the callback gets
    C{(err, result)} as with cote, C{err} being C{null} or an error object
    that always has a C{message} (ours; cote often sends C{{}}).
  - A publication of a topic that a publisher of that namespace
    C{broadcasts} is emitted to the sockets of that socket.io namespace
    under the topic's name; C{__room} / C{__rooms} in the published object
    restrict it to those socket.io rooms and are removed from it, as cote
    does.

The socket.io side is python-socketio's C{AsyncServer} on aiohttp, which
needs an asyncio event loop: it runs on Twisted's asyncio reactor
(L{twisted.internet.asyncioreactor}), so one thread and one loop carry both
the mesh and the browsers. C{python -m cocaine.mesh.sockend} installs that
reactor; code that builds a L{Sockend} itself installs it before
anything imports C{twisted.internet.reactor}. Everything the browsers see
is served on C{127.0.0.1} unless told otherwise.

What this module builds beside the public API of L{cocaine.mesh.components}
and L{cocaine.mesh.discovery}: the Sockend's own discovery is a
L{DiscoveryProtocol} of its own (there is no public base class for a
component that is neither client nor server), and requests are sent with
L{Requester.send}'s C{where} so that they only reach responders that
respond to their type (cote's sockend sends them to any responder of the
namespace).
"""

import argparse
import asyncio
import inspect
import json
import os
import socket
import sys

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from cocaine.mesh.component import formatKey
from cocaine.mesh.errors import MeshError, RemoteError, errorObject
from cocaine.mesh.requester import DEFAULT_TIMEOUT, Requester
from cocaine.mesh.subscriber import Subscriber
from cocaine.mesh.discovery import (
    DiscoveryOptions, DiscoveryProtocol, addDiscoveryArguments, discoveryOptionsFrom,
    listenDiscovery)

__all__ = [
    "Sockend",
    "SocketInfo",
    "SocketIOServer",
    "socketNamespace",
    "sockendErrorObject",
    "installReactor",
    "parseArguments",
    "main",
]

# named, so that logs read the same when this module runs as __main__
log = Logger(namespace="cocaine.mesh.sockend")

#: The socket.io events a Sockend answers itself when rooms are enabled.
ROOM_EVENTS = ("join", "leave")


def socketNamespace(namespace):
    """
    The socket.io namespace of a cote namespace, as cote's Sockend maps it:
    C{None} and C{""} are C{"/"}, C{"foo"} is C{"/foo"}.
    """
    return "/" + (namespace or "")


def sockendErrorObject(error):
    """
    The error object a browser's callback receives: always a JSON object
    with a C{message} (ours; cote passes on what it got, often C{{}}).

    A responder's error object that has a C{message} is passed on as it is,
    with all its fields; any other error of a responder (C{{}} from cote,
    a string, C{null}...) becomes C{{"message", "code": "EREMOTE", "name":
    "RemoteError", "error": <as received>}}; our own failures (a timeout, a
    full queue, a lost responder, a bad request) are
    L{errorObject}s.

    @type error: an exception or a L{twisted.python.failure.Failure}
    """
    value = getattr(error, "value", error)
    if isinstance(value, RemoteError):
        received = value.error
        if isinstance(received, dict) and isinstance(received.get("message"), str):
            return received
        return {"message": "the responder answered an error without a message: %s"
                % (json.dumps(received),), "code": value.code,
                "name": value.name or "RemoteError", "error": received}
    return errorObject(value)


def _call(f, *args):
    """
    C{f(*args)} as a Deferred, whether it returns a value, a Deferred or a
    coroutine, or raises.
    """
    try:
        result = f(*args)
    except Exception:
        return defer.fail()
    if inspect.iscoroutine(result):
        return defer.Deferred.fromCoroutine(result)
    return defer.maybeDeferred(lambda: result)


def _respondsTo(peer, requestType):
    types = peer.advertisement.get("respondsTo")
    return isinstance(types, list) and requestType in types


def _names(value):
    """
    The strings of an advertised list (C{respondsTo}, C{broadcasts}), or
    L{None} when it is not a list.
    """
    if not isinstance(value, list):
        return None
    return [v for v in value if isinstance(v, str)]


class SocketInfo:
    """
    One browser socket, as request transformers and connection hooks see it.

    @ivar sid: its socket.io session id (per socket.io namespace).
    @ivar namespace: its socket.io namespace (C{"/"}, C{"/foo"}).
    @ivar environ: the WSGI-style environment of its HTTP request
        (C{HTTP_COOKIE}, C{REMOTE_ADDR}, ...).
    @ivar auth: the C{auth} payload the client sent, or L{None}.
    """

    def __init__(self, sid, namespace, environ=None, auth=None):
        self.sid = sid
        self.namespace = namespace
        self.environ = environ or {}
        self.auth = auth

    def __repr__(self):
        return "<SocketInfo %s %s>" % (self.namespace, self.sid)


class _Channel:
    """
    One cote namespace (as advertised: C{None} and C{""} are two) and what
    the Sockend discovered there.

    @ivar responders: iid to the types that responder advertises.
    @ivar publishers: iid to the topics that publisher advertises.
    @ivar requester: the L{Requester} of this namespace, once a responder
        was seen.
    @ivar subscriber: the L{Subscriber} of this namespace, once a publisher
        was seen.
    """

    def __init__(self, namespace):
        self.namespace = namespace
        self.responders = {}
        self.publishers = {}
        self.requester = None
        self.subscriber = None

    def requestTypes(self):
        return {t for types in self.responders.values() for t in types}

    def topics(self):
        return {t for topics in self.publishers.values() for t in topics}


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
    @param static: a directory served at C{/} (its C{index.html} for C{/}).
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
    """

    axonType = "sockend"
    #: How discovery sockets are opened (tests replace it).
    _listenDiscovery = staticmethod(listenDiscovery)

    def __init__(self, name="sockend", key=None, environment=None, namespaces=None,
                 host="127.0.0.1", port=0, timeout=DEFAULT_TIMEOUT, rooms=False,
                 static=None, clientScript=None, corsOrigins=None, discovery=None,
                 reactor=None, clock=None, socketServer=None,
                 requesterFactory=Requester, subscriberFactory=Subscriber, **options):
        if reactor is None:
            from twisted.internet import reactor
        self.name = name
        self.key = key
        self.environment = environment
        self.namespaces = None if namespaces is None else [n or "" for n in namespaces]
        self.host = host
        self.port = port
        self.timeout = timeout
        self.rooms = rooms
        self.static = static
        self.clientScript = clientScript
        self.corsOrigins = corsOrigins
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        if discovery is None:
            discovery = DiscoveryOptions(**options)
        elif options:
            raise TypeError("pass discovery options either as discovery= or as keywords")
        self.discoveryOptions = discovery
        self.advertisement = {"type": "service", "name": name,
                              "key": formatKey(key, environment), "axon_type": self.axonType}
        self.socketServer = socketServer
        self.requesterFactory = requesterFactory
        self.subscriberFactory = subscriberFactory
        self.requestTransformers = []
        self.dropped = 0
        self.discovery = None
        self.channels = {}
        self.sockets = {}
        self._discoveryPorts = []
        self._connectHooks = []
        self._observers = []
        self._exposed = {}

    # ------------------------------------------------------------ lifecycle

    def startService(self):
        """
        Listen for browsers (the port is bound before this returns, so a
        taken port fails here) and start discovery.
        """
        Service.startService(self)
        if self.socketServer is None:
            self.socketServer = SocketIOServer(
                self, self.reactor, host=self.host, port=self.port,
                namespaces=(None if self.namespaces is None
                            else [socketNamespace(n) for n in self.namespaces]),
                corsOrigins=self.corsOrigins, static=self.static,
                clientScript=self.clientScript)
        self.port = self.socketServer.listen()
        self.discovery = DiscoveryProtocol(self.advertisement, self.discoveryOptions,
                                           clock=self.clock)
        self.discovery.addObserver(self.peerAdded, self.peerRemoved)
        self._discoveryPorts = self._listenDiscovery(self.reactor, self.discovery)
        log.info("sockend {name} serving browsers on {host}:{port}",
                 name=self.name, host=self.host, port=self.port)

    def stopService(self):
        """
        Stop serving browsers, stop discovery and every requester and
        subscriber.

        @return: a Deferred that fires once they are all gone.
        """
        Service.stopService(self)
        return defer.Deferred.fromCoroutine(self._stop())

    async def _stop(self):
        ports, self._discoveryPorts = self._discoveryPorts, []
        stops = [defer.maybeDeferred(p.stopListening) for p in ports]
        for channel in self.channels.values():
            for component in (channel.requester, channel.subscriber):
                if component is not None and component.running:
                    stops.append(defer.maybeDeferred(component.stopService))
        if self.socketServer is not None:
            stops.append(self.socketServer.stop())
        await defer.gatherResults(stops, consumeErrors=True)

    # ------------------------------------------------------------ discovery

    def exposes(self, namespace):
        """
        Whether components of this cote namespace are exposed.
        """
        if namespace is not None and not isinstance(namespace, str):
            return False
        return self.namespaces is None or (namespace or "") in self.namespaces

    def peerAdded(self, peer):
        """
        A discovered component: expose it when it is a Responder with
        C{respondsTo} or a Publisher with C{broadcasts}, of our key.
        """
        ad = peer.advertisement
        if ad.get("key") != self.advertisement["key"]:
            return
        namespace = ad.get("namespace")
        if not self.exposes(namespace):
            return
        axonType = ad.get("axon_type")
        if axonType == "rep":
            types = _names(ad.get("respondsTo"))
            if types is None:
                return
            channel = self._channel(namespace)
            channel.responders[peer.iid] = types
            if channel.requester is None:
                channel.requester = self._makeRequester(namespace)
        elif axonType == "pub-emitter":
            topics = _names(ad.get("broadcasts"))
            if topics is None:
                return
            channel = self._channel(namespace)
            channel.publishers[peer.iid] = topics
            if channel.subscriber is None:
                channel.subscriber = self._makeSubscriber(channel)
        else:
            return
        self._changed(socketNamespace(namespace))

    def peerRemoved(self, peer):
        """
        A component is gone: stop exposing what only it offered. (The
        namespace's requester and subscriber stay, as in cote.)
        """
        for channel in self.channels.values():
            if (channel.responders.pop(peer.iid, None) is not None
                    or channel.publishers.pop(peer.iid, None) is not None):
                self._changed(socketNamespace(channel.namespace))

    def _channel(self, namespace):
        channel = self.channels.get(namespace)
        if channel is None:
            channel = self.channels[namespace] = _Channel(namespace)
        return channel

    def _componentOptions(self, namespace):
        return dict(key=self.key, environment=self.environment, namespace=namespace,
                    discovery=self.discoveryOptions, reactor=self.reactor, clock=self.clock)

    def _makeRequester(self, namespace):
        requester = self.requesterFactory("sockendReq", timeout=self.timeout,
                                          **self._componentOptions(namespace))
        if self.running:
            requester.startService()
        return requester

    def _makeSubscriber(self, channel):
        subscriber = self.subscriberFactory("sockendSub", subscribesTo=["*"],
                                            **self._componentOptions(channel.namespace))
        subscriber.on("*", lambda data, topic: self.published(channel, topic, data))
        if self.running:
            subscriber.startService()
        return subscriber

    def exposed(self):
        """
        What browsers can use, by socket.io namespace.

        @return: C{{"/ns": {"requests": [...], "broadcasts": [...]}}}, sorted.
        """
        result = {}
        for channel in self.channels.values():
            entry = result.setdefault(socketNamespace(channel.namespace),
                                      {"requests": set(), "broadcasts": set()})
            entry["requests"] |= channel.requestTypes()
            entry["broadcasts"] |= channel.topics()
        return {ns: {k: sorted(v) for k, v in entry.items()}
                for ns, entry in sorted(result.items())}

    def observe(self, callback):
        """
        Call C{callback(namespace, requests, broadcasts)} (a socket.io
        namespace and two sorted lists) whenever what a namespace exposes
        changes.
        """
        self._observers.append(callback)

    def _changed(self, namespace):
        if not self.running:
            return
        entry = self.exposed().get(namespace, {"requests": [], "broadcasts": []})
        if self._exposed.get(namespace) == entry:
            return
        self._exposed[namespace] = entry
        log.info("sockend exposes requests {requests} and broadcasts {broadcasts} "
                 "on socket.io namespace {namespace}", namespace=namespace,
                 requests=entry["requests"], broadcasts=entry["broadcasts"])
        for callback in list(self._observers):
            try:
                callback(namespace, entry["requests"], entry["broadcasts"])
            except Exception:
                log.failure("sockend observer failed")

    # ------------------------------------------------------------ browsers

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
        return defer.Deferred.fromCoroutine(self._connected(namespace, sid, environ, auth))

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
        return defer.Deferred.fromCoroutine(self._event(namespace, sid, event, args))

    async def _event(self, namespace, sid, event, args):
        try:
            if self.rooms and event in ROOM_EVENTS:
                return self._roomEvent(namespace, sid, event, args)
            return (None, await self.request(namespace, sid, event, args[0] if args else None))
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
            raise MeshError("a request is an object, not %s" % (type(data).__name__,),
                            "EBADREQUEST")
        channel = self._channelFor(namespace, requestType)
        if channel is None:
            raise MeshError("no responder on socket.io namespace %s responds to %r"
                            % (namespace, requestType), "ENOHANDLER")
        request = dict(data)
        request["type"] = requestType
        info = self.sockets.get((namespace, sid)) or SocketInfo(sid, namespace)
        for transform in list(self.requestTransformers):
            transform(request, info)
        request["type"] = requestType
        timeout = self.timeout
        wanted = request.get("__timeout")
        if (isinstance(wanted, (int, float)) and not isinstance(wanted, bool)
                and wanted > 0):
            timeout = wanted / 1000.0 if timeout is None else min(timeout, wanted / 1000.0)
        return await channel.requester.send(
            request, timeout=timeout, where=lambda peer: _respondsTo(peer, requestType))

    def _channelFor(self, namespace, requestType):
        for channel in self.channels.values():
            if (socketNamespace(channel.namespace) == namespace
                    and channel.requester is not None
                    and requestType in channel.requestTypes()):
                return channel
        return None

    def _roomEvent(self, namespace, sid, event, args):
        room = args[0] if args else None
        if not isinstance(room, str) or not room:
            raise MeshError("%s takes a room name" % (event,), "EBADREQUEST")
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

    # ------------------------------------------------------------ publications

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
        if isinstance(data, dict) and ("__room" in data or "__rooms" in data):
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
            d.addErrback(lambda f: log.failure("cannot emit {topic} on {namespace}", f,
                                               topic=topic, namespace=namespace))


def _loopOf(reactor):
    loop = getattr(reactor, "_asyncioEventloop", None)
    if loop is None:
        raise RuntimeError(
            "serving browsers needs Twisted's asyncio reactor: call "
            "twisted.internet.asyncioreactor.install() before anything imports "
            "twisted.internet.reactor (python -m cocaine.mesh.sockend does)")
    return loop


class SocketIOServer:
    """
    The socket.io side of a L{Sockend}: python-socketio's C{AsyncServer}
    on an aiohttp application, on the asyncio loop of Twisted's asyncio
    reactor.

    Events reach the Sockend's L{Sockend.socketConnected},
    L{Sockend.socketEvent} and L{Sockend.socketDisconnected}; their
    Deferreds are awaited on the loop as futures.

    @ivar sio: the C{socketio.AsyncServer} (for what this class does not
        wrap).
    @ivar app: the C{aiohttp.web.Application}.
    """

    def __init__(self, sockend, reactor, host="127.0.0.1", port=0, namespaces=None,
                 corsOrigins=None, static=None, clientScript=None, backlog=128):
        import socketio
        from aiohttp import web

        self.sockend = sockend
        self.reactor = reactor
        self.loop = _loopOf(reactor)
        self.host = host
        self.port = port
        self.backlog = backlog
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp", namespaces="*" if namespaces is None else list(namespaces),
            cors_allowed_origins=list(corsOrigins) if corsOrigins else None)
        self.sio.on("connect", self._connect, namespace="*")
        self.sio.on("disconnect", self._disconnect, namespace="*")
        self.sio.on("*", self._event, namespace="*")
        self.app = web.Application()
        if clientScript is not None:
            if not os.path.isfile(clientScript):
                raise ValueError("no socket.io client script at %r" % (clientScript,))
            self.app.router.add_get(
                "/socket.io/socket.io.js",
                lambda request: web.FileResponse(
                    clientScript, headers={"Content-Type": "application/javascript"}))
        self.sio.attach(self.app)
        if static is not None:
            if not os.path.isdir(static):
                raise ValueError("no directory at %r" % (static,))
            index = os.path.join(static, "index.html")
            self.app.router.add_get("/", lambda request: web.FileResponse(index))
            self.app.router.add_static("/", static)
        self._runner = None
        self._socket = None
        self._starting = None
        self._emitting = asyncio.Lock()
        self.ready = None

    def _deferred(self, coroutine):
        return defer.Deferred.fromFuture(asyncio.ensure_future(coroutine, loop=self.loop))

    def listen(self):
        """
        Bind the port now (a taken port raises L{CannotListenError}) and
        start serving.

        @return: the port. L{ready} fires once the server accepts requests.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(self.backlog)
        except OSError as e:
            sock.close()
            raise CannotListenError(self.host, self.port, e)
        self._socket = sock
        self.port = sock.getsockname()[1]
        self._starting = asyncio.ensure_future(self._start(), loop=self.loop)
        self.ready = defer.Deferred.fromFuture(self._starting)
        self.ready.addErrback(lambda f: log.failure("socket.io server failed to start", f))
        return self.port

    async def _start(self):
        from aiohttp import web

        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, self._socket).start()

    def stop(self):
        """
        Close every browser connection and the port.

        @return: a Deferred that fires once they are gone.
        """
        return self._deferred(self._stopNow())

    async def _stopNow(self):
        if self._starting is not None:
            try:
                await self._starting
            except Exception:
                pass  # logged by ready's errback
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        elif self._socket is not None:
            self._socket.close()
        self._socket = None

    async def _connect(self, namespace, sid, environ, auth=None):
        try:
            d = self.sockend.socketConnected(namespace, sid, environ, auth)
            return bool(await d.asFuture(self.loop))
        except Exception:
            log.failure("sockend refused a socket after an error")
            return False

    async def _disconnect(self, namespace, sid, reason=None):
        self.sockend.socketDisconnected(namespace, sid)

    async def _event(self, event, namespace, sid, *args):
        reply = await self.sockend.socketEvent(namespace, sid, event, list(args)).asFuture(
            self.loop)
        return tuple(reply)

    def emit(self, namespace, event, data, rooms=None):
        """
        Emit C{event} with C{data} to the sockets of a socket.io namespace,
        or only to those in C{rooms} (each socket once). Emissions keep
        their order.

        @return: a Deferred that fires once it is written.
        """
        return self._deferred(self._emit(namespace, event, data, rooms))

    async def _emit(self, namespace, event, data, rooms):
        async with self._emitting:
            await self.sio.emit(event, data, namespace=namespace, to=rooms)

    def enterRoom(self, sid, room, namespace="/"):
        self._deferred(self.sio.enter_room(sid, room, namespace=namespace))

    def leaveRoom(self, sid, room, namespace="/"):
        self._deferred(self.sio.leave_room(sid, room, namespace=namespace))


# ---------------------------------------------------------------- command line


def parseArguments(argv):
    parser = argparse.ArgumentParser(
        prog="python -m cocaine.mesh.sockend",
        description="Expose the mesh's Responders and Publishers to browsers over socket.io.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="HTTP interface (default 127.0.0.1: this host only)")
    parser.add_argument("--port", type=int, default=5555, help="HTTP port (default 5555)")
    parser.add_argument("--namespace", action="append", default=None, dest="namespaces",
                        metavar="NAMESPACE",
                        help="expose only this cote namespace ('' for the default one); "
                             "repeat for more (default: every namespace)")
    parser.add_argument("--name", default="sockend")
    parser.add_argument("--key", default=None)
    parser.add_argument("--environment", default=None)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds a browser's request may wait (default %g)"
                             % (DEFAULT_TIMEOUT,))
    parser.add_argument("--rooms", action="store_true",
                        help="let browsers join and leave rooms with the events join/leave")
    parser.add_argument("--static", default=None, metavar="DIR",
                        help="serve this directory at / (index.html for /)")
    parser.add_argument("--client-script", default=None, metavar="FILE",
                        help="serve this socket.io client at /socket.io/socket.io.js")
    parser.add_argument("--cors-origin", action="append", default=None, dest="corsOrigins",
                        metavar="ORIGIN",
                        help="allow pages of this origin to connect; repeat for more "
                             "(default: same origin only)")
    addDiscoveryArguments(parser, "--discovery-port")
    return parser.parse_args(argv)


def installReactor():
    """
    Install Twisted's asyncio reactor on a new event loop, unless it is
    installed already.

    @raise RuntimeError: when another reactor is installed.
    """
    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import reactor
        _loopOf(reactor)
        return reactor
    from twisted.internet import asyncioreactor

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    asyncioreactor.install(loop)
    from twisted.internet import reactor
    return reactor


def main(argv=None, out=None):
    """
    The command line: C{python -m cocaine.mesh.sockend --help}. Prints one
    JSON line when listening (C{{"event": "listening", "host", "port"}})
    and one whenever what a namespace exposes changes (C{{"event":
    "exposed", "namespace", "requests", "broadcasts"}}); logs go to
    standard error. Runs until interrupted.
    """
    args = parseArguments(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    installReactor()
    from twisted.internet import task
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    # our own messages at info, the reactor's chatter only from warn
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)
    predicate.setLogLevelForNamespace("cocaine.mesh.sockend", LogLevel.info)
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(
        textFileLogObserver(sys.stderr),
        [predicate])], redirectStandardIO=False)
    try:
        options = discoveryOptionsFrom(args)
    except ValueError as e:
        sys.exit("{}: {}".format('cocaine.mesh.sockend', e))

    def write(**obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    async def run(reactor):
        sockend = Sockend(args.name, key=args.key, environment=args.environment,
                          namespaces=args.namespaces, host=args.host, port=args.port,
                          timeout=args.timeout, rooms=args.rooms, static=args.static,
                          clientScript=args.client_script, corsOrigins=args.corsOrigins,
                          discovery=options, reactor=reactor)
        sockend.observe(lambda namespace, requests, broadcasts: write(
            event="exposed", namespace=namespace, requests=requests, broadcasts=broadcasts))
        sockend.startService()
        reactor.addSystemEventTrigger("before", "shutdown", sockend.stopService)
        await sockend.socketServer.ready
        write(event="listening", host=args.host, port=sockend.port)
        await defer.Deferred()

    task.react(lambda reactor: defer.Deferred.fromCoroutine(run(reactor)))


if __name__ == "__main__":
    main()
