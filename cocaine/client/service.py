# -*- test-case-name: tests.client.test_service -*-
"""
The Twisted-native client SDK: L{Locator} and L{Service}.

    locator = Locator(reactor, [("127.0.0.1", 10053)])
    storage = Service("storage", locator)
    await storage.write("collection", "key", b"value", ["tag"])
    value = await storage.read("collection", "key")

Methods are built from the dispatch graph the locator returns. A call whose
reply is primitive returns a Deferred of the value (one value unwrapped,
none as L{None}, several as a tuple); any other call returns a Deferred of a
L{cocaine.rpc.client.Channel}; a caller that stops reading one before its
end (a few chunks of an endless stream) calls its C{abandon()}, or what
the service still sends is kept for it until the connection closes.
Errors are raised as
L{cocaine.errors.CocaineError} subclasses carrying category, code and
message. A dropped connection fails the calls in flight with
L{cocaine.errors.NotConnected}; the next call resolves and connects again.
"""

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.python.failure import Failure

from cocaine.protocol.client import (
    DEFAULT_LOCATOR, Method, authorizationHeader, callTimeout, defaultToken,
    notConnected)
from cocaine.protocol.idl import Protocol
from cocaine.protocol.services import LOCATOR
from cocaine.rpc.client import connect
from cocaine.rpc.tls import ClientTLS

__all__ = ["Service", "Locator", "DEFAULT_LOCATOR", "defaultToken",
           "authorizationHeader"]


class Service:
    """
    A client of one named service.

    @ivar name: the service name resolved at the locator.
    @ivar version: the protocol version, once connected.
    @ivar protocol: the service's root L{Protocol}, once connected.
    @ivar endpoints: the endpoints the last resolve returned.
    """

    def __init__(self, name, locator=None, reactor=None, timeout=None,
                 connectTimeout=5, token=None, tls=None):
        """
        @param locator: a L{Locator}; by default one for
            L{DEFAULT_LOCATOR}.
        @param reactor: the reactor; by default the locator's.
        @param timeout: default per-call timeout in seconds (L{None}: none).
        @param connectTimeout: seconds to wait for a TCP connection.
        @param token: the credentials sent with every call (see
            L{authorizationHeader}); by default the locator's, else
            C{$COCAINE_TOKEN}.
        @param tls: a L{ClientTLS} for a node whose endpoints use TLS,
            C{False} for plain TCP; by default the locator's.
        """
        if locator is None:
            locator = Locator(reactor, token=token, tls=tls)
        if tls is None:
            tls = getattr(locator, "tls", None)
        self.tls = tls or None
        if token is None:
            self.authorization = getattr(locator, "authorization", None)
        else:
            self.authorization = authorizationHeader(token)
        self.name = name
        self.locator = locator
        self.reactor = reactor or locator.reactor
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.version = None
        self.protocol = None
        self.endpoints = None
        self._connection = None
        #: the Deferreds waiting for the connect under way, or L{None}
        self._connecting = None

    async def _resolve(self):
        endpoints, version, graph = await self.locator.resolve(self.name)
        return endpoints, version, Protocol.fromGraph(self.name, graph)

    async def _connect(self):
        endpoints, version, protocol = await self._resolve()
        error = None
        for endpoint in endpoints:
            host, port = endpoint[0], endpoint[1]
            if isinstance(host, bytes):
                host = host.decode()
            try:
                connection = await connect(
                    self.reactor, (host, port), self.name, protocol,
                    timeout=self.connectTimeout,
                    authorization=self.authorization, tls=self.tls)
            except Exception as e:
                error = e
                continue
            self.endpoints = endpoints
            self.version = version
            self.protocol = protocol
            self._connection = connection
            return connection
        raise notConnected(self.name, endpoints, error)

    def ready(self):
        """
        Resolve and connect now (calls do it on demand anyway). Not called
        C{connect}: that is a method of the locator's protocol.

        @return: a Deferred that fires with this service.
        """
        return self._ensure().addCallback(lambda _: self)

    def _ensure(self):
        """
        @return: a Deferred of the connection, connected now or when the
            resolve and connect under way (started here if none is) end;
            every caller waiting on one connect gets its outcome.
        """
        connection = self._connection
        if connection is not None and connection.connected:
            return succeed(connection)
        d = Deferred()
        waiting = self._connecting
        if waiting is not None:
            waiting.append(d)
            return d
        waiting = self._connecting = [d]

        def done(result):
            self._connecting = None
            for each in waiting:
                if isinstance(result, Failure):
                    each.errback(result)
                else:
                    each.callback(result)
        Deferred.fromCoroutine(self._connect()).addBoth(done)
        return d

    def invoke(self, name, args, timeout=None):
        """
        Call method C{name} with C{args}.

        @return: a Deferred of the value, or of a channel for streaming
            methods.
        """
        connection = self._connection
        if connection is None or not connection.connected:
            d = self._ensure()
            d.addCallback(_invokeOn, name, args)
        else:
            try:
                d = connection.invoke(name, args)
            except Exception as e:
                return fail(e)
        if timeout is None:
            timeout = self.timeout
        if timeout is not None:
            d.addTimeout(timeout, self.reactor, _timedOut(self.name, name,
                                                          timeout))
        return d

    def callApp(self, event, *chunks, timeout=None):
        """
        One request to an app: C{enqueue(event)}, each of C{chunks} as a
        chunk of the request stream, its close, and the answer's chunks
        until the worker closes it. The same messages as those calls made
        one by one (L{cocaine.rpc.client.Channel.collect}), with one
        Deferred for the whole exchange. Named in camelCase, as no
        service's method is, so it hides none (the mesh bridge's services
        have a C{request}).

        @param chunks: the request's chunks (bytes).
        @return: a Deferred of the list of the answer's chunks, failing
            with the app's error (or the node's: queue full, app not
            running, deadline) or, after C{timeout} seconds, with a
            timeout error.
        """
        connection = self._connection
        if connection is None or not connection.connected:
            d = self._ensure()
            d.addCallback(_requestOn, event, chunks)
        else:
            try:
                d = _requestOn(connection, event, chunks)
            except Exception as e:
                return fail(e)
        if timeout is None:
            timeout = self.timeout
        if timeout is not None:
            d.addTimeout(timeout, self.reactor, _timedOut(
                self.name, "enqueue", timeout))
        return d

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        # kept: the next lookup of the name finds it without this call
        method = self.__dict__[name] = Method(self, name)
        return method

    def disconnect(self):
        """
        Close the connection.

        @return: a Deferred that fires when it is closed.
        """
        connection, self._connection = self._connection, None
        if connection is None or not connection.connected:
            return Deferred.fromCoroutine(_value(None))
        d = connection.notifyLost()
        connection.transport.loseConnection()
        return d


