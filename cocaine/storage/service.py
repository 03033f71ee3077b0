# -*- test-case-name: tests.storage.test_service -*-
"""
The storage service: the storage protocol over one backend.
"""

from twisted.internet.defer import maybeDeferred
from zope.interface import implementer

from cocaine.interfaces import IRPCService
from cocaine.protocol.services import STORAGE, STORAGE_VERSION


def _one(value):
    return (value,)


@implementer(IRPCService)
class StorageService:
    """
    Serves C{read}, C{write}, C{remove} and C{find} from an
    L{cocaine.interfaces.IStorageBackend}.
    """

    protocol = STORAGE
    version = STORAGE_VERSION

    def __init__(self, backend):
        self.backend = backend

    def read(self, collection, key):
        result = self.backend.read(collection, key)
        if isinstance(result, bytes):
            return (result,)
        return maybeDeferred(lambda: result).addCallback(_one)

    def write(self, collection, key, blob, tags=None):
        return self.backend.write(collection, key, blob, tags or [])

    def remove(self, collection, key):
        return self.backend.remove(collection, key)

    def find(self, collection, tags):
        result = self.backend.find(collection, tags)
        if isinstance(result, list):
            return (result,)
        return maybeDeferred(lambda: result).addCallback(_one)
