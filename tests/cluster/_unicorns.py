"""
Unicorn backends for the cluster's unit tests: the memory backend on a
Clock, behind a switch that makes the engine unreachable.
"""

from twisted.internet.defer import fail

from cocaine.errors import ConnectionLoss
from cocaine.unicorn.memory import MemoryUnicorn


class FlakyUnicorn:
    """
    A L{MemoryUnicorn} on C{clock} that can go down: while it is, every
    call fails with L{ConnectionLoss} and the folder watches end with it
    (leases still run out on the clock, as on an engine the node cannot
    reach). L{wipe} makes it a new, empty engine (one that lost its data).

    @ivar calls: the names of the calls made, in order.
    """

    def __init__(self, clock):
        self.clock = clock
        self.memory = MemoryUnicorn(clock)
        self.down = False
        self.calls = []
        self._watches = []

    def _call(self, name, *args, **kwargs):
        self.calls.append(name)
        if self.down:
            return fail(ConnectionLoss("etcd at test unreachable"))
        return getattr(self.memory, name)(*args, **kwargs)

    def __getattr__(self, name):
        if name in ("get", "put", "create", "remove", "increment",
                    "grantLease", "keepLease", "revokeLease"):
            return lambda *args, **kwargs: self._call(name, *args, **kwargs)
        raise AttributeError(name)

    def childrenSubscribe(self, path, update, failed):
        self.calls.append("childrenSubscribe")
        if self.down:
            failed(ConnectionLoss("etcd at test unreachable"))
            return lambda: None
        entry = [None, failed]
        entry[0] = self.memory.childrenSubscribe(path, update, failed)
        self._watches.append(entry)

        def stop():
            entry[0]()
            if entry in self._watches:
                self._watches.remove(entry)
        return stop

    def goDown(self):
        self.down = True
        watches, self._watches = self._watches, []
        for stop, failed in watches:
            stop()
            failed(ConnectionLoss("etcd watch stream ended"))

    def comeBack(self):
        self.down = False

    def wipe(self):
        """
        The engine lost everything (leases too).
        """
        watches, self._watches = self._watches, []
        for stop, failed in watches:
            stop()
        self.memory = MemoryUnicorn(self.clock)
        for stop, failed in watches:
            failed(ConnectionLoss("etcd watch stream ended"))
