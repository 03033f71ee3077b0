"""
Tests for L{cocaine.backoff}.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine import backoff
from cocaine.backoff import backoffDelay


class BackoffDelayTests(SynchronousTestCase):

    def jitter(self, value):
        self.patch(backoff.random, "random", lambda: value)

    def test_doublesUpToTheMost(self):
        self.jitter(0.0)
        self.assertEqual([backoffDelay(n, 0.1, 1.0) for n in range(1, 7)],
                         [0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
        self.assertEqual(backoffDelay(0, 0.1, 1.0), 0.1)

    def test_longOutage(self):
        """
        Failures by the thousand (a peer down for a day) still wait the
        most, rather than overflowing a float.
        """
        self.jitter(0.0)
        self.assertEqual(backoffDelay(10 ** 4, 0.1, 5.0), 5.0)
        self.assertEqual(backoffDelay(10 ** 4, 0.5, 30.0, factor=3.0), 30.0)

    def test_factor(self):
        self.jitter(0.0)
        self.assertEqual([backoffDelay(n, 1.0, 100.0, factor=3.0)
                          for n in (1, 2, 3)], [1.0, 3.0, 9.0])

    def test_jitter(self):
        """
        Up to C{jitter} of the wait is added at random, at the cap too.
        """
        self.jitter(0.5)
        self.assertAlmostEqual(backoffDelay(1, 0.2, 5.0), 0.21)
        self.assertAlmostEqual(backoffDelay(10, 0.2, 5.0), 5.25)
        self.assertAlmostEqual(backoffDelay(2, 0.2, 5.0, jitter=0.0), 0.4)

    def test_spread(self):
        """
        Clients that failed together wait different times.
        """
        delays = {backoffDelay(3, 0.1, 5.0) for _ in range(50)}
        self.assertGreater(len(delays), 40)
        self.assertTrue(all(0.4 <= d <= 0.44 for d in delays), delays)
