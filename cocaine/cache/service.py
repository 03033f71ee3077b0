# -*- test-case-name: tests.cache.test_service -*-
"""
The C{cache} service: 0.12's C{get}/C{put} plus ours (C{put}'s TTL,
C{del}) over a node-local L{LocalCache} or over Redis, where every node
configured with the same Redis sees the same entries.
"""

from twisted.application.service import Service
from twisted.internet.task import LoopingCall
from zope.interface import implementer

from cocaine.cache.lru import DEFAULT_MAX_SIZE, LocalCache
from cocaine.errors import InvalidArgument
from cocaine.interfaces import IRPCService
from cocaine.protocol.cache import CACHE, CACHE_VERSION

#: C{get}'s answer for a missing key (0.12's C{[false, ""]}).
MISSING = (False, b"")
#: C{del}'s answers.
_DELETED = (True,)
_ABSENT = (False,)

#: Seconds between two sweeps of the local cache's expired entries.
REAP_INTERVAL = 1.0

#: Where the Redis backend keeps its entries unless told otherwise.
DEFAULT_PREFIX = "cocaine:cache:"


def checkTTL(ttl, where="cache.put"):
    """
    Read C{put}'s optional TTL argument.

    @return: seconds (> 0), or L{None} for no expiry (nil or 0).
    @raise InvalidArgument: naming the argument.
    """
    if ttl is None or ttl == 0 and type(ttl) in (int, float):
        return None
    if type(ttl) not in (int, float) or not ttl > 0 \
            or ttl == float("inf"):
        raise InvalidArgument(
            "{}: argument 'ttl' must be a number of seconds >= 0 (0 or nil "
            "for none), got {!r}".format(where, ttl))
    return ttl


@implementer(IRPCService)
class LocalCacheService(Service):
    """
    The cache in this node's memory.

    @ivar cache: the L{LocalCache}.
    """

    protocol = CACHE
    version = CACHE_VERSION

    def __init__(self, clock, maxSize=DEFAULT_MAX_SIZE, maxBytes=None):
        self.cache = LocalCache(clock, maxSize, maxBytes)
        self._get = self.cache.get
        self._reaper = LoopingCall(self.cache.reap)
        self._reaper.clock = clock

    def startService(self):
        Service.startService(self)
        self._reaper.start(REAP_INTERVAL, now=False)

    def stopService(self):
        if self._reaper.running:
            self._reaper.stop()
        return Service.stopService(self)

    def get(self, key):
        value = self._get(key)
        if value is None:
            return MISSING
        return (True, value)

    def put(self, key, value, ttl=None):
        if ttl is not None:
            ttl = checkTTL(ttl)
        try:
            self.cache.put(key, value, ttl)
        except ValueError as e:
            raise InvalidArgument("cache.put: {}".format(e))

    def delete(self, key):
        return _DELETED if self.cache.delete(key) else _ABSENT


def _found(value):
    if value is None:
        return MISSING
    return (True, value)


def _deleted(count):
    return _DELETED if count else _ABSENT


@implementer(IRPCService)
class RedisCacheService(Service):
    """
    The cache in Redis: entry C{key} is the Redis string C{prefix + key};
    a TTL is C{SET ... PX}. Redis's own C{maxmemory} policy bounds it.
    While Redis is down every call fails at once with
    L{cocaine.errors.BackendUnavailable} naming the server; the
    connection comes back by itself.
    """

    protocol = CACHE
    version = CACHE_VERSION

    def __init__(self, redis, prefix=DEFAULT_PREFIX):
        """
        @param redis: a L{cocaine.redis.client.Redis} (started and stopped
            with this service).
        @param prefix: put before every key (text or bytes).
        """
        self.redis = redis
        self._call = redis.call
        self._prefix = prefix.encode("utf-8") if isinstance(prefix, str) \
            else prefix

    def startService(self):
        Service.startService(self)
        self.redis.start()

    def stopService(self):
        Service.stopService(self)
        return self.redis.stop()

    def get(self, key):
        return self._call("GET", self._prefix + key).addCallback(_found)

    def put(self, key, value, ttl=None):
        if ttl is not None:
            ttl = checkTTL(ttl)
        if ttl is None:
            d = self._call("SET", self._prefix + key, value)
        else:
            d = self._call("SET", self._prefix + key, value, "PX",
                           max(1, int(round(ttl * 1000))))
        return d.addCallback(_nothing)

    def delete(self, key):
        return self._call("DEL", self._prefix + key).addCallback(_deleted)


def _nothing(_):
    return None
