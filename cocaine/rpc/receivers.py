# -*- test-case-name: tests.rpc.test_client -*-
"""
What receives a service's messages on one client channel (the
connection's receivers, L{cocaine.rpc.client.ClientProtocol}): a
L{_ChannelCore} for a stream either way (the connection's side of the
L{Channel} its caller holds), L{_Primitive} for a plain call's value,
L{_Request} for a whole streaming request and its answer. Each has
C{_receive(mtype, args)}, true when the channel is done, and
C{_lost(reason)}.

A receiver nobody will read any more leaves the connection's receivers
(a cancelled call or request, at once; a L{Channel} its caller
abandoned, at once, or let go of, before the connection handles what it
next receives): what the service still sends for it is then dropped as
it comes, as for any channel the connection does not know, rather than
kept for a read that will never come (an endless stream kept that way
grew without bound).

L{ChannelClosed}, which a read raises once the stream has ended or was
abandoned, is L{cocaine.errors.ChannelClosed}, the worker SDK's too.
"""

from collections import deque

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

from cocaine.errors import (
    ChannelClosed, NotConnected, ProtocolViolation, fromWire)
from cocaine.protocol.client import ChannelState, primitiveReply, unwrap
from cocaine.protocol.framing import packMessage
from cocaine.protocol.idl import PRIMITIVE, STREAMING, TERMINAL
from cocaine.rpc import writes

__all__ = ["Channel", "ChannelClosed"]


#: The ids of C{write} and C{close} in L{STREAMING}: a chunk leaves the
#: protocol where it is, a close ends it.
_STREAM_WRITE = STREAMING.idOf("write")
_STREAM_ERROR = STREAMING.idOf("error")
_STREAM_CLOSE = STREAMING.idOf("close")


#: The queue of a channel its caller let go of: what it is given goes
#: nowhere.
_NOWHERE = deque(maxlen=0)


class _ChannelCore(ChannelState):
    """
    What the connection holds of one open L{Channel} (its receiver):
    both protocols' state, what waits to be read, the reads waiting and
    L{Channel.collect}'s gathering. The caller holds the L{Channel}, and
    the connection never does, so a channel its caller lets go of is
    freed and its finalizer abandons this (L{_dropped}).

    @ivar done: whether the service's side has ended, or the channel was
        abandoned.
    """

    # slotted: this and its Channel cost less to make than the one
    # object with a __dict__ they replace
    __slots__ = ("_connection", "_queue", "_waiting", "_collector")

    def __init__(self, connection, channelId, upstream, dispatch):
        # ChannelState.__init__'s fields, set here: a call fewer per call
        #: C{(add, deferred, result)} while L{Channel.collect} gathers the
        #: stream (C{add} appends to the list C{result}) or
        #: L{Channel.consume} hands it on (C{add} is its callable,
        #: C{result} L{None})
        self._collector = None
        self.id = channelId
        self._upstream = upstream
        self._dispatch = dispatch
        self.done = upstream is TERMINAL
        self._connection = connection
        self._queue = deque()
        self._waiting = deque()

    def _receive(self, mtype, args):
        protocol = self._upstream
        if protocol is STREAMING and (mtype == _STREAM_WRITE
                                      or mtype == _STREAM_CLOSE):
            # a chunk or the close of a stream (an app's reply) without
            # _nextEvent
            if mtype == _STREAM_WRITE:
                collector = self._collector
                if collector is not None:
                    # straight to collect() or consume(): every chunk of
                    # a long stream read as it comes
                    self._add(collector, args)
                    return False
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
        One event of the stream L{Channel.collect} gathers or
        L{Channel.consume} hands on: a chunk is kept or handed on, the end
        fires the Deferred. A consumer that raises ends the reading: the
        channel is abandoned and the Deferred fails with its exception.
        """
        name, args = event
        collector = self._collector
        if name == "write":
            self._add(collector, args)
            return
        d, result = collector[1], collector[2]
        self._collector = None
        if name == "error":
            d.errback(args)
        elif name == "close":
            d.callback(result)
        else:
            d.errback(ProtocolViolation(
                "{}: {!r} where a stream's chunk or end was expected".format(
                    self._connection.name, name)))

    def _add(self, collector, args):
        """
        A chunk to L{Channel.collect}'s list or L{Channel.consume}'s
        callable C{collector[0]}.
        """
        try:
            collector[0](args[0] if len(args) == 1 else unwrap(args))
        except Exception:
            failure = Failure()
            self._collector = None
            self.abandon()
            collector[1].errback(failure)

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
        L{Channel.abandon}: leave the receivers, drop what waits, end an
        open request stream (L{ChannelState._endMessage}), fail what still
        reads.
        """
        connection = self._connection
        self._leave(connection._receivers)
        self._queue.clear()
        end = self._endMessage()
        if end is not None and connection.connected:
            writes.write(connection.transport, connection._pack(
                [self.id, end[0], end[1]]))
        collector, self._collector = self._collector, None
        if collector is not None:
            collector[1].errback(ChannelClosed(
                "channel {} abandoned before its end".format(self.id)))
        self._release(("close", []))

    def _dropped(self):
        """
        Its L{Channel} was freed before the end: its caller let go of it
        (L{Channel.__del__}). Nothing can read what waits, so it is
        dropped now, and the connection abandons the channel in its
        reactor's next turn, or before it reads anything more
        (L{cocaine.rpc.client.ClientProtocol}).

        A finalizer runs in the thread that let go (the blocking facade's
        caller's) or at any point the collector runs, in the middle of
        the connection's own code too: this only sets an attribute,
        appends to a deque, each one step under the GIL, and asks the
        reactor to call back from its loop (C{callFromThread}, made for
        any thread). No read or
        L{Channel.collect} waits here (each holds the L{Channel}), so
        nobody is called back.
        """
        # what waits goes, and what comes before the connection abandons
        # it goes nowhere
        self._queue = _NOWHERE
        connection = self._connection
        if connection.connected:
            connection._dropped.append(self)
            connection._abandonSoon()


