# -*- test-case-name: tests.http.test_remote -*-
"""
Sessions of apps on other nodes, over the native protocol: one client
connection per app endpoint, kept and reused, opened again when lost, and
closed once it carried no session for C{idleTimeout} seconds.

A session cancelled before its answer ended (L{PendingCall.cancel}: its
HTTP client went away, its exchange timed out) abandons its channel
(L{cocaine.rpc.receivers.Channel.abandon}): what the remote node still
sends for it is dropped as it comes, not kept. The whole request was sent
and closed at once, so Cocaine 0.12's protocol has nothing left to tell
that node with: its session runs until its answer ends, or until this
connection closes (its idle timeout counts only our sessions).
"""

from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger

from cocaine.errors import NotConnected, Unreachable
from cocaine.http.gateway import PendingCall
from cocaine.protocol.idl import Protocol
from cocaine.protocol.services import APP
from cocaine.rpc.client import connect


def _endpoint(raw):
    host, port = raw[0], raw[1]
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return host, int(port)


def _chunk(args):
    data = args[0] if args else b""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return data


class RemoteApps:
    """
    Client connections to app endpoints of other nodes.

    @ivar connections: C{{(host, port): ClientProtocol}} open now.
    """

    log = Logger()

    def __init__(self, reactor, connectTimeout=5.0, connect=connect,
                 idleTimeout=60.0, tls=None):
        """
        @param idleTimeout: seconds a connection without sessions is kept;
            L{None} for ever.
        @param tls: a L{cocaine.rpc.tls.ClientTLS} for nodes with
            C{network.tls}, C{False} for plain TCP; by default from
            C{$COCAINE_TLS_CA} and friends.
        """
        from cocaine.rpc.tls import ClientTLS
        if tls is None:
            tls = ClientTLS.fromEnvironment()
        self._tls = {"tls": tls} if tls else {}
        self._reactor = reactor
        self._connectTimeout = connectTimeout
        self._connect = connect
        self._idleTimeout = idleTimeout
        self.connections = {}
        #: C{{endpoint: sessions running}}
        self._sessions = {}
        #: C{{endpoint: when its last session ended (or it connected)}}
        self._idleSince = {}
        self._sweeper = None

    async def _connection(self, endpoints, app, graph):
        error = None
        for raw in endpoints:
            endpoint = _endpoint(raw)
            connection = self.connections.get(endpoint)
            if connection is not None and connection.connected:
                return endpoint, connection
            try:
                protocol = Protocol.fromGraph(app, graph) if graph else APP
            except ValueError:
                protocol = APP
            try:
                connection = await self._connect(
                    self._reactor, endpoint, app, protocol,
                    timeout=self._connectTimeout, **self._tls)
            except CancelledError:
                raise
            except Exception as e:
                error = e
                continue
            old = self.connections.get(endpoint)
            if old is not None and old.connected:
                # another request connected meanwhile: keep one
                connection.transport.loseConnection()
                return endpoint, old
            self.connections[endpoint] = connection
            self._idleSince[endpoint] = self._reactor.seconds()
            if self._sweeper is None and self._idleTimeout is not None:
                self._sweeper = self._reactor.callLater(self._idleTimeout,
                                                        self._sweep)
            return endpoint, connection
        raise Unreachable("cannot connect to app {} at {}: {}".format(
            app, ", ".join("{}:{}".format(*_endpoint(e)) for e in endpoints)
            or "no endpoints", error))

    def call(self, endpoints, app, event, headers, chunk, upstream,
             graph=None):
        """
        Open a session of C{app} at the first of C{endpoints} that
        connects, send C{chunk}, close; the answer comes on C{upstream}.
        When no endpoint connects, C{upstream} gets L{Unreachable}.

        @return: a L{cocaine.http.gateway.PendingCall}.
        """
        call = PendingCall()
        task = Deferred.fromCoroutine(self._run(
            call, endpoints, app, event, headers, chunk, upstream, graph))
        if not call.cancelled and not task.called:
            call.inner = task
        return call

    async def _run(self, call, endpoints, app, event, headers, chunk,
                   upstream, graph):
        endpoint = None
        channel = None
        try:
            try:
                endpoint, connection = await self._connection(
                    endpoints, app, graph)
            except Unreachable as e:
                if not call.cancelled:
                    upstream.error(e)
                return
            if call.cancelled:
                return
            self._sessions[endpoint] = self._sessions.get(endpoint, 0) + 1
            mtype = connection.protocol.idOf("enqueue")
            try:
                channel = connection.open(mtype, [event], headers=headers)
            except NotConnected as e:
                upstream.error(Unreachable(str(e)))
                return
            channel.write(chunk)
            channel.close()
            while True:
                name, args = await channel.recv()
                if call.cancelled:
                    return
                if name == "write":
                    upstream.send("write", _chunk(args))
                elif name == "close":
                    upstream.send("close")
                    return
                elif name == "error":
                    upstream.error(args)
                    return
        except CancelledError:
            return
        finally:
            if channel is not None and not channel.done:
                # cancelled (the HTTP client went away, the exchange timed
                # out): the rest of the answer is dropped as it comes. The
                # request stream is closed, so the remote node cannot be
                # told; its session runs on until its answer ends.
                channel.abandon()
            call.inner = None
            if endpoint is not None and endpoint in self._sessions:
                left = self._sessions[endpoint] - 1
                if left:
                    self._sessions[endpoint] = left
                else:
                    del self._sessions[endpoint]
                    self._idleSince[endpoint] = self._reactor.seconds()

    def _sweep(self):
        """
        Close the connections idle for C{idleTimeout}; come back when the
        next may be.
        """
        self._sweeper = None
        now = self._reactor.seconds()
        timeout = self._idleTimeout
        due = None
        for endpoint, connection in list(self.connections.items()):
            if not connection.connected:
                del self.connections[endpoint]
                self._idleSince.pop(endpoint, None)
                continue
            if endpoint in self._sessions:
                continue
            since = self._idleSince.get(endpoint, now)
            if now - since >= timeout:
                del self.connections[endpoint]
                self._idleSince.pop(endpoint, None)
                self.log.debug("closing the idle connection to {host}:"
                               "{port}", host=endpoint[0], port=endpoint[1])
                connection.transport.loseConnection()
            elif due is None or since + timeout < due:
                due = since + timeout
        if self.connections:
            delay = timeout if due is None else due - now
            self._sweeper = self._reactor.callLater(delay, self._sweep)

    def disconnect(self):
        """
        Close every connection.
        """
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None and sweeper.active():
            sweeper.cancel()
        connections, self.connections = self.connections, {}
        for connection in connections.values():
            if connection.connected:
                connection.transport.loseConnection()
