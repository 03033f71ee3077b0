# -*- test-case-name: tests.redis.test_client -*-
"""
Connections to one Redis server for the services and storage that use it.

Built on txredisapi (Twisted-native, a pool with reconnection and backoff,
pub/sub), with what a service needs on top of it:

  - a call made while Redis is down fails at once with
    L{BackendUnavailable} naming the server (txredisapi would wait for the
    reconnection), and every call has a timeout (L{CallTimeout});
  - values stay bytes: no decoding, no numbers guessed from strings;
  - a subscriber that subscribes again to its channels after every
    reconnection;
  - replies parsed by C{hiredis} (a dependency: txredisapi uses it when
    it imports; with it a status reply such as C{OK} is bytes too), each
    read of a connection one batch of writes and its commands written
    through L{cocaine.rpc.writes} (L{_batched}).

txredisapi imports the global reactor, so it is imported only when a
connection starts (by then twistd has installed the node's reactor).
"""

from twisted.internet.defer import Deferred, TimeoutError, fail, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.logger import Logger

from cocaine.errors import BackendUnavailable, CallTimeout, SystemError_
from cocaine.redis.url import parseRedisURL
from cocaine.rpc import writes

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
        from twisted.internet.ssl import optionsForClientTLS
        endpoint = wrapClientTLS(optionsForClientTLS(address.host), endpoint)
    return endpoint


def _translate(failure, address, command):
    """
    Turn txredisapi's failures into ours, naming the server.
    """
    import txredisapi
    if failure.check(txredisapi.TimeoutError):
        raise CallTimeout("{}: {} timed out".format(address.safe, command))
    if failure.check(txredisapi.ConnectionError):
        raise BackendUnavailable("{}: {} failed, the connection was lost "
                                 "({})".format(address.safe, command,
                                               failure.value))
    if failure.check(txredisapi.ResponseError, txredisapi.InvalidData):
        raise SystemError_("{}: {}: {}".format(address.safe, command,
                                               failure.value))
    return failure


class _DirectWrites:
    """
    A connection's transport whose C{write} goes through
    L{cocaine.rpc.writes}: a command sent while a batch is open (a
    client's read) leaves with the batch's others in one send when that
    read ends, and one sent outside a batch leaves at once. Twisted's own
    C{write} would wait for the reactor's next turn, registering and
    unregistering the socket for writing around it. Everything else is
    the transport's.
    """

    def __init__(self, transport):
        self._transport = transport

    def write(self, data):
        writes.write(self._transport, data)

    def writeSequence(self, data):
        writes.write(self._transport, b"".join(data))

    def __getattr__(self, name):
        return getattr(self._transport, name)


def _batched(protocol):
    """
    @param protocol: txredisapi's protocol class (its C{hiredis} parser's
        when C{hiredis} is installed).
    @return: a subclass whose reads are batches of writes
        (L{cocaine.rpc.writes.batched}): the answers to clients that one
        read of Redis's replies completes leave in one send per client,
        not in one send each; and whose commands are written through
        L{_DirectWrites}.
    """
    class BatchedRedisProtocol(protocol):
        dataReceived = writes.batched(protocol.dataReceived)

        def makeConnection(self, transport):
            protocol.makeConnection(self, _DirectWrites(transport))

    return BatchedRedisProtocol


