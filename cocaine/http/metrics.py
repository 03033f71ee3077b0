# -*- test-case-name: tests.http.test_service -*-
"""
The gateway's requests by status code for the node's metrics registry:
C{cocaine_http_requests_total{code}}. The counts are the gateway's plain
dict; this only reads them when scraped.
"""

from prometheus_client.core import CounterMetricFamily


class RequestsCollector:
    """
    A C{prometheus_client} collector over a gateway's C{codes}.
    """

    def __init__(self, gateway):
        self._gateway = gateway

    def collect(self):
        family = CounterMetricFamily(
            "cocaine_http_requests",
            "HTTP requests answered by the gateway, by status code.",
            labels=["code"])
        for code, count in sorted(self._gateway.codes.items()):
            family.add_metric([str(code)], count)
        yield family
