# -*- test-case-name: tests.mesh.test_amp -*-
"""
How the AMP connections of the mesh write.

While an L{cocaine.mesh.amp.AMPProtocol} handles received data, the first
message written to each connection is sent at once, so that the peer
starts on it while the rest is handled; the following ones are joined per
connection and sent every L{WriteBatch.joinAtMost} messages and when the
handling ends (L{batch}). They go straight to the socket when the
connection has nothing buffered (L{cocaine.rpc.writes.sendNow}), which
saves Twisted's wait for writability. Other writes (a publisher's burst)
go through C{transport.write}, which joins what one turn of the reactor
writes, and what a connection writes while Twisted already holds much
for it waits in a L{Backlog}.
"""

import collections

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from cocaine.rpc.writes import sendNow

__all__ = ["Backlog", "WriteBatch", "batch"]


@implementer(IPushProducer)
class Backlog:
    """
    What a connection writes while Twisted already holds more than
    C{limit} bytes for it: a publisher faster than its subscriber.

    Twisted's buffer joins everything written to it into one string each
    time its send buffer runs low, which made joining a fast publisher's
    backlog (megabytes of small messages) its largest cost. The backlog
    waits here instead, as the list of messages, registered as the
    transport's streaming producer: Twisted pauses it when its own buffer
    is full and resumes it when that is drained, and each resume hands
    Twisted the next messages joined in pieces of about C{piece} bytes.
    Nothing is dropped, and the order of writes is kept.

    @ivar queue: the messages waiting, while paused; else L{None}.
    """

    limit = 256 * 1024
    piece = 64 * 1024

    def __init__(self, transport):
        self.transport = transport
        self.queue = None

    @classmethod
    def needed(cls, transport, size):
        """
        Whether writing C{size} more bytes would leave more than C{limit}
        in C{transport}'s buffer (only Twisted's file-descriptor transports
        say; others never need a backlog).
        """
        try:
            buffered = (len(transport.dataBuffer) - transport.offset
                        + transport._tempDataLen)
            return buffered + size > cls.limit and transport.producer is None
        except AttributeError:
            return False

    def write(self, data):
        """
        Write C{data} as the transport's producer; further writes queue
        here until the transport resumes it.
        """
        self.transport.registerProducer(self, True)
        # over the transport's bufferSize: pauses us
        self.transport.write(data)
        if self.queue is None:
            self.transport.unregisterProducer()

    def pauseProducing(self):
        if self.queue is None:
            self.queue = collections.deque()

    def resumeProducing(self):
        queue, self.queue = self.queue, None
        while queue:
            chunk = [queue.popleft()]
            size = len(chunk[0])
            while queue and size < self.piece:
                data = queue.popleft()
                chunk.append(data)
                size += len(data)
            self.transport.write(b"".join(chunk))
            if self.queue is not None:  # paused again
                self.queue = queue
                return
        self.transport.unregisterProducer()

    def stopProducing(self):
        self.queue = None


class WriteBatch:
    """
    The writes of AMP connections while received data is handled (see the
    module's docstring).

    Joining every reply of a chunk into one write made the two ends of a
    pipelined exchange take turns: a Requester with 8 requests in flight
    got its 8 replies at once, handled them while the Responder idled,
    and sent 8 requests at once while it idled in turn. Sending the first
    message at once, and then every C{joinAtMost}, keeps both ends busy.

    @ivar joinAtMost: how many messages to one connection are joined into
        one write, at most.
    """

    joinAtMost = 16

    def __init__(self):
        self.depth = 0
        self.pending = {}
        self.started = set()

    def begin(self):
        self.depth += 1

    def end(self):
        self.depth -= 1
        if self.depth:
            return
        self.started.clear()
        if self.pending:
            pending = list(self.pending.items())
            self.pending.clear()
            for transport, chunks in pending:
                sendNow(transport, chunks[0] if len(chunks) == 1
                        else b"".join(chunks))

    def write(self, transport, data):
        if not self.depth:
            transport.write(data)
            return
        chunks = self.pending.get(transport)
        if chunks is not None:
            chunks.append(data)
            if len(chunks) >= self.joinAtMost:
                del self.pending[transport]
                sendNow(transport, b"".join(chunks))
        elif transport in self.started:
            self.pending[transport] = [data]
        else:
            self.started.add(transport)
            sendNow(transport, data)

    def flush(self, transport):
        """
        Send what C{transport} has in the batch now.
        """
        chunks = self.pending.pop(transport, None)
        if chunks:
            sendNow(transport, b"".join(chunks))


#: The one batch of every AMP connection of this process.
batch = WriteBatch()
