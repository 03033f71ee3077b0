# -*- test-case-name: tests.rpc.test_client -*-
"""
The client side of the native protocol: one L{ClientProtocol} per
connection to a service, opening channels with increasing ids.

A call whose reply is primitive and whose dispatch is terminal returns a
Deferred of the unwrapped C{value} (L{ClientProtocol.call}); anything else
opens a L{Channel} that reads the service's stream and sends the client's.
"""

from collections import deque

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import (
    TCP4ClientEndpoint, TCP6ClientEndpoint, UNIXClientEndpoint,
    connectProtocol)
from twisted.internet.protocol import Protocol
from twisted.logger import Logger

from cocaine.errors import (
    FramingError, NotConnected, ProtocolViolation, fromWire)
from cocaine.protocol.client import (
    ChannelState, isPlainCall, methodId, openingHeaders, primitiveReply,
    unwrap)
from cocaine.protocol.framing import DEFAULT_MAX_BUFFER, Decoder, Encoder
from cocaine.protocol.idl import PRIMITIVE, STREAMING, TERMINAL
from cocaine.rpc import writes

__all__ = ["Channel", "ChannelClosed", "ClientProtocol", "connect",
           "unwrap"]


#: A read's replies are handled this many messages at a time, what they
#: prompt sent after each lot: with hundreds of requests in flight a read
#: holds hundreds of replies, and sending the next requests only at its end
#: left the service idle while the client handled them (bench.cpushare,
#: 256 in flight: the server's CPU 87-91% busy, 97-99% with lots of 64 or
#: 128 messages; 256 gained nothing).
FLUSH_EVERY = 128

#: The ids of C{write} and C{close} in L{STREAMING}: a chunk leaves the
#: protocol where it is, a close ends it.
_STREAM_WRITE = STREAMING.idOf("write")
_STREAM_ERROR = STREAMING.idOf("error")
_STREAM_CLOSE = STREAMING.idOf("close")


class ChannelClosed(Exception):
    """
    The service closed the stream: there is nothing more to read.
    """


