# -*- test-case-name: tests.cache.test_lru -*-
"""
The node-local cache: an LRU of byte strings bounded by an entry count
(0.12's C{max-size}) and by bytes (ours, C{max-bytes}: the sum of the
sizes of keys and values), with optional TTLs on the injected clock.

Expired entries are never returned (checked on C{get}) and are reaped by
L{LocalCache.reap}, which the service calls once a second; the reaper pops
a heap of expiry times, so its work is the number of entries that expired.
"""

import heapq
from collections import OrderedDict

#: 0.12's default C{max-size}.
DEFAULT_MAX_SIZE = 1000000


class LocalCache:
    """
    C{{key: (value, expiresAt)}} in least-recently-used order.

    @ivar size: the number of entries.
    @ivar bytes: the sum of the sizes of their keys and values.
    @ivar evictions: entries dropped to make room, since creation.
    """

    def __init__(self, clock, maxSize=DEFAULT_MAX_SIZE, maxBytes=None):
        """
        @param clock: an C{IReactorTime} (for TTLs).
        @param maxSize: the most entries kept (>= 1).
        @param maxBytes: the most key plus value bytes kept, or L{None}.
        """
        self._clock = clock
        self._entries = OrderedDict()
        self._expiries = []
        self.maxSize = maxSize
        self.maxBytes = maxBytes
        self.bytes = 0
        self.evictions = 0

    @property
    def size(self):
        return len(self._entries)

    def get(self, key):
        """
        @return: the value at C{key}, or L{None} when missing or expired.
            A hit becomes the most recently used entry.
        """
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= self._clock.seconds():
            self._drop(key, entry)
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key, value, ttl=None):
        """
        Store C{value} at C{key} (replacing any entry there), then evict the
        least recently used entries past the bounds.

        @param ttl: seconds the entry lives (> 0), or L{None} for ever.
        @raise ValueError: the entry alone is larger than C{maxBytes}.
        """
        cost = len(key) + len(value)
        if self.maxBytes is not None and cost > self.maxBytes:
            raise ValueError(
                "an entry of {} bytes (key and value) does not fit in "
                "max-bytes {}".format(cost, self.maxBytes))
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= len(key) + len(old[0])
        expiresAt = None
        if ttl is not None:
            expiresAt = self._clock.seconds() + ttl
            heapq.heappush(self._expiries, (expiresAt, key))
        self._entries[key] = (value, expiresAt)
        self.bytes += cost
        entries = self._entries
        while len(entries) > self.maxSize or (
                self.maxBytes is not None and self.bytes > self.maxBytes):
            oldest, entry = entries.popitem(last=False)
            self.bytes -= len(oldest) + len(entry[0])
            self.evictions += 1
        if len(self._expiries) > 2 * len(entries) + 64:
            self._compact()

    def delete(self, key):
        """
        Drop the entry at C{key}.

        @return: whether there was a live one.
        """
        entry = self._entries.get(key)
        if entry is None:
            return False
        self._drop(key, entry)
        return entry[1] is None or entry[1] > self._clock.seconds()

    def reap(self):
        """
        Drop every entry whose time is up.

        @return: how many were dropped.
        """
        now = self._clock.seconds()
        expiries = self._expiries
        dropped = 0
        while expiries and expiries[0][0] <= now:
            expiresAt, key = heapq.heappop(expiries)
            entry = self._entries.get(key)
            # the heap may hold the times of entries replaced since
            if entry is not None and entry[1] == expiresAt:
                self._drop(key, entry)
                dropped += 1
        return dropped

    def _drop(self, key, entry):
        del self._entries[key]
        self.bytes -= len(key) + len(entry[0])

    def _compact(self):
        """
        Forget the heap's records of entries that were replaced, evicted
        or deleted (it would otherwise grow with every TTL put).
        """
        entries = self._entries
        kept = {}
        for at, key in self._expiries:
            entry = entries.get(key)
            if entry is not None and entry[1] == at:
                kept[key] = at
        self._expiries = [(at, key) for key, at in kept.items()]
        heapq.heapify(self._expiries)
