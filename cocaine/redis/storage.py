# -*- test-case-name: tests.integration.test_redis_storage -*-
"""
The C{redis} storage backend: values and tags in one Redis, shared by
every node that names it. Same names, rules and errors as
L{cocaine.storage.files} and L{cocaine.storage.memory}.

Layout under the prefix C{P} (default C{cocaine:storage:}); collection
C{c}, key C{k} and tag C{t} are UTF-8, and none may hold NUL, so NUL
separates them:

  - C{P v:c\\0k}: the value (a string);
  - C{P t:c\\0k}: the key's tags (a set);
  - C{P k:c}: the collection's keys (a set);
  - C{P i:c\\0t}: the keys carrying tag C{t} (a set).

A write (value and tags, the old tags dropped) and a remove are each one
Lua script, so atomic; C{find} is a C{SINTER} of the tag sets (C{SMEMBERS}
of the collection with no tags), leaving out keys whose value has expired
(a value written with a TTL through the elliptics service). Standalone
Redis only: the scripts name keys they compute (no Redis Cluster).
"""

from twisted.application.service import Service
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.errors import InvalidName, KeyNotFound
from cocaine.interfaces import IStorageBackend
from cocaine.redis.script import Script
from cocaine.storage.files import checkName

#: Where the backend keeps its keys unless told otherwise.
DEFAULT_PREFIX = "cocaine:storage:"

_WRITE = Script("""
local old = redis.call('SMEMBERS', KEYS[2])
for _, tag in ipairs(old) do
  redis.call('SREM', ARGV[3] .. tag, ARGV[2])
end
redis.call('DEL', KEYS[2])
if ARGV[4] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('SADD', KEYS[3], ARGV[2])
for i = 5, #ARGV do
  redis.call('SADD', KEYS[2], ARGV[i])
  redis.call('SADD', ARGV[3] .. ARGV[i], ARGV[2])
end
return 1
""")

_REMOVE = Script("""
local existed = redis.call('DEL', KEYS[1])
local old = redis.call('SMEMBERS', KEYS[2])
for _, tag in ipairs(old) do
  redis.call('SREM', ARGV[2] .. tag, ARGV[1])
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return existed
""")

_FIND = Script("""
local keys
local sets = {}
if #ARGV == 2 then
  keys = redis.call('SMEMBERS', KEYS[1])
else
  for i = 3, #ARGV do
    sets[#sets + 1] = ARGV[2] .. ARGV[i]
  end
  keys = redis.call('SINTER', unpack(sets))
end
local live = {}
for _, key in ipairs(keys) do
  if redis.call('EXISTS', ARGV[1] .. key) == 1 then
    live[#live + 1] = key
  else
    redis.call('SREM', KEYS[1], key)
    for _, set in ipairs(sets) do
      redis.call('SREM', set, key)
    end
  end
end
return live
""")


def checkTag(tag):
    """
    @raise InvalidName: an empty tag or one holding NUL, named.
    """
    if not tag or "\0" in tag:
        raise InvalidName("storage: tag {!r} is not allowed".format(tag))


def _notFound(collection, key):
    return KeyNotFound("storage: key {!r} not found in collection "
                       "{!r}".format(key, collection))


log = Logger()


def _keys(reply):
    return sorted(key.decode("utf-8") for key in reply)


def _none(_):
    return None


@implementer(IStorageBackend)
class RedisStorage(Service):
    """
    Values and tags in Redis. Started and stopped with the node's storages
    (the connection with them).

    @ivar redis: the L{cocaine.redis.client.Redis}.
    @ivar shared: C{True}: nodes on the same server and prefix see the
        same values (L{cocaine.interfaces.IStorageBackend}).
    """

    shared = True

    def __init__(self, redis, prefix=DEFAULT_PREFIX):
        """
        @param redis: a L{cocaine.redis.client.Redis}, or anything with its
            C{start}, C{stop} and C{call}.
        @param prefix: before every Redis key (text).
        """
        self.redis = redis
        self._prefix = prefix.encode("utf-8")

    def startService(self):
        """
        Connect, and wait (the client's connect timeout at most) for the
        first connection: the node reads its runlist right after. A server
        still down is only logged; calls fail with L{BackendUnavailable}
        until it is up.
        """
        Service.startService(self)
        self.redis.start()
        wait = getattr(self.redis, "whenConnected", None)
        if wait is None:
            return None
        return wait().addCallback(self._started)

    def _started(self, connected):
        if not connected:
            log.warn("{redis} not reachable yet; storage calls fail until "
                     "it is", redis=self.redis.address.safe)

    def stopService(self):
        Service.stopService(self)
        return self.redis.stop()

    def _names(self, collection, key):
        checkName("collection", collection)
        checkName("key", key, collection)
        c = collection.encode("utf-8")
        k = key.encode("utf-8")
        p = self._prefix
        return c, k, p + b"v:" + c + b"\0" + k

    def read(self, collection, key):
        _, _, value = self._names(collection, key)
        return self.redis.call("GET", value).addCallback(
            self._read, collection, key)

    @staticmethod
    def _read(value, collection, key):
        if value is None:
            raise _notFound(collection, key)
        return value

    def write(self, collection, key, blob, tags=(), ttl=0):
        """
        See L{IStorageBackend.write}.

        @param ttl: ours, for the elliptics service's C{cache_write}:
            milliseconds the value lives, 0 for ever.
        """
        tags = tags or ()
        for tag in tags:
            checkTag(tag)
        c, k, value = self._names(collection, key)
        p = self._prefix
        return _WRITE(
            self.redis,
            (value, p + b"t:" + c + b"\0" + k, p + b"k:" + c),
            [bytes(blob), k, p + b"i:" + c + b"\0", int(ttl)]
            + sorted({tag.encode("utf-8") for tag in tags})
        ).addCallback(_none)

    def remove(self, collection, key):
        c, k, value = self._names(collection, key)
        p = self._prefix
        return _REMOVE(
            self.redis,
            (value, p + b"t:" + c + b"\0" + k, p + b"k:" + c),
            (k, p + b"i:" + c + b"\0")).addCallback(
                self._removed, collection, key)

    @staticmethod
    def _removed(existed, collection, key):
        if not existed:
            raise _notFound(collection, key)

    def find(self, collection, tags):
        checkName("collection", collection)
        c = collection.encode("utf-8")
        p = self._prefix
        return _FIND(
            self.redis, (p + b"k:" + c,),
            [p + b"v:" + c + b"\0", p + b"i:" + c + b"\0"]
            + sorted({tag.encode("utf-8") for tag in tags})
        ).addCallback(_keys)

    def readMany(self, collection, keys):
        """
        Read several keys of one collection at once (C{MGET}).

        @return: a Deferred of C{{key: value}} holding the keys found.
        """
        checkName("collection", collection)
        if not keys:
            from twisted.internet.defer import succeed
            return succeed({})
        names = [self._names(collection, key)[2] for key in keys]
        return self.redis.call("MGET", *names).addCallback(
            lambda values: {key: value for key, value in zip(keys, values)
                            if value is not None})
