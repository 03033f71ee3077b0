# -*- test-case-name: tests.integration.test_unicorn_etcd -*-
"""
The C{etcd} unicorn backend: ZooKeeper's tree on etcd v3, through its
HTTP/JSON gateway (L{cocaine.unicorn.gateway}). The mapping is specified
in C{docs/unicorn.md}:

  - node C{/a/b} is key C{<prefix>/a/b}, its value msgpack; its children
    are the keys one component below C{<prefix>/a/b/};
  - ZooKeeper's data version is etcd's C{version} minus one (0 when
    created, +1 per write), so C{put} compares C{version} in a txn;
  - ephemeral nodes carry the backend's lease (ZooKeeper's session),
    granted on first use and kept alive every third of its TTL, or a
    lease of their own (L{EtcdUnicorn.grantLease}) that its owner keeps
    alive;
  - the child version is the etcd revision of the last child created or
    deleted (it grows with each change, though not by one);
  - a lock is a key with the lease under the folder; the holder is the
    child created first (lowest C{create_revision}), each waiter watches
    the one just before it.

Watches resynchronise by themselves when their stream drops (etcd
restarted, revision compacted): the state is read again, what changed in
between is sent, and the watch resumes from there.
"""

import uuid

from twisted.application.service import Service
from twisted.internet.defer import (
    Deferred, DeferredList, ensureDeferred, succeed)
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from cocaine.errors import (
    ChildNotAllowed, ConnectionLoss, NoNode, NodeExists, UnicornError,
    VersionNotAllowed)
from cocaine.interfaces import IUnicornBackend
from cocaine.unicorn import paths
from cocaine.unicorn.gateway import EtcdGateway, b64, number, rangeEnd, unb64
from cocaine.unicorn.paths import NOT_EXISTING

#: Attempts of an optimistic transaction (create, increment) before it
#: gives up on contention.
ATTEMPTS = 16

#: Seconds between attempts to resume a watch whose stream dropped: the
#: first, and at most.
RESUME_FIRST, RESUME_MAX = 0.2, 5.0


class _LockLost(ConnectionLoss):
    """
    A lock's own key is gone: final, not a reason to resume.
    """


def _ensure(coroutine):
    return ensureDeferred(coroutine)