class Channel(ChannelState):
    """
    One open channel on a client connection.

    Reading: L{read} gives the next chunk or value, raises the service's
    error as an exception and L{ChannelClosed} after C{close}; C{async for}
    iterates chunks until close; L{collect} gives every chunk at once.
    Writing: L{send} (or L{write}, L{close}, L{error}) follows the
    message's dispatch protocol (L{cocaine.protocol.client.ChannelState}
    keeps both protocols).
    """

    #: C{(chunks, deferred)} while L{collect} gathers the stream
    _collector = None

    def __init__(self, connection, channelId, upstream, dispatch):
        # ChannelState.__init__'s fields, set here: a call fewer per call
        self.id = channelId
        self._upstream = upstream
        self._dispatch = dispatch
        self.done = upstream is TERMINAL
        self._connection = connection
        self._queue = deque()
        self._waiting = deque()

    # -- sending -----------------------------------------------------------

    def send(self, name, *args):
        """
        Send message C{name} of the current dispatch protocol.

        @raise ProtocolViolation: the protocol has no such message now.
        """
        # args, a tuple, packs as an array: no list made per message
        connection = self._connection
        writes.write(connection.transport, connection._pack(
            [self.id, self._nextDispatch(name), args]))

    def write(self, *args):
        """
        Send a chunk of the request stream.
        """
        # a streaming request (an app's enqueue) without _nextDispatch
        index = (_STREAM_WRITE if self._dispatch is STREAMING
                 else self._nextDispatch("write"))
        connection = self._connection
        writes.write(connection.transport, connection._pack(
            [self.id, index, args]))

    def close(self):
        """
        End the request stream.
        """
        if self._dispatch is STREAMING:
            index = _STREAM_CLOSE
            self._dispatch = TERMINAL
        else:
            index = self._nextDispatch("close")
        connection = self._connection
        writes.write(connection.transport, connection._pack(
            [self.id, index, []]))

    # -- receiving ---------------------------------------------------------

    def _receive(self, mtype, args):
        protocol = self._upstream
        if protocol is STREAMING and (mtype == _STREAM_WRITE
                                      or mtype == _STREAM_CLOSE):
            # a chunk or the close of a stream (an app's reply) without
            # _nextEvent
            if mtype == _STREAM_WRITE:
                event = ("write", args)
            else:
                event = ("close", args)
                self._upstream = TERMINAL
                self.done = True
        else:
            event = self._nextEvent(mtype, args)
        if self._collector is not None:
            self._gather(event)
            return self.done
        waiting = self._waiting
        if waiting:
            waiting.popleft().callback(event)
        else:
            self._queue.append(event)
        if self.done:
            if waiting:
                self._release(("close", []))
            return True
        return False

    def _deliver(self, event):
        if self._collector is not None:
            self._gather(event)
        elif self._waiting:
            self._waiting.popleft().callback(event)
        else:
            self._queue.append(event)

    def _gather(self, event):
        """
        One event of the stream L{collect} gathers: a chunk is kept, the
        end fires its Deferred.
        """
        name, args = event
        chunks, d = self._collector
        if name == "write":
            chunks.append(args[0] if len(args) == 1 else unwrap(args))
            return
        self._collector = None
        if name == "error":
            d.errback(args)
        elif name == "close":
            d.callback(chunks)
        else:
            d.errback(ProtocolViolation(
                "{}: {!r} where a stream's chunk or end was expected".format(
                    self._connection.name, name)))

    def _release(self, event):
        """
        The stream has ended: fire every read still waiting with C{event}.
        """
        while self._waiting:
            self._waiting.popleft().callback(event)

    def _lost(self, reason):
        if not self.done:
            self.done = True
            text = "connection to {} lost: {}".format(
                self._connection.name, reason)
            self._deliver(("error", NotConnected(text)))
            while self._waiting:
                self._waiting.popleft().callback(
                    ("error", NotConnected(text)))

    def recv(self):
        """
        The next message from the service as C{(name, args)}; an error
        arrives as C{("error", exception)}.

        @return: a Deferred.
        """
        if self._queue:
            return succeed(self._queue.popleft())
        if self.done and not self._waiting:
            return succeed(("close", []))
        waiting = self._waiting
        d = Deferred(waiting.remove)
        waiting.append(d)
        return d

    def collect(self):
        """
        Every chunk of the service's stream until it closes it: what
        C{async for} would give, at once, with one Deferred for the whole
        answer rather than one per message (a request and its answer,
        the usual call of an app). Reads nothing else once called: use
        L{recv} and L{read} or this, not both.

        @return: a Deferred of the list of chunks (each unwrapped as
            L{read} does), failing with the service's error (the chunks
            before it are dropped).
        """
        if self._collector is not None:
            return fail(ProtocolViolation(
                "channel {}: collect() is already gathering".format(self.id)))
        d = Deferred(self._stopCollecting)
        self._collector = ([], d)
        # what was read before the call, then what arrives, the same way
        queue = self._queue
        while queue and self._collector is not None:
            self._gather(queue.popleft())
        if self._collector is not None and self.done:
            # the stream ended with a close an earlier read already took
            self._gather(("close", []))
        return d

    def _stopCollecting(self, deferred):
        self._collector = None

    def read(self):
        """
        The next chunk or value (unwrapped).

        @return: a Deferred that fails with the service's error, or with
            L{ChannelClosed} once the stream has ended.
        """
        return self.recv().addCallback(_readValue)

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return await self.read()
        except ChannelClosed:
            raise StopAsyncIteration


def _readValue(event):
    name, args = event
    if name == "error":
        raise args
    if name == "close":
        raise ChannelClosed()
    return unwrap(args)


