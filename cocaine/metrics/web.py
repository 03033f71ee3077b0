# -*- test-case-name: tests.metrics.test_web -*-
"""
C{/metrics}: a C{twisted.web} resource serving a L{Metrics} registry in
the Prometheus text exposition (or OpenMetrics, when the scraper asks for
it in C{Accept}). The dashboard mounts it:

    root.putChild(b"metrics", MetricsPage(context.metrics))

and L{MetricsListener} serves it alone on a port of its own (the
standalone HTTP proxy's C{--metrics-port}).

Not C{prometheus_client.twisted.MetricsResource}: that one runs the
collectors in the global reactor's thread pool, and ours read the node's
live objects, which only the reactor thread may touch. Collecting is quick
(plain numbers, one psutil reading per worker), so it runs inline.
"""

from prometheus_client.exposition import choose_encoder
from twisted.application.service import Service
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Site

from cocaine.errors import StartupError


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


class _QuietSite(Site):
    """
    A site that keeps no access log (scrapes come every few seconds).
    """

    noisy = False

    def log(self, request):
        pass


class MetricsListener(Service):
    """
    C{/metrics} of a registry on a port of its own, while running.

    @ivar port: the listening port, while running.
    """

    log = Logger()

    def __init__(self, reactor, metrics, port, interface, label="metrics"):
        """
        @param metrics: the L{cocaine.metrics.registry.Metrics} served.
        @param port: the TCP port (0: one of the system's choice).
        @param interface: the address to listen on.
        """
        self._reactor = reactor
        self._metrics = metrics
        self._portNumber = port
        self._interface = interface
        self._label = label
        self.port = None

    def startService(self):
        root = Resource()
        root.putChild(b"metrics", MetricsPage(self._metrics))
        site = _QuietSite(root, reactor=self._reactor)
        try:
            self.port = self._reactor.listenTCP(
                self._portNumber, site, interface=self._interface)
        except Exception as e:
            raise StartupError("{}: cannot listen on {}:{}: {}".format(
                self._label, self._interface, self._portNumber, e))
        Service.startService(self)
        address = self.port.getHost()
        self.log.info("{label} serving /metrics on {address}:{port}",
                      label=self._label, address=address.host,
                      port=address.port)

    def stopService(self):
        Service.stopService(self)
        port, self.port = self.port, None
        if port is not None:
            return port.stopListening()
