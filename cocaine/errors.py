# -*- test-case-name: tests.test_errors -*-
"""
The exception hierarchy and the one mapping between exceptions and the wire.

An error travels as C{[[category, code], message]} (PROTOCOL.md section 4).
L{toWire} turns any exception into that shape without ever leaking a
traceback; L{fromWire} turns the shape back into the most specific exception
class we know for it.

This module imports nothing but the standard library: the worker SDK, which
runs in app processes without Twisted, shares it.
"""

import errno as _errno

#: Error categories, as numbered on the wire.
CATEGORY_SYSTEM = 0x01
CATEGORY_TRANSPORT = 0x06
CATEGORY_DISPATCH = 0x07
CATEGORY_SECURITY = 0x09
CATEGORY_LOCATOR = 0x0A
CATEGORY_UNICORN = 0x0B
CATEGORY_NODE = 0x51FF
CATEGORY_FRAMEWORK = 42
CATEGORY_USER = 43

# dispatch category codes
DUPLICATE_SLOT = 1
INVALID_ARGUMENT = 2
NOT_CONNECTED = 3
REVOKED_CHANNEL = 4
SLOT_NOT_FOUND = 5
UNBOUND_DISPATCH = 6
UNCAUGHT_ERROR = 7

# security category codes (0.12's "cocaine security")
TOKEN_NOT_FOUND = 1
UNAUTHORIZED = 2
PERMISSION_DENIED = 3

# locator category codes
SERVICE_NOT_AVAILABLE = 1
ROUTING_STORAGE_ERROR = 2
MISSING_VERSION_ERROR = 3

# unicorn category codes (0.12's core errors.hpp unicorn_errors)
CHILD_NOT_ALLOWED = 1
INVALID_TYPE = 2
INVALID_VALUE = 3
UNICORN_UNKNOWN = 4
INVALID_NODE_NAME = 5
INVALID_PATH = 6
VERSION_NOT_ALLOWED = 7
NO_NODE = 8
NODE_EXISTS = 9
CONNECTION_LOSS = 10
BACKEND_INTERNAL = 11


class CocaineError(Exception):
    """
    Base of every error that can cross the wire.

    @ivar category: the wire category.
    @ivar code: the wire code within the category.
    @ivar message: a human readable text; never a traceback.
    """

    category = CATEGORY_DISPATCH
    code = UNCAUGHT_ERROR

    def __init__(self, message="", category=None, code=None):
        Exception.__init__(self, message)
        self.message = message
        if category is not None:
            self.category = category
        if code is not None:
            self.code = code

    def __str__(self):
        return self.message or "[{}, {}]".format(self.category, self.code)

    def __repr__(self):
        return "{}({!r}, category={!r}, code={!r})".format(
            type(self).__name__, self.message, self.category, self.code)


class DispatchError(CocaineError):
    """
    The peer sent something the protocol does not allow here.
    """

    category = CATEGORY_DISPATCH


class InvalidArgument(DispatchError):
    """
    Arguments that do not fit the declared types.
    """

    code = INVALID_ARGUMENT


class SlotNotFound(DispatchError):
    """
    A message type that the channel's current protocol does not have.
    """

    code = SLOT_NOT_FOUND


class RevokedChannel(DispatchError):
    """
    A channel id that is closed, reused or lower than one already opened.
    """

    code = REVOKED_CHANNEL


class NotConnected(DispatchError):
    """
    The connection to the service was lost before the call finished.
    """

    code = NOT_CONNECTED


class Unreachable(NotConnected):
    """
    A service that could not be reached at all: nothing of the request
    was sent, so it may be tried elsewhere. On the wire it is a
    L{NotConnected}.
    """


class UncaughtError(DispatchError):
    """
    A handler failed in a way nobody planned for.
    """

    code = UNCAUGHT_ERROR


class TransportError(CocaineError):
    """
    The byte stream itself cannot be trusted any more.
    """

    category = CATEGORY_TRANSPORT
    code = 1


class SecurityError(CocaineError):
    """
    A call the node's authentication or authorization refused (category
    0x09, Cocaine 0.12's "cocaine security").
    """

    category = CATEGORY_SECURITY
    code = PERMISSION_DENIED


class Unauthorized(SecurityError):
    """
    The call carries no identity, or one that does not verify (a token
    that is expired, forged or signed with an unknown key): C{[0x09, 2]}.
    """

    code = UNAUTHORIZED


