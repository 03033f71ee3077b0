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
    if the connection drops before the client ends its stream. A target
    whose class sets C{finishedWithUpstream = True} lives as long as its
    answer instead: it hears C{connectionLost()} if the connection drops
    before the answer is complete, even after the client ended its
    stream (an app session still streaming to a client that sent its
    whole request), and is dropped once the answer is complete; the rest
    of the client's stream on that channel is then ignored.
  - Such a message may have a second handler for a whole request:
    C{impl.<method>Whole(upstream, chunk, *args)}, or
    C{impl.<method>Whole(upstream, chunk, headers, *args)} for a message
    declared with headers (the decoded list, or L{None} when none came:
    positional, as a call with a keyword costs the hot path a map). When
    the opening, one C{write} (its args list is C{chunk}) and the
    C{close} of the client's stream come in one read (every request an
    app client sends whole), it is called instead of C{<method>}, with
    the target's C{write} and C{close} taken as done: one call where
    there were three.
    Its target hears C{connectionLost()} if the connection drops before
    its answer is complete, or if the client sends more on the channel
    (which is answered with an error), as a C{finishedWithUpstream}
    target would after the client's close.

L{Upstream} is in L{cocaine.rpc.upstream}, the channels after their
opening message in L{cocaine.rpc.channels}, the connection's writes and
limits in L{cocaine.rpc.flow}, who the caller is (a service with a guard)
in L{cocaine.rpc.identity}, L{HostedService} and L{ServerFactory} in
L{cocaine.rpc.hosting}.
"""

from collections import OrderedDict
from inspect import iscoroutine
from types import CoroutineType

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from cocaine.errors import (
    CocaineError, FramingError, RevokedChannel, SlotNotFound, toWire)
from cocaine.protocol.framing import (
    DEFAULT_MAX_BUFFER, Decoder, Encoder, packMessage)
from cocaine.protocol.headers import HeaderError, HeaderTable, isLiteral
from cocaine.protocol.idl import PRIMITIVE, TERMINAL
from cocaine.rpc import writes
from cocaine.rpc.channels import MAX_LINGERING, ChannelDispatch, _Dispatch
from cocaine.rpc.flow import SMALL as _SMALL, FlowControl, WritableWaiters
from cocaine.rpc.identity import CallerIdentity
from cocaine.rpc.limits import UNLIMITED
from cocaine.rpc.upstream import Upstream

_ERROR = 1  # "error" is message 1 in both the primitive and streaming protocols

#: What a handler returns when its answer is not ready yet.
_LATER = (Deferred, CoroutineType)

#: Whether values of a type are L{_LATER}, by type. Deferred is an ABC
#: (it is Awaitable), so C{isinstance} against it runs Python code
#: (C{ABCMeta.__instancecheck__}) on every call of the hot path; a dict
#: lookup does not.
_laterTypes = {}


def _learnLater(kind):
    """
    @return: whether values of C{kind} are L{_LATER}, remembered (for the
        first few hundred types a process sees).
    """
    later = issubclass(kind, _LATER)
    if len(_laterTypes) < 256:
        _laterTypes[kind] = later
    return later


class ServerState:
    """
    The fields a server connection's own methods read on every request:
    the first base of L{ServerProtocol}. Where this module is compiled
    (L{cocaine.compiled}) it is an extension type (C{server.pxd}), and so
    is L{ServerProtocol}, whose methods then read these fields as C struct
    members. An extension type's first base must be one: the connection's
    other bases (its mixins and Twisted's C{Protocol}) are Python classes.
    """

    __slots__ = ("_service", "_wholes", "_decoder", "_maxChannels",
                 "_crowded", "_lastChannel", "_lingering", "_dispatch",
                 "_upstreams", "_broken", "_literal", "_decoded",
                 "_headers", "_pack", "_writeFull", "_inflight", "_peer")


class ServerProtocol(ServerState, ChannelDispatch, FlowControl,
                     CallerIdentity, Protocol):
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
        self._wholes = getattr(service, "wholes", None)
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
        self._pack = self._encoder.pack
        self._headers = None
        # the last header list of literal entries and what it decoded to
        self._literal = self._decoded = None
        self._lastChannel = 0
        self._dispatch = {}
        self._upstreams = {}
        self._lingering = OrderedDict()
        self._peer = "?"
        self._broken = False
        self._writable = WritableWaiters(
            self.log, "{service}: a writable callback", service=service.name)

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
        dispatch = self._dispatch
        wholes = self._wholes
        count = len(messages)
        index = 0
        while index < count:
            channel, mtype, args, headers = messages[index]
            index += 1
            if self._broken:
                return
            try:
                if index < count:
                    following = messages[index]
                    if following[0] == channel:
                        state = dispatch.get(channel)
                        if state is not None:
                            # a stream's last chunk and its close, together
                            # in this read
                            if not headers and self._lastChunk(
                                    channel, state, mtype, args, following):
                                index += 1
                                continue
                        elif (index + 1 < count and wholes is not None
                              and self._openWhole(
                                  channel, mtype, args, headers, following,
                                  messages[index + 1])):
                            # an opening, its one chunk and its close: the
                            # whole request (every one an app client sends)
                            index += 2
                            continue
                self._receive(channel, mtype, args, headers)
            except Exception:
                self.log.failure(
                    "{service}: unexpected failure handling a message from "
                    "{peer}", service=self._service.name, peer=self._peer)

    def _openWhole(self, channel, mtype, args, headers, chunk, close):
        """
        Open a new channel whose one chunk and close came in the same read
        as its opening, with the handler that takes the whole request
        (L{HostedService.wholes}).

        @param chunk: the message after the opening, on its channel.
        @param close: the message after C{chunk}.
        @return: whether the three were handled (if the opening was
            refused, the chunk and the close were handled as they come);
            if not, none was.
        """
        wholes = self._wholes
        if mtype >= len(wholes):
            return False
        whole = wholes[mtype]
        if (whole is None or channel <= self._lastChannel or self._crowded
                or channel in self._lingering):
            return False
        _, write, end, fewest, most = whole
        chunkArgs = chunk[2]
        if (chunk[1] != write or chunk[3] or close[0] != channel
                or close[1] != end or close[2] or close[3]
                or not fewest <= len(chunkArgs) <= most):
            return False
        if headers:
            headers = self._readHeaders(headers)
        self._lastChannel = channel
        if not self._open(channel, mtype, args, headers, chunkArgs):
            self._receive(channel, chunk[1], chunkArgs, None)
            self._receive(channel, close[1], close[2], None)
        return True

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
            upstream = self._upstreams.get(channel)
            if upstream is not None and upstream.target is not None:
                # a whole request's channel, still answering
                self._lateOnWhole(channel, upstream)
                return
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

    def _readHeaders(self, headers):
        if headers == self._literal:
            # the same literal entries as before (a client's credentials,
            # on every call): they decode to the same, whatever the table
            # (the same list: handlers read their headers, none changes
            # them)
            return self._decoded
        if self._headers is None:
            self._headers = HeaderTable()
        try:
            decoded = self._headers.decode(headers)
        except HeaderError as e:
            self.log.info("{service}: ignoring headers from {peer}: "
                          "{reason}", service=self._service.name,
                          peer=self._peer, reason=str(e))
            return None
        if isLiteral(headers):
            self._literal, self._decoded = headers, decoded
        return decoded

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

    def _open(self, channel, mtype, args, headers=None, whole=None):
        """
        @param whole: the args of the one chunk of a request that came
            whole (L{_openWhole}), or L{None}.
        @return: whether the handler was called or will be (if not, the
            opening was answered with an error).
        """
        service = self._service
        messages = service.protocol.messages
        if mtype >= len(messages):
            self._dispatchError(channel, SlotNotFound(
                "{}: no message with id {}".format(service.name, mtype)))
            return False
        message = messages[mtype]
        try:
            values = message.convertArgs(args, service.where[mtype])
        except CocaineError as e:
            self._dispatchError(channel, e, message)
            return False
        if service.guard is not None:
            identity = self._identify(service.guard, headers)
            try:
                pending = self._check(service.rules[mtype], identity, values)
            except CocaineError as e:
                self._refuse(channel, e, message, identity)
                return False
            if pending is not None:
                # an ACL to read first (primitive storage calls only)
                pending.addCallbacks(
                    self._callAllowed, self._refuseLater,
                    callbackArgs=(channel, mtype, values, message, headers,
                                  whole),
                    errbackArgs=(channel, message, identity))
                return True
        if whole is None:
            self._call(channel, mtype, values, message, headers)
        else:
            self._callStreaming(channel, self._wholes[mtype][0], values,
                                message, headers, whole)
        return True

    def _callAllowed(self, allowed, channel, mtype, values, message,
                     headers, whole):
        # a method, not a closure in _open: a closure's cell is made on
        # every opening, pending or not
        self._call(channel, mtype, values, message, headers, whole)

    def _call(self, channel, mtype, values, message, headers, whole=None):
        if whole is not None:
            self._callStreaming(channel, self._wholes[mtype][0], values,
                                message, headers, whole)
            return
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
        later = _laterTypes.get(type(result))
        if later is None:
            later = _learnLater(type(result))
        if later:
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
            elif type(result) is not tuple and type(result) is not list:
                raise TypeError(
                    "{}.{} must return a tuple of values or None, not {}"
                    .format(self._service.name, message.name,
                            type(result).__name__))
            data = packMessage(self._pack, channel, 0, result)
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
                       headers=None, whole=None):
        upstream = Upstream(self, channel, message.upstream or PRIMITIVE)
        if not upstream.closed:
            self._upstreams[channel] = upstream
        try:
            if whole is not None:
                if message.headers:
                    target = handler(upstream, whole, headers, *values)
                else:
                    target = handler(upstream, whole, *values)
            elif message.headers:
                target = handler(upstream, *values, headers=headers or [])
            else:
                target = handler(upstream, *values)
        except Exception:
            failure = Failure()
            self._logHandlerFailure(failure, message)
            if "error" in upstream._protocol.byName:
                upstream.error(failure)
            return
        later = _laterTypes.get(type(target))
        if later is None:
            later = _learnLater(type(target))
        if later:
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
            if whole is not None:
                # the client's stream is complete: the target stays (on
                # its upstream) only to hear the connection go while it
                # answers
                if not upstream.closed:
                    upstream.target = target
            elif upstream.closed and getattr(target, "finishedWithUpstream",
                                             False):
                self._linger(channel)
            else:
                self._dispatch[channel] = _Dispatch(message.dispatch, target)

    def _streamFailure(self, failure, upstream, message):
        self._logHandlerFailure(failure, message)
        if not upstream.closed and "error" in upstream._protocol.byName:
            upstream.error(failure)

    def connectionLost(self, reason):
        self._broken = True
        self._writable.clear()
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
            self._targetLost(state.target)
        upstreams = list(upstreams.values())
        for upstream in upstreams:
            # whole requests' targets
            target = upstream.target
            if target is not None:
                upstream.target = None
                self._targetLost(target)
        for upstream in upstreams:
            upstream._lost()


__all__ = ["MAX_LINGERING", "Upstream", "ServerProtocol"]