class _Primitive:
    """
    The receiver of a plain call: a Deferred fired with the value.
    """

    __slots__ = ("deferred", "upstream", "_receivers", "_channel")

    def __init__(self, upstream, receivers, channel):
        """
        @param receivers: the connection's receivers, where this one is
            under C{channel} until the reply or a cancel.
        """
        self.upstream = upstream
        self._receivers = receivers
        self._channel = channel
        self.deferred = Deferred(self._cancel)

    def _cancel(self, deferred):
        self._receivers.pop(self._channel, None)

    def _receive(self, mtype, args):
        if mtype == 0 and self.upstream is PRIMITIVE:
            # its value (the usual reply) without primitiveReply's lookup
            self.deferred.callback(
                args[0] if len(args) == 1 else unwrap(args))
            return True
        ok, result = primitiveReply(self.upstream, mtype, args)
        if ok:
            self.deferred.callback(result)
        else:
            self.deferred.errback(result)
        return True

    def _lost(self, reason):
        self.deferred.errback(NotConnected(
            "connection lost before the reply: {}".format(reason)))


class _Request:
    """
    The receiver of a whole streaming request (L{ClientProtocol.request}):
    the answer's chunks, gathered until its close, fire one Deferred.
    What a L{Channel} and its L{Channel.collect} would do, for the one
    shape of call that is every app request, in one object.
    """

    __slots__ = ("deferred", "chunks", "_name", "_receivers", "_channel")

    def __init__(self, name, receivers, channel):
        """
        @param name: the service's name, for messages.
        @param receivers: the connection's receivers, where this one is
            under C{channel} until the answer ends or it is cancelled.
        """
        self._name = name
        self._receivers = receivers
        self._channel = channel
        self.chunks = []
        self.deferred = Deferred(self._cancel)

    def _cancel(self, deferred):
        # the rest of the answer goes nowhere
        self._receivers.pop(self._channel, None)

    def _receive(self, mtype, args):
        if mtype == _STREAM_WRITE:
            self.chunks.append(args[0] if len(args) == 1 else unwrap(args))
            return False
        if mtype == _STREAM_CLOSE:
            self.deferred.callback(self.chunks)
        elif mtype == _STREAM_ERROR:
            self.deferred.errback(fromWire(args))
        else:
            self.deferred.errback(NotConnected(
                "service sent message {} not allowed on channel {}".format(
                    mtype, self._channel)))
        return True

    def _lost(self, reason):
        self.deferred.errback(NotConnected(
            "connection to {} lost: {}".format(self._name, reason)))