@implementer(IUnicornBackend)
class EtcdUnicorn(Service):
    """
    @ivar prefix: the key prefix of the tree (C{""} or C{/something}).
    @ivar leaseTTL: seconds an ephemeral node outlives its backend.
    """

    log = Logger()

    def __init__(self, reactor, endpoints, prefix="", leaseTTL=10,
                 timeout=5.0):
        self.reactor = reactor
        self.gateway = EtcdGateway(reactor, endpoints, timeout)
        self.prefix = prefix.rstrip("/")
        self.leaseTTL = leaseTTL
        self._lease = None
        self._waiting = []
        self._keepalive = None
        self._watches = set()
        self._pending = set()
        self._stopped = False

    # -- keys -------------------------------------------------------------

    def key(self, path):
        """
        The etcd key of node C{path}.
        """
        return (self.prefix + path).encode("utf-8")

    def _pathOf(self, key):
        return unb64(key).decode("utf-8")[len(self.prefix):]

    def _childName(self, path, key):
        """
        The name of the direct child of C{path} that C{key} (base64) is,
        or L{None} for the node itself or a deeper one.
        """
        full = self._pathOf(key)
        if not full.startswith(path + "/"):
            return None
        rest = full[len(path) + 1:]
        if not rest or "/" in rest:
            return None
        return rest

    # -- the service --------------------------------------------------------

    def stopService(self):
        Service.stopService(self)
        self._stopped = True
        for stop in list(self._watches):
            stop()
        if self._keepalive is not None and self._keepalive.active():
            self._keepalive.cancel()
        self._keepalive = None
        lease, self._lease = self._lease, None
        d = _ensure(self._revoke(lease))
        d.addBoth(lambda _: self.gateway.close())
        return d

    def _track(self, d):
        """
        Keep C{d} (a write made on the way out: a lock given up) until it
        is done, so stopping waits for it.
        """
        self._pending.add(d)
        d.addBoth(lambda result: self._pending.discard(d) or result)
        return d

    async def _revoke(self, lease):
        pending = list(self._pending)
        if pending:
            await DeferredList(pending, consumeErrors=True)
        if lease is not None:
            try:
                await self.gateway.call("/v3/lease/revoke", {"ID": lease})
            except UnicornError:
                pass

    # -- the lease (ZooKeeper's session) ------------------------------------

    def lease(self):
        """
        The lease of this backend's ephemeral nodes, granted on first use.

        @return: a Deferred of its id (a decimal string).
        """
        if self._lease is not None:
            return succeed(self._lease)
        waiter = Deferred()
        self._waiting.append(waiter)
        if len(self._waiting) == 1:
            _ensure(self._grant()).addBoth(self._granted)
        return waiter

    def _granted(self, result):
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)

    async def _grant(self):
        answer = await self.gateway.call("/v3/lease/grant",
                                         {"TTL": str(self.leaseTTL)})
        if self._stopped:
            await self._revoke(answer["ID"])
            raise ConnectionLoss("the unicorn backend has stopped")
        self._lease = answer["ID"]
        self.log.info("unicorn etcd lease {lease} granted ({ttl}s)",
                      lease=self._lease, ttl=self.leaseTTL)
        self._scheduleKeepalive()
        return self._lease

    def _scheduleKeepalive(self):
        self._keepalive = self.reactor.callLater(
            max(self.leaseTTL / 3.0, 0.1), self._keepAlive)

    def _keepAlive(self):
        lease = self._lease
        if lease is None:
            return
        d = self.gateway.call("/v3/lease/keepalive", {"ID": lease})
        d = _ensure(d)

        def answered(answer):
            if self._lease != lease:
                return
            if number(answer.get("result", {}).get("TTL")) <= 0:
                self.log.warn("unicorn etcd lease {lease} expired",
                              lease=lease)
                if self._lease == lease:
                    self._lease = None
                return
            self._scheduleKeepalive()

        def failed(reason):
            self.log.warn("unicorn etcd keepalive failed: {reason}",
                          reason=reason.getErrorMessage())
            if self._lease == lease:
                self._scheduleKeepalive()
        d.addCallbacks(answered, failed)

    # -- leases of their own (IUnicornBackend) -------------------------------

    def grantLease(self, ttl):
        return _ensure(self._grantLease(ttl))

    async def _grantLease(self, ttl):
        answer = await self.gateway.call("/v3/lease/grant",
                                         {"TTL": str(int(ttl))})
        return answer["ID"]

    def keepLease(self, lease):
        return _ensure(self._keepLease(lease))

    async def _keepLease(self, lease):
        answer = await self.gateway.call("/v3/lease/keepalive",
                                         {"ID": lease})
        return max(0, number(answer.get("result", {}).get("TTL")))

    def revokeLease(self, lease):
        return _ensure(self._revokeLease(lease))

    async def _revokeLease(self, lease):
        try:
            await self.gateway.call("/v3/lease/revoke", {"ID": lease})
        except ConnectionLoss:
            raise
        except UnicornError as e:
            # ended already: what revoking wanted
            if "not found" not in str(e):
                raise

    # -- reads ---------------------------------------------------------------

    async def _read(self, path):
        """
        The node and whether it has children, in one snapshot.

        @return: C{(kv or None, hasChildren, revision)}.
        """
        key = self.key(path)
        below = key + b"/"
        answer = await self.gateway.call("/v3/kv/txn", {"success": [
            {"request_range": {"key": b64(key)}},
            {"request_range": {"key": b64(below),
                               "range_end": b64(rangeEnd(below)),
                               "count_only": True}}]})
        responses = answer.get("responses", [])
        kvs = responses[0]["response_range"].get("kvs") or [None]
        children = number(responses[1]["response_range"].get("count"))
        return (kvs[0], children > 0,
                number(answer["header"]["revision"]))

    @staticmethod
    def _versioned(kv):
        return (paths.decode(unb64(kv.get("value"))),
                number(kv.get("version")) - 1)

    def get(self, path):
        return _ensure(self._get(path))

    async def _get(self, path):
        kv, children, _ = await self._read(path)
        if kv is None:
            return (None, NOT_EXISTING)
        if children:
            raise ChildNotAllowed(
                "trying to read value of the node with childs")
        return self._versioned(kv)

    # -- writes --------------------------------------------------------------

    def put(self, path, value, version):
        return _ensure(self._put(path, value, version))

    async def _put(self, path, value, version):
        if version < 0:
            raise VersionNotAllowed("negative version is not allowed for put")
        key = b64(self.key(path))
        data = paths.encode(value)
        answer = await self.gateway.call("/v3/kv/txn", {
            "compare": [{"key": key, "target": "VERSION", "result": "EQUAL",
                         "version": str(version + 1)}],
            "success": [{"request_put": {"key": key, "value": b64(data)}}],
            "failure": [{"request_range": {"key": key}}]})
        if answer.get("succeeded"):
            return (True, (paths.normalize(value), version + 1))
        kvs = answer["responses"][0]["response_range"].get("kvs")
        if not kvs:
            raise NoNode("failure during writing node value - no node")
        return (False, self._versioned(kvs[0]))

    def create(self, path, value, ephemeral=False, sequence=False,
               lease=None):
        return _ensure(self._create(path, value, ephemeral, sequence,
                                    lease=lease))

    async def _create(self, path, value, ephemeral=False, sequence=False,
                      withRevision=False, lease=None):
        data = paths.encode(value)
        if lease is None and ephemeral:
            lease = await self.lease()
        if sequence:
            path = path + "-" + uuid.uuid4().hex
        nil = b64(paths.encode(None))
        for attempt in range(ATTEMPTS):
            above = paths.ancestors(path)
            answer = await self.gateway.call("/v3/kv/txn", {"success": [
                {"request_range": {"key": b64(self.key(p))}}
                for p in above]}) if above else {"responses": []}
            missing = [p for p, r in zip(above, answer["responses"])
                       if not r["response_range"].get("kvs")]
            present = [p for p in above if p not in missing]
            put = {"key": b64(self.key(path)), "value": b64(data)}
            if lease is not None:
                put["lease"] = lease
            compare = [{"key": b64(self.key(p)), "target": "CREATE",
                        "result": "EQUAL", "create_revision": "0"}
                       for p in missing + [path]]
            compare += [{"key": b64(self.key(p)), "target": "CREATE",
                         "result": "GREATER", "create_revision": "0"}
                        for p in present]
            answer = await self.gateway.call("/v3/kv/txn", {
                "compare": compare,
                "success": [{"request_put": {"key": b64(self.key(p)),
                                             "value": nil}}
                            for p in missing] + [{"request_put": put}],
                "failure": [{"request_range": {
                    "key": b64(self.key(path))}}]})
            if answer.get("succeeded"):
                if withRevision:
                    return path, number(answer["header"]["revision"])
                return path
            if answer["responses"][0]["response_range"].get("kvs"):
                raise NodeExists("failure during creating node - node "
                                 "exists")
        raise UnicornError("failure during creating node - the parents "
                           "kept changing")

    def remove(self, path, version):
        return _ensure(self._remove(path, version))

    async def _remove(self, path, version):
        kv, children, _ = await self._read(path)
        if kv is None:
            raise NoNode("failure during deleting node - no node")
        if children:
            raise UnicornError("failure during deleting node - not empty")
        key = b64(self.key(path))
        if version == -1:
            compare = {"key": key, "target": "CREATE", "result": "GREATER",
                       "create_revision": "0"}
        else:
            compare = {"key": key, "target": "VERSION", "result": "EQUAL",
                       "version": str(version + 1)}
        answer = await self.gateway.call("/v3/kv/txn", {
            "compare": [compare],
            "success": [{"request_delete_range": {"key": key}}],
            "failure": [{"request_range": {"key": key}}]})
        if answer.get("succeeded"):
            return True
        if not answer["responses"][0]["response_range"].get("kvs"):
            raise NoNode("failure during deleting node - no node")
        raise VersionNotAllowed("failure during deleting node - bad version")

    def increment(self, path, delta):
        return _ensure(self._increment(path, delta))

    async def _increment(self, path, delta):
        paths.add(0, delta)
        for attempt in range(ATTEMPTS):
            kv, children, _ = await self._read(path)
            if kv is None:
                try:
                    await self._create(path, delta)
                except NodeExists:
                    continue
                return (paths.normalize(delta), 0)
            if children:
                raise ChildNotAllowed("can not increment node with children")
            current, version = self._versioned(kv)
            applied, result = await self._put(
                path, paths.add(current, delta), version)
            if applied:
                return result
        raise VersionNotAllowed("failed to put new node value - it kept "
                                "changing")

    async def _release(self, path):
        await self.gateway.call("/v3/kv/deleterange",
                                {"key": b64(self.key(path))})

    # -- watches -------------------------------------------------------------

    def subscribe(self, path, update, fail):
        return self._start(_NodeWatch(self, path, update, fail))

    def childrenSubscribe(self, path, update, fail):
        return self._start(_ChildrenWatch(self, path, update, fail))

    def lock(self, folder, update, fail):
        return self._start(_Lock(self, folder, update, fail))

    def _start(self, watch):
        self._watches.add(watch.stop)
        watch.begin()
        return watch.stop


