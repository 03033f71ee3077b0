# -*- test-case-name: tests.redis.test_connection -*-
"""
One connection to Redis for commands: each command written in RESP as it
is made (pipelined: no waiting for the replies before it), the replies
parsed by C{hiredis} and matched to the calls in the order they were
sent, as Redis answers them.

What a call costs here is what the node's cache and storage on Redis pay
a call: an encoding, a Deferred, and a place in the queue. One timer a
connection, not one a call, bounds the replies: it is set for the oldest
call's deadline, and a call still unanswered at its deadline fails with
L{CallTimeout} and drops the connection, whose later replies would
answer the wrong calls; the calls behind it fail with
L{BackendUnavailable}, as every call in flight does when a connection is
lost.

Reads are batches of writes (L{cocaine.rpc.writes.batched}): the answers
to clients that one read of replies completes leave in one send per
client; commands go through L{cocaine.rpc.writes.write}, so those a
client's read makes leave in one send as that read ends.
"""

import socket
from collections import deque

import hiredis
from twisted.internet.defer import Deferred, FirstError, fail, gatherResults
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from cocaine.errors import BackendUnavailable, CallTimeout, SystemError_
from cocaine.rpc import writes

log = Logger()

_ReplyError = hiredis.ReplyError


def encodeCommand(command, args):
    """
    @param command: the command's name (C{"GET"}), str or bytes.
    @param args: its arguments: bytes, str (sent as UTF-8), int or float
        (not bool).
    @return: the command in RESP, an array of bulk strings.
    @raise TypeError: an argument of another type, named.
    @raise UnicodeEncodeError: text that is not Unicode (a lone
        surrogate).
    """
    parts = [b"*%d\r\n" % (len(args) + 1)]
    for arg in (command,) + args:
        kind = type(arg)
        if kind is not bytes:
            if kind is str:
                arg = arg.encode("utf-8")
            elif kind is int or kind is float:
                arg = repr(arg).encode("ascii")
            elif isinstance(arg, (bytearray, memoryview)):
                arg = bytes(arg)
            elif isinstance(arg, int) and not isinstance(arg, bool):
                arg = repr(int(arg)).encode("ascii")      # an IntEnum
            elif isinstance(arg, float):
                arg = repr(float(arg)).encode("ascii")
            else:
                raise TypeError(
                    "a Redis command's arguments are bytes, str, int or "
                    "float, not {} ({!r})".format(kind.__name__, arg))
        parts.append(b"$%d\r\n" % len(arg))
        parts.append(arg)
        parts.append(b"\r\n")
    return b"".join(parts)


#: TCP keepalive: probes after 30 s idle, every 10 s, 3 unanswered and
#: the connection is lost (a pub/sub connection idles between messages,
#: and Linux's default is two hours)
_KEEPALIVE = (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10),
              ("TCP_KEEPCNT", 3))


def _keepAliveTimes(transport):
    getHandle = getattr(transport, "getHandle", None)
    handle = getHandle() if getHandle is not None else None
    if not isinstance(handle, socket.socket):
        return
    for name, value in _KEEPALIVE:
        option = getattr(socket, name, None)
        if option is not None:
            try:
                handle.setsockopt(socket.IPPROTO_TCP, option, value)
            except OSError:
                pass


