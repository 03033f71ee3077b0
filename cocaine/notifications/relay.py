# -*- test-case-name: tests.notifications.test_relay -*-
"""
Notifications between nodes over Redis pub/sub.

Channel C{name} is the Redis channel C{prefix + name} (UTF-8). A message
on it is msgpack C{[origin, value]}: C{origin} the 16 random bytes of the
publishing service, so a node skips its own messages when Redis hands them
back (it delivered them to its own subscribers when they were published).
A message that is not shaped so (a C{PUBLISH} from C{redis-cli}, say)
arrives as its raw bytes.

One connection publishes (one, so a node's messages reach Redis in the
order they were published) and one is subscribed to the channels local
subscribers want; both reconnect by themselves (L{cocaine.redis.client}).
"""

import os

import msgpack

from twisted.internet.defer import fail

from cocaine.errors import BackendUnavailable

#: The Redis channel prefix by default.
DEFAULT_PREFIX = "cocaine:notifications:"

_ORIGIN_SIZE = 16


class RedisRelay:
    """
    The Redis side of one notifications service.

    @ivar address: the server's L{cocaine.redis.url.RedisAddress}.
    @ivar origin: this service's 16 random bytes.
    """

    def __init__(self, url, reactor, onMessage, onLost, prefix=DEFAULT_PREFIX,
                 redis=None, subscriber=None):
        """
        @param onMessage: called with C{(name, value)} for each message
            published by another node on a channel subscribed to.
        @param onLost: called with a reason (text) when the subscribed
            connection came back after a loss: messages published
            meanwhile are lost.
        @param redis: a L{cocaine.redis.client.Redis} to publish with
            (tests); by default one for C{url}.
        @param subscriber: a L{cocaine.redis.client.RedisSubscriber}
            (tests); by default one for C{url}.
        @raise ValueError: a bad URL, named.
        """
        from cocaine.redis.client import Redis, RedisSubscriber
        self._onMessage = onMessage
        self._onLost = onLost
        self._prefix = prefix.encode("utf-8")
        if redis is None:
            redis = Redis(url, reactor, poolSize=1)
        if subscriber is None:
            subscriber = RedisSubscriber(url, reactor, self._received,
                                         self._reconnected)
        self._redis = redis
        self._subscriber = subscriber
        self.address = redis.address
        self.origin = os.urandom(_ORIGIN_SIZE)
        self._pack = msgpack.Packer(use_bin_type=True).pack

    @property
    def connected(self):
        """
        Whether a publish can be sent now.
        """
        return self._redis.connected

    def start(self):
        self._redis.start()
        self._subscriber.start()

    def stop(self):
        """
        @return: a L{Deferred} that fires once both connections closed.
        """
        from twisted.internet.defer import gatherResults
        return gatherResults([self._redis.stop(), self._subscriber.stop()],
                             consumeErrors=True)

    def key(self, name):
        """
        @return: the Redis channel of channel C{name} (bytes).
        """
        return self._prefix + name.encode("utf-8")

    def subscribe(self, names):
        self._subscriber.subscribe([self.key(name) for name in names])

    def unsubscribe(self, names):
        self._subscriber.unsubscribe([self.key(name) for name in names])

    def listening(self, name):
        """
        Whether this node's subscribed connection is up and subscribed to
        C{name}: Redis counts it among the receivers of a publish.
        """
        return (self._subscriber.connected
                and self.key(name) in self._subscriber.channels)

    def publish(self, name, value):
        """
        @return: a L{Deferred} of the number of Redis subscribers (nodes)
            that received the message, this one included when it listens;
            failing at once with L{BackendUnavailable} when Redis is not
            connected.
        """
        if not self._redis.connected:
            return fail(BackendUnavailable(
                "{} is not reachable (reconnecting)".format(
                    self.address.safe)))
        return self._redis.call("PUBLISH", self.key(name),
                                self._pack([self.origin, value]))

    def _received(self, channel, message):
        prefix = self._prefix
        if not channel.startswith(prefix):
            return
        try:
            name = channel[len(prefix):].decode("utf-8")
        except UnicodeDecodeError:
            return
        try:
            envelope = msgpack.unpackb(message, raw=True,
                                       strict_map_key=False)
        except (ValueError, msgpack.UnpackException):
            # not msgpack: someone else's message, delivered as it is
            envelope = None
        if (type(envelope) is list and len(envelope) == 2
                and type(envelope[0]) is bytes
                and len(envelope[0]) == _ORIGIN_SIZE):
            if envelope[0] == self.origin:
                return
            value = envelope[1]
        else:
            value = message
        self._onMessage(name, value)

    def _reconnected(self):
        self._onLost("the connection to {} was lost and is back: messages "
                     "published on other nodes meanwhile did not arrive"
                     .format(self.address.safe))