class _Watch:
    """
    A watch of keys C{[key, end)} that reads the state, sends it, and
    follows the changes; its stream resumes by itself when it drops.
    Subclasses say what to read (L{sync}) and what an event means
    (L{changed}).
    """

    def __init__(self, backend, path, update, fail):
        self.backend = backend
        self.path = path
        self._update = update
        self._fail = fail
        self.stopped = False
        self._cancel = None
        self._retry = None
        self._delay = RESUME_FIRST
        self._started = False

    def begin(self):
        self._run(first=True)

    def stop(self):
        """
        End quietly (the client's close).
        """
        if self.stopped:
            return
        self.stopped = True
        self.backend._watches.discard(self.stop)
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        cancel, self._cancel = self._cancel, None
        if cancel is not None:
            cancel()
        self.released()

    def released(self):
        """
        Called once when the watch stops (the lock gives itself up).
        """

    def update(self, item):
        if not self.stopped:
            self._update(item)

    def fail(self, error):
        if not self.stopped:
            self.stop()
            self._fail(error)

    def _run(self, first=False):
        d = _ensure(self._resume(first))

        def failed(reason):
            if self.stopped:
                return
            # a watch that could not start fails; one that sent its first
            # state resumes, even if its stream was not open yet
            if ((first and not self._started)
                    or not reason.check(ConnectionLoss)
                    or reason.check(_LockLost)):
                self.fail(reason.value)
            else:
                self._later()
        d.addErrback(failed)

    async def _resume(self, first):
        revision = await self.sync(first)
        self._started = True
        if self.stopped or revision is None:
            return
        key = self.backend.key(self.path)
        cancel = await self.backend.gateway.watch(
            key, rangeEnd(key + b"/"), revision + 1, self._events,
            self._lost)
        if self.stopped:
            cancel()
            return
        self._cancel = cancel
        self._delay = RESUME_FIRST

    def _events(self, events, revision):
        for event in events:
            if self.stopped:
                return
            key = event.get("kv", {}).get("key")
            self.changed(event.get("type", "PUT"), event.get("kv", {}),
                         self.backend._pathOf(key))

    def _lost(self, reason):
        self._cancel = None
        if self.stopped:
            return
        self.backend.log.info("unicorn etcd watch on {path} dropped "
                              "({reason}); resuming", path=self.path,
                              reason=reason)
        self._later()

    def _later(self):
        delay, self._delay = self._delay, min(self._delay * 2, RESUME_MAX)
        self._retry = self.backend.reactor.callLater(delay, self._run)


