# -*- test-case-name: tests.notifications.test_hub -*-
"""
The node-local fan-out: which subscription wants which channel, and a
bounded queue per subscription for clients that do not read.

A message is packed once, as the args array C{[channel, value]} of a
C{write}, and that one C{bytes} object goes to every subscription of its
channel (L{cocaine.rpc.upstream.Upstream.writePacked} puts the frame's head
in front of it). A subscription whose client reads gets it written at
once; while the client's connection is not taking writes (more than the
transport's buffer waits for it) messages queue, at most C{maxPending} of
them: past that the oldest are dropped and counted, and the client is told
how many before what follows the gap (L{droppedNotice}). The queues hold
references to the shared packed messages, so however many subscriptions
lag, the node keeps at most about C{maxPending} messages per channel.
"""

from collections import deque

import msgpack

from twisted.logger import Logger

#: Messages a subscription queues for a client that does not read.
DEFAULT_MAX_PENDING = 1000

_pack = msgpack.Packer(use_bin_type=True).pack


def packMessage(channel, value):
    """
    @return: the packed args of the C{write} that carries C{value} of
        C{channel} to a subscriber.
    """
    return _pack([channel, value])


def droppedNotice(count):
    """
    The C{write} that tells a subscriber C{count} messages were dropped
    because it did not read: C{["", {"dropped": count}]} (no channel is
    named C{""}).
    """
    return _pack(["", {"dropped": count}])


def lostNotice(reason):
    """
    The C{write} that tells a subscriber messages may have been lost, how
    many unknown: C{["", {"lost": reason}]}.
    """
    return _pack(["", {"lost": reason}])


class Subscription:
    """
    One client's C{subscribe} channel: the dispatch target of its stream
    (its C{close} ends the subscription) and a bounded queue.

    @ivar channels: the channel names it wants (a tuple of text).
    @ivar dropped: messages dropped since it was last told.
    """

    log = Logger()

    __slots__ = ("_hub", "_upstream", "channels", "_maxPending", "_pending",
                 "dropped", "_waiting", "_done")

    def __init__(self, hub, upstream, channels, maxPending):
        self._hub = hub
        self._upstream = upstream
        self.channels = tuple(channels)
        self._maxPending = maxPending
        self._pending = deque()
        self.dropped = 0
        self._waiting = False
        self._done = False

    @property
    def pending(self):
        """
        The messages queued for the client.
        """
        return len(self._pending)

    def deliver(self, packed):
        """
        Send one packed message, or queue it while the client is not
        reading.
        """
        if self._pending or not self._upstream.writable:
            self._queue(packed)
        else:
            self._upstream.writePacked(packed)

    def _queue(self, packed):
        pending = self._pending
        if len(pending) >= self._maxPending:
            pending.popleft()
            self.dropped += 1
        pending.append(packed)
        if not self._waiting:
            self._waiting = True
            self._upstream.whenWritable(self._drain)

    def _drain(self):
        self._waiting = False
        if self._done:
            return
        upstream = self._upstream
        if self.dropped:
            count, self.dropped = self.dropped, 0
            self.log.debug("a subscriber to {channels} missed {count} "
                           "messages", channels=self.channels, count=count)
            upstream.writePacked(droppedNotice(count))
        pending = self._pending
        while pending and upstream.writable:
            upstream.writePacked(pending.popleft())
        if pending and not self._waiting:
            self._waiting = True
            upstream.whenWritable(self._drain)

    # -- the client's side of the channel ----------------------------------

    def close(self):
        """
        The client sent C{close}: end the subscription and the stream.
        """
        self._end()
        self._upstream.close()

    def connectionLost(self):
        """
        The client went away (or broke the protocol).
        """
        self._end()

    def _end(self):
        if not self._done:
            self._done = True
            self._pending.clear()
            self._hub.remove(self)


class Hub:
    """
    The subscriptions of one service, by channel.

    @ivar onFirst: called with a list of channel names that got their first
        subscription (to subscribe elsewhere), or L{None}.
    @ivar onLast: called with a list of channel names that lost their last
        one, or L{None}.
    """

    def __init__(self, maxPending=DEFAULT_MAX_PENDING, onFirst=None,
                 onLast=None):
        self.maxPending = maxPending
        self.onFirst = onFirst
        self.onLast = onLast
        self._channels = {}

    def channels(self):
        """
        @return: the channel names with subscriptions.
        """
        return set(self._channels)

    def count(self, channel):
        """
        @return: the subscriptions of C{channel}.
        """
        return len(self._channels.get(channel, ()))

    def subscriptions(self):
        """
        @return: every live L{Subscription} (each once).
        """
        seen = {}
        for subscriptions in self._channels.values():
            for subscription in subscriptions:
                seen[subscription] = None
        return list(seen)

    def subscribe(self, upstream, channels):
        """
        Add a subscription answering on C{upstream}.

        @param channels: distinct channel names.
        @return: the L{Subscription}, the dispatch target of its channel.
        """
        subscription = Subscription(self, upstream, channels,
                                    self.maxPending)
        first = []
        for name in subscription.channels:
            subscribers = self._channels.get(name)
            if subscribers is None:
                subscribers = self._channels[name] = {}
                first.append(name)
            subscribers[subscription] = None
        if first and self.onFirst is not None:
            self.onFirst(first)
        return subscription

    def remove(self, subscription):
        """
        Forget C{subscription}.
        """
        last = []
        for name in subscription.channels:
            subscribers = self._channels.get(name)
            if subscribers is None:
                continue
            subscribers.pop(subscription, None)
            if not subscribers:
                del self._channels[name]
                last.append(name)
        if last and self.onLast is not None:
            self.onLast(last)

    def deliver(self, channel, value):
        """
        Hand C{value} to every subscription of C{channel}.

        @return: how many there were.
        """
        subscribers = self._channels.get(channel)
        if not subscribers:
            return 0
        return self.deliverPacked(channel, packMessage(channel, value))

    def deliverPacked(self, channel, packed):
        """
        Hand an already packed message to every subscription of
        C{channel}.

        @return: how many there were.
        """
        subscribers = self._channels.get(channel)
        if not subscribers:
            return 0
        # a copy: a write may end a subscription (a client's connection
        # dropped for its write limit)
        subscriptions = tuple(subscribers)
        for subscription in subscriptions:
            subscription.deliver(packed)
        return len(subscriptions)

    def notifyAll(self, packed):
        """
        Send a notice to every subscription, in order with its messages.
        """
        for subscription in self.subscriptions():
            subscription.deliver(packed)

    def closeAll(self):
        """
        End every subscription's stream (the service stops).
        """
        for subscription in self.subscriptions():
            subscription.close()
