# -*- test-case-name: tests.jabber.test_subscribers -*-
"""
The subscribers of a jabber service: each incoming message goes to every
subscriber's stream as a chunk C{[from, body, type]}.

A subscriber whose client does not read its stream must not make the node
hold unbounded memory: each has a buffer of at most C{limit} messages.
Messages go straight to the client's connection while it reads
(L{cocaine.rpc.upstream.Upstream.writable}); while it does not they wait in
the buffer, and when the buffer is full the oldest one is dropped. Once
the client reads again, it is first told how many were dropped by a
notice, a chunk C{["", "<n> messages dropped ...", "dropped"]}, then gets
the rest.
"""

from collections import deque

from twisted.logger import Logger

log = Logger()

#: The type of the notice chunk.
DROPPED = "dropped"


class Subscriber:
    """
    One C{subscribe} channel.

    @ivar upstream: the channel's L{cocaine.rpc.upstream.Upstream}.
    @ivar buffer: the messages waiting, oldest first.
    @ivar dropped: messages dropped since the last notice.
    @ivar droppedTotal: messages dropped in all.
    """

    def __init__(self, hub, upstream):
        self.hub = hub
        self.upstream = upstream
        self.buffer = deque()
        self.dropped = 0
        self.droppedTotal = 0
        self._waiting = False
        self._done = False

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
        Send waiting messages while the client reads; once it stops, go
        on when it reads again.
        """
        upstream = self.upstream
        buffer = self.buffer
        while buffer and not upstream.closed:
            if not upstream.writable:
                if not self._waiting:
                    self._waiting = True
                    upstream.whenWritable(self._writable)
                return
            if self.dropped:
                upstream.write(["", "{} messages dropped: the subscriber "
                                "reads too slowly (buffer of {})".format(
                                    self.dropped, self.hub.limit),
                                DROPPED])
                self.dropped = 0
            upstream.write(buffer.popleft())

    def _writable(self):
        self._waiting = False
        if not self._done:
            self.flush()

    def detach(self):
        """
        Stop delivering (the client closed the channel or went).
        """
        self._done = True
        self.hub.remove(self)
        self.buffer.clear()

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

    @ivar name: the service's name, for logs.
    @ivar limit: messages a subscriber may have waiting.
    """

    def __init__(self, name, limit):
        self.name = name
        self.limit = limit
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
