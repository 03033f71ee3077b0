# -*- test-case-name: tests.auth.test_guard,tests.auth.test_unicat -*-
"""
Cocaine 0.12's authorizers, kept in the node's core storage.

Storage ACLs (0.12's C{authorization/storage}): collection
C{collection-acls} (0.12's C{.collection-acls}; our backends reserve names
starting with a dot), key = the collection's name, value msgpack
C{[{cid: flags}, {uid: flags}]} with R = 1, W = 2. C{read}/C{find} need
R, C{write}/C{remove} need W. An empty (absent) ACL is public until the
first authenticated write makes the writer its owner (RW for each of its
cids and uids). The caller's flags are the AND over its cids, OR the AND
over its uids. Cached for C{cacheSeconds}.

Event ACLs (0.12's C{authorization/event}, which kept them in unicorn):
collection C{event-acls}, key = the service's name, value msgpack
C{{"uids": {uid: [method, ...]}, "cids": {cid: [method, ...]}}} (a map
C{{method: {}}} as 0.12 stored it is read too; C{"*"} is every method).
A call is allowed if all of the caller's cids, or all of its uids, list the
method. Held in memory: loaded at start, reloaded every C{refresh}
seconds and soon after a write to C{event-acls} through storage.
"""

import msgpack
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from cocaine.errors import AccessDenied, KeyNotFound

READ = 1
WRITE = 2
BOTH = READ | WRITE

#: Where storage ACLs live, and the tag 0.12 gave them.
COLLECTION_ACLS = "collection-acls"
COLLECTION_ACLS_TAGS = ["storage-acls"]

#: Where event ACLs live, and their tag (to list them).
EVENT_ACLS = "event-acls"
EVENT_ACLS_TAGS = ["event-acls"]


def packCollectionACL(cids, uids):
    """
    @param cids: C{{cid: flags}}.
    @param uids: C{{uid: flags}}.
    @return: the stored bytes of one collection's ACL.
    """
    return msgpack.packb([dict(cids), dict(uids)])


def unpackCollectionACL(blob):
    """
    @return: C{({cid: flags}, {uid: flags})}.
    @raise ValueError: not an ACL.
    """
    try:
        cids, uids = msgpack.unpackb(blob, raw=False,
                                     strict_map_key=False)
        cids = {int(k): int(v) for k, v in cids.items()}
        uids = {int(k): int(v) for k, v in uids.items()}
    except Exception:
        raise ValueError("invalid ACL framing")
    return cids, uids


def _flags(ids, perms):
    if not ids:
        return 0
    result = BOTH
    for i in ids:
        result &= perms.get(i, 0)
    return result


def allowedFlags(acl, identity):
    """
    The flags C{identity} has under C{acl} (0.12's C{extract_permissions}).
    """
    cids, uids = acl
    return _flags(identity.cids, cids) | _flags(identity.uids, uids)


class StorageACLs:
    """
    Per-collection ACLs read from one storage backend, cached.
    """

    log = Logger()

    def __init__(self, clock, backend, cacheSeconds=60):
        self._clock = clock
        self._backend = backend
        self.cacheSeconds = cacheSeconds
        self._cache = {}
        self._pending = {}
        # how many times an ACL was forgotten: a read that began before
        # the last time may hold what was revoked, and is not cached
        self._forgotten = 0

    def forget(self, collection=None):
        """
        Drop the cached ACL of C{collection} (of all when L{None}). A read
        of it under way is not waited for by later callers, nor cached
        when it ends: it may have read the ACL before the change that
        asked for this.
        """
        self._forgotten += 1
        if collection is None:
            self._cache.clear()
            self._pending.clear()
        else:
            self._cache.pop(collection, None)
            self._pending.pop(collection, None)

    def check(self, flag, collection, identity, what, grant=False):
        """
        Whether C{identity} may do C{flag} on C{collection}.

        @param what: C{"service.method"} for the refusal's message.
        @param grant: check the right to change the ACL instead (unicat):
            RW under a non-empty ACL; anyone while it is empty (public).
        @return: L{None} when allowed now, or a Deferred firing when
            allowed (after reading the ACL, or making the writer owner).
        @raise AccessDenied: refused now.
        """
        cached = self._cache.get(collection)
        decide = self._decideGrant if grant else self._decide
        if cached is not None and cached[0] > self._clock.seconds():
            return decide(cached[1], flag, collection, identity, what)
        waiter = Deferred()
        waiters = self._pending.get(collection)
        if waiters is None:
            # readers of the same collection wait for the one read
            waiters = self._pending[collection] = [waiter]
            Deferred.fromCoroutine(self._load(collection)).addBoth(
                self._loaded, collection, waiters)
        else:
            waiters.append(waiter)
        return waiter.addCallback(lambda acl: decide(
            self._latest(collection, acl), flag, collection, identity,
            what))

    def _latest(self, collection, loaded):
        """
        The ACL a caller that waited for a read is decided by: the cached
        one, which a caller decided before it may have changed (the first
        writer of an empty ACL becomes its owner), else the one read.
        """
        cached = self._cache.get(collection)
        return loaded if cached is None else cached[1]

    def _loaded(self, result, collection, waiters):
        """
        The read of C{collection}'s ACL ended: each caller waiting for it
        is given the ACL, or the read's failure.
        """
        if self._pending.get(collection) is waiters:
            del self._pending[collection]
        for waiter in waiters:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)

    async def _load(self, collection):
        forgotten = self._forgotten
        try:
            blob = await maybeDeferred(self._backend.read, COLLECTION_ACLS,
                                       collection)
        except KeyNotFound:
            acl = ({}, {})
        else:
            try:
                acl = unpackCollectionACL(blob)
            except ValueError:
                self.log.error("authorization: invalid ACL for collection "
                               "{collection}; nobody but the admin may use "
                               "it", collection=collection)
                acl = ({}, {0: 0})
        if forgotten == self._forgotten:
            self._cache[collection] = (
                self._clock.seconds() + self.cacheSeconds, acl)
        return acl

    def _decide(self, acl, flag, collection, identity, what):
        cids, uids = acl
        if not cids and not uids:
            if flag == WRITE:
                return self._own(collection, identity)
            return None
        if allowedFlags(acl, identity) & flag != flag:
            raise AccessDenied("{}: {} may not {} collection {!r}".format(
                what, identity, "write" if flag == WRITE else "read",
                collection))
        return None

    def _decideGrant(self, acl, flag, collection, identity, what):
        cids, uids = acl
        if (cids or uids) and allowedFlags(acl, identity) != BOTH:
            raise AccessDenied("{}: {} may not change the ACL of collection "
                               "{!r} (needs read and write)".format(
                                   what, identity, collection))
        return None

    def _own(self, collection, identity):
        acl = ({c: BOTH for c in identity.cids},
               {u: BOTH for u in identity.uids})
        self.log.info("authorization: collection {collection} now owned "
                      "by {identity}", collection=collection,
                      identity=str(identity))
        entry = self._cache[collection] = (
            self._clock.seconds() + self.cacheSeconds, acl)

        def notStored(failure):
            # the collection is not owned after all: its next writer asks
            # storage again rather than being let in by this entry
            if self._cache.get(collection) is entry:
                del self._cache[collection]
            self.log.failure("authorization: the ACL making {identity} "
                             "owner of collection {collection} was not "
                             "stored", failure, collection=collection,
                             identity=str(identity))
            return failure
        return maybeDeferred(self._backend.write, COLLECTION_ACLS,
                             collection, packCollectionACL(*acl),
                             COLLECTION_ACLS_TAGS).addErrback(notStored)


