# -*- test-case-name: tests.metrics.test_web -*-
"""
C{/metrics}: a C{twisted.web} resource serving a L{Metrics} registry in
the Prometheus text exposition (or OpenMetrics, when the scraper asks for
it in C{Accept}). The dashboard and the HTTP gateway mount it:

    root.putChild(b"metrics", MetricsPage(context.metrics))

Not C{prometheus_client.twisted.MetricsResource}: that one runs the
collectors in the global reactor's thread pool, and ours read the node's
live objects, which only the reactor thread may touch. Collecting is quick
(plain numbers, one psutil reading per worker), so it runs inline.
"""

from prometheus_client.exposition import choose_encoder
from twisted.web.resource import Resource


class MetricsPage(Resource):
    """
    A leaf answering C{GET} (and C{HEAD}) with the registry's figures.
    """

    isLeaf = True

    def __init__(self, metrics):
        """
        @param metrics: a L{cocaine.metrics.registry.Metrics}.
        """
        Resource.__init__(self)
        self._metrics = metrics

    def render_GET(self, request):
        accept = request.getHeader(b"accept")
        encoder, contentType = choose_encoder(
            accept.decode("latin-1") if accept else None)
        body = encoder(self._metrics.registry)
        request.setHeader(b"content-type", contentType.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        return body
