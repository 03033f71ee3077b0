"""
Tests for L{cocaine.cluster.replay}: the replay window, with a L{Clock}.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.cluster.replay import ReplayGuard, Replayed, Stale


class ReplayGuardTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1000)
        self.guard = ReplayGuard(self.clock, window=30, maxNonces=3)

    def test_once(self):
        """
        A nonce is accepted once within the window.
        """
        self.assertTrue(self.guard.check(1000.0, b"a"))
        self.assertRaises(Replayed, self.guard.check, 1000.0, b"a")
        self.assertRaises(Replayed, self.guard.check, 1001.0, b"a")

    def test_window(self):
        """
        Times further than the window from the clock, either way, and
        times that are no finite number are stale.
        """
        for when in (969.9, 1030.1, float("nan"), float("inf"), "1000",
                     None, True):
            self.assertRaises(Stale, self.guard.check, when, b"n")
        self.guard.check(970, b"x")
        self.guard.check(1030, b"y")

    def test_badNonce(self):
        for nonce in (b"", "text", None, b"n" * 65):
            self.assertRaises(Replayed, self.guard.check, 1000.0, nonce)

    def test_boundedAndExpiring(self):
        """
        Full, it refuses rather than forgets; once the window has passed
        the nonces expire and room is made.
        """
        for nonce in (b"1", b"2", b"3"):
            self.guard.check(1000.0, nonce)
        self.assertRaises(Replayed, self.guard.check, 1000.0, b"4")
        self.assertEqual(len(self.guard), 3)
        self.clock.advance(30.5)
        self.guard.check(1030.5, b"4")
        self.assertEqual(len(self.guard), 1)
        # an expired nonce is stale by then anyway
        self.assertRaises(Stale, self.guard.check, 1000.0, b"1")
