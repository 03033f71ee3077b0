# -*- test-case-name: tests.worker.test_service -*-
"""
Services from inside an app: the worker SDK's client, on L{asyncio}.

    from cocaine.worker import Service, Worker

    storage = Service("storage")

    async def calculateLength(request, response):
        key = await request.read()
        value = await storage.read("collection", key)
        response.write(len(value))
        response.close()

    Worker().run({"calculateLength": calculateLength})

A L{Service} resolves its name at the locator the runtime passed the
worker (C{--locator}; C{127.0.0.1:10053} without one) on its first call,
connects, and builds its methods from the dispatch graph the locator
returned. It behaves as L{cocaine.client.Service} does, whose rules it
shares (L{cocaine.protocol.client}):

  - a method whose reply is primitive returns the value (one value
    unwrapped, none as L{None}, several as a tuple); any other returns a
    L{Channel};
  - errors are L{cocaine.errors.CocaineError} subclasses with category,
    code and message (a missing storage key is a
    L{cocaine.errors.KeyNotFound});
  - C{timeout} (per service, or per call: C{storage.read(c, k,
    timeout=2)}) bounds resolve, connect and reply, and raises
    L{cocaine.errors.CallTimeout};
  - a dropped connection fails the calls in flight with
    L{cocaine.errors.NotConnected}; the next call resolves and connects
    again;
  - every call carries the app's token (C{COCAINE_APP_TOKEN_TYPE} and
    C{COCAINE_APP_TOKEN_BODY}, which the node gives its workers) as its
    C{authorization} header, or C{$COCAINE_TOKEN} when set;
  - the C{COCAINE_TLS_*} variables make it speak TLS
    (L{cocaine.worker.tls});
  - a L{Channel} keeps what the service sends until it is read: one its
    caller stops reading before the end is abandoned
    (L{Channel.abandon}), and the connection drops what the service
    still sends for it as it comes, as for any channel it does not know,
    rather than keep an endless stream in the worker's memory.

A service is bound to no event loop until it is used; used from another
loop than the last, it connects again.
"""

import asyncio
import sys

from cocaine.errors import FramingError, NotConnected
from cocaine.protocol.client import (
    DEFAULT_LOCATOR, Method, authorizationHeader, callTimeout, defaultToken,
    isPlainCall, methodId, notConnected, openingHeaders)
from cocaine.protocol.framing import DEFAULT_MAX_BUFFER, Decoder, Encoder
from cocaine.protocol.idl import PRIMITIVE, TERMINAL, Protocol
from cocaine.protocol.services import LOCATOR
from cocaine.protocol.worker import launched, parseArguments, parseLocators
from cocaine.worker.channel import Channel, ChannelClosed, _Primitive
from cocaine.worker.flow import WriteFlow
from cocaine.worker.tls import clientContext, serverName

__all__ = ["Service", "Locator", "Channel", "ChannelClosed",
           "locatorEndpoints"]

#: Seconds to wait for a TCP (and TLS) connection by default.
DEFAULT_CONNECT_TIMEOUT = 5.0


def locatorEndpoints(argv=None):
    """
    Where the locator is: the C{--locator} endpoints of the worker's
    command line (as L{cocaine.worker.Worker} reads them), else
    L{DEFAULT_LOCATOR}.

    @param argv: the arguments; by default the worker's (the thread
        isolate's, or C{sys.argv[1:]}).
    @return: a list of C{(host, port)}.
    """
    if argv is None:
        argv = getattr(launched, "argv", None)
        if argv is None:
            argv = sys.argv[1:]
    found = parseLocators(parseArguments(argv).get("locator"))
    return found or [DEFAULT_LOCATOR]


