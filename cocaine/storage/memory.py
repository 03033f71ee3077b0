# -*- test-case-name: tests.storage.test_memory -*-
"""
The C{memory} storage backend: values in a dict, gone when the node stops.
Same rules and errors as L{cocaine.storage.files}.
"""

from zope.interface import implementer

from cocaine.errors import InvalidName, KeyNotFound
from cocaine.interfaces import IStorageBackend
from cocaine.storage.files import checkName


@implementer(IStorageBackend)
class MemoryStorage:
    """
    Values in memory: C{{collection: {key: (blob, tags)}}}.
    """

    #: the node's own (L{cocaine.interfaces.IStorageBackend})
    shared = False

    def __init__(self):
        self._collections = {}

    def read(self, collection, key):
        checkName("collection", collection)
        checkName("key", key, collection)
        try:
            return self._collections[collection][key][0]
        except KeyError:
            raise KeyNotFound("storage: key {!r} not found in collection "
                              "{!r}".format(key, collection))

    def write(self, collection, key, blob, tags=()):
        checkName("collection", collection)
        checkName("key", key, collection)
        for tag in tags or ():
            if not tag or "\0" in tag:
                raise InvalidName("storage: tag {!r} is not allowed".format(
                    tag))
        self._collections.setdefault(collection, {})[key] = (
            bytes(blob), frozenset(tags or ()))

    def remove(self, collection, key):
        checkName("collection", collection)
        checkName("key", key, collection)
        try:
            del self._collections[collection][key]
        except KeyError:
            raise KeyNotFound("storage: key {!r} not found in collection "
                              "{!r}".format(key, collection))

    def find(self, collection, tags):
        checkName("collection", collection)
        wanted = set(tags)
        return sorted(key for key, (_, have) in
                      self._collections.get(collection, {}).items()
                      if wanted <= have)
