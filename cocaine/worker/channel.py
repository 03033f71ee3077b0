# -*- test-case-name: tests.worker.test_service -*-
"""
The streams of the worker SDK's service client (L{cocaine.worker.service}):
a L{Channel} for a streaming method's replies, read and written like a
session's streams and given up with L{Channel.abandon}, and the one
value of a plain call. L{ChannelClosed}, which a read of an abandoned
channel raises, is L{cocaine.errors.ChannelClosed}, the Twisted client
SDK's too.
"""

from collections import deque

from cocaine.errors import ChannelClosed, NotConnected, ProtocolViolation
from cocaine.protocol.client import ChannelState, primitiveReply, unwrap
from cocaine.worker.flow import waitForArrival

__all__ = ["Channel", "ChannelClosed"]


class Channel(ChannelState):
    """
    One open channel to a service (a streaming method's call), read and
    written like a session's request and response in a handler.

    Reading: L{read} gives the next chunk or value (unwrapped), L{None}
    once the service closed the stream, and raises the service's error
    (a L{cocaine.errors.CocaineError}; L{cocaine.errors.NotConnected} when
    the connection dropped), again on every later read; C{async for}
    iterates until the end. L{recv} gives raw C{(name, args)} messages.

    Writing: L{write}, L{close} and L{error} (or L{send} for any message)
    follow the method's dispatch protocol; one the protocol does not allow
    now raises L{cocaine.errors.ProtocolViolation}.

    A caller that stops reading before the end calls L{abandon}: until
    then (or until the connection closes) what the service sends is kept
    for it.

    @ivar id: the channel id.
    @ivar done: whether the service's side ended.
    """

    def __init__(self, connection, channelId, upstream, dispatch):
        ChannelState.__init__(self, channelId, upstream, dispatch)
        self._connection = connection
        self._events = deque()
        self._waiter = None
        self._failure = None
        # consume()'s callable, while it reads; what it raised, once
        self._consumer = None
        self._consumerError = None

    # -- sending -----------------------------------------------------------

    def send(self, name, *args):
        """
        Send message C{name} of the current dispatch protocol.

        @raise NotConnected: the connection is gone.
        @raise cocaine.errors.ProtocolViolation: the protocol has no such
            message now.
        """
        connection = self._connection
        if not connection.connected:
            raise NotConnected("not connected to " + connection.name)
        index = self._nextDispatch(name)
        connection.send(self.id, index, list(args))

    async def drain(self):
        """
        Wait until the connection's send buffer is below its high-water
        mark: await it between large writes to keep memory bounded.
        """
        await self._connection.drain()

    # -- receiving ---------------------------------------------------------

    def _receive(self, mtype, args):
        event = self._nextEvent(mtype, args)
        consumer = self._consumer
        if consumer is not None and event[0] == "write":
            # consume(): the chunk goes on in this read, not to the queue;
            # whether it ended the channel is read first, since the
            # consumer may abandon it (leaving the connection's
            # receivers itself)
            done = self.done
            args = event[1]
            try:
                consumer(args[0] if len(args) == 1 else unwrap(args))
            except Exception as e:
                self._consumerFailed(e)
                # abandoned: it has left the connection's receivers
                return False
            return done
        self._push(event)
        return self.done

    def _consumerFailed(self, error):
        """
        L{consume}'s callable raised C{error}: the reading ends, the
        channel is abandoned, and L{consume} raises C{error}.
        """
        self._consumer = None
        self._consumerError = error
        self.abandon()

    def _push(self, event):
        self._events.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _lost(self, reason):
        if not self.done:
            self.done = True
            self._push(("error", NotConnected(
                "connection to {} lost: {}".format(
                    self._connection.name, reason))))

    def abandon(self):
        """
        Nothing more will be read from this channel: its caller gave it up
        before the end (its own request ended, or it read what it wanted
        of an endless stream). What waits unread is dropped, and so is
        whatever the service still sends for it: the connection forgets
        the channel. A read still waiting raises L{ChannelClosed}, as
        every read does from now on (L{recv} gives C{("close", [])}).

        While the request stream is open and its protocol has an
        C{error} (a streaming request, as an app's C{enqueue}), it is
        ended with L{cocaine.errors.ClientDisconnected} ("client
        disconnected"), as the node ends its worker's when a client goes
        away, so the service can stop; where its protocol has nothing
        but a C{close} without arguments (a subscription to
        C{notifications}, C{jabber} or C{unicorn}, a unicorn lock), it is
        ended with that C{close}: the subscription ends, the lock is
        released. Once the request stream is closed, Cocaine 0.12's
        protocol has no message left to say it with: the service's stream
        runs on until it ends, and is dropped as it comes. Abandoning
        twice, or a channel that has ended, does no harm.
        """
        connection = self._connection
        self._leave(connection._receivers)
        self._events.clear()
        if not isinstance(self._failure, ChannelClosed):
            self._failure = ChannelClosed(
                "channel {} to {} was abandoned".format(
                    self.id, connection.name))
        end = self._endMessage()
        if end is not None and connection.connected:
            connection.send(self.id, end[0], end[1])
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def recv(self, timeout=None):
        """
        The next message from the service as C{(name, args)}; an error
        arrives as C{("error", exception)}, and C{("close", [])} once
        the stream has ended.

        @param timeout: seconds to wait at most, or L{None}.
        @raise asyncio.TimeoutError: C{timeout} passed first; the channel
            is left as it was.
        @raise RuntimeError: another task is already waiting.
        """
        if not self._events and not self.done:
            await waitForArrival(self, timeout,
                                 "already waiting for a message")
        if self._events:
            return self._events.popleft()
        return ("close", [])

    async def read(self, timeout=None):
        """
        The next chunk or value, unwrapped (see L{unwrap}).

        @param timeout: seconds to wait at most, or L{None}.
        @return: the value, or L{None} at the end of the stream.
        @raise cocaine.errors.CocaineError: the service's error, on this
            read and every later one.
        @raise ChannelClosed: the channel was abandoned, before this read
            or while it waited.
        """
        if self._failure is not None and not self._events:
            raise self._failure
        name, args = await self.recv(timeout)
        if name == "error":
            self._failure = args
            raise args
        if name == "close":
            if self._failure is not None:
                raise self._failure  # abandoned while this read waited
            return None
        return unwrap(args)

    async def consume(self, onChunk):
        """
        Hand every chunk of the service's stream to C{onChunk(chunk)} as
        it arrives, until the service closes it: what C{async for} would
        give, without waking this task for each chunk (a long stream read
        as it comes, as C{cocaine.client}'s C{Channel.consume}). Reads
        nothing else while it runs.

        @param onChunk: called with each chunk (unwrapped as L{read}
            does), in the connection's read. If it raises, the channel is
            abandoned (L{abandon}) and C{consume} raises that exception.
        @return: L{None} once the service closed the stream.
        @raise cocaine.errors.CocaineError: the service's error
            (L{cocaine.errors.NotConnected} when the connection dropped).
        @raise ChannelClosed: the channel was abandoned.
        @raise cocaine.errors.ProtocolViolation: the service sent a message
            that is neither a chunk nor the stream's end.
        @raise TypeError: C{onChunk} is not callable.
        @raise RuntimeError: another task is already reading the channel.
        """
        if not callable(onChunk):
            raise TypeError("consume() takes a callable for the chunks, "
                            "not {!r}".format(onChunk))
        if self._consumer is not None or self._waiter is not None:
            raise RuntimeError("channel {}: already being read".format(
                self.id))
        self._consumer = onChunk
        try:
            while True:
                # what was read before the call, then what the reads
                # queue besides chunks: the end
                events = self._events
                while events:
                    name, args = events.popleft()
                    if name == "write":
                        try:
                            onChunk(unwrap(args))
                        except Exception:
                            self._consumer = None
                            self.abandon()
                            raise
                    elif name == "error":
                        self._failure = args
                        raise args
                    elif name == "close":
                        if self._failure is not None:
                            raise self._failure
                        return None
                    else:
                        raise ProtocolViolation(
                            "{}: {!r} where a stream's chunk or end was "
                            "expected".format(self._connection.name, name))
                if self._consumerError is not None:
                    # raised once; the channel is abandoned from now on
                    error, self._consumerError = self._consumerError, None
                    raise error
                if self._failure is not None:
                    raise self._failure
                if self.done:
                    return None
                await waitForArrival(self, None, "already being read")
        finally:
            self._consumer = None

    def __aiter__(self):
        return self

    async def __anext__(self):
        value = await self.read()
        if value is None and self.done and not self._events:
            raise StopAsyncIteration
        return value


class _Primitive:
    """
    The receiver of a plain call: a future set with the value.
    """

    __slots__ = ("future", "upstream")

    def __init__(self, future, upstream):
        self.future = future
        self.upstream = upstream

    def _receive(self, mtype, args):
        if not self.future.done():
            ok, result = primitiveReply(self.upstream, mtype, args)
            if ok:
                self.future.set_result(result)
            else:
                self.future.set_exception(result)
        return True

    def _lost(self, reason):
        if not self.future.done():
            self.future.set_exception(NotConnected(
                "connection lost before the reply: {}".format(reason)))
