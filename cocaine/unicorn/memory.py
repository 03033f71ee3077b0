# -*- test-case-name: tests.unicorn.test_memory -*-
"""
The C{memory} unicorn backend: ZooKeeper's semantics in one process, for
unit tests and single nodes. Versions, child versions and sequential names
are ZooKeeper's exactly (a data version from 0, a child version counting
children created and deleted, C{lock0000000001}); ephemeral nodes live as
long as the backend, or as their lease: leases granted with L{grantLease}
expire on the backend's clock (never without one: then only
L{revokeLease} ends them).
"""

from twisted.internet.defer import fail, succeed
from zope.interface import implementer

from cocaine.errors import (
    ChildNotAllowed, NoNode, NodeExists, UnicornError, VersionNotAllowed)
from cocaine.interfaces import IUnicornBackend
from cocaine.unicorn import paths
from cocaine.unicorn.paths import NOT_EXISTING


class _Node:
    __slots__ = ("value", "version", "cversion", "children", "ephemeral",
                 "sequence", "lease")

    def __init__(self, value, ephemeral=False, lease=None):
        self.value = value
        self.version = 0
        self.cversion = 0
        self.children = set()
        self.ephemeral = ephemeral
        self.sequence = 0
        self.lease = lease


class _Lease:
    __slots__ = ("ttl", "paths", "timer")

    def __init__(self, ttl):
        self.ttl = ttl
        self.paths = set()
        self.timer = None


def _deferred(f):
    """
    Run C{f} now; its result or its error as a fired Deferred.
    """
    def call(*args, **kwargs):
        try:
            return succeed(f(*args, **kwargs))
        except Exception as e:
            return fail(e)
    call.__name__ = f.__name__
    call.__doc__ = f.__doc__
    return call


