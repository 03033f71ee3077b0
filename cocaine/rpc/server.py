# -*- test-case-name: tests.rpc.test_server -*-
"""
The server side of the native protocol: one L{ServerProtocol} per
connection, dispatching messages to a service implementation according to
its declared L{Protocol}.

Handler contract (the one way every service is served):

  - A root message whose upstream is the primitive protocol and whose
    dispatch is terminal calls C{impl.<method>(*args)}; the handler returns
    the tuple of C{value} arguments (L{None} for C{value []}), or a
    Deferred or coroutine of it. An exception becomes C{error}.
  - A mute message calls C{impl.<method>(*args)} and sends nothing.
  - Any other root message calls C{impl.<method>(upstream, *args)} with an
    L{Upstream} to answer on (plus C{headers=[(name, value), ...]} when the
    message is declared with C{headers=True}). If the message's dispatch is not terminal, the
    handler returns the object that receives the client's next messages:
    C{target.<method>(*args)} per message, and C{target.connectionLost()}
    if the connection drops first. A target whose class sets
    C{finishedWithUpstream = True} is dropped once the answer is complete;
    the rest of the client's stream on that channel is ignored.
"""

import errno
from inspect import iscoroutine

from collections import OrderedDict

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from cocaine.errors import (
    CocaineError, FramingError, ProtocolViolation, RevokedChannel,
    SlotNotFound, SystemError_, toWire)
from cocaine.protocol.framing import DEFAULT_MAX_BUFFER, Decoder, Encoder
from cocaine.protocol.headers import HeaderError, HeaderTable
from cocaine.protocol.idl import PRIMITIVE, RECURRENT, TERMINAL
from cocaine.rpc import writes
from cocaine.rpc.limits import UNLIMITED

_ERROR = 1  # "error" is message 1 in both the primitive and streaming protocols

#: Messages up to this size are counted against a connection's write
#: limit only while its peer is not reading (see L{ServerProtocol._account}).
_SMALL = 4096

#: Channels whose answer is complete but whose client may still send the end
#: of its stream, remembered per connection so those late messages are
#: dropped quietly; the oldest are forgotten past this many.
MAX_LINGERING = 1024


class Upstream:
    """
    The sending side of one channel on the server.

    Sends only what the channel's current upstream protocol allows and
    follows its transitions. After the connection is gone every send is a
    no-op and L{closed} is true.

    @ivar closed: nothing more can be sent.
    """

    __slots__ = ("_connection", "channel", "_protocol", "closed",
                 "_onClose")

    def __init__(self, connection, channel, protocol):
        self._connection = connection
        self.channel = channel
        self._protocol = protocol
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

    def write(self, *args):
        """
        Send a stream chunk (C{write}).
        """
        self.send("write", *args)

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

    def _finish(self):
        self.closed = True
        self._connection._upstreams.pop(self.channel, None)
        self._connection._upstreamFinished(self.channel)
        callbacks, self._onClose = self._onClose, None
        for callback in callbacks or ():
            callback()

    def _lost(self):
        if not self.closed:
            self._finish()


