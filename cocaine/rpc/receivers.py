# -*- test-case-name: tests.rpc.test_client -*-
"""
What receives a service's messages on one client channel (the
connection's receivers, L{cocaine.rpc.client.ClientProtocol}): a
L{Channel} for a stream either way, L{_Primitive} for a plain call's
value, L{_Request} for a whole streaming request and its answer. Each
has C{_receive(mtype, args)}, true when the channel is done, and
C{_lost(reason)}.

A receiver nobody will read any more leaves the connection's receivers
at once (a cancelled call or request; a L{Channel} its caller
abandoned): what the service still sends for it is then dropped as it
comes, as for any channel the connection does not know, rather than
kept for a read that will never come (an endless stream kept that way
grew without bound).

L{ChannelClosed}, which a read raises once the stream has ended or was
abandoned, is L{cocaine.errors.ChannelClosed}, the worker SDK's too.
"""

from collections import deque

from twisted.internet.defer import Deferred, fail, succeed

from cocaine.errors import (
    ChannelClosed, NotConnected, ProtocolViolation, fromWire)
from cocaine.protocol.client import (
    CLIENT_GONE, ChannelState, primitiveReply, unwrap)
from cocaine.protocol.idl import PRIMITIVE, STREAMING, TERMINAL
from cocaine.rpc import writes

__all__ = ["Channel", "ChannelClosed"]


#: The ids of C{write} and C{close} in L{STREAMING}: a chunk leaves the
#: protocol where it is, a close ends it.
_STREAM_WRITE = STREAMING.idOf("write")
_STREAM_ERROR = STREAMING.idOf("error")
_STREAM_CLOSE = STREAMING.idOf("close")


class Channel(ChannelState):
    """
    One open channel on a client connection.

    Reading: L{read} gives the next chunk or value, raises the service's
    error as an exception and L{ChannelClosed} after C{close}; C{async for}
    iterates chunks until close; L{collect} gives every chunk at once.
    Writing: L{send} (or L{write}, L{close}, L{error}) follows the
    message's dispatch protocol (L{cocaine.protocol.client.ChannelState}
    keeps both protocols). A caller that stops reading before the end
    calls L{abandon}: until then (or until the connection closes) what
    the service sends is kept for it.
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
        # whether this message ended the channel, read before anything is
        # called back: a reader that abandons the channel meanwhile has
        # taken it out of the receivers itself
        done = self.done
        if self._collector is not None:
            self._gather(event)
            return done
        waiting = self._waiting
        if waiting:
            waiting.popleft().callback(event)
        else:
            self._queue.append(event)
        if done:
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

    def abandon(self):
        """
        Nothing more will be read from this channel: its caller gave it up
        before the end (its own client went away, or it read what it
        wanted of an endless stream). What waits unread is dropped, and so
        is whatever the service still sends for it: the connection forgets
        the channel. A read or a L{collect} still waiting fails with
        L{ChannelClosed}, as every read does from now on.

        While the request stream is open and its protocol has an C{error}
        (a streaming request, as an app's C{enqueue}), it is ended with
        L{ClientDisconnected} ("client disconnected"), as the node ends
        its worker's when a client goes away, so the service can stop.
        Once the request stream is closed, Cocaine 0.12's protocol has no
        message left to say it with: the service's stream runs on until it
        ends, and is dropped as it comes. Abandoning twice, or a channel
        that has ended, does no harm.
        """
        connection = self._connection
        self._leave(connection._receivers)
        self._queue.clear()
        index = self._errorIndex()
        if index is not None and connection.connected:
            writes.write(connection.transport, connection._pack(
                [self.id, index, CLIENT_GONE]))
        collector, self._collector = self._collector, None
        if collector is not None:
            collector[1].errback(ChannelClosed(
                "channel {} abandoned before its end".format(self.id)))
        self._release(("close", []))

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
