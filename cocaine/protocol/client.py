# -*- test-case-name: tests.protocol.test_client -*-
"""
The client side of the native protocol without I/O: what both service
clients (the Twisted one, L{cocaine.client} on L{cocaine.rpc.client}, and
the asyncio one of the worker SDK, L{cocaine.worker.service}) decide the
same way.

  - how a method is called (L{methodId}, L{isPlainCall}): a call whose
    reply is primitive and whose dispatch is terminal gives one value;
    anything else opens a channel;
  - what a reply means (L{unwrap}, L{primitiveReply}, L{ChannelState}):
    the upstream protocol followed message by message, errors through
    L{cocaine.errors.fromWire};
  - what a channel its caller abandoned still tells the service
    (L{ChannelState._endMessage}, L{CLIENT_GONE});
  - the credentials sent (L{defaultToken}, L{authorizationHeader},
    L{openingHeaders});
  - the texts of the errors a client raises itself (L{callTimeout},
    L{endpointsText}).

Nothing here imports Twisted or asyncio.
"""

import os

from cocaine.errors import (
    CallTimeout, ClientDisconnected, NotConnected, ProtocolViolation,
    SlotNotFound, fromWire, toWire)
from cocaine.protocol.idl import PRIMITIVE, RECURRENT, TERMINAL

#: Where a node's locator listens by default.
DEFAULT_LOCATOR = ("127.0.0.1", 10053)

#: The header carrying credentials (named, not indexed: any peer reads it).
AUTHORIZATION = "authorization"

#: The args of the error that ends the request stream of a channel its
#: caller abandoned: what the node tells its workers when a client goes
#: away (L{cocaine.engine.session}).
CLIENT_GONE = toWire(ClientDisconnected("client disconnected"))


def unwrap(args):
    """
    The natural Python value of a message's args: nothing → L{None}, one →
    that value, more → a tuple.
    """
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)


def methodId(protocol, service, name):
    """
    The id of method C{name} of a service's root protocol.

    @param service: the service's name, for the error.
    @raise SlotNotFound: the protocol has no such method; the message
        lists those it has.
    """
    mtype = protocol.idOf(name)
    if mtype is None:
        raise SlotNotFound("{} has no method {!r} (it has: {})".format(
            service, name, ", ".join(protocol.byName)))
    return mtype


def isPlainCall(message):
    """
    Whether a root message is called for one value (its reply is
    primitive or mute and the caller sends nothing after it) rather than
    opening a channel.
    """
    upstream = message.upstream
    return ((upstream is PRIMITIVE or upstream is TERMINAL
             or upstream is None) and message.dispatch is TERMINAL)


def primitiveReply(upstream, mtype, args):
    """
    Read the reply to a plain call.

    @param upstream: the call's upstream protocol (L{PRIMITIVE} if
        L{None}).
    @return: C{(True, value)} for a value (L{unwrap}ped), C{(False,
        exception)} for an error, or a message the protocol does not have
        (a L{NotConnected}).
    """
    message = (upstream or PRIMITIVE).get(mtype)
    if message is not None and message.name == "value":
        return True, unwrap(args)
    if message is not None and message.name == "error":
        return False, fromWire(args)
    return False, NotConnected(
        "service sent message {} not allowed here".format(mtype))