class ServerProtocol(Protocol):
    """
    One client connection to one service.
    """

    log = Logger()

    def __init__(self, service, maxBuffer=DEFAULT_MAX_BUFFER, limits=None,
                 reactor=None):
        """
        @param service: a L{HostedService}.
        @param limits: the connection's
            L{cocaine.rpc.limits.ConnectionLimits}; none by default.
        @param reactor: the clock of the idle and partial-frame timer
            (without one there is no timer).
        """
        self._service = service
        limits = limits or UNLIMITED
        self._limits = limits
        self._reactor = reactor
        self._decoder = Decoder(maxBuffer, maxContainer=limits.maxContainer,
                                maxObjects=limits.maxFrameObjects)
        self._maxChannels = limits.maxChannels
        self._writeLimit = limits.writeLimit
        self._queued = 0
        self._inflight = 0
        self._crowded = False
        self._writeFull = False
        self._timer = None
        self._idleFor = 0.0
        self._lastFed = -1
        self._lastPartial = None
        self._release = None
        self._encoder = Encoder()
        self._headers = None
        self._lastChannel = 0
        self._dispatch = {}
        self._upstreams = {}
        self._lingering = OrderedDict()
        self._peer = "?"
        self._broken = False
        self._writableWaiters = []

    def connectionMade(self):
        transport = self.transport
        peer = transport.getPeer()
        self._peer = "{}:{}".format(getattr(peer, "host", peer),
                                    getattr(peer, "port", ""))
        if hasattr(transport, "setTcpNoDelay"):
            try:
                transport.setTcpNoDelay(True)
            except Exception:
                pass
        self._service.connections.add(self)
        limits = self._limits
        if limits.writeLimit is not None:
            # the transport pauses us (we stop reading) past its bufferSize
            # bytes unsent and resumes us once the peer has read them
            transport.registerProducer(self, True)
        period = limits.period
        if period is not None and self._reactor is not None:
            self._period = period
            self._timer = self._reactor.callLater(period, self._tick)

    def sendMessage(self, channel, mtype, args):
        """
        Write one message; a no-op once the connection is broken.
        """
        if not self._broken:
            data = self._encoder.encode(channel, mtype, args)
            if len(data) > _SMALL or self._writeFull:
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
            if len(data) > _SMALL or self._writeFull:
                if self._account(data):
                    return
            writes.write(self.transport, data)

    def whenWritable(self, callback):
        """
        Call C{callback()} once the peer reads again (at once when it
        does); forgotten if the connection drops first.
        """
        if not self._writeFull:
            callback()
        else:
            self._writableWaiters.append(callback)

    # -- peers that do not read, idle peers, slow frames -------------------

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
            waiters, self._writableWaiters = self._writableWaiters, []
            for callback in waiters:
                if self._writeFull or self._broken:
                    # paused again by an earlier one: the rest waits on
                    self._writableWaiters.append(callback)
                    continue
                try:
                    callback()
                except Exception:
                    self.log.failure("{service}: a writable callback",
                                     service=self._service.name)

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

    @writes.batched
    def dataReceived(self, data):
        if self._broken:
            return
        try:
            messages = self._decoder.feed(data)
        except FramingError as e:
            # serve what came before the garbage, then close
            self._handleAll(e.messages)
            self._frameError(str(e), flush=bool(e.messages))
            return
        self._handleAll(messages)

    def _handleAll(self, messages):
        if self._maxChannels is not None:
            # counted once a read (each message opens at most one
            # channel): messages are checked one by one only near the cap
            self._crowded = (self._openChannels() + len(messages)
                             >= self._maxChannels)
        for channel, mtype, args, headers in messages:
            if self._broken:
                return
            try:
                self._receive(channel, mtype, args, headers)
            except Exception:
                self.log.failure(
                    "{service}: unexpected failure handling a message from "
                    "{peer}", service=self._service.name, peer=self._peer)

    def _frameError(self, reason, flush=False):
        self.log.warn(
            "{service}: framing error from {peer}: {reason}; closing the "
            "connection", service=self._service.name, peer=self._peer,
            reason=reason)
        self._broken = True
        if flush:
            # replies to the good messages before the garbage still go out
            self.close()
        else:
            self.transport.abortConnection()

    def _receive(self, channel, mtype, args, headers):
        if headers:
            headers = self._readHeaders(headers)
        state = self._dispatch.get(channel)
        if state is not None:
            self._continue(channel, state, mtype, args)
        elif channel in self._lingering:
            # the answer is complete; the rest of the client's stream has
            # nowhere to go
            if mtype in (1, 2):
                del self._lingering[channel]
        elif channel <= self._lastChannel:
            self._dispatchError(channel, RevokedChannel(
                "{}: channel {} is not open (last opened: {})".format(
                    self._service.name, channel, self._lastChannel)),
                self._service.protocol.get(mtype))
        else:
            self._lastChannel = channel
            if self._crowded and (self._openChannels()
                                  >= self._maxChannels):
                self._refuseChannel(channel, mtype)
                return
            self._open(channel, mtype, args, headers)

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

    def _readHeaders(self, headers):
        if self._headers is None:
            self._headers = HeaderTable()
        try:
            return self._headers.decode(headers)
        except HeaderError as e:
            self.log.info("{service}: ignoring headers from {peer}: "
                          "{reason}", service=self._service.name,
                          peer=self._peer, reason=str(e))
            return None

    def _dispatchError(self, channel, error, message=None):
        """
        Answer a dispatch error on C{channel} when its upstream can carry
        one, and log it once with the peer.
        """
        self.log.info("{service}: dispatch error from {peer} on channel "
                      "{channel}: {reason}", service=self._service.name,
                      peer=self._peer, channel=channel, reason=str(error))
        upstream = self._upstreams.get(channel)
        if upstream is not None:
            if "error" in upstream._protocol.byName:
                upstream.error(error)
            return
        protocol = PRIMITIVE if message is None else (
            message.upstream or PRIMITIVE)
        if protocol is not TERMINAL and "error" in protocol.byName:
            self.sendMessage(channel, _ERROR, toWire(error))

    # the caller's identity, remembered for the last authorization header
    # value seen on this connection (set only when a guard is on)
    _authValue = None
    _authIdentity = None
    _authExpiry = None
    # what the peer's TLS client certificate proves (looked up once)
    _peerIdentity = None

    def _open(self, channel, mtype, args, headers=None):
        service = self._service
        message = service.protocol.get(mtype)
        if message is None:
            self._dispatchError(channel, SlotNotFound(
                "{}: no message with id {}".format(service.name, mtype)))
            return
        try:
            values = message.convertArgs(
                args, service.name + "." + message.name)
        except CocaineError as e:
            self._dispatchError(channel, e, message)
            return
        if service.guard is not None:
            identity = self._identify(service.guard, headers)
            try:
                pending = service.rules[mtype](identity, values)
            except CocaineError as e:
                self._refuse(channel, e, message, identity)
                return
            if pending is not None:
                # an ACL to read first (primitive storage calls only)
                pending.addCallbacks(
                    lambda _: self._call(channel, mtype, values, message,
                                         headers),
                    self._refuseLater, errbackArgs=(channel, message,
                                                    identity))
                return
        self._call(channel, mtype, values, message, headers)

    def _identify(self, guard, headers):
        """
        The caller's identity from the C{authorization} header, verified
        once per distinct value on this connection (again after it
        expires).
        """
        value = None
        if headers:
            for name, headerValue in headers:
                if name == b"authorization":
                    value = headerValue
                    break
        if value is None:
            if self._peerIdentity is None:
                self._peerIdentity = guard.identifyPeer(self.transport)
            return self._peerIdentity
        if value == self._authValue:
            expiry = self._authExpiry
            if expiry is None or expiry >= guard.now():
                return self._authIdentity
        identity, expiry = guard.identify(value)
        self._authValue = value
        self._authIdentity = identity
        self._authExpiry = expiry
        return identity

    def _refuse(self, channel, error, message, identity):
        self._service.guard.refused(self._service.name, message.name,
                                    self._peer, identity, error)
        protocol = message.upstream or PRIMITIVE
        if protocol is not TERMINAL and "error" in protocol.byName:
            self.sendMessage(channel, _ERROR, toWire(error))
        if message.dispatch is not TERMINAL:
            # the rest of the refused stream has nowhere to go
            self._linger(channel)

    def _refuseLater(self, failure, channel, message, identity):
        if failure.check(CocaineError):
            self._refuse(channel, failure.value, message, identity)
        else:
            self._replyFailure(failure, channel, message)

    def _call(self, channel, mtype, values, message, headers):
        handler = self._service.handlers[mtype]
        upstream = message.upstream
        if upstream is None and message.dispatch is TERMINAL:
            self._callPrimitive(channel, handler, values, message)
        elif upstream is TERMINAL:
            self._callMute(handler, values, message)
        else:
            self._callStreaming(channel, handler, values, message, headers)

    def _callPrimitive(self, channel, handler, values, message):
        try:
            result = handler(*values)
        except Exception:
            self._replyFailure(Failure(), channel, message)
            return
        if isinstance(result, Deferred) or iscoroutine(result):
            if iscoroutine(result):
                result = Deferred.fromCoroutine(result)
            self._inflight += 1
            result.addCallbacks(self._replyValue, self._replyFailure,
                                callbackArgs=(channel, message, True),
                                errbackArgs=(channel, message, True))
        else:
            self._replyValue(result, channel, message)

    def _replyValue(self, result, channel, message, later=False):
        if later:
            # an answer that was not ready at once: its call was counted
            self._inflight -= 1
        try:
            if result is None:
                result = []
            elif type(result) is tuple:
                result = list(result)
            elif type(result) is not list:
                raise TypeError(
                    "{}.{} must return a tuple of values or None, not {}"
                    .format(self._service.name, message.name,
                            type(result).__name__))
            data = self._encoder.encode(channel, 0, result)
        except Exception:
            # Not a tuple, or not packable: the call must still be answered.
            self._replyFailure(Failure(), channel, message)
            return
        if not self._broken:
            if len(data) > _SMALL or self._writeFull:
                if self._account(data):
                    return
            writes.write(self.transport, data)

    def _replyFailure(self, failure, channel, message, later=False):
        if later:
            self._inflight -= 1
        self._logHandlerFailure(failure, message)
        self.sendMessage(channel, _ERROR, toWire(failure))

    def _logHandlerFailure(self, failure, message):
        # A CocaineError is an answer (key not found, bad name): the client
        # gets it, and the log is no place for one line per such call.
        if not failure.check(CocaineError):
            self.log.failure("{service}.{message} failed",
                             failure, service=self._service.name,
                             message=message.name)

    def _callMute(self, handler, values, message):
        try:
            result = handler(*values)
        except Exception:
            self._logHandlerFailure(Failure(), message)
            return
        if iscoroutine(result):
            result = Deferred.fromCoroutine(result)
        if isinstance(result, Deferred):
            result.addErrback(self._logHandlerFailure, message)

    def _callStreaming(self, channel, handler, values, message,
                       headers=None):
        upstream = Upstream(self, channel, message.upstream or PRIMITIVE)
        if not upstream.closed:
            self._upstreams[channel] = upstream
        try:
            if message.headers:
                target = handler(upstream, *values, headers=headers or [])
            else:
                target = handler(upstream, *values)
        except Exception:
            failure = Failure()
            self._logHandlerFailure(failure, message)
            if "error" in upstream._protocol.byName:
                upstream.error(failure)
            return
        if iscoroutine(target) or isinstance(target, Deferred):
            if message.dispatch is not TERMINAL:
                if iscoroutine(target):
                    target.close()
                else:
                    target.addErrback(lambda _: None)
                    target.cancel()
                try:
                    raise TypeError(
                        "{}.{} must return its dispatch target "
                        "synchronously".format(self._service.name,
                                               message.name))
                except TypeError:
                    self._streamFailure(Failure(), upstream, message)
                return
            if iscoroutine(target):
                target = Deferred.fromCoroutine(target)
            target.addErrback(self._streamFailure, upstream, message)
            return
        if message.dispatch is not TERMINAL:
            if upstream.closed and getattr(target, "finishedWithUpstream",
                                           False):
                self._linger(channel)
            else:
                self._dispatch[channel] = _Dispatch(message.dispatch, target)

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
            self._linger(channel)

    def _linger(self, channel):
        lingering = self._lingering
        lingering[channel] = None
        if len(lingering) > MAX_LINGERING:
            lingering.popitem(last=False)

    def _streamFailure(self, failure, upstream, message):
        self._logHandlerFailure(failure, message)
        if not upstream.closed and "error" in upstream._protocol.byName:
            upstream.error(failure)

    def _continue(self, channel, state, mtype, args):
        message = state.protocol.get(mtype)
        if message is None:
            self._abandon(channel, state)
            self._dispatchError(channel, SlotNotFound(
                "{}: no message with id {} on channel {} now".format(
                    self._service.name, mtype, channel)))
            return
        transition = message.dispatch
        if transition is TERMINAL:
            del self._dispatch[channel]
        elif transition is not RECURRENT:
            state.protocol = transition
        method = getattr(state.target, message.method, None)
        if method is None:
            self.log.debug("{service}: {message} ignored on channel "
                           "{channel}", service=self._service.name,
                           message=message.name, channel=channel)
            return
        try:
            values = message.convertArgs(args)
        except CocaineError as e:
            self._abandon(channel, state)
            self._dispatchError(channel, e)
            return
        try:
            method(*values)
        except Exception:
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
        lost = getattr(state.target, "connectionLost", None)
        if lost is not None:
            try:
                lost()
            except Exception:
                self.log.failure("{service}: connectionLost handler",
                                 service=self._service.name)

    def connectionLost(self, reason):
        self._broken = True
        self._writableWaiters = []
        self._service.connections.discard(self)
        if self._timer is not None:
            timer, self._timer = self._timer, None
            timer.cancel()
        release, self._release = self._release, None
        if release is not None:
            release()
        dispatch, self._dispatch = self._dispatch, {}
        upstreams, self._upstreams = self._upstreams, {}
        for state in dispatch.values():
            lost = getattr(state.target, "connectionLost", None)
            if lost is not None:
                try:
                    lost()
                except Exception:
                    self.log.failure("{service}: connectionLost handler",
                                     service=self._service.name)
        for upstream in list(upstreams.values()):
            upstream._lost()


