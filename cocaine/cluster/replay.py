# -*- test-case-name: tests.cluster.test_replay -*-
"""
A replay window (ours): a signed message carries the time it was made and a
random nonce, both inside its signature. It is accepted only while its time
is within C{window} seconds of ours (either way: clocks may differ by that
much) and only once: the nonces of the window are remembered until they
fall out of it.

Only messages whose signature verified reach the guard, so whoever fills
it holds the key; it is bounded all the same (C{maxNonces}), and when full
it refuses rather than forgets (forgetting would admit a replay).
"""

import math
from collections import OrderedDict

#: Seconds a signed message stays acceptable, either side of our clock.
DEFAULT_WINDOW = 30.0

#: Nonces remembered at most: beyond this, messages are refused.
DEFAULT_MAX_NONCES = 65536

#: The longest nonce accepted, in bytes.
MAX_NONCE = 64


class Stale(ValueError):
    """
    The message's time is outside the window (or not a time at all).
    """


class Replayed(ValueError):
    """
    The message's nonce was already seen within the window, or the guard
    is full.
    """


class ReplayGuard:
    """
    Accepts each C{(timestamp, nonce)} once, within C{window} seconds of
    C{clock.seconds()}.
    """

    def __init__(self, clock, window=DEFAULT_WINDOW,
                 maxNonces=DEFAULT_MAX_NONCES):
        """
        @param clock: an C{IReactorTime}; its C{seconds()} is wall time.
        """
        self.clock = clock
        self.window = window
        self.maxNonces = maxNonces
        # nonce -> expiry, in order of expiry (timestamps only grow within
        # a window, so oldest-first is close enough: see _expire)
        self._seen = OrderedDict()

    def __len__(self):
        return len(self._seen)

    def _expire(self, now):
        seen = self._seen
        while seen:
            nonce, expiry = next(iter(seen.items()))
            if expiry > now:
                break
            seen.popitem(last=False)

    def check(self, timestamp, nonce):
        """
        Accept C{(timestamp, nonce)} once.

        @raise Stale: C{timestamp} is not a number within the window.
        @raise Replayed: C{nonce} was seen in the window (or is not bytes
            of 1 to L{MAX_NONCE}), or the guard holds C{maxNonces} already.
        """
        if (type(timestamp) not in (int, float)
                or not math.isfinite(timestamp)):
            raise Stale("no timestamp")
        now = self.clock.seconds()
        if abs(now - timestamp) > self.window:
            raise Stale("made {:.1f}s from now, the window is {}s".format(
                timestamp - now, self.window))
        if not isinstance(nonce, bytes) or not 0 < len(nonce) <= MAX_NONCE:
            raise Replayed("no nonce")
        self._expire(now)
        if nonce in self._seen:
            raise Replayed("nonce already seen")
        if len(self._seen) >= self.maxNonces:
            raise Replayed("too many messages in the window")
        # it could be replayed until its timestamp leaves the window
        self._seen[nonce] = max(timestamp + self.window, now)
        # keep the order of expiry: a later expiry goes last
        return True
