# -*- test-case-name: tests.redis.test_client -*-
"""
Connections to one Redis server for the services and storage that use it.

Commands go through a pool of our own connections
(L{cocaine.redis.connection}: RESP written as each command is made,
replies parsed by C{hiredis}, one timer a connection), each place of the
pool kept up by a L{cocaine.redis.slot.RedisSlot} (reconnection with
backoff, the password and database sent before a connection takes
calls); the pub/sub connection (L{RedisSubscriber}) is one such place.
txredisapi served both before, and cost the node 21 us a call in its own
code, most of the cache on Redis's 28 (docs/performance.md, "Platform
services"). What a service gets:

  - a call made while Redis is down fails at once with
    L{BackendUnavailable} naming the server (no waiting for the
    reconnection), and every call has a timeout (L{CallTimeout});
  - values stay bytes: no decoding, no numbers guessed from strings (a
    status reply such as C{OK} is bytes too);
  - an outage, or a refused password, logged once with why;
  - a subscriber that subscribes again to its channels after every
    reconnection.
"""

from twisted.internet.defer import (Deferred, TimeoutError, fail,
                                    gatherResults, succeed)
from twisted.internet.endpoints import HostnameEndpoint
from twisted.logger import Logger

from cocaine.errors import BackendUnavailable, CallTimeout, SystemError_
from cocaine.redis.connection import RedisSubscriberConnection
from cocaine.redis.slot import RedisSlot
from cocaine.redis.url import parseRedisURL

log = Logger()

#: Seconds a call may take (connecting excluded: down is an error at once).
DEFAULT_TIMEOUT = 5.0
#: Seconds a connection attempt may take.
CONNECT_TIMEOUT = 5.0


def _endpoint(reactor, address, connectTimeout):
    endpoint = HostnameEndpoint(reactor, address.host, address.port,
                                timeout=connectTimeout)
    if address.tls:
        from twisted.internet.endpoints import wrapClientTLS

        from cocaine.redis.tls import clientTLSOptions
        endpoint = wrapClientTLS(clientTLSOptions(address), endpoint)
    return endpoint


class _Places:
    """
    What a pool's places (L{RedisSlot}s) tell, and the logging of
    outages: each once, with why, not once an attempt.

    @ivar address: the parsed L{RedisAddress}.
    """

    #: why the last attempt failed, while none is up (logged once)
    _down = None

    def _back(self):
        if self._down is not None:
            log.info("{redis}: connected again", redis=self.address.safe)
            self._down = None

    def _failed(self, reason):
        # a call's error names the server already
        prefix = self.address.safe + ": "
        if reason.startswith(prefix):
            reason = reason[len(prefix):]
        if not self.connected and reason != self._down:
            log.warn("{redis}: cannot connect: {reason}; trying again",
                     redis=self.address.safe, reason=reason)
            self._down = reason

    def _endpoint(self):
        return _endpoint(self._reactor, self.address, self._connectTimeout)


