# -*- test-case-name: tests.mesh.test_components -*-
"""
The timeouts of a requester's requests, with one timer for all
(L{Deadlines}).
"""

__all__ = ["Deadlines"]


class Deadlines:
    """
    The timeouts of a Requester's requests, with one timer for all.

    A DelayedCall per request, scheduled at send and cancelled at reply,
    was a tenth of a Requester's time with requests in flight. Requests
    with the same timeout expire in the order they were sent, so each
    timeout value keeps its requests in an insertion-ordered dict, and the
    one timer waits for the oldest of them.

    A request is any object with a writable C{timeout} attribute: its
    timeout while it waits here, else L{None}.

    @ivar buckets: L{dict} of a timeout in seconds to a L{dict} of the
        requests with that timeout to their deadlines.
    """

    def __init__(self, clock, expired):
        """
        @param clock: the clock of the timer.
        @param expired: called with each request whose deadline passed.
        """
        self.clock = clock
        self.expired = expired
        self.buckets = {}
        self._timer = None
        self._at = None
        self._firing = False

    def add(self, pending, timeout, now):
        """
        Call C{expired(pending)} C{timeout} seconds after C{now}, unless
        L{remove}d before.
        """
        deadline = now + timeout
        bucket = self.buckets.get(timeout)
        if bucket is None:
            bucket = self.buckets[timeout] = {}
        bucket[pending] = deadline
        pending.timeout = timeout
        if self._firing:
            return
        if self._timer is None:
            self._at = deadline
            self._timer = self.clock.callLater(
                max(0.0, deadline - self.clock.seconds()), self._fire)
        elif deadline < self._at:
            self._at = deadline
            self._timer.reset(max(0.0, deadline - self.clock.seconds()))

    def remove(self, pending):
        """
        Forget C{pending}'s deadline.
        """
        timeout, pending.timeout = pending.timeout, None
        bucket = self.buckets.get(timeout)
        if bucket is None or bucket.pop(pending, None) is None:
            return
        if not bucket:
            del self.buckets[timeout]
            if not self.buckets and self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def clear(self):
        """
        Forget every deadline.
        """
        self.buckets.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self):
        self._timer = None
        now = self.clock.seconds()
        expired = []
        for bucket in self.buckets.values():
            for pending, deadline in bucket.items():
                if deadline > now:
                    break
                expired.append((deadline, pending))
        expired.sort(key=lambda e: e[0])
        self._firing = True
        try:
            for _, pending in expired:
                if pending.timeout is not None:
                    self.expired(pending)
        finally:
            self._firing = False
            if self.buckets and self._timer is None:
                self._at = min(next(iter(b.values()))
                               for b in self.buckets.values())
                self._timer = self.clock.callLater(
                    max(0.0, self._at - self.clock.seconds()), self._fire)
