# -*- test-case-name: tests.integration.test_unicorn_etcd -*-
"""
The etcd unicorn backend's watches: a node's value, a folder's children
and a lock, each streaming to its subscriber and resynchronising by itself
when its etcd watch stream drops (the state read again, what changed in
between sent, the watch resumed from there). See C{docs/unicorn.md}.
"""

from twisted.internet.defer import ensureDeferred

from cocaine.backoff import backoffDelay
from cocaine.errors import ChildNotAllowed, ConnectionLoss, NoNode
from cocaine.unicorn.gateway import b64, number, rangeEnd
from cocaine.unicorn.paths import NOT_EXISTING

#: Seconds between attempts to resume a watch whose stream dropped: the
#: first, and at most (each plus up to a tenth at random: the nodes that
#: lost one etcd do not all come back to it together).
RESUME_FIRST, RESUME_MAX = 0.2, 5.0


class _LockLost(ConnectionLoss):
    """
    A lock's own key is gone: final, not a reason to resume.
    """


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
        self._failures = 0
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
        d = ensureDeferred(self._resume(first))

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
        self._failures = 0

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
        self._failures += 1
        self._retry = self.backend.reactor.callLater(
            backoffDelay(self._failures, RESUME_FIRST, RESUME_MAX), self._run)


class NodeWatch(_Watch):
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


class ChildrenWatch(_Watch):
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


class Lock(_Watch):
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
            backend = self.backend
            d = backend._track(ensureDeferred(backend._release(mine)))
            d.addErrback(
                lambda reason: self.backend.log.warn(
                    "unicorn etcd: lock {path} not deleted ({reason}); its "
                    "lease will", path=mine,
                    reason=reason.getErrorMessage()))
