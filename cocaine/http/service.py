# -*- test-case-name: tests.http.test_service -*-
"""
The gateway as a service of the tree: it listens for HTTP on start and
stops listening on stop; its requests count in the node's metrics.
"""

from twisted.application.service import Service
from twisted.logger import Logger

from cocaine.errors import StartupError
from cocaine.http.metrics import RequestsCollector


def _factoryClass():
    from cocaine.http.server import HTTPFactory
    return HTTPFactory


class GatewayService(Service):
    """
    @ivar gateway: the L{cocaine.http.gateway.Gateway}.
    @ivar port: the listening port, while running.
    """

    log = Logger()

    def __init__(self, reactor, gateway, interface, settings, metrics=None,
                 remote=None, factoryClass=None, label="http"):
        """
        @param settings: the L{cocaine.http.config.Settings}.
        @param metrics: a L{cocaine.metrics.registry.Metrics} to join.
        @param remote: a L{cocaine.http.remote.RemoteApps} to close on
            stop.
        """
        self._reactor = reactor
        self.gateway = gateway
        self.interface = interface
        self.settings = settings
        self._metrics = metrics
        self._remote = remote
        self._factoryClass = factoryClass
        self._label = label
        self._unregister = None
        self.port = None
        self.factory = None

    def startService(self):
        factoryClass = self._factoryClass or _factoryClass()
        self.factory = factoryClass(self._reactor, self.gateway,
                                    **self.settings.factoryArguments())
        try:
            self.port = self._reactor.listenTCP(
                self.settings.port, self.factory, interface=self.interface)
        except Exception as e:
            raise StartupError("{}: cannot listen on {}:{}: {}".format(
                self._label, self.interface, self.settings.port, e))
        if self._metrics is not None:
            self._unregister = self._metrics.register(
                RequestsCollector(self.gateway))
        Service.startService(self)
        address = self.port.getHost()
        self.log.info("{label} gateway listening on {address}:{port}",
                      label=self._label, address=address.host,
                      port=address.port)

    def stopService(self):
        Service.stopService(self)
        unregister, self._unregister = self._unregister, None
        if unregister is not None:
            unregister()
        if self._remote is not None:
            self._remote.disconnect()
        port, self.port = self.port, None
        if port is not None:
            return port.stopListening()