class Redis(_Places):
    """
    A pool of connections to one Redis server.

        redis = Redis("redis://127.0.0.1:6379/0", reactor)
        redis.start()
        value = await redis.call("GET", b"key")

    @ivar address: the parsed L{RedisAddress}.
    """

    def __init__(self, url, reactor, poolSize=2, timeout=DEFAULT_TIMEOUT,
                 connectTimeout=CONNECT_TIMEOUT):
        """
        @param url: C{redis://[[user]:password@]host[:port][/db]}.
        @raise ValueError: a bad URL, named.
        """
        self.address = parseRedisURL(url)
        self._reactor = reactor
        self._poolSize = poolSize
        self._timeout = timeout
        self._connectTimeout = connectTimeout
        self._slots = None
        #: the connections that take calls (connected, handshake done)
        self._up = []

    @property
    def connected(self):
        """
        Whether at least one connection is up.
        """
        return bool(self._up)

    def start(self):
        """
        Start connecting (and reconnecting, with backoff, for good).
        """
        if self._slots is not None:
            return
        endpoint = self._endpoint()
        self._slots = [RedisSlot(self, endpoint, self._reactor,
                                 self._timeout)
                       for _ in range(self._poolSize)]
        for slot in self._slots:
            slot.machine.start()

    # -- what the slots tell ------------------------------------------------

    def _add(self, connection):
        if connection not in self._up:
            self._up.append(connection)
        self._back()

    def _remove(self, connection):
        if connection in self._up:
            self._up.remove(connection)

    # -----------------------------------------------------------------------

    def whenConnected(self, timeout=None, interval=0.05):
        """
        Wait for the first connection (a node's storage at start: the
        runlist is read right after).

        @param timeout: seconds at most; the connect timeout by default.
        @return: a L{Deferred} firing C{True} once a connection is up,
            C{False} when none is within C{timeout} (or after L{stop}).
        """
        if timeout is None:
            timeout = self._connectTimeout
        deadline = self._reactor.seconds() + timeout
        d = Deferred()

        def check():
            if self.connected:
                d.callback(True)
            elif self._slots is None or (
                    self._reactor.seconds() >= deadline):
                d.callback(False)
            else:
                self._reactor.callLater(interval, check)
        check()
        return d

    def call(self, command, *args, timeout=None):
        """
        Run one command, on the connection with the fewest in flight.

        @param command: e.g. C{"GET"}.
        @param args: its arguments (bytes, str, int or float).
        @param timeout: seconds, when shorter than the pool's (whose
            timeout bounds every call).
        @return: a L{Deferred} of the reply (bytes, ints, lists, L{None}).
            It fails with L{BackendUnavailable} when no connection is up,
            L{CallTimeout} when the reply is late, L{SystemError_} when
            Redis answers an error (or an argument cannot be sent).
        """
        up = self._up
        if not up:
            return fail(BackendUnavailable(
                "{} is not reachable (reconnecting)".format(
                    self.address.safe)))
        connection = up[0]
        if len(up) > 1:
            for other in up:
                if len(other.pending) < len(connection.pending):
                    connection = other
        try:
            d = connection.execute(command, *args)
        except (TypeError, ValueError) as e:
            return fail(SystemError_("{}: {}: {}".format(
                self.address.safe, command, e)))
        if timeout is not None:
            # a timer of its own only for a call shorter than the pool's
            d.addTimeout(timeout, self._reactor)
            d.addErrback(self._failedCall, command)
        return d

    def _failedCall(self, failure, command):
        if failure.check(TimeoutError):
            raise CallTimeout("{}: {} timed out".format(self.address.safe,
                                                         command))
        return failure

    def stop(self):
        """
        Close every connection and stop reconnecting.

        @return: a L{Deferred} that fires once they are closed.
        """
        slots, self._slots = self._slots, None
        self._up = []
        self._down = None
        if slots is None:
            return succeed(None)
        for slot in slots:
            slot.machine.stop()
        return gatherResults([slot.stopped for slot in slots]).addCallback(
            lambda _: None)


class RedisSubscriber(_Places):
    """
    One pub/sub connection: what it is subscribed to is subscribed again
    after every reconnection.

    @ivar channels: the channels subscribed to (bytes).
    """

    def __init__(self, url, reactor, onMessage, onReconnect=None,
                 connectTimeout=CONNECT_TIMEOUT):
        """
        @param onMessage: called with C{(channel, message)}, both bytes.
        @param onReconnect: called with no arguments each time the
            connection comes back after a loss (messages published while
            it was down are lost: Redis keeps none).
        """
        self.address = parseRedisURL(url)
        self._reactor = reactor
        self._onMessage = onMessage
        self._onReconnect = onReconnect
        self._connectTimeout = connectTimeout
        self._slot = None
        self._connection = None
        self._everConnected = False
        self.channels = set()

    @property
    def connected(self):
        return self._connection is not None

    def start(self):
        """
        Start connecting (and reconnecting, with backoff, for good).
        """
        if self._slot is not None:
            return
        self._slot = RedisSlot(self, self._endpoint(), self._reactor,
                               DEFAULT_TIMEOUT, RedisSubscriberConnection)
        self._slot.machine.start()

    # -- what the slot tells ------------------------------------------------

    def _add(self, connection):
        connection.onMessage = self._onMessage
        self._connection = connection
        if self.channels:
            connection.send("SUBSCRIBE", *sorted(self.channels))
        if self._everConnected:
            self._down = None
            log.info("{redis}: pub/sub connection back",
                     redis=self.address.safe)
            if self._onReconnect is not None:
                self._onReconnect()
        else:
            self._back()
        self._everConnected = True

    def _remove(self, connection):
        if self._connection is connection:
            self._connection = None
            if self._slot is not None:
                log.warn("{redis}: pub/sub connection lost, reconnecting",
                         redis=self.address.safe)

    # -----------------------------------------------------------------------

    def subscribe(self, channels):
        """
        Subscribe to more channels (now if connected, else on connecting).
        """
        new = [c for c in channels if c not in self.channels]
        self.channels.update(new)
        if new and self._connection is not None:
            self._connection.send("SUBSCRIBE", *new)

    def unsubscribe(self, channels):
        """
        Leave channels.
        """
        gone = [c for c in channels if c in self.channels]
        self.channels.difference_update(gone)
        if gone and self._connection is not None:
            self._connection.send("UNSUBSCRIBE", *gone)

    def stop(self):
        """
        Close the connection and stop reconnecting.

        @return: a L{Deferred} that fires once it is closed.
        """
        slot, self._slot = self._slot, None
        self._connection = None
        # a start after this is a first connection, not a reconnection
        self._everConnected = False
        self._down = None
        if slot is None:
            return succeed(None)
        slot.machine.stop()
        return slot.stopped