class _Connection(WriteFlow, asyncio.Protocol):
    """
    One TCP connection to a service.

    @ivar name: the service's name, for messages.
    @ivar protocol: the service's root L{Protocol}.
    @ivar connected: whether calls can still be made.
    @ivar loop: the event loop it runs on.
    """

    def __init__(self, name, protocol, authorization=None,
                 maxBuffer=DEFAULT_MAX_BUFFER):
        self.name = name
        self.protocol = protocol
        self.authorization = authorization
        self.loop = asyncio.get_running_loop()
        self.connected = False
        self._decoder = Decoder(maxBuffer, raw=False)
        self._encoder = Encoder()
        self._transport = None
        self._next = 1
        self._receivers = {}
        self._startFlow()
        self._broken = None

    # -- asyncio's side ----------------------------------------------------

    def connection_made(self, transport):
        self._transport = transport
        self.connected = True

    def data_received(self, data):
        try:
            messages = self._decoder.feed(data)
        except FramingError as error:
            messages = error.messages
            self._broken = "broken stream from the service: {}".format(
                error)
        receivers = self._receivers
        for channel, mtype, args, _ in messages:
            receiver = receivers.get(channel)
            if receiver is not None and receiver._receive(mtype, args):
                del receivers[channel]
        if self._broken is not None and self._transport is not None:
            self._transport.abort()

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self.connected = False
        self._transport = None
        reason = self._broken or (str(exc) if exc else "closed")
        receivers, self._receivers = self._receivers, {}
        for receiver in receivers.values():
            receiver._lost(reason)
        self._wakeDrainers()

    # -- ours --------------------------------------------------------------

    def send(self, channel, mtype, args, headers=None):
        """
        Write one message (with C{headers} entries, if any).
        """
        if headers:
            data = self._encoder.encodeWithHeaders(channel, mtype, args,
                                                   headers)
        else:
            data = self._encoder.encode(channel, mtype, args)
        self._transport.write(data)

    async def drain(self):
        await self._waitWritable()

    def _open(self, mtype, args):
        """
        Send the first message of a new channel, with the credentials.

        @return: the channel id.
        """
        if not self.connected:
            raise NotConnected("not connected to " + self.name)
        channel = self._next
        self._next = channel + 1
        self.send(channel, mtype, list(args),
                  openingHeaders(None, self.authorization))
        return channel

    def call(self, mtype, args):
        """
        Invoke message C{mtype}, for a primitive reply.

        @return: a future of the unwrapped value (L{None} at once for a
            mute message), failing with the service's error.
        """
        message = self.protocol[mtype]
        future = self.loop.create_future()
        channel = self._open(mtype, args)
        if message.upstream is TERMINAL:
            future.set_result(None)
            return future
        self._receivers[channel] = _Primitive(future,
                                              message.upstream or PRIMITIVE)

        def forget(future):
            if future.cancelled():
                self._receivers.pop(channel, None)
        future.add_done_callback(forget)
        return future

    def open(self, mtype, args):
        """
        Invoke message C{mtype} and return its L{Channel}.
        """
        message = self.protocol[mtype]
        channel = self._open(mtype, args)
        opened = Channel(self, channel, message.upstream or PRIMITIVE,
                         message.dispatch)
        if not opened.done:
            self._receivers[channel] = opened
        return opened

    def close(self):
        if self._transport is not None:
            self._transport.close()