class Channel:
    """
    One open channel on a client connection.

    Reading: L{read} gives the next chunk or value, raises the service's
    error as an exception and L{ChannelClosed} after C{close}; C{async for}
    iterates chunks until close; L{collect} gives every chunk at once.
    Writing: L{send} (or L{write}, L{close}, L{error}) follows the
    message's dispatch protocol (L{cocaine.protocol.client.ChannelState}
    keeps both protocols). A caller that stops reading before the end
    calls L{abandon}, or lets go of the channel: until then (or until the
    connection closes) what the service sends is kept for it.

    A channel its caller let go of before its end, with no read or
    L{collect} waiting on it (each holds it), is abandoned as if
    L{abandon} were called: what waits is dropped when it is freed, and
    the connection forgets it, and sends an open request stream's
    "client disconnected", in its reactor's next turn (or before it
    handles what it next receives, when it was made without a reactor).
    Nothing can read it any more, so nothing more is kept for it.

    @ivar id: the channel id.
    """

    __slots__ = ("_core", "id")

    def __init__(self, connection, channelId, upstream, dispatch):
        self._core = _ChannelCore(connection, channelId, upstream, dispatch)
        self.id = channelId

    @property
    def done(self):
        """
        Whether the service's side has ended (nothing more will be
        received), or the channel was abandoned.
        """
        return self._core.done

    def __del__(self):
        core = self._core
        if not core.done:
            core._dropped()

    # -- sending -----------------------------------------------------------

    def send(self, name, *args):
        """
        Send message C{name} of the current dispatch protocol.

        @raise ProtocolViolation: the protocol has no such message now.
        """
        # args, a tuple, packs as an array: no list made per message
        core = self._core
        connection = core._connection
        writes.write(connection.transport, connection._pack(
            [core.id, core._nextDispatch(name), args]))

    def write(self, *args):
        """
        Send a chunk of the request stream.
        """
        # a streaming request (an app's enqueue) without _nextDispatch
        core = self._core
        index = (_STREAM_WRITE if core._dispatch is STREAMING
                 else core._nextDispatch("write"))
        connection = core._connection
        writes.write(connection.transport, packMessage(
            connection._pack, core.id, index, args))

    def close(self):
        """
        End the request stream.
        """
        core = self._core
        if core._dispatch is STREAMING:
            index = _STREAM_CLOSE
            core._dispatch = TERMINAL
        else:
            index = core._nextDispatch("close")
        connection = core._connection
        writes.write(connection.transport, packMessage(
            connection._pack, core.id, index, []))

    def error(self, category, code, message=""):
        """
        End the request stream with an error.
        """
        self.send("error", [category, code], message)

    # -- receiving ---------------------------------------------------------

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
        its worker's when a client goes away, so the service can stop;
        where its protocol has nothing but a C{close} without arguments (a
        subscription to C{notifications}, C{jabber} or C{unicorn}, a
        unicorn lock), it is ended with that C{close}: the subscription
        ends, the lock is released. Once the request stream is closed,
        Cocaine 0.12's protocol has no message left to say it with: the
        service's stream runs on until it ends, and is dropped as it
        comes. Abandoning twice, or a channel that has ended, does no
        harm.
        """
        self._core.abandon()

    def recv(self):
        """
        The next message from the service as C{(name, args)}; an error
        arrives as C{("error", exception)}.

        @return: a Deferred.
        """
        core = self._core
        if core._queue:
            return succeed(core._queue.popleft())
        waiting = core._waiting
        if core.done and not waiting:
            return succeed(("close", []))
        # its canceller holds this channel while the read waits
        d = Deferred(self._cancelRead)
        waiting.append(d)
        return d

    def _cancelRead(self, deferred):
        self._core._waiting.remove(deferred)

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
        chunks = []
        return self._gatherWith(chunks.append, chunks, "collect()")

    def consume(self, onChunk):
        """
        Hand every chunk of the service's stream to C{onChunk(chunk)} as
        it arrives, until the service closes it: what C{async for} would
        give, with one Deferred for the whole stream rather than one per
        chunk (a long stream read as it comes). Reads nothing else once
        called: use L{recv} and L{read} or this, not both.

        @param onChunk: called with each chunk (unwrapped as L{read}
            does), in the connection's read. If it raises, the channel is
            abandoned (L{abandon}) and the Deferred fails with that
            exception.
        @return: a Deferred of L{None} once the stream is closed, failing
            with the service's error.
        @raise TypeError: C{onChunk} is not callable.
        """
        if not callable(onChunk):
            raise TypeError("consume() takes a callable for the chunks, "
                            "not {!r}".format(onChunk))
        return self._gatherWith(onChunk, None, "consume()")

    def _gatherWith(self, add, result, call):
        core = self._core
        if core._collector is not None:
            return fail(ProtocolViolation(
                "channel {}: {} while already reading the whole "
                "stream".format(self.id, call)))
        # its canceller holds this channel while it gathers
        d = Deferred(self._stopCollecting)
        core._collector = (add, d, result)
        # what was read before the call, then what arrives, the same way
        queue = core._queue
        while queue and core._collector is not None:
            core._gather(queue.popleft())
        if core._collector is not None and core.done:
            # the stream ended with a close an earlier read already took
            core._gather(("close", []))
        return d

    def _stopCollecting(self, deferred):
        self._core._collector = None

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