class AccessDenied(SecurityError):
    """
    The caller is known but not allowed this call: C{[0x09, 3]}, 0.12's
    C{permission_denied} (named apart from L{PermissionDenied}, the errno
    one storage raises for a name that would escape its directory).
    """

    code = PERMISSION_DENIED


class ServiceNotAvailable(CocaineError):
    """
    The locator knows no service by that name.
    """

    category = CATEGORY_LOCATOR
    code = SERVICE_NOT_AVAILABLE


class RoutingStorageError(CocaineError):
    """
    Routing groups could not be read from storage.
    """

    category = CATEGORY_LOCATOR
    code = ROUTING_STORAGE_ERROR


class UnicornError(CocaineError):
    """
    A unicorn call that failed (category 0x0B, 0.12's unicorn errors);
    the subclasses name the codes.
    """

    category = CATEGORY_UNICORN
    code = BACKEND_INTERNAL


class ChildNotAllowed(UnicornError):
    """
    A value read or watched on a node that has children.
    """

    code = CHILD_NOT_ALLOWED


class InvalidType(UnicornError):
    """
    C{increment} of or by something that is not a number.
    """

    code = INVALID_TYPE


class InvalidValue(UnicornError):
    """
    A stored value that is not msgpack.
    """

    code = INVALID_VALUE


class InvalidPath(UnicornError):
    """
    A path that is not C{/a/b} shaped, or the root.
    """

    code = INVALID_PATH


class VersionNotAllowed(UnicornError):
    """
    A version that does not match (C{del}), or a negative one (C{put}).
    """

    code = VERSION_NOT_ALLOWED


class NoNode(UnicornError):
    """
    A node that does not exist.
    """

    code = NO_NODE


class NodeExists(UnicornError):
    """
    C{create} of a node that exists.
    """

    code = NODE_EXISTS


class ConnectionLoss(UnicornError):
    """
    The coordination backend (etcd) cannot be reached or lost our lease.
    """

    code = CONNECTION_LOSS


class SystemError_(CocaineError):
    """
    An errno-style failure (category 1, code = errno).
    """

    category = CATEGORY_SYSTEM
    code = _errno.EIO


class KeyNotFound(SystemError_):
    """
    A storage key that does not exist.
    """

    code = _errno.ENOENT


class PermissionDenied(SystemError_):
    """
    A storage name that would escape its directory, or similar.
    """

    code = _errno.EACCES


class InvalidName(SystemError_):
    """
    A name (collection, key, tag) that storage cannot accept.
    """

    code = _errno.EINVAL


class ClientDisconnected(SystemError_):
    """
    The client of a session went away before its request stream ended
    (what a worker is told, as Cocaine 0.12 tells it with the socket's
    errno).
    """

    code = _errno.ECONNRESET


class BackendUnavailable(SystemError_):
    """
    A service's backend (Redis, a remote server) that cannot be reached
    now; the message names it. The service reconnects by itself, so a
    later call may succeed.
    """

    code = _errno.ECONNREFUSED


class FetchFailed(SystemError_):
    """
    A URL the C{urlfetch} service could not fetch (no HTTP answer: bad
    address, refused, timed out, denied, too big): the errno that fits is
    the code, the message names the URL, as 0.12's "Unable to download
    {url}, error {reason}".
    """


class TimerNotFound(UncaughtError):
    """
    C{chrono.restart} of a timer id that does not exist (0.12 throws from
    its map lookup, which its dispatch sends as an uncaught error).
    """


class NodeError(CocaineError):
    """
    The app engine could not serve a request (category 0x51FF, ours).
    """

    category = CATEGORY_NODE


class DeadlineExpired(NodeError):
    """
    The request's deadline (the C{request_timeout} header) passed.
    """

    code = 1


class QueueFull(NodeError):
    """
    The app's queue holds C{queue-limit} requests already.
    """

    code = 2


class WorkerLost(NodeError):
    """
    The worker serving the request died or lost its connection.
    """

    code = 3


class AppNotRunning(NodeError):
    """
    No such app is running, or it is stopping.
    """

    code = 4


class AppAlreadyRunning(NodeError):
    """
    C{start_app} of an app that runs.
    """

    code = 5


class PoolFull(NodeError):
    """
    No worker can be added.
    """

    code = 6


class EngineBroken(NodeError):
    """
    The app is C{broken} (a worker terminated abnormally) until restarted.
    """

    code = 7


