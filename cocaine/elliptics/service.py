# -*- test-case-name: tests.elliptics.test_service -*-
"""
The C{elliptics} service: Cocaine 0.12's protocol (storage's four methods,
then C{cache_read}, C{cache_write}, C{bulk_read}, C{read_latest}) on a
L{cocaine.redis.storage.RedisStorage}, since Elliptics itself is gone.

One key space per namespace, as in Elliptics (whose cache and disk held
the same keys): C{read}, C{cache_read} and C{read_latest} all read what
C{write} or C{cache_write} stored (one Redis has no stale replicas, so
the latest is the only one). C{cache_write}'s TTL (seconds, 0 for ever)
becomes the value's expiry; it drops the key's tags, as any write without
tags. Ours: C{find} works (0.12 answered ENOTSUP: its indexes were gone).
A missing key is L{KeyNotFound} (category 1, ENOENT, as Elliptics'
C{-ENOENT}); C{bulk_read} leaves missing keys out of its map.
"""

from twisted.application.service import Service
from twisted.internet.defer import maybeDeferred
from zope.interface import implementer

from cocaine.errors import InvalidArgument
from cocaine.interfaces import IRPCService
from cocaine.protocol.elliptics import ELLIPTICS, ELLIPTICS_VERSION


def _one(value):
    return (value,)


@implementer(IRPCService)
class EllipticsService(Service):
    """
    @ivar storage: the L{cocaine.redis.storage.RedisStorage}.
    """

    protocol = ELLIPTICS
    version = ELLIPTICS_VERSION

    def __init__(self, storage, own=True):
        """
        @param storage: where the values are.
        @param own: start and stop C{storage} with this service (false when
            it is one of the node's storages, which the node starts).
        """
        self.storage = storage
        self._own = own

    def startService(self):
        Service.startService(self)
        if self._own:
            self.storage.startService()

    def stopService(self):
        Service.stopService(self)
        if self._own:
            return self.storage.stopService()

    def read(self, collection, key):
        return maybeDeferred(self.storage.read, collection, key).addCallback(
            _one)

    def write(self, collection, key, blob, tags=None):
        return self.storage.write(collection, key, blob, tags or [])

    def remove(self, collection, key):
        return self.storage.remove(collection, key)

    def find(self, collection, tags):
        return maybeDeferred(self.storage.find, collection, tags).addCallback(
            _one)

    cacheRead = read
    readLatest = read

    def cacheWrite(self, namespace, key, value, ttl=0):
        if ttl < 0:
            raise InvalidArgument(
                "elliptics.cache_write: argument 'ttl' must be seconds >= 0 "
                "(0 for no expiry), got {}".format(ttl))
        return self.storage.write(namespace, key, value, [], ttl * 1000)

    def bulkRead(self, namespace, keys):
        return maybeDeferred(self.storage.readMany, namespace,
                             keys).addCallback(_one)
