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

from cocaine.admin.access import Access
from cocaine.admin.actions import Actions
from cocaine.admin.overview import Overview
from cocaine.admin.sampler import Sampler
from cocaine.admin.web import Events, buildRoot
from cocaine.errors import StartupError
from cocaine.metrics.registry import Metrics

#: The default port. Not 10080, which issue 13's example names: browsers
#: refuse to open it (ERR_UNSAFE_PORT), see L{BROWSER_BLOCKED}.
DEFAULT_PORT = 10081

#: The ports browsers refuse to fetch from (the Fetch standard's "bad
#: ports"): a dashboard there answers curl but never a browser.
BROWSER_BLOCKED = frozenset([
    1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69,
    77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119,
    123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515,
    526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990,
    993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000,
    6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080])


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
                 overview=None, hosts=(), metricsPublic=False):
        """
        @param context: the node's L{cocaine.context.Context} (its node is
            read when needed: it may be configured after the dashboard).
        @param port: the TCP port on C{network.bind} (0: any free one).
        @param interval: seconds between samples and live updates.
        @param overview: an L{Overview} to use (tests); built from the
            context by default.
        @param hosts: names besides its address the C{Host} header may
            give (L{cocaine.admin.access}).
        @param metricsPublic: C{/metrics} answers without a token even
            with auth on.
        """
        self.context = context
        self.portNumber = port
        self.reactor = context.reactor
        self.sampler = Sampler(self.reactor, lambda: context.node, interval)
        self.overview = overview or Overview(context, self.sampler)
        self.overview.sampler = self.sampler
        self.actions = Actions(self.overview)
        self.access = Access(context, self._listening, hosts,
                             metricsPublic)
        self.events = Events(self.overview, self.sampler, self.access)
        metrics = context.metrics or Metrics()
        self.site = _Site(buildRoot(self.overview, self.actions,
                                    self.events, metrics, self.access),
                          reactor=self.reactor)
        self.site.displayTracebacks = False
        self.port = None

    def _listening(self):
        return None if self.port is None else self.port.getHost().port

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
        port = self.port.getHost().port
        self.log.info("dashboard on http://{address}:{port}/",
                      address=bind, port=port)
        if port in BROWSER_BLOCKED:
            self.log.warn("dashboard: browsers refuse port {port} "
                          "(ERR_UNSAFE_PORT); choose another, e.g. "
                          "{default}", port=port, default=DEFAULT_PORT)

    def stopService(self):
        Service.stopService(self)
        self.sampler.stop()
        self.events.stop()
        port, self.port = self.port, None
        if port is not None:
            return port.stopListening()
