# -*- test-case-name: tests.rpc.test_client -*-
"""
The client side of the native protocol: one L{ClientProtocol} per
connection to a service, opening channels with increasing ids.

A call whose reply is primitive and whose dispatch is terminal returns a
Deferred of the unwrapped C{value} (L{ClientProtocol.call}); anything else
opens a L{Channel} that reads the service's stream and sends the client's
(the receivers are in L{cocaine.rpc.receivers}).
"""

from collections import deque

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import (
    TCP4ClientEndpoint, TCP6ClientEndpoint, UNIXClientEndpoint,
    connectProtocol)
from twisted.internet.protocol import Protocol
from twisted.logger import Logger

from cocaine.errors import FramingError, NotConnected
from cocaine.protocol.client import (
    isPlainCall, methodId, openingHeaders, unwrap)
from cocaine.protocol.framing import (
    DEFAULT_MAX_BUFFER, Decoder, Encoder, packMessage)
from cocaine.protocol.idl import PRIMITIVE, STREAMING, TERMINAL
from cocaine.rpc import writes
from cocaine.rpc.receivers import (
    _STREAM_CLOSE, _STREAM_WRITE, Channel, ChannelClosed, _Primitive,
    _Request)

__all__ = ["Channel", "ChannelClosed", "ClientProtocol", "connect",
           "unwrap"]


#: What the answers of a read prompted (the next requests of a pipeline)
#: is sent after every this many calls or channels are answered in it:
#: sending them only at the end of the read left the service idle while
#: the client handled the answers, and the client idle while the service
#: answered them all, each side half busy. Lots of 8 keep both working: a
#: storage read with 64 in flight went from 85k to 170k calls/s for the
#: same CPU a call, with 16 in flight from 63k to 95-100k; an app echo
#: with 64 in flight gained 7-10%. Smaller lots split the reads of an app
#: with 8 in flight and cost its server a third more CPU a request
#: (docs/performance.md, tenth round).
FLUSH_EVERY = 8


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
                 authorization=None, reactor=None):
        """
        @param reactor: the reactor the connection runs on, which
            abandons the channels their callers let go of in its next
            turn (L{_abandonSoon}); without one they are abandoned when
            the connection next reads.
        """
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
        #: the receivers of the channels their callers let go of before
        #: their end, to abandon (L{_abandonDropped})
        self._dropped = deque()
        self._reactor = reactor
        self._abandonDue = False
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
        writes.write(self.transport,
                     packMessage(self._pack, channel, mtype, args))

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
                return packMessage(self._pack, channel, mtype, args)
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
        return packMessage(self._pack, channel, mtype, args)

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
            data.append(packMessage(pack, channel, _STREAM_WRITE, [chunk]))
        data.append(packMessage(pack, channel, _STREAM_CLOSE, []))
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
        core = ch._core
        if not core.done:
            # the receiver, not the Channel: its caller's to let go of
            self._receivers[channel] = core
        if headers is None and self.authorization is None:
            writes.write(self.transport,
                         packMessage(self._pack, channel, mtype, args))
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
        if self._dropped:
            self._abandonDropped()
        receivers = self._receivers
        count = 0
        for channel, mtype, args, headers in messages:
            receiver = receivers.get(channel)
            if receiver is not None and receiver._receive(mtype, args):
                del receivers[channel]
                count += 1
                if count == FLUSH_EVERY:
                    # what the answers so far prompted (the next requests
                    # of a pipeline) goes out now: the service works on
                    # it while the rest of this read is handled
                    count = 0
                    writes.flush()

    def _abandonSoon(self):
        """
        A channel's caller let go of it (L{_dropped} has its receiver):
        abandon it in the reactor's next turn, not only before the next
        read, which an idle connection may never do (the service would
        wait on the open request stream meanwhile). Called from a
        finalizer, in any thread, at any point:
        C{reactor.callFromThread} is safe there.
        """
        reactor = self._reactor
        if reactor is not None and not self._abandonDue:
            self._abandonDue = True
            reactor.callFromThread(self._abandonDueNow)

    def _abandonDueNow(self):
        self._abandonDue = False
        if self.connected:
            self._abandonDropped()

    def _abandonDropped(self):
        """
        Abandon the channels whose callers let go of them before their
        end (L{cocaine.rpc.receivers.Channel}'s finalizer queues their
        receivers here, from any thread, at any point: this runs where
        abandoning is safe, before anything more is read for them).
        """
        dropped = self._dropped
        while dropped:
            dropped.popleft().abandon()

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
        # nothing left to abandon: the connection forgets every channel
        self._dropped.clear()
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
                                                 authorization, reactor))
