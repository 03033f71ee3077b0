# -*- test-case-name: tests.rpc.test_limits,tests.rpc.test_server -*-
"""
A server connection's limits (issue 14): peers that do not read their
replies, idle peers, frames that arrive too slowly, too many channels.

L{FlowControl} is mixed into L{cocaine.rpc.server.ServerProtocol}: it
writes what the connection sends (C{sendMessage} and its kin), counting it
against the write limit, and keeps the other limits. It uses the
connection's C{_limits}, C{_decoder}, C{_pack}, C{_encoder}, C{_broken},
C{_service}, C{_peer}, C{_reactor} and its maps of open channels, and
keeps the counters its methods share (C{_queued}, C{_writeFull},
C{_writable}, C{_timer}, C{_idleFor}, C{_lastFed}, C{_lastPartial}).
Nothing here but the writes runs per message unless the peer stops
reading or a message is large.
"""

import errno

from cocaine.errors import SystemError_
from cocaine.protocol.framing import packClosing, packMessage
from cocaine.rpc import writes

#: Messages up to this size are counted against a connection's write
#: limit only while its peer is not reading (see L{FlowControl._account}).
SMALL = 4096


class WritableWaiters:
    """
    What waits for a peer to read what was sent to it: the callbacks of a
    connection's C{whenWritable}, called once its transport's write buffer
    drains (the node's server connections, L{FlowControl}, and the HTTP
    gateway's, L{cocaine.http.channel.HTTPChannel}).
    """

    def __init__(self, log, format, **fields):
        """
        @param log: where a callback that raises is logged, with C{format}
            and C{fields}.
        """
        self._callbacks = []
        self._log = log
        self._format = format
        self._fields = fields

    def add(self, full, callback):
        """
        Call C{callback()} once the peer has read, at once unless the
        write buffer is C{full}.
        """
        if full:
            self._callbacks.append(callback)
        else:
            callback()

    def fire(self, writable):
        """
        The peer read: call the waiting callbacks in order, as long as
        C{writable()} says the connection still takes writes (one may pause
        it again; the rest then wait on).
        """
        callbacks, self._callbacks = self._callbacks, []
        for index, callback in enumerate(callbacks):
            if not writable():
                self._callbacks.extend(callbacks[index:])
                return
            try:
                callback()
            except Exception:
                self._log.failure(self._format, **self._fields)

    def clear(self):
        """
        The connection is gone: nothing waiting will be called.
        """
        self._callbacks = []


