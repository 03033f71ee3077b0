# -*- test-case-name: tests.rpc.test_server -*-
"""
The channels a client opened on a server connection, after their opening
message (L{ChannelDispatch}, mixed into
L{cocaine.rpc.server.ServerProtocol}): each one's dispatch target and the
protocol its next message must follow, the client's end of its stream,
a target that fails, and the channels whose answer is complete while the
client may still send the rest of its stream (lingering).

It uses the connection's C{_service}, C{_dispatch}, C{_upstreams},
C{_lingering}, C{log}, C{_dispatchError} and C{_logHandlerFailure}.
"""

from twisted.python.failure import Failure

from cocaine.errors import CocaineError, RevokedChannel, SlotNotFound
from cocaine.protocol.idl import RECURRENT, TERMINAL, Protocol

#: Channels whose answer is complete but whose client may still send the end
#: of its stream, remembered per connection so those late messages are
#: dropped quietly; the oldest are forgotten past this many.
MAX_LINGERING = 1024

#: The dispatch protocol of a channel whose client ended its stream while
#: its target (a C{finishedWithUpstream} one) still answers: no message is
#: accepted, and the target stays in the connection's dispatch only to
#: hear C{connectionLost}.
_ENDED = Protocol("ended", [])


class ChannelDispatch:
    """
    The open channels of one server connection (a mixin of
    L{cocaine.rpc.server.ServerProtocol}).
    """

    def _lastChunk(self, channel, state, mtype, args, following):
        """
        Hand a target with C{writeClose} a chunk and the close after it in
        one read, as L{_continue} would hand them one by one.

        @param following: the message after the chunk, on its channel.
        @return: whether both were handled; if not, neither was.
        """
        protocol = state.protocol
        if (mtype != protocol.streamWrite
                or following[1] != protocol.streamClose or following[2]
                or following[3]):
            return False
        method = getattr(state.target, "writeClose", None)
        if method is None:
            return False
        asIs = protocol.messages[mtype].asIs
        if asIs is None or not asIs[0] <= len(args) <= asIs[1]:
            return False
        self._clientEnded(channel, state)
        try:
            method(*args)
        except Exception:
            self._targetFailed(channel, state, protocol.messages[mtype])
            # the close is taken: nothing more of the channel lingers
            self._lingering.pop(channel, None)
        return True

    def _upstreamFinished(self, channel):
        """
        The answer on C{channel} is complete. A dispatch target that has
        nothing to do after that (it declares C{finishedWithUpstream}) is
        forgotten, so a client that never closes its side costs nothing.
        """
        state = self._dispatch.get(channel)
        if state is not None and getattr(state.target,
                                         "finishedWithUpstream", False):
            del self._dispatch[channel]
            if state.protocol is not _ENDED:
                # the client may still send the rest of its stream
                self._linger(channel)

    def _linger(self, channel):
        lingering = self._lingering
        lingering[channel] = None
        if len(lingering) > MAX_LINGERING:
            lingering.popitem(last=False)

    def _continue(self, channel, state, mtype, args):
        try:
            # the decoder lets no negative type through
            message = state.protocol.messages[mtype]
        except IndexError:
            self._abandon(channel, state)
            if state.protocol is _ENDED:
                error = RevokedChannel(
                    "{}: channel {} was closed by the client".format(
                        self._service.name, channel))
            else:
                error = SlotNotFound(
                    "{}: no message with id {} on channel {} now".format(
                        self._service.name, mtype, channel))
            self._dispatchError(channel, error)
            return
        transition = message.dispatch
        if transition is not RECURRENT:
            if transition is TERMINAL:
                self._clientEnded(channel, state)
            else:
                state.protocol = transition
        method = getattr(state.target, message.method, None)
        if method is None:
            self.log.debug("{service}: {message} ignored on channel "
                           "{channel}", service=self._service.name,
                           message=message.name, channel=channel)
            return
        asIs = message.asIs
        if asIs is not None and asIs[0] <= len(args) <= asIs[1]:
            values = args
        else:
            try:
                values = message.convertArgs(args)
            except CocaineError as e:
                self._abandon(channel, state)
                self._dispatchError(channel, e)
                return
        try:
            method(*values)
        except Exception:
            self._targetFailed(channel, state, message)

    def _clientEnded(self, channel, state):
        """
        The client ended C{channel}: a C{finishedWithUpstream} target still
        answering stays to hear it go (L{_upstreamFinished}); others go.
        """
        if channel in self._upstreams and getattr(
                state.target, "finishedWithUpstream", False):
            state.protocol = _ENDED
        else:
            del self._dispatch[channel]

    def _targetFailed(self, channel, state, message):
        """
        The target raised on C{message} (called in an C{except} block):
        logged, the channel abandoned, its answer ended with the error.
        """
        failure = Failure()
        self._logHandlerFailure(failure, message)
        self._abandon(channel, state)
        upstream = self._upstreams.get(channel)
        if upstream is not None and "error" in upstream._protocol.byName:
            upstream.error(failure)

    def _abandon(self, channel, state):
        """
        A dispatch error ends the client's side of C{channel} (its answer is
        the error): the target hears it as it would hear the client go
        away (C{connectionLost}), so what it holds (an app session and its
        worker slot, say) is released; the client's later messages on the
        channel are ignored.
        """
        if self._dispatch.get(channel) is state:
            del self._dispatch[channel]
        self._linger(channel)
        self._targetLost(state.target)

    def _lateOnWhole(self, channel, upstream):
        """
        The client sent more on the channel of a whole request still
        answering: as for a channel whose client closed its stream, the
        target hears it as the client going away, the answer ends with
        the error, and what else comes on the channel is dropped.
        """
        target, upstream.target = upstream.target, None
        self._linger(channel)
        self._targetLost(target)
        self._dispatchError(channel, RevokedChannel(
            "{}: channel {} was closed by the client".format(
                self._service.name, channel)))

    def _targetLost(self, target):
        """
        Tell C{target} its client is gone (C{connectionLost}, if it has
        one); a failure there is logged.
        """
        lost = getattr(target, "connectionLost", None)
        if lost is not None:
            try:
                lost()
            except Exception:
                self.log.failure("{service}: connectionLost handler",
                                 service=self._service.name)


class _Dispatch:
    __slots__ = ("protocol", "target")

    def __init__(self, protocol, target):
        self.protocol = protocol
        self.target = target