class RedisConnection(Protocol):
    """
    One connection's protocol.

    @ivar pending: the calls sent and not answered, oldest first: each
        C{[deferred, command, deadline]}.
    """

    def __init__(self, reactor, server, timeout, owner=None):
        """
        @param server: the server as messages name it (no password).
        @param timeout: seconds a reply may take.
        @param owner: told when the connection takes no more calls
            (C{connectionDropping}) and when it is lost
            (C{connectionLost}), each with the connection; its pool's
            slot (L{cocaine.redis.slot.RedisSlot}), or L{None}.
        """
        self.reactor = reactor
        self.server = server
        self.timeout = timeout
        self.owner = owner
        self.pending = deque()
        self.lost = False
        self._reader = hiredis.Reader()
        self._timer = None

    def connectionMade(self):
        # TLS's transport may not have these
        for option in ("setTcpNoDelay", "setTcpKeepAlive"):
            setOption = getattr(self.transport, option, None)
            if setOption is not None:
                setOption(True)
        _keepAliveTimes(self.transport)

    def execute(self, command, *args):
        """
        Send one command.

        @return: a Deferred of its reply (bytes, an int, a list, or
            L{None}). It fails with L{SystemError_} for an error reply,
            L{CallTimeout} for a late one and L{BackendUnavailable} when
            the connection is lost first; a bad argument raises
            C{TypeError} here.
        """
        data = encodeCommand(command, args)
        if self.lost:
            return fail(BackendUnavailable(
                "{}: {} failed, the connection was lost".format(
                    self.server, command)))
        d = Deferred()
        self.pending.append([d, command,
                             self.reactor.seconds() + self.timeout])
        writes.write(self.transport, data)
        if self._timer is None:
            self._timer = self.reactor.callLater(self.timeout, self._due)
        return d

    def handshake(self, password=None, username=None, db=0):
        """
        Authenticate, choose the database and hear Redis answer, as a new
        connection must before it takes calls: a C{PING} ends it, so that
        a server that takes connections and answers nothing (or not
        Redis) is not counted as up.

        @return: a Deferred that fires with this connection once Redis
            accepted each step (or fails with what it answered).
        """
        steps = []
        if password is not None:
            steps.append(self.execute("AUTH", username, password)
                         if username else self.execute("AUTH", password))
        if db:
            steps.append(self.execute("SELECT", db))
        steps.append(self.execute("PING"))
        d = gatherResults(steps, consumeErrors=True)
        return d.addCallbacks(lambda _: self, lambda f: f.value.subFailure
                              if f.check(FirstError) else f)

    #: why the connection was dropped, when it was (its owner is told)
    dropReason = None

    def drop(self, reason=None):
        """
        Take no more calls, and close: the calls in flight fail with
        L{BackendUnavailable} once it is closed.

        @param reason: why, for the owner (a text), when not the close's.
        """
        self._leave(reason)
        self.transport.abortConnection()

    def _leave(self, reason=None):
        if not self.lost:
            self.lost = True
            self.dropReason = reason
            if self.owner is not None:
                self.owner.connectionDropping(self)

    @writes.batched
    def dataReceived(self, data):
        if self.lost:
            return
        reader = self._reader
        try:
            reader.feed(data)
            reply = reader.gets()
            while reply is not False:
                self._reply(reply)
                if self.lost:
                    return
                reply = reader.gets()
        except hiredis.ProtocolError as e:
            self.drop("not a Redis answer ({})".format(e))

    def _reply(self, reply):
        """
        One reply: it answers the oldest call in flight.
        """
        pending = self.pending
        if not pending:
            self._unasked(reply)
            return
        d, command, _ = pending.popleft()
        if type(reply) is _ReplyError:
            d.errback(SystemError_("{}: {}: {}".format(self.server, command,
                                                        reply)))
        else:
            d.callback(reply)

    def _unasked(self, reply):
        """
        A reply nobody asked for: Redis closing with a word (C{-ERR max
        number of clients reached}), or not Redis. Nothing after it can
        be matched to its call.
        """
        self.drop("it said, unasked: {}".format(
            reply if type(reply) is _ReplyError else repr(reply)[:80]))

    def _due(self):
        """
        The oldest call's deadline: the calls past theirs fail with
        L{CallTimeout} and the connection is dropped; or, answered
        meanwhile, the timer moves to the next one's.
        """
        self._timer = None
        pending = self.pending
        if not pending:
            return
        now = self.reactor.seconds()
        deadline = pending[0][2]
        if deadline > now:
            self._timer = self.reactor.callLater(deadline - now, self._due)
            return
        # out of the pool first: a caller trying again goes elsewhere
        self._leave()
        while pending and pending[0][2] <= now:
            d, command, _ = pending.popleft()
            d.errback(CallTimeout("{}: {} timed out".format(self.server,
                                                            command)))
        self.transport.abortConnection()

    def connectionLost(self, reason):
        self.lost = True
        writes.discard(self.transport)
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        # the owner first: a caller trying again goes elsewhere
        if self.owner is not None:
            self.owner.connectionLost(
                self, self.dropReason or reason.getErrorMessage())
        pending, self.pending = self.pending, deque()
        for d, command, _ in pending:
            d.errback(BackendUnavailable(
                "{}: {} failed, the connection was lost ({})".format(
                    self.server, command, reason.getErrorMessage())))


class RedisSubscriberConnection(RedisConnection):
    """
    A connection in Redis's pub/sub mode: once subscribed, what Redis
    pushes (a message, the confirmation of a subscription) answers no
    call; the messages go to C{onMessage}.

    @ivar onMessage: called with C{(channel, message)}, both bytes.
    """

    onMessage = None

    def send(self, command, *args):
        """
        Send a command that no reply answers (C{SUBSCRIBE},
        C{UNSUBSCRIBE}: Redis confirms each channel with a push).
        """
        if not self.lost:
            writes.write(self.transport, encodeCommand(command, args))

    def _reply(self, reply):
        if type(reply) is list and reply and reply[0] in _PUSHES:
            if reply[0] == b"message" and len(reply) == 3:
                try:
                    self.onMessage(reply[1], reply[2])
                except Exception:
                    log.failure("{server}: handling a message of {channel!r} "
                                "failed", server=self.server,
                                channel=reply[1])
        elif self.pending:
            # the handshake's answers
            RedisConnection._reply(self, reply)
        elif type(reply) is _ReplyError:
            # a subscription refused (an ACL, say)
            log.warn("{server}: pub/sub: {error}", server=self.server,
                     error=str(reply))


#: what Redis pushes to a subscribed connection
_PUSHES = frozenset([b"message", b"subscribe", b"unsubscribe"])


class RedisConnectionFactory(Factory):
    """
    Makes connections (L{RedisConnection}s, or C{protocol}'s) for one
    owner.
    """

    noisy = False

    def __init__(self, reactor, server, timeout, owner=None,
                 protocol=RedisConnection):
        self.reactor = reactor
        self.server = server
        self.timeout = timeout
        self.owner = owner
        self.protocol = protocol

    def buildProtocol(self, addr):
        return self.protocol(self.reactor, self.server, self.timeout,
                             self.owner)
