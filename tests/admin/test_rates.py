# -*- test-case-name: tests.admin.test_rates -*-
"""
Tests for L{cocaine.admin.rates}.
"""

import math

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from cocaine.admin.rates import bucketDeltas, quantile, rates, restarted

INF = math.inf
BOUNDS = [0.005, 0.01, 0.1, 1.0, INF]


def snapshot(ok=0, error=0, timeout=0, rejected=0, disconnected=0,
             perBucket=(0, 0, 0, 0, 0)):
    """
    A stats snapshot whose histogram has C{perBucket} requests in each
    bucket (not cumulative).
    """
    cumulative, total = [], 0
    for le, n in zip(BOUNDS, perBucket):
        total += n
        cumulative.append([le, total])
    return {"requests": {"ok": ok, "error": error, "timeout": timeout,
                         "rejected": rejected,
                         "disconnected": disconnected},
            "duration": {"buckets": cumulative, "sum": 0.0,
                         "count": total},
            "workers": {"spawned": 1, "crashed": 0}}


class QuantileTests(SynchronousTestCase):

    def test_empty(self):
        self.assertIsNone(quantile([], 0.5))
        self.assertIsNone(quantile([(0.1, 0), (INF, 0)], 0.5))

    def test_interpolatesInsideTheBucket(self):
        """
        Half the requests in (0, 0.01], half in (0.01, 0.1]: the median is
        the first bucket's bound, the 99th percentile 98% into the second.
        """
        buckets = [(0.01, 5), (0.1, 10), (INF, 10)]
        self.assertAlmostEqual(quantile(buckets, 0.5), 0.01)
        self.assertAlmostEqual(quantile(buckets, 0.99), 0.01 + 0.09 * 0.98)

    def test_skipsEmptyBuckets(self):
        buckets = [(0.01, 0), (0.1, 0), (1.0, 4), (INF, 4)]
        self.assertAlmostEqual(quantile(buckets, 0.5), 0.1 + 0.9 * 0.5)

    def test_unboundedBucket(self):
        """
        A quantile in the C{+Inf} bucket is the highest finite bound.
        """
        self.assertEqual(quantile([(0.1, 1), (1.0, 1), (INF, 10)], 0.99),
                         1.0)

    @given(st.lists(st.integers(0, 50), min_size=5, max_size=5),
           st.floats(0.01, 0.99))
    def test_withinBounds(self, perBucket, q):
        """
        A quantile lies in [0, the highest finite bound] and never
        decreases with C{q}.
        """
        buckets = [(le, c) for le, c in
                   snapshot(perBucket=perBucket)["duration"]["buckets"]]
        value = quantile(buckets, q)
        if sum(perBucket) == 0:
            self.assertIsNone(value)
            return
        self.assertTrue(0 <= value <= 1.0, value)
        self.assertLessEqual(quantile(buckets, q / 2), value + 1e-12)


class RatesTests(SynchronousTestCase):

    def test_noWindowYet(self):
        self.assertEqual(rates(None, snapshot(ok=3), 1.0),
                         {"rps": None, "eps": None, "p50": None,
                          "p99": None})

    def test_perSecond(self):
        """
        Requests and errors per second over the window; the latency of the
        window's requests only (the earlier ones were all fast).
        """
        before = snapshot(ok=100, error=1, perBucket=(101, 0, 0, 0, 0))
        after = snapshot(ok=116, error=2, timeout=1, rejected=1,
                         disconnected=1,
                         perBucket=(101, 0, 10, 10, 0))
        point = rates(before, after, 2.0)
        self.assertEqual(point["rps"], (16 + 1 + 1 + 1 + 1) / 2.0)
        self.assertEqual(point["eps"], 3 / 2.0)
        self.assertAlmostEqual(point["p50"], 0.1)
        self.assertAlmostEqual(point["p99"], 0.1 + 0.9 * 0.98)

    def test_idleWindow(self):
        """
        No request in the window: zero rates, no latency.
        """
        same = snapshot(ok=5, perBucket=(5, 0, 0, 0, 0))
        self.assertEqual(rates(same, same, 1.0),
                         {"rps": 0.0, "eps": 0.0, "p50": None,
                          "p99": None})

    def test_restart(self):
        """
        Counters that went down: the app started again, the later snapshot
        is the whole window.
        """
        before = snapshot(ok=100, perBucket=(100, 0, 0, 0, 0))
        after = snapshot(ok=4, perBucket=(0, 0, 4, 0, 0))
        self.assertTrue(restarted(before, after))
        self.assertFalse(restarted(after, after))
        point = rates(before, after, 1.0)
        self.assertEqual(point["rps"], 4.0)
        self.assertTrue(0.01 < point["p50"] <= 0.1)

    def test_boundsChanged(self):
        before = {"duration": {"buckets": [[1.0, 3], [INF, 3]]}}
        after = snapshot(perBucket=(1, 0, 0, 0, 0))
        self.assertEqual(bucketDeltas(before, after)[0], (0.005, 1))

    def test_zeroElapsed(self):
        self.assertIsNone(rates(snapshot(), snapshot(ok=1), 0)["rps"])

    def test_malformed(self):
        """
        What is not a counter counts as zero; a broken histogram has no
        quantiles.
        """
        point = rates({"requests": {"ok": "x"}},
                      {"requests": {"ok": 2, "error": None},
                       "duration": {"buckets": [["a"]]}}, 1.0)
        self.assertEqual(point, {"rps": 2.0, "eps": 0.0, "p50": None,
                                 "p99": None})