class SpawnFailed(NodeError):
    """
    A worker could not be started (slave missing, not executable, no
    handshake).
    """

    code = 8


class DriverError(SpawnFailed):
    """
    An app's event driver that cannot be built or started; the message
    names it and the reason.
    """


class CallTimeout(CocaineError):
    """
    A client call that did not finish within its timeout.

    Local to the client; the category is the errno one with ETIMEDOUT so it
    maps cleanly if it is ever forwarded.
    """

    category = CATEGORY_SYSTEM
    code = _errno.ETIMEDOUT


class StartupError(Exception):
    """
    A part of the node could not start; the message says which and why.
    """


class ProtocolViolation(Exception):
    """
    Raised locally when code tries to send a message that the channel's
    current protocol does not allow. Never sent: sending it would make the
    real client drop the connection.
    """


class ChannelClosed(Exception):
    """
    Nothing more will be read from a client channel: the one exception
    both client SDKs raise for it, so that C{except ChannelClosed} reads
    the same in either. L{cocaine.client} (and L{cocaine.rpc.client},
    L{cocaine.rpc.receivers}) export it for the Twisted SDK,
    L{cocaine.worker} (and L{cocaine.worker.channel}) for the worker SDK's
    service client: each name is this class.

    Both raise it from a read of a channel its caller abandoned
    (C{abandon()}), a read that was waiting included. The Twisted SDK
    raises it too from a read after the service closed the stream (its
    C{async for} ends there), where the worker SDK's read gives L{None}
    instead and an abandoned channel must not pass for one that ended.
    Cocaine 0.12's Python framework (C{cocaine} 0.12.14.5) raises its
    C{cocaine.exceptions.ChokeEvent} from a read after the close.

    Local to the client, never sent: like any exception that is not a
    L{CocaineError}, L{toWire} makes it an uncaught error.
    """


class FramingError(Exception):
    """
    A value on the stream that is not a message; the connection must close.

    @ivar messages: the well-formed messages that came before it in the
        same chunk, still to be handled before closing.
    """

    def __init__(self, reason, messages=()):
        Exception.__init__(self, reason)
        self.messages = list(messages)


_byPair = {}


def _register(*classes):
    for cls in classes:
        _byPair.setdefault((cls.category, cls.code), cls)


_register(InvalidArgument, SlotNotFound, RevokedChannel, NotConnected,
          UncaughtError, ServiceNotAvailable, RoutingStorageError,
          KeyNotFound, PermissionDenied, InvalidName, ClientDisconnected,
          CallTimeout, Unauthorized, AccessDenied,
          DeadlineExpired, QueueFull, WorkerLost, AppNotRunning,
          AppAlreadyRunning, PoolFull, EngineBroken, SpawnFailed,
          UnicornError, ChildNotAllowed, InvalidType, InvalidValue,
          InvalidPath, VersionNotAllowed, NoNode, NodeExists,
          ConnectionLoss)
# a client tells a backend that is down from other system errors
_register(BackendUnavailable)


def toWire(failureOrException):
    """
    Map an exception (or a L{twisted.python.failure.Failure}) to the wire
    arguments of an C{error} message.

    @return: C{[[category, code], message]}; anything that is not a
        L{CocaineError} becomes an uncaught dispatch error whose message
        names only the exception type, so no traceback leaves the process.
    """
    exc = failureOrException
    inner = getattr(exc, "value", None)
    if isinstance(inner, BaseException) and hasattr(exc, "getTraceback"):
        # a twisted.python.failure.Failure (not imported: see the module)
        exc = inner
    if isinstance(exc, CocaineError):
        return [[exc.category, exc.code], exc.message]
    return [[CATEGORY_DISPATCH, UNCAUGHT_ERROR],
            "uncaught error: {}".format(type(exc).__name__)]


def _brief(value):
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def fromWire(args):
    """
    Build an exception from the arguments of an C{error} message.

    @param args: C{[[category, code], message?]} as decoded (text may still
        be bytes).
    @return: a L{CocaineError} of the most specific known class.
    """
    try:
        (category, code) = args[0]
        category, code = int(category), int(code)
    except (TypeError, ValueError, IndexError):
        # the error's own arguments do not fit [[category, code], message]
        return InvalidArgument("malformed error message: {}".format(
            _brief(args)))
    message = args[1] if len(args) > 1 else ""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    elif not isinstance(message, str):
        message = str(message)
    cls = _byPair.get((category, code), CocaineError)
    return cls(message, category=category, code=code)