class ChannelState:
    """
    One open channel as its protocols say: what the client may send next
    (its dispatch protocol) and what the service may send (its upstream),
    each advanced message by message.

    @ivar id: the channel id.
    @ivar done: whether the service's side has ended (nothing more will
        be received).
    """

    # slotted, so a subclass may be (the Twisted SDK's channel receiver)
    __slots__ = ("id", "_upstream", "_dispatch", "done")

    def __init__(self, channelId, upstream, dispatch):
        """
        @param upstream: the root message's upstream protocol, or
            L{TERMINAL} for a mute one.
        @param dispatch: the root message's dispatch transition.
        """
        self.id = channelId
        self._upstream = upstream
        self._dispatch = dispatch
        self.done = upstream is TERMINAL

    def _nextDispatch(self, name):
        """
        Take the client's message C{name} through the dispatch protocol.

        @return: its message id.
        @raise ProtocolViolation: the protocol has no such message now.
        """
        dispatch = self._dispatch
        if dispatch is TERMINAL or dispatch is RECURRENT:
            raise ProtocolViolation(
                "channel {} accepts nothing more".format(self.id))
        entry = dispatch.byName.get(name)
        if entry is None:
            raise ProtocolViolation("{!r} is not allowed on channel {} now"
                                    .format(name, self.id))
        index, message = entry
        if message.dispatch is not RECURRENT:
            self._dispatch = message.dispatch
        return index

    def _leave(self, receivers):
        """
        Its caller gives it up (C{abandon} in both SDKs): it is done, it
        sends nothing more of its own, and it leaves C{receivers} (the
        connection's C{{channel id: receiver}}), so what the service
        still sends for it is dropped as any unknown channel's. A channel
        that ended already has left them, or is leaving them in the read
        that ended it.
        """
        if not self.done:
            self.done = True
            self._upstream = TERMINAL
            if receivers.get(self.id) is self:
                del receivers[self.id]

    def _endMessage(self):
        """
        End the request stream of a channel its caller abandoned, if it is
        open: with an error (L{CLIENT_GONE}) where its protocol has one;
        where the protocol has nothing but a C{close} without arguments (a
        subscription's, a lock's), with that close, the one way left to
        say the client is done. A protocol with neither (a chat's) is left
        as it is. Once the end is sent nothing more may be.

        @return: C{(message id, args)} to send, or L{None} for nothing.
        """
        dispatch = self._dispatch
        if dispatch is TERMINAL or dispatch is RECURRENT:
            return None
        byName = dispatch.byName
        if "error" in byName:
            name, args = "error", CLIENT_GONE
        else:
            # only where nothing else may be sent: a close after chunks
            # would pass a cut request for a whole one
            entry = byName.get("close")
            if (entry is None or len(dispatch.messages) != 1
                    or entry[1].dispatch is not TERMINAL or entry[1].args):
                return None
            name, args = "close", []
        index = self._nextDispatch(name)
        self._dispatch = TERMINAL
        return index, args

    def send(self, name, *args):
        """
        Send message C{name} of the current dispatch protocol (each client
        sends in its own way).
        """
        raise NotImplementedError()

    def write(self, *args):
        """
        Send a chunk of the request stream.
        """
        self.send("write", *args)

    def close(self):
        """
        End the request stream.
        """
        self.send("close")

    def error(self, category, code, message=""):
        """
        End the request stream with an error.
        """
        self.send("error", [category, code], message)

    def _nextEvent(self, mtype, args):
        """
        Take the service's message C{mtype} through the upstream protocol.

        @return: C{(name, args)}, or C{("error", exception)} for an error
            (the service's, or a L{NotConnected} for a message the
            protocol does not allow, which ends the channel); L{done} is
            set when it was the last.
        """
        protocol = self._upstream
        if protocol is TERMINAL:
            message = None
        else:
            # Protocol.get without its call
            messages = protocol.messages
            message = messages[mtype] if 0 <= mtype < len(messages) else None
        if message is None:
            self._upstream = TERMINAL
            self.done = True
            return ("error", NotConnected(
                "service sent message {} not allowed on channel {}".format(
                    mtype, self.id)))
        transition = message.dispatch
        if transition is TERMINAL:
            self._upstream = TERMINAL
            self.done = True
        elif transition is not RECURRENT:
            self._upstream = transition
        if message.name == "error":
            return ("error", fromWire(args))
        return (message.name, args)


class Method:
    """
    A service's method bound to its client: calling it is the client's
    C{invoke(name, args, timeout)}.
    """

    __slots__ = ("_service", "_name")

    def __init__(self, service, name):
        self._service = service
        self._name = name

    def __call__(self, *args, timeout=None):
        return self._service.invoke(self._name, args, timeout)

    def __repr__(self):
        return "<method {}.{}>".format(self._service.name, self._name)


def defaultToken(environ=None):
    """
    The credentials a client sends unless told: C{$COCAINE_TOKEN}, else
    in an app's worker the app's token (C{$COCAINE_APP_TOKEN_TYPE} and
    C{$COCAINE_APP_TOKEN_BODY}), else L{None}.
    """
    environ = os.environ if environ is None else environ
    token = environ.get("COCAINE_TOKEN")
    if token:
        return token
    kind = environ.get("COCAINE_APP_TOKEN_TYPE")
    body = environ.get("COCAINE_APP_TOKEN_BODY")
    if kind and body:
        return "{} {}".format(kind, body)
    return None


def authorizationHeader(token):
    """
    The C{authorization} header value for C{token}: a token printed by
    C{cocaine-tool token issue} (C{payload.mac}) travels as
    C{"token <token>"}; anything else (C{"TYPE body"}, or uids for a node
    using C{promiscuous}: C{"5"}) is sent as given.

    @return: bytes.
    """
    if isinstance(token, bytes):
        token = token.decode("utf-8")
    token = token.strip()
    if " " not in token and token.count(".") == 1:
        token = "token " + token
    return token.encode("utf-8")


def openingHeaders(headers=None, authorization=None):
    """
    The header entries of a channel's first message: C{headers} as
    literal entries (not stored in the peer's table), then the
    C{authorization} header when there are credentials.

    @param headers: C{[(name, value)]}.
    @param authorization: the header value (bytes), or L{None}.
    @return: a list of entries, empty for none.
    """
    entries = [[False, name, value] for name, value in headers or ()]
    if authorization is not None:
        entries.append([False, AUTHORIZATION, authorization])
    return entries


def endpointsText(endpoints):
    """
    C{"host:port, ..."} for resolved endpoints, for messages.
    """
    return ", ".join("{}:{}".format(
        e[0].decode() if isinstance(e[0], bytes) else e[0], e[1])
        for e in endpoints) or "no endpoints"


def callTimeout(service, method, timeout):
    """
    The error of a call that did not finish in time.
    """
    return CallTimeout("{}.{} did not answer within {}s".format(
        service, method, timeout))


def notConnected(service, endpoints, error):
    """
    The error of a service none of whose endpoints could be reached.
    """
    return NotConnected("cannot connect to {} at {}: {}".format(
        service, endpointsText(endpoints), error))