class _Dispatch:
    __slots__ = ("protocol", "target")

    def __init__(self, protocol, target):
        self.protocol = protocol
        self.target = target


class HostedService:
    """
    A service implementation bound to its declared protocol.

    @ivar name: the service name (for logs and error messages).
    @ivar protocol: the declared root L{Protocol}.
    @ivar version: the protocol version C{resolve} reports.
    @ivar handlers: one bound handler per message id.
    @ivar connections: the live L{ServerProtocol}s.
    @ivar guard: the L{cocaine.auth.guard.Guard}, or L{None}.
    @ivar rules: the guard's check per message id, or L{None}.
    """

    def __init__(self, name, impl, protocol, version, guard=None):
        """
        @param guard: a L{cocaine.auth.guard.Guard} deciding every
            opening message, or L{None} (auth off: no checks at all).
        """
        self.name = name
        self.impl = impl
        self.protocol = protocol
        self.version = version
        missing = [m.method for m in protocol.messages
                   if not callable(getattr(impl, m.method, None))]
        if missing:
            raise TypeError("{} does not implement {}".format(
                type(impl).__name__, ", ".join(missing)))
        self.handlers = [getattr(impl, m.method) for m in protocol.messages]
        self.connections = set()
        self.guard = guard
        self.rules = None if guard is None else guard.rules(name, protocol)

    def dropConnections(self):
        """
        Close every live connection.
        """
        for connection in list(self.connections):
            connection.close()


class ServerFactory(Factory):
    """
    Builds a L{ServerProtocol} per connection for one L{HostedService}.
    """

    noisy = False

    def __init__(self, service, maxBuffer=DEFAULT_MAX_BUFFER,
                 limits=None, reactor=None, budget=None):
        """
        @param limits: each connection's
            L{cocaine.rpc.limits.ConnectionLimits}.
        @param reactor: the clock of the connections' timers.
        @param budget: a L{cocaine.rpc.limits.ConnectionBudget} shared by
            the node's ports, or L{None} for no connection limit.
        """
        self.service = service
        self.maxBuffer = maxBuffer
        self.limits = limits
        self.reactor = reactor
        self.budget = budget

    def buildProtocol(self, addr):
        budget = self.budget
        host = getattr(addr, "host", None)
        if budget is not None and not budget.admit(host):
            # Twisted closes a connection whose protocol is None at once
            return None
        proto = ServerProtocol(self.service, self.maxBuffer, self.limits,
                               self.reactor)
        proto.factory = self
        if budget is not None:
            proto._release = lambda: budget.release(host)
        return proto


__all__ = ["Upstream", "ServerProtocol", "ServerFactory", "HostedService"]