class _NodeWatch(_Watch):
    """
    C{subscribe}: the node's value, then each change.
    """

    _last = None

    async def sync(self, first):
        kv, children, revision = await self.backend._read(self.path)
        if children:
            raise ChildNotAllowed("trying to subscribe on node with childs")
        if kv is None:
            if self._last is not None and self._last[1] != NOT_EXISTING:
                raise NoNode("node was removed")
            current = (None, NOT_EXISTING)
        else:
            current = self.backend._versioned(kv)
        if current != self._last:
            self._last = current
            self.update(current)
        return revision

    def changed(self, kind, kv, path):
        if path == self.path:
            if kind == "DELETE":
                self.fail(NoNode("node was removed"))
            else:
                self._last = self.backend._versioned(kv)
                self.update(self._last)
        elif kind != "DELETE" and path.startswith(self.path + "/"):
            self.fail(ChildNotAllowed("child created on watched node"))


class _ChildrenWatch(_Watch):
    """
    C{children_subscribe}: the names of the node's children, then each
    change, with the revision of the change as the child version.
    """

    _names = None

    async def sync(self, first):
        key = self.backend.key(self.path)
        below = key + b"/"
        answer = await self.backend.gateway.call("/v3/kv/txn", {"success": [
            {"request_range": {"key": b64(key), "keys_only": True}},
            {"request_range": {"key": b64(below),
                               "range_end": b64(rangeEnd(below)),
                               "keys_only": True}}]})
        responses = answer["responses"]
        if not responses[0]["response_range"].get("kvs"):
            raise NoNode("can not fetch children - no node")
        revision = number(answer["header"]["revision"])
        names = set()
        for kv in responses[1]["response_range"].get("kvs", []):
            name = self.backend._childName(self.path, kv["key"])
            if name is not None:
                names.add(name)
        if names != self._names:
            self._names = names
            self.update((revision, sorted(names)))
        return revision

    def changed(self, kind, kv, path):
        if path == self.path:
            if kind == "DELETE":
                self.fail(NoNode("watched node was deleted"))
            return
        name = self.backend._childName(self.path, kv["key"])
        if name is None:
            return
        before = set(self._names)
        if kind == "DELETE":
            self._names.discard(name)
        else:
            self._names.add(name)
        if self._names != before:
            self.update((number(kv.get("mod_revision")),
                         sorted(self._names)))


