# -*- test-case-name: tests.http.test_tap -*-
"""
C{twistd -n cocaine-proxy --locator HOST:PORT [--locator ...] --port 8080}:
the HTTP gateway on its own, for an edge tier in front of a cluster. Apps
are resolved at the locators and requests spread over their nodes
(L{cocaine.http.edge}). With C{--metrics-port N}, C{/metrics} of its own
registry (its responses by code, its process figures) is served on port N
of the same address. Like C{cocaine.tap}, this is an entry point: it
alone touches the global reactor.
"""

import json

from twisted.application.service import MultiService
from twisted.python import usage

DEFAULT_LOCATOR = "127.0.0.1:10053"


def parseEndpoint(text):
    """
    C{"host:port"} (IPv6 as C{[addr]:port}) as C{(host, port)}.

    @raise usage.UsageError: not such an endpoint.
    """
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not host or not 0 < number < 65536:
        raise usage.UsageError("--locator {!r}: not HOST:PORT".format(text))
    return host, number


class Options(usage.Options):
    synopsis = "--locator HOST:PORT [--locator ...] [--port 8080]"
    longdesc = ("An HTTP gateway in front of Cocaine nodes: routes "
                "/<app>/<event>/... (or the X-Cocaine-Service and "
                "X-Cocaine-Event headers) to the app's nodes found at the "
                "locators (see docs/http.md).")
    optParameters = [
        ["port", "p", 8080, "The HTTP port.", int],
        ["bind", "b", "127.0.0.1", "The address to listen on."],
        ["max-body", None, 64 * 2 ** 20, "Largest request body (bytes).",
         int],
        ["max-connections", None, 1024, "Most connections open at once.",
         int],
        ["timeout", "t", 30.0, "Seconds an app gets to answer.", float],
        ["timeouts", None, None, "Per app and event timeouts as JSON: "
         "'{\"app\": {\"event\": 5, \"\": 10}}'."],
        ["header-timeout", None, 10.0, "Seconds to receive the headers.",
         float],
        ["body-timeout", None, 30.0, "Seconds to receive the body.", float],
        ["idle-timeout", None, 60.0, "Seconds a keep-alive connection may "
         "idle.", float],
        ["max-buffer", None, 32 * 2 ** 20, "Most bytes of a response "
         "written to a client that does not read before it is cut.", int],
        ["send-timeout", None, 60.0, "Seconds a client's write buffer may "
         "stay full before it is cut.", float],
        ["metrics-port", None, None, "Serve /metrics (Prometheus) on this "
         "port of the same address (default: not at all).", int],
    ]

    def __init__(self):
        usage.Options.__init__(self)
        self["locators"] = []

    def opt_locator(self, value):
        """
        A locator HOST:PORT (repeat for every node; default
        127.0.0.1:10053).
        """
        self["locators"].append(parseEndpoint(value))

    def postOptions(self):
        port = self["metrics-port"]
        if port is not None and not 0 <= port <= 65535:
            raise usage.UsageError("--metrics-port: must be a TCP port "
                                   "(0-65535)")
        if not self["locators"]:
            self["locators"].append(parseEndpoint(DEFAULT_LOCATOR))
        from cocaine.config import ConfigError
        from cocaine.http.config import parseSettings
        args = {key: self[key] for key in (
            "port", "max-body", "max-connections", "timeout",
            "header-timeout", "body-timeout", "idle-timeout", "max-buffer",
            "send-timeout")}
        if self["timeouts"]:
            try:
                args["timeouts"] = json.loads(self["timeouts"])
            except ValueError as e:
                raise usage.UsageError("--timeouts: not JSON: {}".format(e))
        try:
            self["settings"] = parseSettings("options", args)
        except ConfigError as e:
            raise usage.UsageError(str(e).replace("options.", "--"))
        # ours before twist installs its default (cocaine.tap.Options)
        from cocaine.reactor import installDefault
        installDefault()


def buildProxy(reactor, locators, interface, settings, factoryClass=None,
               metricsPort=None, process=None):
    """
    The proxy's service: the locators' backend and the gateway, and
    C{/metrics} on C{metricsPort} when it is given.

    @param process: the C{psutil.Process} whose figures C{/metrics} shows
        (this one by default).
    """
    from cocaine.http.edge import LocatorBackend
    from cocaine.http.gateway import Gateway
    from cocaine.http.remote import RemoteApps
    from cocaine.http.service import GatewayService
    remote = RemoteApps(reactor)
    backend = LocatorBackend(reactor, locators, remote)
    gateway = Gateway(reactor, backend, settings.timeouts, settings.timeout)
    root = MultiService()
    backend.setServiceParent(root)
    metrics = None
    if metricsPort is not None:
        from cocaine.metrics.collector import ProcessCollector
        from cocaine.metrics.registry import Metrics
        from cocaine.metrics.web import MetricsListener
        metrics = Metrics()
        metrics.register(ProcessCollector(process))
        MetricsListener(reactor, metrics, metricsPort, interface,
                        label="cocaine-proxy").setServiceParent(root)
    GatewayService(reactor, gateway, interface, settings, metrics=metrics,
                   remote=remote, factoryClass=factoryClass,
                   label="cocaine-proxy").setServiceParent(root)
    return root


def makeService(options):
    from cocaine.reactor import installDefault, logReactor
    # ours unless twistd or twist was given --reactor (cocaine.reactor)
    reactor = installDefault()
    logReactor(reactor)
    return buildProxy(reactor, options["locators"], options["bind"],
                      options["settings"],
                      metricsPort=options["metrics-port"])