@implementer(IUnicornBackend)
class MemoryUnicorn:
    """
    A tree of nodes in memory; watches are called synchronously.
    """

    def __init__(self, clock=None):
        """
        @param clock: an C{IReactorTime} on which leases expire, or
            L{None} (they never do).
        """
        self._clock = clock
        self._nodes = {"/": _Node(None)}
        # path -> set of callables(event) for data and child events
        self._watches = {}
        self._leases = {}
        self._nextLease = 1

    # -- tree -----------------------------------------------------------

    def _node(self, path):
        return self._nodes.get(path)

    def _notify(self, path, event):
        for watch in list(self._watches.get(path, ())):
            watch(event)

    def _watch(self, path, watch):
        self._watches.setdefault(path, set()).add(watch)

        def stop():
            watches = self._watches.get(path)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[path]
        return stop

    def _add(self, path, value, ephemeral=False, lease=None):
        above = paths.parent(path) or "/"
        parentNode = self._nodes[above]
        self._nodes[path] = _Node(paths.normalize(value), ephemeral, lease)
        if lease is not None:
            self._leases[lease].paths.add(path)
        parentNode.children.add(paths.name(path))
        parentNode.cversion += 1
        self._notify(path, "created")
        self._notify(above, "child")

    def _delete(self, path):
        above = paths.parent(path) or "/"
        node = self._nodes.pop(path)
        if node.lease in self._leases:
            self._leases[node.lease].paths.discard(path)
        parentNode = self._nodes[above]
        parentNode.children.discard(paths.name(path))
        parentNode.cversion += 1
        self._notify(path, "deleted")
        self._notify(above, "child")

    # -- IUnicornBackend --------------------------------------------------

    @_deferred
    def get(self, path):
        node = self._node(path)
        if node is None:
            return (None, NOT_EXISTING)
        if node.children:
            raise ChildNotAllowed(
                "trying to read value of the node with childs")
        return (node.value, node.version)

    @_deferred
    def put(self, path, value, version):
        if version < 0:
            raise VersionNotAllowed("negative version is not allowed for put")
        node = self._node(path)
        if node is None:
            raise NoNode("failure during writing node value - no node")
        if node.version != version:
            return (False, (node.value, node.version))
        node.value = paths.normalize(value)
        node.version += 1
        self._notify(path, "changed")
        return (True, (node.value, node.version))

    @_deferred
    def create(self, path, value, ephemeral=False, sequence=False,
               lease=None):
        if lease is not None and lease not in self._leases:
            raise UnicornError("requested lease not found")
        for above in paths.ancestors(path):
            if above not in self._nodes:
                self._add(above, None)
        if sequence:
            above = self._nodes[paths.parent(path) or "/"]
            path = "{}{:010d}".format(path, above.sequence)
            above.sequence += 1
        if path in self._nodes:
            raise NodeExists("failure during creating node - node exists")
        self._add(path, value, ephemeral or lease is not None, lease)
        return path

    # -- leases -------------------------------------------------------------

    @_deferred
    def grantLease(self, ttl):
        lease = self._nextLease
        self._nextLease += 1
        entry = self._leases[lease] = _Lease(ttl)
        if self._clock is not None:
            entry.timer = self._clock.callLater(ttl, self._expire, lease)
        return lease

    @_deferred
    def keepLease(self, lease):
        entry = self._leases.get(lease)
        if entry is None:
            return 0
        if entry.timer is not None:
            entry.timer.reset(entry.ttl)
        return entry.ttl

    @_deferred
    def revokeLease(self, lease):
        self._expire(lease)

    def _expire(self, lease):
        """
        End C{lease}: its nodes are deleted, deepest first.
        """
        entry = self._leases.pop(lease, None)
        if entry is None:
            return
        if entry.timer is not None and entry.timer.active():
            entry.timer.cancel()
        for path in sorted(entry.paths, key=len, reverse=True):
            node = self._nodes.get(path)
            if node is not None and not node.children:
                self._delete(path)

    @_deferred
    def remove(self, path, version):
        node = self._node(path)
        if node is None:
            raise NoNode("failure during deleting node - no node")
        if version != -1 and node.version != version:
            raise VersionNotAllowed(
                "failure during deleting node - bad version")
        if node.children:
            raise UnicornError("failure during deleting node - not empty")
        self._delete(path)
        return True

    @_deferred
    def increment(self, path, delta):
        node = self._node(path)
        if node is None:
            paths.add(0, delta)
            self.create(path, delta)
            return (paths.normalize(delta), 0)
        if node.children:
            raise ChildNotAllowed("can not increment node with children")
        value = paths.add(node.value, delta)
        node.value = value
        node.version += 1
        self._notify(path, "changed")
        return (value, node.version)

    def subscribe(self, path, update, fail):
        state = {"stop": None}

        def stop():
            if state["stop"] is not None:
                state["stop"]()
                state["stop"] = None

        def end(error):
            stop()
            fail(error)

        def send():
            node = self._node(path)
            if node is None:
                update((None, NOT_EXISTING))
            elif node.children:
                end(ChildNotAllowed("trying to subscribe on node with "
                                    "childs"))
            else:
                update((node.value, node.version))

        def event(kind):
            if kind == "deleted":
                end(NoNode("node was removed"))
            elif kind == "child":
                end(ChildNotAllowed("child created on watched node"))
            else:
                send()

        state["stop"] = self._watch(path, event)
        send()
        return stop

    def childrenSubscribe(self, path, update, fail):
        state = {"stop": None}

        def stop():
            if state["stop"] is not None:
                state["stop"]()
                state["stop"] = None

        def send():
            node = self._node(path)
            update((node.cversion, sorted(node.children)))

        def event(kind):
            if kind == "deleted":
                stop()
                fail(NoNode("watched node was deleted"))
            elif kind == "child":
                send()

        if self._node(path) is None:
            fail(NoNode("can not fetch children - no node"))
            return stop
        state["stop"] = self._watch(path, event)
        send()
        return stop

    def lock(self, folder, update, fail):
        state = {"path": None, "stop": None, "done": False}

        def stop():
            state["done"] = True
            if state["stop"] is not None:
                state["stop"]()
                state["stop"] = None
            if state["path"] in self._nodes:
                self._delete(state["path"])

        def check():
            if state["done"]:
                return
            mine = paths.name(state["path"])
            children = sorted(self._nodes[folder].children)
            before = [child for child in children if child < mine]
            if not before:
                update(True)
                return
            previous = folder + "/" + before[-1]

            def event(kind):
                if kind == "deleted":
                    state["stop"]()
                    state["stop"] = None
                    check()
            state["stop"] = self._watch(previous, event)

        d = self.create(folder + "/lock", None, ephemeral=True,
                        sequence=True)

        def created(path):
            state["path"] = path
            check()
        d.addCallbacks(created, lambda f: fail(f.value))
        return stop