class Redis:
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
        self._factory = None

    @property
    def connected(self):
        """
        Whether at least one connection is up.
        """
        return self._factory is not None and self._factory.size > 0

    def start(self):
        """
        Start connecting (and reconnecting, with backoff, for good).
        """
        import txredisapi
        if self._factory is not None:
            return
        a = self.address
        self._factory = txredisapi.RedisFactory(
            a.safe, a.db, self._poolSize, isLazy=True, charset=None,
            password=a.password, username=a.username,
            replyTimeout=self._timeout, convertNumbers=False)
        self._factory.protocol = _batched(txredisapi.RedisProtocol)
        self._factory.maxDelay = 5
        self._factory.startConnecting(
            _endpoint(self._reactor, a, self._connectTimeout))

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
            elif self._factory is None or (
                    self._reactor.seconds() >= deadline):
                d.callback(False)
            else:
                self._reactor.callLater(interval, check)
        check()
        return d

    def call(self, command, *args, timeout=None):
        """
        Run one command.

        @param command: e.g. C{"GET"}.
        @param args: its arguments (bytes, str or numbers).
        @param timeout: seconds, when shorter than the pool's (whose
            reply timeout, txredisapi's, bounds every call).
        @return: a L{Deferred} of the reply (bytes, ints, lists, L{None}).
            It fails with L{BackendUnavailable} when no connection is up,
            L{CallTimeout} when the reply is late, L{SystemError_} when
            Redis answers an error.
        """
        if not self.connected:
            return fail(BackendUnavailable(
                "{} is not reachable (reconnecting)".format(
                    self.address.safe)))
        d = self._factory.handler.execute_command(command, *args)
        if timeout is not None:
            # the pool's own timeout is txredisapi's reply timeout (which
            # also drops the connection, whose later replies would answer
            # the wrong calls): a second timer per call only for another
            d.addTimeout(timeout, self._reactor)
        d.addErrback(self._failed, command)
        return d

    def _failed(self, failure, command):
        if failure.check(TimeoutError):
            raise CallTimeout("{}: {} timed out".format(self.address.safe,
                                                         command))
        return _translate(failure, self.address, command)

    def stop(self):
        """
        Close every connection and stop reconnecting.

        @return: a L{Deferred} that fires once they are closed.
        """
        factory, self._factory = self._factory, None
        if factory is None:
            return succeed(None)
        return factory.disconnect()


class RedisSubscriber:
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
        self._factory = None
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
        import txredisapi
        owner = self

        class Protocol(txredisapi.SubscriberProtocol):
            def messageReceived(self, pattern, channel, message):
                owner._onMessage(channel, message)

        class Factory(txredisapi.SubscriberFactory):
            protocol = Protocol

            def addConnection(self, conn):
                txredisapi.SubscriberFactory.addConnection(self, conn)
                if conn.connected and not self.disconnectCalled:
                    owner._up(conn)

            def delConnection(self, conn):
                txredisapi.SubscriberFactory.delConnection(self, conn)
                owner._down(conn)

        a = self.address
        self._factory = Factory(isLazy=True)
        self._factory.charset = None
        self._factory.convertNumbers = False
        self._factory.password = a.password
        self._factory.username = a.username
        self._factory.dbid = a.db
        self._factory.maxDelay = 5
        self._factory.startConnecting(
            _endpoint(self._reactor, a, self._connectTimeout))

    def _up(self, connection):
        self._connection = connection
        if self.channels:
            connection.subscribe(sorted(self.channels)).addErrback(
                self._lost, "SUBSCRIBE")
        if self._everConnected:
            log.info("{redis}: pub/sub connection back",
                     redis=self.address.safe)
            if self._onReconnect is not None:
                self._onReconnect()
        self._everConnected = True

    def _down(self, connection):
        if self._connection is connection:
            self._connection = None
            log.warn("{redis}: pub/sub connection lost, reconnecting",
                     redis=self.address.safe)

    def _lost(self, failure, command):
        log.warn("{redis}: {command} failed: {error}",
                 redis=self.address.safe, command=command,
                 error=failure.getErrorMessage())

    def subscribe(self, channels):
        """
        Subscribe to more channels (now if connected, else on connecting).
        """
        new = [c for c in channels if c not in self.channels]
        self.channels.update(new)
        if new and self._connection is not None:
            self._connection.subscribe(new).addErrback(self._lost,
                                                       "SUBSCRIBE")

    def unsubscribe(self, channels):
        """
        Leave channels.
        """
        gone = [c for c in channels if c in self.channels]
        self.channels.difference_update(gone)
        if gone and self._connection is not None:
            self._connection.unsubscribe(gone).addErrback(self._lost,
                                                          "UNSUBSCRIBE")

    def stop(self):
        """
        Close the connection and stop reconnecting.
        """
        factory, self._factory = self._factory, None
        self._connection = None
        if factory is None:
            return succeed(None)
        return factory.disconnect()
