"""
Tests for L{cocaine.metrics.registry}.
"""

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily
from twisted.trial.unittest import SynchronousTestCase

from cocaine.metrics.registry import Metrics


class _Collector:
    def collect(self):
        yield GaugeMetricFamily("cocaine_test_value", "a test gauge",
                                value=3)


class MetricsTests(SynchronousTestCase):
    """
    L{Metrics} holds one registry that collectors join and leave.
    """

    def test_registerAndRemove(self):
        """
        A registered collector is exposed until its remover is called;
        calling the remover twice is harmless.
        """
        metrics = Metrics()
        remove = metrics.register(_Collector())
        self.assertIn(b"cocaine_test_value 3.0",
                      generate_latest(metrics.registry))
        remove()
        remove()
        self.assertNotIn(b"cocaine_test_value",
                         generate_latest(metrics.registry))