class ClientProtocol(Protocol):
    """
    One connection from a client to a service.

    @ivar name: the service's name, for messages.
    @ivar protocol: the service's root L{Protocol}.
    @ivar connected: whether calls can still be made.
    """

    log = Logger()

    #: the header entries of the credentials alone (see L{_sendOpening})
    _credentials = None

    #: The C{authorization} header value (bytes) sent with every call's
    #: first message, or L{None}.
    authorization = None

    def __init__(self, name, protocol, maxBuffer=DEFAULT_MAX_BUFFER,
                 authorization=None):
        if authorization is not None:
            self.authorization = authorization
        self.name = name
        self.protocol = protocol
        self._decoder = Decoder(maxBuffer, raw=False)
        #: C{pack(value)}: a message's bytes are C{pack([channel, type,
        #: args])} (or with headers, a fourth element)
        self._pack = Encoder().pack
        self._next = 1
        self._receivers = {}
        #: C{{name: (id, plain)}}: the methods L{invoke} has looked up
        self._methods = {}
        self.connected = False
        self._lostWaiters = []

    def connectionMade(self):
        self.connected = True
        if hasattr(self.transport, "setTcpNoDelay"):
            try:
                self.transport.setTcpNoDelay(True)
            except Exception:
                pass

    def sendMessage(self, channel, mtype, args):
        """
        Write one message.
        """
        writes.write(self.transport, self._pack([channel, mtype, args]))

    def invoke(self, name, args):
        """
        Call method C{name} of the service's root protocol: a plain call
        (L{cocaine.protocol.client.isPlainCall}) with L{call}, anything
        else with L{open}.

        @param args: a sequence of the arguments.
        @return: a Deferred of the value, or of the L{Channel}.
        @raise SlotNotFound: the protocol has no such method.
        @raise NotConnected: the connection is gone (a channel's).
        """
        entry = self._methods.get(name) or self._lookUp(name)
        if entry[1]:
            return self.call(entry[0], list(args))
        return succeed(self.open(entry[0], list(args)))

    def _lookUp(self, name):
        """
        @return: C{(id, plain)} of method C{name}, kept for the next call.
        @raise SlotNotFound: the protocol has no such method.
        """
        protocol = self.protocol
        mtype = methodId(protocol, self.name, name)
        entry = self._methods[name] = (mtype, isPlainCall(protocol[mtype]))
        return entry

    def openNamed(self, name, args):
        """
        Open a channel with method C{name} of the service's root protocol
        now (L{invoke}'s streaming half, without its Deferred).

        @return: the L{Channel}.
        @raise SlotNotFound: the protocol has no such method.
        @raise NotConnected: the connection is gone.
        """
        entry = self._methods.get(name) or self._lookUp(name)
        return self.open(entry[0], list(args))

    def call(self, mtype, args):
        """
        Invoke message C{mtype}; for a primitive reply.

        @return: a Deferred of the unwrapped value, failing with the
            service's error.
        """
        if not self.connected:
            return fail(NotConnected("not connected to " + self.name))
        upstream = self.protocol.messages[mtype].upstream
        channel = self._next
        self._next = channel + 1
        if upstream is TERMINAL:
            self._sendOpening(channel, mtype, args)
            return succeed(None)
        receiver = _Primitive(upstream or PRIMITIVE, self._receivers,
                              channel)
        self._receivers[channel] = receiver
        self._sendOpening(channel, mtype, args)
        return receiver.deferred

    def _sendOpening(self, channel, mtype, args, headers=None):
        """
        Write a channel's first message with C{headers} and, when this
        connection carries one, the C{authorization} header.
        """
        writes.write(self.transport,
                     self._opening(channel, mtype, args, headers))

    def _opening(self, channel, mtype, args, headers=None):
        """
        @return: the bytes of a channel's first message with C{headers}
            and, when this connection carries one, the C{authorization}
            header.
        """
        authorization = self.authorization
        if headers is None:
            if authorization is None:
                return self._pack([channel, mtype, args])
            # the credentials alone (every call of a client with a token):
            # one entry list, made once for the connection's credentials
            entries = self._credentials
            if entries is None or entries[0][2] is not authorization:
                entries = self._credentials = openingHeaders(
                    None, authorization)
            return self._pack([channel, mtype, args, entries])
        entries = openingHeaders(headers, authorization)
        if entries:
            return self._pack([channel, mtype, args, entries])
        return self._pack([channel, mtype, args])

    def request(self, name, args, chunks):
        """
        A whole streaming request: open a channel with method C{name} of
        the service's root protocol, send each of C{chunks} and the close,
        and gather the answer's chunks until the service closes it (an
        app's C{enqueue}: L{cocaine.client.Service.callApp}). The opening,
        the chunks and the close leave in one write, and the answer fires
        one Deferred.

        @param chunks: the request's chunks (bytes).
        @return: a Deferred of the list of the answer's chunks (each
            unwrapped as L{Channel.read} does), failing with the
            service's error; cancelling it drops the rest of the answer.
        @raise SlotNotFound: the protocol has no such method.
        @raise NotConnected: the connection is gone.
        """
        entry = self._methods.get(name) or self._lookUp(name)
        mtype = entry[0]
        message = self.protocol.messages[mtype]
        if (message.dispatch is not STREAMING
                or message.upstream is not STREAMING):
            # another shape: the channel's own calls
            channel = self.open(mtype, list(args))
            for chunk in chunks:
                channel.write(chunk)
            channel.close()
            return channel.collect()
        if not self.connected:
            raise NotConnected("not connected to " + self.name)
        channel = self._next
        pack = self._pack
        # packed first: a chunk that cannot be packed leaves nothing open
        data = [self._opening(channel, mtype, list(args))]
        for chunk in chunks:
            data.append(pack([channel, _STREAM_WRITE, (chunk,)]))
        data.append(pack([channel, _STREAM_CLOSE, ()]))
        self._next = channel + 1
        receiver = self._receivers[channel] = _Request(
            self.name, self._receivers, channel)
        writes.write(self.transport, b"".join(data))
        return receiver.deferred

    def open(self, mtype, args, headers=None):
        """
        Invoke message C{mtype} and return its L{Channel}.

        @param headers: C{[(name, value)]} bytes sent with the invocation
            as literal header entries (not stored in the peer's table).
        @raise NotConnected: the connection is gone.
        """
        if not self.connected:
            raise NotConnected("not connected to " + self.name)
        message = self.protocol.messages[mtype]
        channel = self._next
        self._next = channel + 1
        ch = Channel(self, channel, message.upstream or PRIMITIVE,
                     message.dispatch)
        if not ch.done:
            self._receivers[channel] = ch
        if headers is None and self.authorization is None:
            writes.write(self.transport, self._pack([channel, mtype, args]))
        else:
            self._sendOpening(channel, mtype, args, headers)
        return ch

    @writes.batched
    def dataReceived(self, data):
        try:
            messages = self._decoder.feed(data)
        except FramingError as e:
            self.log.warn("{service}: framing error from the service: "
                          "{reason}", service=self.name, reason=str(e))
            self.transport.abortConnection()
            return
        receivers = self._receivers
        count = 0
        for channel, mtype, args, headers in messages:
            count += 1
            if count == FLUSH_EVERY:
                # what the replies so far prompted (the next requests of
                # a deep pipeline) goes out now: the service works on it
                # while the rest of this read is handled
                count = 0
                writes.flush()
            receiver = receivers.get(channel)
            if receiver is None:
                continue
            if receiver._receive(mtype, args):
                del receivers[channel]

    def notifyLost(self):
        """
        @return: a Deferred that fires when the connection is gone.
        """
        d = Deferred()
        if self.connected or self.transport is None:
            self._lostWaiters.append(d)
        else:
            d.callback(None)
        return d

    def connectionLost(self, reason):
        self.connected = False
        receivers, self._receivers = self._receivers, {}
        text = reason.getErrorMessage() if reason is not None else "closed"
        for receiver in receivers.values():
            receiver._lost(text)
        waiters, self._lostWaiters = self._lostWaiters, []
        for d in waiters:
            d.callback(None)


def connect(reactor, endpoint, name, protocol, timeout=5,
            maxBuffer=DEFAULT_MAX_BUFFER, authorization=None, tls=None):
    """
    Connect to a service.

    @param tls: a L{cocaine.rpc.tls.ClientTLS} to speak TLS over TCP, or
        L{None} for plain TCP.

    @param authorization: the C{authorization} header value (bytes) to
        send with every call, or L{None}.

    @param endpoint: C{(host, port)} for TCP or a filesystem path string for
        a UNIX socket.
    @return: a Deferred of a connected L{ClientProtocol}.
    """
    if isinstance(endpoint, (str, bytes)) and not isinstance(
            endpoint, (list, tuple)):
        path = endpoint.decode() if isinstance(endpoint, bytes) else endpoint
        point = UNIXClientEndpoint(reactor, path, timeout=timeout)
    else:
        host, port = endpoint
        if isinstance(host, bytes):
            host = host.decode()
        cls = TCP6ClientEndpoint if ":" in host else TCP4ClientEndpoint
        point = cls(reactor, host, int(port), timeout=timeout)
        if tls is not None:
            point = tls.wrap(point, host)
    return connectProtocol(point, ClientProtocol(name, protocol, maxBuffer,
                                                 authorization))
