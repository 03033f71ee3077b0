# -*- test-case-name: tests.mesh.test_sockend -*-
"""
The browsers' side of a L{cocaine.mesh.sockend.Sockend}: socket.io 4
(python-socketio's C{AsyncServer} on aiohttp), and what its sockets and
callbacks see.

python-socketio needs an asyncio event loop: it runs on Twisted's asyncio
reactor (L{twisted.internet.asyncioreactor}, see L{installReactor}), so
one thread and one loop carry both the mesh and the browsers.
"""

import asyncio
import json
import os
import socket
import sys

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from cocaine.mesh.errors import RemoteError, errorObject

__all__ = [
    "SocketInfo",
    "SocketIOServer",
    "installReactor",
    "loopOf",
    "sockendErrorObject",
]

log = Logger(namespace="cocaine.mesh.sockend")


def sockendErrorObject(error):
    """
    The error object a browser's callback receives: always a JSON object
    with a C{message} (ours; cote passes on what it got, often C{{}}).

    A responder's error object that has a C{message} is passed on as it
    is, with all its fields; any other error of a responder (C{{}} from
    cote, a string, C{null}...) becomes C{{"message", "code": "EREMOTE",
    "name": "RemoteError", "error": <as received>}}; our own failures (a
    timeout, a full queue, a lost responder, a bad request) are
    L{errorObject}s.

    @type error: an exception or a L{twisted.python.failure.Failure}
    """
    value = getattr(error, "value", error)
    if isinstance(value, RemoteError):
        received = value.error
        if (isinstance(received, dict)
                and isinstance(received.get("message"), str)):
            return received
        return {"message": "the responder answered an error without a "
                "message: {}".format(json.dumps(received)),
                "code": value.code, "name": value.name or "RemoteError",
                "error": received}
    return errorObject(value)


class SocketInfo:
    """
    One browser socket, as request transformers and connection hooks see
    it.

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
        return "<SocketInfo {} {}>".format(self.namespace, self.sid)


def loopOf(reactor):
    """
    The asyncio loop of Twisted's asyncio reactor.

    @raise RuntimeError: when C{reactor} is another reactor.
    """
    loop = getattr(reactor, "_asyncioEventloop", None)
    if loop is None:
        raise RuntimeError(
            "serving browsers needs Twisted's asyncio reactor: call "
            "twisted.internet.asyncioreactor.install() before anything "
            "imports twisted.internet.reactor (python -m cocaine.mesh.sockend "
            "does)")
    return loop


class SocketIOServer:
    """
    The socket.io side of a sockend: python-socketio's C{AsyncServer} on
    an aiohttp application, on the asyncio loop of Twisted's asyncio
    reactor.

    Events reach the sockend's C{socketConnected}, C{socketEvent} and
    C{socketDisconnected}
    (L{cocaine.mesh.sockend.Sockend.socketConnected}...); their Deferreds
    are awaited on the loop as futures.

    @ivar sio: the C{socketio.AsyncServer} (for what this class does not
        wrap).
    @ivar app: the C{aiohttp.web.Application}.
    """

    def __init__(self, sockend, reactor, host="127.0.0.1", port=0,
                 namespaces=None, corsOrigins=None, static=None,
                 clientScript=None, backlog=128):
        import socketio
        from aiohttp import web

        self.sockend = sockend
        self.reactor = reactor
        self.loop = loopOf(reactor)
        self.host = host
        self.port = port
        self.backlog = backlog
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp",
            namespaces="*" if namespaces is None else list(namespaces),
            cors_allowed_origins=list(corsOrigins) if corsOrigins else None)
        self.sio.on("connect", self._connect, namespace="*")
        self.sio.on("disconnect", self._disconnect, namespace="*")
        self.sio.on("*", self._event, namespace="*")
        self.app = web.Application()
        if clientScript is not None:
            if not os.path.isfile(clientScript):
                raise ValueError("no socket.io client script at {!r}".format(
                    clientScript))
            headers = {"Content-Type": "application/javascript"}
            self.app.router.add_get(
                "/socket.io/socket.io.js",
                lambda request: web.FileResponse(clientScript,
                                                 headers=headers))
        self.sio.attach(self.app)
        if static is not None:
            if not os.path.isdir(static):
                raise ValueError("no directory at {!r}".format(static))
            index = os.path.join(static, "index.html")
            self.app.router.add_get(
                "/", lambda request: web.FileResponse(index))
            self.app.router.add_static("/", static)
        self._runner = None
        self._socket = None
        self._starting = None
        self._emitting = asyncio.Lock()
        self.ready = None

    def _deferred(self, coroutine):
        return defer.Deferred.fromFuture(
            asyncio.ensure_future(coroutine, loop=self.loop))

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
        self._starting = asyncio.ensure_future(self._start(),
                                               loop=self.loop)
        self.ready = defer.Deferred.fromFuture(self._starting)
        self.ready.addErrback(
            lambda f: log.failure("socket.io server failed to start", f))
        return self.port

    async def _start(self):
        from aiohttp import web

        self._runner = web.AppRunner(self.app, access_log=None,
                                     handle_signals=False)
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
            # wait for it to start or fail (ready's errback logs a failure)
            await asyncio.wait([self._starting])
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
        d = self.sockend.socketEvent(namespace, sid, event, list(args))
        reply = await d.asFuture(self.loop)
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
        """
        Put socket C{sid} of C{namespace} into C{room}.
        """
        self._deferred(self.sio.enter_room(sid, room, namespace=namespace))

    def leaveRoom(self, sid, room, namespace="/"):
        """
        Take socket C{sid} of C{namespace} out of C{room}.
        """
        self._deferred(self.sio.leave_room(sid, room, namespace=namespace))


def installReactor():
    """
    Install Twisted's asyncio reactor on a new event loop, unless it is
    installed already.

    @raise RuntimeError: when another reactor is installed.
    """
    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import reactor
        loopOf(reactor)
        return reactor
    from twisted.internet import asyncioreactor

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    asyncioreactor.install(loop)
    from twisted.internet import reactor
    return reactor

