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
from cocaine.unicorn.watches import ChildrenWatch, Lock, NodeWatch

#: Attempts of an optimistic transaction (create, increment) before it
#: gives up on contention.
ATTEMPTS = 16

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
        return self._start(NodeWatch(self, path, update, fail))

    def childrenSubscribe(self, path, update, fail):
        return self._start(ChildrenWatch(self, path, update, fail))

    def lock(self, folder, update, fail):
        return self._start(Lock(self, folder, update, fail))

    def _start(self, watch):
        self._watches.add(watch.stop)
        watch.begin()
        return watch.stop
