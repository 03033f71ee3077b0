# -*- test-case-name: tests.auth.test_unicat -*-
"""
The C{unicat} service (0.12's unicat plugin): C{grant} and C{revoke}
rights on storage collections by editing their ACLs (L{cocaine.auth.acl}).

An entity is C{(scheme, service, uri)}; only the C{storage} scheme exists
here (0.12 had C{unicorn} too), its C{uri} the collection's name, its
C{service} ignored (ACLs live in the core storage). Who may call it is the
guard's business: the admin, or a caller with read and write under the
collection's ACL (anyone authenticated while it is empty).
"""

from twisted.internet.defer import DeferredLock, maybeDeferred
from zope.interface import implementer

from cocaine.auth.acl import (
    BOTH, COLLECTION_ACLS, COLLECTION_ACLS_TAGS, packCollectionACL,
    unpackCollectionACL)
from cocaine.errors import InvalidArgument, KeyNotFound
from cocaine.interfaces import IRPCService
from cocaine.protocol.services import UNICAT, UNICAT_VERSION

_UINT64 = (1 << 64) - 1


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


def collections(entities, what="unicat"):
    """
    The collections a call's entities name.

    @raise InvalidArgument: an entity that is not C{(scheme, service,
        uri)} or whose scheme is not C{storage}.
    """
    if not isinstance(entities, (list, tuple)) or len(entities) > 1024:
        raise InvalidArgument(what + ": entities must be an array")
    names = []
    for entity in entities:
        if not isinstance(entity, (list, tuple)) or len(entity) != 3:
            raise InvalidArgument("{}: an entity is [scheme, service, uri],"
                                  " got {!r}".format(what, entity))
        scheme, uri = _text(entity[0]), _text(entity[2])
        if scheme != "storage":
            raise InvalidArgument("{}: scheme {!r} is not supported (only "
                                  "\"storage\")".format(what, scheme))
        if not isinstance(uri, str) or not uri:
            raise InvalidArgument("{}: the uri must be a collection name"
                                  .format(what))
        names.append(uri)
    return names


def _ids(value, what):
    if not isinstance(value, (list, tuple)) or len(value) > 1024 or not all(
            type(i) is int and 0 <= i <= _UINT64 for i in value):
        raise InvalidArgument("unicat: {} must be an array of integers "
                              "0..2^64-1".format(what))
    return list(value)


@implementer(IRPCService)
class UnicatService:
    """
    Edits collection ACLs in the core storage backend.
    """

    protocol = UNICAT
    version = UNICAT_VERSION

    def __init__(self, backend, guard=None):
        """
        @param guard: the node's guard, whose ACL cache is kept fresh.
        """
        self._backend = backend
        self._guard = guard
        self._locks = {}

    def grant(self, entities, cids, uids, flags):
        return self._change(entities, cids, uids, flags, True)

    def revoke(self, entities, cids, uids, flags):
        return self._change(entities, cids, uids, flags, False)

    async def _change(self, entities, cids, uids, flags, grant):
        names = collections(entities)
        cids, uids = _ids(cids, "cids"), _ids(uids, "uids")
        if type(flags) is not int or not 0 <= flags <= BOTH:
            raise InvalidArgument("unicat: flags must be 0-3 (R = 1, "
                                  "W = 2)")
        for name in names:
            lock = self._locks.setdefault(name, DeferredLock())
            await lock.acquire()
            try:
                await self._update(name, cids, uids, flags, grant)
            finally:
                lock.release()
                if not lock.locked and not lock.waiting:
                    self._locks.pop(name, None)
        return None

    async def _update(self, name, cids, uids, flags, grant):
        try:
            blob = await maybeDeferred(self._backend.read, COLLECTION_ACLS,
                                       name)
            aclCids, aclUids = unpackCollectionACL(blob)
        except (KeyNotFound, ValueError):
            aclCids, aclUids = {}, {}
        for table, ids in ((aclCids, cids), (aclUids, uids)):
            for i in ids:
                value = table.get(i, 0)
                value = value | flags if grant else value & ~flags
                if value:
                    table[i] = value
                else:
                    table.pop(i, None)
        await maybeDeferred(self._backend.write, COLLECTION_ACLS, name,
                            packCollectionACL(aclCids, aclUids),
                            COLLECTION_ACLS_TAGS)
        storage = getattr(self._guard, "storage", None)
        if storage is not None:
            storage.forget(name)