class Locator(Service):
    """
    A client of a node's locator, reached at known endpoints without a
    resolve (its protocol is known in advance).
    """

    def __init__(self, reactor=None, endpoints=(DEFAULT_LOCATOR,),
                 timeout=None, connectTimeout=5, token=None, tls=None):
        """
        @param token: the credentials sent with every call; by default
            L{defaultToken}.
        @param tls: a L{ClientTLS} when the node's endpoints use TLS (then
            every service resolved through this locator is reached with
            it too), C{False} for plain TCP; by default
            L{ClientTLS.fromEnvironment} (C{$COCAINE_TLS_CA}, ...).
        """
        if reactor is None:
            from twisted.internet import reactor
        if token is None:
            token = defaultToken()
        self.authorization = None if token is None else (
            authorizationHeader(token))
        if tls is None:
            tls = ClientTLS.fromEnvironment()
        self.tls = tls or None
        Service.__init__(self, "locator", locator=self, reactor=reactor,
                         timeout=timeout, connectTimeout=connectTimeout,
                         token=token, tls=tls or False)
        self.locatorEndpoints = [tuple(e) for e in endpoints]

    async def _resolve(self):
        return ([list(e) for e in self.locatorEndpoints], 3, LOCATOR)

    def resolve(self, name, *seed, timeout=None):
        """
        @return: a Deferred of C{(endpoints, version, graph)}.
        """
        return self.invoke("resolve", (name,) + seed, timeout)


def _invokeOn(connection, name, args):
    return connection.invoke(name, args)


def _requestOn(connection, event, chunks):
    return connection.request("enqueue", (event,), chunks)


async def _value(value):
    return value


def _timedOut(service, method, timeout):
    def onTimeoutCancel(result, seconds):
        if hasattr(result, "check") and result.check(CancelledError):
            raise callTimeout(service, method, timeout)
        return result
    return onTimeoutCancel
