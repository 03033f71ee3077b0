# -*- test-case-name: tests.client.test_blocking -*-
"""
A small blocking facade over the client SDK, for scripts and the command
line tool.

    from cocaine.client.blocking import connect
    storage = connect("storage")               # locator at 127.0.0.1:10053
    storage.write("c", "k", b"v", ["tag"])
    print(storage.read("c", "k"))

The facade runs the global reactor in a daemon thread (started on first use)
and waits for each call there; it is meant for programs that have no reactor
of their own. Twisted programs use L{cocaine.client.service} directly.
"""

import atexit
import queue
import threading
import weakref

from twisted.internet.defer import FirstError, gatherResults, maybeDeferred
from twisted.internet.threads import blockingCallFromThread
from twisted.logger import Logger
from twisted.python.failure import Failure

from cocaine.client.service import DEFAULT_LOCATOR, Locator, Service
from cocaine.rpc.client import Channel, ChannelClosed

_lock = threading.Lock()
_thread = None
_open = weakref.WeakSet()
log = Logger()


def _reactor():
    global _thread
    from twisted.internet import reactor
    with _lock:
        if _thread is None:
            _thread = threading.Thread(
                target=reactor.run, kwargs={"installSignalHandlers": False},
                name="cocaine-reactor", daemon=True)
            _thread.start()
            atexit.register(_closeAll)
    return reactor


def _closeAll(budget=3.0):
    """
    At interpreter exit, close every connection gracefully so what was
    sent last (a mute C{emit}, say) leaves the process before the reactor
    thread dies with it: all at once, waiting C{budget} seconds at most in
    all, so that Ctrl-C never leaves a program waiting on a node that went
    away (nor on a reactor thread that is stuck).

    It never raises: a close that fails, or a reactor that will not take
    the call, is logged as a failure (printed on stderr by a program that
    has not begun logging), closes still going when the budget runs out
    as a warning, and the exit goes on.
    """
    services = list(_open)
    if not services:
        return
    reactor = services[0]._reactor
    if not reactor.running:
        return
    ended = queue.Queue()

    def disconnectAll():
        return gatherResults(
            [service._disconnect() for service in services],
            consumeErrors=True)

    def start():
        maybeDeferred(disconnectAll).addBoth(ended.put)
    try:
        reactor.callFromThread(start)
        result = ended.get(timeout=budget)
    except queue.Empty:
        log.warn("Gave up closing {count} services after {budget} s at exit:"
                 " what was sent last may not have left",
                 count=len(services), budget=budget)
        return
    except Exception:
        log.failure("Closing {count} services at exit failed",
                    count=len(services))
        return
    if isinstance(result, Failure):
        while result.check(FirstError):
            result = result.value.subFailure
        log.failure("Closing {count} services at exit failed", result,
                    count=len(services))


def _dropped(reactor, channel):
    """
    The finalizer of a L{BlockingChannel} the program let go of, in the
    thread that dropped it (or ran the collector): a channel that has not
    ended is abandoned in the reactor's thread.

    Nothing is asked of a reactor that has stopped: it would never run
    the call, and the channel goes with it. Nor at interpreter exit: a
    C{weakref.finalize} whose C{atexit} is false runs nothing once the
    exit hooks have begun, when the reactor's daemon thread and the
    channel go with the process. Anything else this raises is a fault,
    reported by Python as for any finalizer, not swallowed.
    """
    if not channel.done and reactor.running:
        reactor.callFromThread(channel.abandon)


class BlockingChannel:
    """
    A L{Channel} used from a plain thread.

    A channel read only in part (the first table of an endless stream)
    is abandoned (L{Channel.abandon}) when the program lets go of it, or
    at once with L{abandon}: what the service still sends for it is
    dropped rather than kept in the reactor's thread for ever.
    """

    def __init__(self, reactor, channel):
        self._reactor = reactor
        self._channel = channel
        # holds the reactor and the channel, not this facade; runs
        # nothing at interpreter exit (see _dropped)
        weakref.finalize(self, _dropped, reactor, channel).atexit = False

    def abandon(self):
        """
        Read nothing more (L{Channel.abandon}).
        """
        self._call("abandon")

    def _call(self, method, *args):
        return blockingCallFromThread(
            self._reactor, getattr(self._channel, method), *args)

    def write(self, *args):
        self._call("write", *args)

    def close(self):
        self._call("close")

    def send(self, name, *args):
        self._call("send", name, *args)

    def read(self, timeout=None):
        """
        The next chunk or value; raises the service's error, or
        L{ChannelClosed} at the end of the stream.
        """
        def read():
            d = self._channel.read()
            if timeout is not None:
                d.addTimeout(timeout, self._reactor)
            return d
        return blockingCallFromThread(self._reactor, read)

    def __iter__(self):
        while True:
            try:
                yield self.read()
            except ChannelClosed:
                return


class BlockingService:
    """
    A L{Service} whose methods block and return values.
    """

    def __init__(self, name, host=DEFAULT_LOCATOR[0],
                 port=DEFAULT_LOCATOR[1], timeout=30.0, token=None,
                 tls=None):
        self._reactor = _reactor()
        self._timeout = timeout
        locator = Locator(self._reactor, [(host, port)],
                          connectTimeout=min(timeout or 5, 5), token=token,
                          tls=tls)
        self._service = locator if name == "locator" else Service(
            name, locator, connectTimeout=min(timeout or 5, 5))
        self._locator = locator
        _open.add(self)

    @property
    def name(self):
        return self._service.name

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*args, timeout=None):
            timeout = self._timeout if timeout is None else timeout
            result = blockingCallFromThread(
                self._reactor, lambda: self._service.invoke(
                    method, args, timeout))
            if isinstance(result, Channel):
                return BlockingChannel(self._reactor, result)
            return result
        return call

    def callApp(self, event, *chunks, timeout=None):
        """
        One request to an app and its whole answer
        (L{cocaine.client.service.Service.callApp}).

        @return: the list of the answer's chunks.
        @raise Exception: the app's or the node's error.
        """
        timeout = self._timeout if timeout is None else timeout
        return blockingCallFromThread(
            self._reactor, lambda: self._service.callApp(
                event, *chunks, timeout=timeout))

    def close(self, timeout=None):
        """
        Close the connections after what was sent has been written.
        """
        def disconnect():
            d = self._disconnect()
            if timeout is not None:
                d.addTimeout(timeout, self._reactor)
            return d
        blockingCallFromThread(self._reactor, disconnect)
        _open.discard(self)

    def _disconnect(self):
        """
        In the reactor thread: close both connections.

        @return: a Deferred that fires once both are closed.
        """
        return gatherResults([self._service.disconnect(),
                              self._locator.disconnect()])


def connect(name, host=DEFAULT_LOCATOR[0], port=DEFAULT_LOCATOR[1],
            timeout=30.0, token=None, tls=None):
    """
    A blocking client of service C{name} found through the locator at
    C{host}:C{port}.

    @param token: credentials sent with every call (by default
        C{$COCAINE_TOKEN}).
    @param tls: a L{cocaine.rpc.tls.ClientTLS} for a node with TLS (by
        default from C{$COCAINE_TLS_CA} and friends).
    """
    return BlockingService(name, host, port, timeout, token, tls)
