"""
Tests for L{cocaine.metrics.web}: C{/metrics} as a scraper reads it.
"""

from prometheus_client.core import CounterMetricFamily
from prometheus_client.openmetrics.exposition import (
    CONTENT_TYPE_LATEST as OPENMETRICS)
from prometheus_client.parser import text_string_to_metric_families
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from cocaine.errors import StartupError
from cocaine.metrics.registry import Metrics
from cocaine.metrics.web import MetricsListener, MetricsPage
from cocaine.testing import FakeReactor


class _Counting:
    """
    A collector whose counter grows by one at each scrape.
    """

    def __init__(self):
        self.scrapes = 0

    def collect(self):
        self.scrapes += 1
        family = CounterMetricFamily("cocaine_test_scrapes", "Scrapes.",
                                     labels=["app"])
        family.add_metric(["echo"], self.scrapes)
        yield family


class MetricsPageTests(SynchronousTestCase):

    def setUp(self):
        self.metrics = Metrics()
        self.collector = _Counting()
        self.metrics.register(self.collector)
        self.page = MetricsPage(self.metrics)

    def get(self, accept=None, method=b"GET"):
        request = DummyRequest([b""])
        request.method = method
        if accept is not None:
            request.requestHeaders.setRawHeaders(b"accept", [accept])
        body = self.page.render(request)
        return request, body

    def test_text(self):
        """
        A plain scrape is the Prometheus text format, read afresh each
        time, never cached.
        """
        self.get()
        request, body = self.get()
        (contentType,) = request.responseHeaders.getRawHeaders(
            b"content-type")
        self.assertTrue(contentType.startswith(b"text/plain; version=0.0.4"))
        self.assertEqual(
            request.responseHeaders.getRawHeaders(b"cache-control"),
            [b"no-store"])
        (family,) = text_string_to_metric_families(body.decode("utf-8"))
        self.assertEqual(family.name, "cocaine_test_scrapes")
        self.assertEqual(family.samples[0].labels, {"app": "echo"})
        self.assertEqual(family.samples[0].value, 2)

    def test_openMetrics(self):
        """
        A scraper asking for OpenMetrics gets it.
        """
        request, body = self.get(
            b"application/openmetrics-text; version=1.0.0")
        (contentType,) = request.responseHeaders.getRawHeaders(
            b"content-type")
        self.assertTrue(contentType.startswith(
            OPENMETRICS.split(";")[0].encode("ascii")))
        self.assertTrue(body.endswith(b"# EOF\n"))


class MetricsListenerTests(SynchronousTestCase):
    """
    L{MetricsListener}: C{/metrics} alone on a port.
    """

    def test_listens(self):
        reactor = FakeReactor()
        listener = MetricsListener(reactor, Metrics(), 0, "127.0.0.1")
        listener.startService()
        [(port, site, _, interface)] = reactor.tcpServers
        self.assertEqual((port, interface), (0, "127.0.0.1"))
        request = DummyRequest([b"metrics"])
        self.assertIsInstance(site.getResourceFor(request), MetricsPage)
        listener.stopService()
        self.assertEqual(reactor.events, [("listen", 40001),
                                          ("stop", 40001)])

    def test_taken(self):
        """
        A taken port stops start-up, naming the address.
        """
        listener = MetricsListener(FakeReactor(taken=[9100]), Metrics(),
                                   9100, "127.0.0.1", label="proxy")
        error = self.assertRaises(StartupError, listener.startService)
        self.assertIn("proxy: cannot listen on 127.0.0.1:9100", str(error))
        self.assertFalse(listener.running)