class _Lock(_Watch):
    """
    C{lock}: a key with the backend's lease under the folder; held when it
    is the folder's oldest child, else waiting for the one just before it
    to go. The watch follows the whole folder (its stream resumes like
    any other); stopping deletes the key.
    """

    _mine = None
    _held = False

    async def sync(self, first):
        backend = self.backend
        if self._mine is None:
            created, revision = await backend._create(
                self.path + "/lock", None, ephemeral=True, sequence=True,
                withRevision=True)
            self._mine = created
            if self.stopped:
                self.released()
                return None
        below = backend.key(self.path) + b"/"
        answer = await backend.gateway.call("/v3/kv/range", {
            "key": b64(below), "range_end": b64(rangeEnd(below)),
            "keys_only": True, "sort_order": "ASCEND",
            "sort_target": "CREATE"})
        order = []
        for kv in answer.get("kvs", []):
            if backend._childName(self.path, kv["key"]) is not None:
                order.append(backend._pathOf(kv["key"]))
        if self._mine not in order:
            raise _LockLost("lock {} lost (its lease expired)".format(
                self._mine))
        if order[0] == self._mine and not self._held:
            self._held = True
            self.update(True)
        self._before = order[:order.index(self._mine)]
        return number(answer["header"]["revision"])

    def changed(self, kind, kv, path):
        if kind != "DELETE":
            return
        if path == self._mine:
            self.fail(ConnectionLoss("lock {} lost (its key was deleted)"
                                     .format(self._mine)))
        elif path in self._before:
            self._before.remove(path)
            if not self._before and not self._held:
                self._held = True
                self.update(True)

    def released(self):
        mine = self._mine
        if mine is not None:
            d = self.backend._track(_ensure(self.backend._release(mine)))
            d.addErrback(
                lambda reason: self.backend.log.warn(
                    "unicorn etcd: lock {path} not deleted ({reason}); its "
                    "lease will", path=mine,
                    reason=reason.getErrorMessage()))