class Service:
    """
    A client of one named service, for use inside an app (see the module).

    Its methods are the names of the service's protocol:
    C{await service.method(*args, timeout=None)}.

    @ivar name: the service name resolved at the locator.
    @ivar locator: the L{Locator} it resolves through.
    @ivar timeout: the default per-call timeout in seconds, or L{None}.
    @ivar version: the protocol version, once connected.
    @ivar protocol: the service's root L{Protocol}, once connected.
    @ivar endpoints: the endpoints the last resolve returned.
    """

    def __init__(self, name, locator=None, timeout=None,
                 connectTimeout=DEFAULT_CONNECT_TIMEOUT, token=None,
                 tls=None):
        """
        @param locator: a L{Locator}, or its endpoints (C{[(host, port)]}
            or a C{"host:port"} string); by default the worker's
            C{--locator} (L{locatorEndpoints}).
        @param timeout: default per-call timeout in seconds (L{None}:
            none).
        @param connectTimeout: seconds to wait for a connection.
        @param token: the credentials sent with every call (see
            L{cocaine.protocol.client.authorizationHeader}); by default
            the locator's.
        @param tls: an L{ssl.SSLContext}, or C{False} for plain TCP; by
            default the locator's.
        """
        if not isinstance(locator, Locator):
            locator = Locator(locator, token=token, tls=tls,
                              connectTimeout=connectTimeout)
        self.name = name
        self.locator = locator
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self._token = token
        self._tls = tls
        self.version = None
        self.protocol = None
        self.endpoints = None
        self._connection = None
        self._connecting = None

    @property
    def authorization(self):
        """
        The C{authorization} header value (bytes) sent with every call,
        or L{None}.
        """
        if self._token is None:
            return self.locator.authorization
        return authorizationHeader(self._token)

    def _context(self):
        if self._tls is None:
            return self.locator._context()
        return self._tls or None

    async def _resolve(self):
        endpoints, version, graph = await self.locator.resolve(self.name)
        return endpoints, version, Protocol.fromGraph(self.name, graph)

    async def _connect(self):
        endpoints, version, protocol = await self._resolve()
        context = self._context()
        loop = asyncio.get_running_loop()
        error = None
        for endpoint in endpoints:
            host, port = endpoint[0], int(endpoint[1])
            if isinstance(host, bytes):
                host = host.decode()
            extra = {}
            if context is not None:
                extra = {"ssl": context,
                         "server_hostname": serverName(host)}
            try:
                _, connection = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: _Connection(self.name, protocol,
                                            self.authorization),
                        host, port, **extra),
                    self.connectTimeout)
            except (OSError, asyncio.TimeoutError) as e:
                error = e if str(e) else type(e).__name__
                continue
            self.endpoints = endpoints
            self.version = version
            self.protocol = protocol
            self._connection = connection
            return connection
        raise notConnected(self.name, endpoints, error)

    async def _ensure(self):
        """
        The connection, made (resolving first) when there is none on the
        running loop. Concurrent calls share one attempt.
        """
        loop = asyncio.get_running_loop()
        connection = self._connection
        if (connection is not None and connection.connected
                and connection.loop is loop):
            return connection
        connecting = self._connecting
        if connecting is None or connecting.get_loop() is not loop:
            connecting = self._connecting = loop.create_task(
                self._connect())
            connecting.add_done_callback(self._connectDone)
        return await asyncio.shield(connecting)

    def _connectDone(self, task):
        if self._connecting is task:
            self._connecting = None
        if not task.cancelled():
            task.exception()  # retrieved: a caller that timed out left it

    async def ready(self):
        """
        Resolve and connect now (calls do it on demand anyway).

        @return: this service.
        """
        await self._ensure()
        return self

    async def invoke(self, name, args, timeout=None):
        """
        Call method C{name} with C{args}.

        @param timeout: seconds for this call (resolve, connect and the
            reply, or for a streaming method its opening); by default
            the service's.
        @return: the value, or a L{Channel} for streaming methods.
        @raise cocaine.errors.CallTimeout: C{timeout} passed first.
        """
        timeout = self.timeout if timeout is None else timeout
        if timeout is None:
            return await self._invoke(name, args)
        try:
            return await asyncio.wait_for(self._invoke(name, args), timeout)
        except asyncio.TimeoutError:
            raise callTimeout(self.name, name, timeout) from None

    async def _invoke(self, name, args):
        connection = await self._ensure()
        mtype = methodId(connection.protocol, self.name, name)
        if isPlainCall(connection.protocol[mtype]):
            return await connection.call(mtype, args)
        return connection.open(mtype, args)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return Method(self, name)

    def disconnect(self):
        """
        Close the connection (the next call connects again).
        """
        connection, self._connection = self._connection, None
        if connection is not None and connection.connected:
            try:
                connection.close()
            except RuntimeError:
                pass  # its event loop is closed: nothing left to close


class Locator(Service):
    """
    A client of a node's locator, reached at known endpoints without a
    resolve (its protocol is known in advance).

    @ivar locatorEndpoints: the endpoints given, or L{None} to read them
        from the worker's command line on first use.
    """

    def __init__(self, endpoints=None, timeout=None,
                 connectTimeout=DEFAULT_CONNECT_TIMEOUT, token=None,
                 tls=None):
        """
        @param endpoints: C{[(host, port)]} or C{"host:port[,...]"}; by
            default L{locatorEndpoints}.
        @param token: the credentials sent with every call; by default
            L{cocaine.protocol.client.defaultToken} (the app's token in a
            worker).
        @param tls: an L{ssl.SSLContext} when the node's endpoints use
            TLS (then every service resolved through this locator is
            reached with it too), C{False} for plain TCP; by default
            L{cocaine.worker.tls.clientContext} (the C{COCAINE_TLS_*}
            variables), read on first use.
        """
        if isinstance(endpoints, str):
            endpoints = parseLocators(endpoints)
        self.locatorEndpoints = (None if endpoints is None
                                 else [tuple(e) for e in endpoints])
        if token is None:
            token = defaultToken()
        self._locatorToken = token
        self._locatorTLS = tls
        self._contextMade = False
        Service.__init__(self, "locator", locator=self, timeout=timeout,
                         connectTimeout=connectTimeout, token=token,
                         tls=tls)

    @property
    def authorization(self):
        token = self._locatorToken
        return None if token is None else authorizationHeader(token)

    def _context(self):
        if not self._contextMade:
            if self._locatorTLS is None:
                self._locatorTLS = clientContext() or False
            self._contextMade = True
        return self._locatorTLS or None

    async def _resolve(self):
        endpoints = self.locatorEndpoints or locatorEndpoints()
        return [list(e) for e in endpoints], 3, LOCATOR

    async def resolve(self, name, *seed, timeout=None):
        """
        @return: C{(endpoints, version, graph)}.
        """
        return await self.invoke("resolve", (name,) + seed, timeout)