class FlowControl:
    """
    The limits of one server connection (a mixin of
    L{cocaine.rpc.server.ServerProtocol}).
    """

    def sendMessage(self, channel, mtype, args):
        """
        Write one message; a no-op once the connection is broken.
        """
        if not self._broken:
            data = packMessage(self._pack, channel, mtype, args)
            if len(data) > SMALL or self._writeFull:
                if self._account(data):
                    return
            writes.write(self.transport, data)

    def sendMessages(self, channel, mtype, argsLists, endWith=None):
        """
        Write one message C{mtype} on C{channel} for each args list of
        C{argsLists}, joined: one write, counted against the write limit
        as one message; a no-op once the connection is broken.

        @param endWith: the type of a message without args to write after
            them in the same write (a stream's close), or L{None}.
        """
        if not self._broken:
            pack = self._pack
            if endWith is not None and len(argsLists) == 1:
                # one chunk and the close: every echo-sized answer
                data = packClosing(pack, channel, mtype, argsLists[0],
                                   endWith)
            else:
                messages = [packMessage(pack, channel, mtype, args)
                            for args in argsLists]
                if endWith is not None:
                    messages.append(packMessage(pack, channel, endWith, []))
                data = b"".join(messages)
            if len(data) > SMALL or self._writeFull:
                if self._account(data):
                    return
            writes.write(self.transport, data)

    def sendFrames(self, data):
        """
        Write messages already packed (L{Upstream.writeFrames}), counted
        against the write limit as one; a no-op once the connection is
        broken.
        """
        if not self._broken:
            if len(data) > SMALL or self._writeFull:
                if self._account(data):
                    return
            writes.write(self.transport, data)

    def sendPacked(self, channel, mtype, packedArgs):
        """
        Write one message whose args array is already packed; a no-op once
        the connection is broken.
        """
        if not self._broken:
            data = self._encoder.encodePacked(channel, mtype, packedArgs)
            if len(data) > SMALL or self._writeFull:
                if self._account(data):
                    return
            writes.write(self.transport, data)

    def whenWritable(self, callback):
        """
        Call C{callback()} once the peer reads again (at once when it
        does); forgotten if the connection drops first.
        """
        self._writable.add(self._writeFull, callback)

    def _account(self, data):
        """
        Count C{data} against C{writeLimit}: a large message, or any while
        the peer is not reading. Small ones otherwise go uncounted (the
        hot path): one read's worth of requests cannot queue much of them.

        @return: whether the connection was dropped.
        """
        if self._writeLimit is None:
            return False
        self._queued += len(data)
        return self._queued > self._writeLimit and self._overLimit()

    def _overLimit(self):
        """
        More than C{writeLimit} bytes were written since the count was
        last taken: count what really waits for the peer (the transport's
        buffer and the open batch) and drop the connection if that is over
        the limit, too.

        @return: whether the connection was dropped.
        """
        queued = writes.pendingBytes(self.transport)
        if queued is None:
            # a transport whose buffer we cannot see (TLS): what was
            # counted since the transport last said it drained
            queued = self._queued
        if queued <= self._writeLimit:
            self._queued = queued
            return False
        self._drop("it does not read its replies: {} bytes wait for it, "
                   "more than the {} byte limit (write-buffer-max)".format(
                       queued, self._writeLimit))
        return True

    def _drop(self, reason):
        """
        Abort the connection: what it was sent is dropped, its handlers
        hear it went away.
        """
        if self._broken:
            return
        self.log.warn("{service}: dropping the connection of {peer}: "
                      "{reason}", service=self._service.name,
                      peer=self._peer, reason=reason)
        self._broken = True
        writes.discard(self.transport)
        self.transport.abortConnection()

    def close(self):
        """
        Close the connection once what was written has been sent.
        """
        if self._limits.writeLimit is not None:
            # a registered producer would hold the close open
            self.transport.unregisterProducer()
        self.transport.loseConnection()

    def pauseProducing(self):
        """
        The transport's write buffer is over its C{bufferSize}: stop reading
        from the peer until it has read its replies.
        """
        if not self._writeFull and not self._broken:
            self._writeFull = True
            self.transport.pauseProducing()

    def resumeProducing(self):
        """
        The transport's write buffer drained: read again.
        """
        self._queued = 0
        if self._writeFull and not self._broken:
            self._writeFull = False
            self.transport.resumeProducing()
            self._writable.fire(
                lambda: not (self._writeFull or self._broken))

    def stopProducing(self):
        """
        The connection is gone (L{connectionLost} follows).
        """

    def _tick(self):
        """
        The connection's one timer: close it when nothing arrived and no
        channel was open for C{idleTimeout}, abort it when a frame has been
        arriving for longer than C{frameTimeout}. It keeps no per-message
        state of its own: it compares the decoder's counters with the
        last tick's.
        """
        self._timer = None
        if self._broken:
            return
        limits = self._limits
        decoder = self._decoder
        period = self._period
        fed = decoder.fed
        partial = decoder.settled if decoder.partial else None
        if self._writeFull:
            # we are not reading: the peer cannot be blamed for waiting
            partial = None
            self._idleFor = 0.0
        elif (limits.frameTimeout is not None and partial is not None
                and partial == self._lastPartial):
            self._drop("a frame begun more than {:g} s ago is still "
                       "incomplete (frame-timeout)".format(
                           limits.frameTimeout))
            return
        elif (fed == self._lastFed and not self._inflight
                and not self._dispatch and not self._upstreams):
            self._idleFor += period
            if (limits.idleTimeout is not None
                    and self._idleFor >= limits.idleTimeout):
                self.log.info("{service}: closing the idle connection of "
                              "{peer} (idle-timeout {timeout:g} s)",
                              service=self._service.name, peer=self._peer,
                              timeout=limits.idleTimeout)
                self._broken = True
                self.close()
                return
        else:
            self._idleFor = 0.0
        self._lastFed = fed
        self._lastPartial = partial
        self._timer = self._reactor.callLater(period, self._tick)

    def _refuseChannel(self, channel, mtype):
        """
        Answer a new channel past C{maxChannels} with an error instead of
        opening it.
        """
        self._dispatchError(channel, SystemError_(
            "{}: {} channels are open on this connection, the limit "
            "(max-channels)".format(self._service.name, self._maxChannels),
            code=errno.EMFILE), self._service.protocol.get(mtype))

    def _openChannels(self):
        """
        The channels open, for C{maxChannels}: a channel open both ways is
        in both maps, so the larger counts (an app session counts once),
        plus the calls not answered yet.
        """
        answering = len(self._upstreams)
        sending = len(self._dispatch)
        return (answering if answering > sending else sending) + (
            self._inflight)

__all__ = ["FlowControl", "SMALL"]
