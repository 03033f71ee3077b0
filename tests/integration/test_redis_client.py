"""
L{cocaine.redis.client} against a real Redis: bytes in and out, an error
at once (never a wait) while Redis is down, reconnection, and a subscriber
that subscribes again after Redis comes back.
"""

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase

from cocaine.errors import BackendUnavailable, CallTimeout, SystemError_
from cocaine.redis.client import Redis, RedisSubscriber
from tests.integration.redis import RedisServer


@inlineCallbacks
def _until(condition, timeout=15.0):
    waited = 0.0
    while not condition():
        if waited > timeout:
            raise AssertionError("condition not met in {} s".format(timeout))
        yield deferLater(reactor, 0.05, lambda: None)
        waited += 0.05


class _RealRedisCase(TestCase):
    """
    A real Redis (C{self.server}) and our client on it (C{self.redis}),
    both stopped at cleanup.
    """

    timeout = 90

    def startRedis(self):
        self.server = RedisServer(self.mktemp()).start()
        self.addCleanup(self.server.stop)
        self.redis = Redis(self.server.url, reactor)
        self.redis.start()
        self.addCleanup(self.redis.stop)

    def watchLog(self):
        """
        @return: the list the log's events go to until cleanup.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        return events

    @inlineCallbacks
    def assertRefusedOnce(self, redis, events, server, words):
        """
        C{redis} stays down: a call fails at once naming C{server}, and
        the log of C{events} says why once, in C{words}, however often
        the pool tries again.
        """
        self.assertFalse((yield redis.whenConnected(timeout=1.5)))
        with self.assertRaises(BackendUnavailable) as e:
            yield redis.call("GET", b"k")
        self.assertIn(server, str(e.exception))
        refused = [formatEvent(event) for event in events
                   if "cannot connect" in (event.get("log_format") or "")]
        self.assertEqual(len(refused), 1, refused)
        self.assertIn(words, refused[0])


class RedisClientTests(_RealRedisCase):

    def setUp(self):
        self.startRedis()
        return _until(lambda: self.redis.connected)

    @inlineCallbacks
    def _paused(self, redis, **kwargs):
        """
        Pause Redis's clients for a second (C{CLIENT PAUSE}) and call
        C{GET} on C{redis} meanwhile.

        @return: the failure's value, after Redis answers again.
        """
        yield self.redis.call("CLIENT", "PAUSE", "1000")
        began = reactor.seconds()
        try:
            yield redis.call("GET", b"k", **kwargs)
        except Exception as e:
            error = e
        else:
            self.fail("GET answered while Redis was paused")
        self.assertLess(reactor.seconds() - began, 0.9)
        yield deferLater(reactor, 1.0, lambda: None)
        return error

    @inlineCallbacks
    def test_replyTimeout(self):
        """
        A reply later than the pool's timeout fails the call with
        L{CallTimeout} naming the server and the command.
        """
        quick = Redis(self.server.url, reactor, timeout=0.3)
        quick.start()
        self.addCleanup(quick.stop)
        yield _until(lambda: quick.connected)
        error = yield self._paused(quick)
        self.assertIsInstance(error, CallTimeout)
        self.assertIn("GET timed out", str(error))

    @inlineCallbacks
    def test_callTimeout(self):
        """
        A call's own timeout, shorter than the pool's, fails it with
        L{CallTimeout} too.
        """
        error = yield self._paused(self.redis, timeout=0.3)
        self.assertIsInstance(error, CallTimeout)
        self.assertIn("GET timed out", str(error))

    @inlineCallbacks
    def test_bytesRoundTrip(self):
        """
        Values are bytes both ways, even when they look like numbers or
        are not UTF-8.
        """
        for value in [b"\xff\x00binary", b"123", b""]:
            yield self.redis.call("SET", b"k", value)
            self.assertEqual((yield self.redis.call("GET", b"k")), value)
        self.assertIsNone((yield self.redis.call("GET", b"missing")))

    @inlineCallbacks
    def test_errorReplyNamesServer(self):
        """
        An error reply fails the call with the server and command named.
        """
        yield self.redis.call("SET", b"s", b"x")
        with self.assertRaises(SystemError_) as e:
            yield self.redis.call("INCR", b"s")
        self.assertIn("INCR", str(e.exception))
        self.assertIn("127.0.0.1:{}".format(self.server.port),
                      str(e.exception))

    @inlineCallbacks
    def test_downIsAnErrorThenReconnects(self):
        """
        With Redis stopped, a call fails at once with L{BackendUnavailable}
        naming it; once Redis is back, calls work again by themselves.
        """
        self.server.stop()
        yield _until(lambda: not self.redis.connected)
        with self.assertRaises(BackendUnavailable) as e:
            yield self.redis.call("GET", b"k")
        self.assertIn("127.0.0.1:{}".format(self.server.port),
                      str(e.exception))
        self.server.start()
        yield _until(lambda: self.redis.connected, timeout=30)
        yield self.redis.call("SET", b"k", b"v")
        self.assertEqual((yield self.redis.call("GET", b"k")), b"v")


class RedisAuthTests(_RealRedisCase):
    """
    A Redis that wants a user and password: the pool's connections
    authenticate and choose the URL's database before taking calls.
    """

    def setUp(self):
        self.server = RedisServer(self.mktemp()).start()
        self.addCleanup(self.server.stop)
        self.assertEqual(self.server.command(
            "ACL", "SETUSER", "app", "on", ">s3cret", "~*", "+@all"),
            b"+OK\r\n")
        self.assertEqual(self.server.command(
            "CONFIG", "SET", "requirepass", "default-pw"), b"+OK\r\n")

    def _client(self, credentials):
        redis = Redis("redis://{}@127.0.0.1:{}/3".format(
            credentials, self.server.port), reactor, connectTimeout=1)
        redis.start()
        self.addCleanup(redis.stop)
        return redis

    @inlineCallbacks
    def test_userAndDatabase(self):
        """
        Every connection of the pool is the URL's user, on its database.
        """
        redis = self._client("app:s3cret")
        yield _until(lambda: len(redis._up) == 2)
        for _ in range(2):
            info = yield redis.call("CLIENT", "INFO")
            self.assertIn(b" db=3 ", info)
            self.assertIn(b" user=app ", info)

    @inlineCallbacks
    def test_passwordOnly(self):
        """
        A password without a user is the default user's.
        """
        redis = self._client(":default-pw")
        yield _until(lambda: redis.connected)
        info = yield redis.call("CLIENT", "INFO")
        self.assertIn(b" user=default ", info)

    @inlineCallbacks
    def test_refused(self):
        """
        A wrong password leaves the pool down (calls fail at once naming
        the server) and is logged once, with Redis's answer, however
        often the pool tries again.
        """
        events = self.watchLog()
        redis = self._client("app:wrong")
        yield self.assertRefusedOnce(
            redis, events, "127.0.0.1:{}".format(self.server.port),
            "WRONGPASS")


class RedisSubscriberTests(_RealRedisCase):

    def setUp(self):
        self.startRedis()
        self.messages = []
        self.reconnects = []
        self.subscriber = RedisSubscriber(
            self.server.url, reactor,
            lambda c, m: self.messages.append((c, m)),
            lambda: self.reconnects.append(True))
        self.subscriber.subscribe([b"news"])
        self.subscriber.start()
        self.addCleanup(self.subscriber.stop)
        return _until(lambda: self.redis.connected
                      and self.subscriber.connected)

    @inlineCallbacks
    def _publishUntilHeard(self, value):
        # the SUBSCRIBE goes out as the connection comes up; publish until
        # it has been taken
        for _ in range(200):
            yield self.redis.call("PUBLISH", b"news", value)
            if (b"news", value) in self.messages:
                return
            yield deferLater(reactor, 0.05, lambda: None)
        raise AssertionError("never heard {!r}: {!r}".format(
            value, self.messages))

    @inlineCallbacks
    def test_messagesAndResubscription(self):
        """
        Published messages arrive as bytes; after Redis restarts, the
        subscriber is subscribed again and told of the reconnection.
        """
        yield self._publishUntilHeard(b"\x00one")
        self.subscriber.unsubscribe([b"news"])
        self.subscriber.subscribe([b"news", b"other"])
        self.server.stop()
        yield _until(lambda: not self.subscriber.connected)
        self.server.start()
        yield _until(lambda: self.subscriber.connected
                     and self.redis.connected, timeout=30)
        self.assertEqual(self.reconnects, [True])
        yield self._publishUntilHeard(b"two")


class RedisTLSTests(_RealRedisCase):
    """
    A Redis that speaks TLS only, on a certificate of a private CA, and
    requires client certificates (Redis's default): a C{rediss://} URL
    naming the CA's and a client's PEM files connects; one that trusts
    another CA, or presents no client certificate, is refused, logged
    once with why.
    """

    def setUp(self):
        from tests.certs import CA
        self.server = RedisServer(self.mktemp(), tls=(CA(), True)).start()
        self.addCleanup(self.server.stop)
        self.files = self.server.tlsFiles

    def _client(self, query, poolSize=2):
        redis = Redis("rediss://127.0.0.1:{}/2?{}".format(
            self.server.port, query), reactor, poolSize=poolSize,
            connectTimeout=1)
        redis.start()
        self.addCleanup(redis.stop)
        return redis

    @inlineCallbacks
    def test_privateCAAndClientCertificate(self):
        """
        With the CA's file and a client certificate and key, every
        connection of the pool is up and carries calls, on the URL's
        database.
        """
        redis = self._client("ssl_ca_certs={ca}&ssl_certfile={client}"
                             "&ssl_keyfile={client-key}".format(
                                 **self.files))
        yield _until(lambda: len(redis._up) == 2)
        yield redis.call("SET", b"k", b"\x00over TLS")
        self.assertEqual((yield redis.call("GET", b"k")), b"\x00over TLS")
        info = yield redis.call("CLIENT", "INFO")
        self.assertIn(b" db=2 ", info)

    @inlineCallbacks
    def test_intermediateInCertificateFile(self):
        """
        A client certificate from an intermediate authority reaches a
        Redis that trusts only the root when the certificate file holds
        the intermediate's certificate after the client's.
        """
        from tests.certs import CA
        intermediate = CA("intermediate CA", issuer=self.server.tls[0])
        cert, key, _ = intermediate.client("redis-client")
        chain, keyFile = self.mktemp(), self.mktemp()
        with open(chain, "wb") as f:
            f.write(cert + intermediate.pem)
        with open(keyFile, "wb") as f:
            f.write(key)
        redis = self._client("ssl_ca_certs={}&ssl_certfile={}"
                             "&ssl_keyfile={}".format(
                                 self.files["ca"], chain, keyFile),
                             poolSize=1)
        yield _until(lambda: redis.connected)
        self.assertEqual((yield redis.call("PING")), b"PONG")

    @inlineCallbacks
    def test_keyInCertificateFile(self):
        """
        A certificate file that holds the key too needs no C{ssl_keyfile}.
        """
        both = self.mktemp()
        with open(both, "wb") as f:
            for name in ("client", "client-key"):
                with open(self.files[name], "rb") as part:
                    f.write(part.read())
        redis = self._client("ssl_ca_certs={}&ssl_certfile={}".format(
            self.files["ca"], both), poolSize=1)
        yield _until(lambda: redis.connected)
        self.assertEqual((yield redis.call("PING")), b"PONG")

    def _refused(self, query, words):
        events = self.watchLog()
        return self.assertRefusedOnce(
            self._client(query), events,
            "rediss://127.0.0.1:{}".format(self.server.port), words)

    def test_otherCARefused(self):
        """
        A server whose certificate does not come from the URL's CA is not
        talked to.
        """
        from tests.certs import CA
        other = self.mktemp()
        with open(other, "wb") as f:
            f.write(CA("another CA").pem)
        return self._refused(
            "ssl_ca_certs={}&ssl_certfile={client}&ssl_keyfile={client-key}"
            .format(other, **self.files), "certificate verify failed")

    def test_noClientCertificateRefused(self):
        """
        Without a client certificate, Redis ends the handshake.
        """
        return self._refused("ssl_ca_certs={ca}".format(**self.files),
                             "certificate required")
