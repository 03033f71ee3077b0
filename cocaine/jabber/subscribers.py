# -*- test-case-name: tests.jabber.test_subscribers -*-
"""
The subscribers of a jabber service: each incoming message goes to every
subscriber's stream as a chunk C{[from, body, type]}.

A subscriber whose client does not read its stream must not make the node
hold unbounded memory: each has a buffer of at most C{limit} messages.
Messages go straight to the client's connection while it takes them (less
than L{CONGESTED} bytes wait in it to be sent); past that they wait in the
buffer, and when the buffer is full the oldest one is dropped. Before the
next message it receives, the subscriber is told how many were dropped by
a notice, a chunk C{["", "<n> messages dropped ...", "dropped"]}.

Over TLS the bytes waiting on a connection cannot be seen
(L{cocaine.rpc.writes.pendingBytes} is L{None}): messages then go straight
to the connection, and the server's write limit (C{write-buffer-max})
cuts a client that does not read.
"""

from collections import deque

from twisted.logger import Logger

from cocaine.rpc import writes

log = Logger()

#: Bytes waiting in a client's connection past which its subscriber's
#: messages wait in its own buffer.
CONGESTED = 64 * 1024

#: Seconds between looks at a congested connection.
RECHECK = 0.1

#: The type of the notice chunk.
DROPPED = "dropped"


def pendingBytes(upstream):
    """
    How many bytes wait to be sent on the connection of a server
    L{cocaine.rpc.server.Upstream}, or 0 when that cannot be seen (no
    transport, or TLS).
    """
    connection = getattr(upstream, "_connection", None)
    transport = getattr(connection, "transport", None)
    if transport is None:
        return 0
    return writes.pendingBytes(transport) or 0


class Subscriber:
    """
    One C{subscribe} channel.

    @ivar upstream: the channel's L{cocaine.rpc.server.Upstream}.
    @ivar buffer: the messages waiting, oldest first.
    @ivar dropped: messages dropped since the last notice.
    """

    def __init__(self, hub, upstream):
        self.hub = hub
        self.upstream = upstream
        self.buffer = deque()
        self.dropped = 0
        self.droppedTotal = 0
        self._recheck = None

    def deliver(self, chunk):
        """
        Queue C{chunk} and send what the client can take now.
        """
        if len(self.buffer) >= self.hub.limit:
            self.buffer.popleft()
            self.dropped += 1
            self.droppedTotal += 1
            if self.dropped == 1:
                log.warn("jabber service {service}: a subscriber does not "
                         "read; dropping its oldest messages (buffer of "
                         "{limit})", service=self.hub.name,
                         limit=self.hub.limit)
        self.buffer.append(chunk)
        self.flush()

    def flush(self):
        """
        Send waiting messages while the client's connection takes them;
        look again later if it does not (one timer at a time).
        """
        upstream = self.upstream
        buffer = self.buffer
        while buffer and not upstream.closed:
            if self.hub.pending(upstream) > CONGESTED:
                if self._recheck is None:
                    self._recheck = self.hub.clock.callLater(
                        RECHECK, self._rechecked)
                return
            if self.dropped:
                upstream.write(["", "{} messages dropped: the subscriber "
                                "reads too slowly (buffer of {})".format(
                                    self.dropped, self.hub.limit),
                                DROPPED])
                self.dropped = 0
            upstream.write(buffer.popleft())

    def _rechecked(self):
        self._recheck = None
        self.flush()

    def detach(self):
        """
        Stop delivering (the client closed the channel or went).
        """
        self.hub.remove(self)
        self.buffer.clear()
        if self._recheck is not None:
            recheck, self._recheck = self._recheck, None
            if recheck.active():
                recheck.cancel()

    # what the client may send on the channel (the server's handler
    # contract): close, or going away
    def close(self):
        self.detach()
        self.upstream.close()

    def connectionLost(self):
        self.detach()


class Hub:
    """
    Every subscriber of one service.

    @ivar limit: messages a subscriber may have waiting.
    @ivar pending: C{upstream -> bytes} waiting on its connection.
    """

    def __init__(self, clock, name, limit, pending=pendingBytes):
        self.clock = clock
        self.name = name
        self.limit = limit
        self.pending = pending
        self.subscribers = []

    def add(self, upstream):
        """
        A new subscriber on C{upstream}.

        @return: the L{Subscriber} (the target of the channel's messages).
        """
        subscriber = Subscriber(self, upstream)
        self.subscribers.append(subscriber)
        upstream.notifyClose(subscriber.detach)
        return subscriber

    def remove(self, subscriber):
        if subscriber in self.subscribers:
            self.subscribers.remove(subscriber)

    def publish(self, sender, body, type):
        """
        Deliver one incoming message to every subscriber.
        """
        for subscriber in list(self.subscribers):
            subscriber.deliver([sender, body, type])

    def closeAll(self):
        """
        End every subscriber's stream (the service stops).
        """
        for subscriber in list(self.subscribers):
            subscriber.detach()
            subscriber.upstream.close()
