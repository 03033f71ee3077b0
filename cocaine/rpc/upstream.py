# -*- test-case-name: tests.rpc.test_server -*-
"""
The sending side of one channel of a server connection (L{Upstream}): what
a handler answers on (see L{cocaine.rpc.server} for the handler contract).
"""

from cocaine.errors import ProtocolViolation, toWire
from cocaine.protocol.relay import rechannel
from cocaine.protocol.idl import RECURRENT, TERMINAL


class Upstream:
    """
    The sending side of one channel on the server.

    Sends only what the channel's current upstream protocol allows and
    follows its transitions. After the connection is gone every send is a
    no-op and L{closed} is true.

    @ivar closed: nothing more can be sent.
    @ivar target: the dispatch target of a whole request answering here
        (L{cocaine.rpc.server}): its client has nothing more to send, and
        it hears C{connectionLost()} from the server if the connection
        drops before the answer is complete; L{None} otherwise, and once
        the answer is complete.
    """

    __slots__ = ("_connection", "channel", "_protocol", "closed",
                 "_onClose", "_chunk", "target")

    def __init__(self, connection, channel, protocol):
        self._connection = connection
        self.channel = channel
        self._protocol = protocol
        self.target = None
        # the id of a stream chunk in the protocol now in force, or None
        self._chunk = protocol.streamWrite
        self.closed = protocol is TERMINAL
        self._onClose = None

    def send(self, name, *args):
        """
        Send the message C{name} with C{args}.

        @raise ProtocolViolation: the current protocol has no such message.
        """
        if self.closed:
            return
        entry = self._protocol.byName.get(name)
        if entry is None:
            raise ProtocolViolation("{!r} is not allowed on channel {} now"
                                    .format(name, self.channel))
        index, message = entry
        # Send first: when the args cannot be packed this raises and the
        # upstream stays open, so the handler's error can still be sent.
        self._connection.sendMessage(self.channel, index, list(args))
        transition = message.dispatch
        if transition is TERMINAL:
            self._finish()
        elif transition is not RECURRENT:
            self._protocol = transition
            self._chunk = transition.streamWrite

    def write(self, *args):
        """
        Send a stream chunk (C{write}).
        """
        index = self._chunk
        if index is not None and not self.closed:
            # a stream's chunk, the hot path: nothing changes state
            self._connection.sendMessage(self.channel, index, list(args))
        else:
            self.send("write", *args)

    def writeArgs(self, args):
        """
        Send a stream chunk (C{write}) whose args are the list C{args},
        as it is: a proxy passes on what it received without copying it
        (the hot path of every chunk an app streams).
        """
        index = self._chunk
        if index is not None and not self.closed:
            self._connection.sendMessage(self.channel, index, args)
        else:
            self.send("write", *args)

    def writeChunks(self, argsLists):
        """
        Send stream chunks (C{write}), one for each args list of
        C{argsLists}, in one write to the connection: the chunks of an
        app's stream that one read from its worker brought.
        """
        index = self._chunk
        if index is not None and not self.closed:
            self._connection.sendMessages(self.channel, index, argsLists)
        else:
            for args in argsLists:
                self.send("write", *args)

    def writeFrames(self, data, start, end):
        """
        Send the chunk frames of another connection found in
        C{data[start:end]} (L{cocaine.protocol.relay.chunkRun}) as
        stream chunks (C{write}) of this channel, in one write, without
        decoding them: an app's stream relayed from its worker.

        @return: whether they were sent; L{False} when the channel's
            protocol has no stream chunk now or the channel is closed
            (nothing was sent: decode them and send them another way).
        """
        index = self._chunk
        if index is None or self.closed:
            return False
        self._connection.sendFrames(
            rechannel(data, start, end, self.channel, index))
        return True

    def closeAfter(self, argsLists):
        """
        Send stream chunks (C{write}), one for each args list of
        C{argsLists}, then end the stream (C{close}), packed into one
        write to the connection: an app's last chunks and its close that
        one read from its worker brought.
        """
        index = self._chunk
        end = self._protocol.streamClose
        if index is not None and end is not None and not self.closed:
            self._connection.sendMessages(self.channel, index, argsLists,
                                          end)
            self._finish()
        else:
            self.writeChunks(argsLists)
            self.close()

    @property
    def relayable(self):
        """
        Whether stream chunks can be sent now (L{writeFrames} and
        L{closeAfterFrames} would send them).
        """
        return self._chunk is not None and not self.closed

    def closeAfterFrames(self, data, start, end):
        """
        Send the chunk frames of another connection found in
        C{data[start:end]} as L{writeFrames} does, then end the stream
        (C{close}), in one write: an app's last chunks and its close, from
        its worker, relayed.
        """
        index = self._chunk
        close = self._protocol.streamClose
        if index is not None and close is not None and not self.closed:
            self._connection.sendFrames(
                rechannel(data, start, end, self.channel, index, close))
            self._finish()
        else:
            self.writeFrames(data, start, end)
            self.close()

    def writePacked(self, packedArgs):
        """
        Send a stream chunk (C{write}) whose args array is already packed:
        one message fanned out to many channels is packed once.
        """
        if self.closed:
            return
        index = self._protocol.byName["write"][0]
        self._connection.sendPacked(self.channel, index, packedArgs)

    @property
    def writable(self):
        """
        Whether the peer reads what it is sent: false while more than the
        transport's buffer waits for it (only known on connections with a
        write limit, as a node's are; always true otherwise).
        """
        return not self._connection._writeFull

    def whenWritable(self, callback):
        """
        Call C{callback()} once, when the peer has read what waited for
        it (at once if nothing waits). Not called if the connection drops
        first.
        """
        self._connection.whenWritable(callback)

    def close(self):
        """
        End the stream (C{close}).
        """
        index = self._protocol.streamClose
        if index is not None and not self.closed:
            # the end of every app request: no lookup by name, no copy
            self._connection.sendMessage(self.channel, index, [])
            self._finish()
        else:
            self.send("close")

    def value(self, *args):
        """
        Answer a primitive call (C{value}).
        """
        self.send("value", *args)

    def error(self, reason):
        """
        Answer with C{error}; C{reason} is an exception or a Failure.
        """
        self.send("error", *toWire(reason))

    def notifyClose(self, callback):
        """
        Call C{callback()} once when this upstream can send no more:
        after a terminal message, or when the connection drops.
        """
        if self.closed:
            callback()
        elif self._onClose is None:
            self._onClose = [callback]
        else:
            self._onClose.append(callback)

    def abandon(self):
        """
        Nothing will be sent on this channel (a one-shot call whose client
        cancelled it before its answer): the connection forgets it, and
        its dispatch target with it, as if the answer had ended.
        """
        if not self.closed:
            self._finish()

    def _finish(self):
        self.closed = True
        self.target = None
        connection = self._connection
        connection._upstreams.pop(self.channel, None)
        if connection._dispatch:
            # a dispatch target may still wait on this channel
            connection._upstreamFinished(self.channel)
        callbacks = self._onClose
        if callbacks is not None:
            self._onClose = None
            for callback in callbacks:
                callback()

    def _lost(self):
        if not self.closed:
            self._finish()

__all__ = ["Upstream"]