def _methods(value):
    if isinstance(value, dict):
        return frozenset(str(k) for k in value)
    if isinstance(value, (list, tuple)):
        return frozenset(str(k) for k in value)
    raise ValueError("methods must be a list or a map")


def unpackEventACL(blob):
    """
    @return: C{({cid: methods}, {uid: methods})} with frozensets.
    @raise ValueError: not an event ACL.
    """
    try:
        value = msgpack.unpackb(blob, raw=False, strict_map_key=False)
        cids = {int(k): _methods(v)
                for k, v in (value.get("cids") or {}).items()}
        uids = {int(k): _methods(v)
                for k, v in (value.get("uids") or {}).items()}
    except Exception:
        raise ValueError("invalid ACL framing")
    return cids, uids


def packEventACL(cids, uids):
    """
    @return: the stored bytes of one service's event ACL.
    """
    return msgpack.packb({
        "cids": {str(k): sorted(v) for k, v in cids.items()},
        "uids": {str(k): sorted(v) for k, v in uids.items()}})


def _listed(ids, acl, method):
    if not ids:
        return False
    for i in ids:
        methods = acl.get(i)
        if methods is None or (method not in methods
                               and "*" not in methods):
            return False
    return True


class EventACLs:
    """
    Event ACLs of every service, held in memory.
    """

    log = Logger()

    def __init__(self, clock, backend, refresh=10):
        self._clock = clock
        self._backend = backend
        self.refresh = refresh
        self._acls = {}
        self._call = None
        self._reloadSoon = None
        self._running = False

    def allowed(self, service, method, identity):
        """
        Whether the ACL of C{service} lists C{method} for C{identity}.
        """
        acl = self._acls.get(service)
        if acl is None:
            return False
        cids, uids = acl
        return (_listed(identity.cids, cids, method)
                or _listed(identity.uids, uids, method))

    def set(self, service, cids, uids):
        """
        Replace the in-memory ACL of C{service} (tests, and after a load).
        """
        self._acls[service] = (dict(cids), dict(uids))

    async def load(self):
        """
        Read every event ACL from storage.
        """
        try:
            keys = await maybeDeferred(self._backend.find, EVENT_ACLS,
                                       EVENT_ACLS_TAGS)
        except Exception as e:
            self.log.error("authorization: cannot list event ACLs: "
                           "{reason}", reason=str(e))
            return
        acls = {}
        for key in keys:
            try:
                blob = await maybeDeferred(self._backend.read, EVENT_ACLS,
                                           key)
                acls[key] = unpackEventACL(blob)
            except KeyNotFound:
                continue
            except Exception as e:
                self.log.error("authorization: event ACL of {service} "
                               "unusable: {reason}", service=key,
                               reason=str(e))
        self._acls = acls

    def changed(self):
        """
        An event ACL may have been written: reload once, shortly.
        """
        if self._reloadSoon is None or not self._reloadSoon.active():
            self._reloadSoon = self._clock.callLater(0.2, self._reload)

    def _reload(self):
        Deferred.fromCoroutine(self.load())

    def start(self):
        """
        Load now and every C{refresh} seconds.

        @return: a Deferred fired after the first load.
        """
        self._running = True
        d = Deferred.fromCoroutine(self.load())
        d.addCallback(lambda _: self._schedule())
        return d

    def _schedule(self):
        if self._running:
            self._call = self._clock.callLater(self.refresh, self._tick)

    def _tick(self):
        Deferred.fromCoroutine(self.load()).addBoth(
            lambda _: self._schedule())

    def stop(self):
        self._running = False
        for call in (self._call, self._reloadSoon):
            if call is not None and call.active():
                call.cancel()
        self._call = self._reloadSoon = None
