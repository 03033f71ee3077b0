# -*- test-case-name: tests.admin.test_service -*-
"""
The dashboard as a service of the node's tree: a front on HTTP of its own
(not published at the locator), started after the node. It listens on
C{network.bind} at its port in C{startService}, samples the apps every
second while it runs, and stops both in C{stopService}.
"""

from twisted.application.service import Service
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.web.server import Site

from cocaine.admin.actions import Actions
from cocaine.admin.overview import Overview
from cocaine.admin.sampler import Sampler
from cocaine.admin.web import Events, buildRoot
from cocaine.errors import StartupError
from cocaine.metrics.registry import Metrics

#: The port of the config's example.
DEFAULT_PORT = 10080


class _Site(Site):
    """
    A site that keeps no access log (a page polls; the API logs actions).
    """

    def log(self, request):
        pass


class AdminService(Service):
    """
    @ivar port: the listening port (its C{getHost()}) while running.
    @ivar site: the L{Site} serving the dashboard.
    """

    log = Logger()

    def __init__(self, context, port=DEFAULT_PORT, interval=1.0,
                 overview=None):
        """
        @param context: the node's L{cocaine.context.Context} (its node is
            read when needed: it may be configured after the dashboard).
        @param port: the TCP port on C{network.bind} (0: any free one).
        @param interval: seconds between samples and live updates.
        @param overview: an L{Overview} to use (tests); built from the
            context by default.
        """
        self.context = context
        self.portNumber = port
        self.reactor = context.reactor
        self.sampler = Sampler(self.reactor, lambda: context.node, interval)
        self.overview = overview or Overview(context, self.sampler)
        self.overview.sampler = self.sampler
        self.actions = Actions(self.overview)
        self.events = Events(self.overview, self.sampler)
        metrics = context.metrics or Metrics()
        self.site = _Site(buildRoot(self.overview, self.actions,
                                    self.events, metrics),
                          reactor=self.reactor)
        self.site.displayTracebacks = False
        self.port = None

    def startService(self):
        bind = self.context.config.network.bind
        try:
            self.port = self.reactor.listenTCP(self.portNumber, self.site,
                                               interface=bind)
        except CannotListenError as e:
            raise StartupError("{}: cannot listen on {}:{}: {}".format(
                self.name or "admin", bind, self.portNumber,
                e.socketError or e))
        Service.startService(self)
        self.events.start()
        self.sampler.start()
        self.log.info("dashboard on http://{address}:{port}/",
                      address=bind, port=self.port.getHost().port)

    def stopService(self):
        Service.stopService(self)
        self.sampler.stop()
        self.events.stop()
        port, self.port = self.port, None
        if port is not None:
            return port.stopListening()
