# -*- test-case-name: tests.rpc.test_host -*-
"""
Serving one service implementation on a TCP port of its own and publishing
it at the locator while it runs: L{ServiceHost}, the one way every service
of the node (built-in, plugin, running app) is put on the network.
"""

import errno

from twisted.application.service import IService, Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from cocaine.errors import StartupError
from cocaine.rpc.limits import ConnectionLimits, budgetFor
from cocaine.rpc.hosting import HostedService, ServerFactory
from cocaine.rpc.tls import wrapServer


class ServiceHost(Service):
    """
    Serves one service implementation on its own TCP endpoint and publishes
    it in the registry while it runs: the name is published last on start
    and withdrawn first on stop.

    @ivar impl: the L{cocaine.interfaces.IRPCService} provider.
    @ivar hosted: its L{HostedService} (the live connections).
    @ivar endpoint: C{(address, port)} as published, once listening.
    """

    log = Logger()

    def __init__(self, reactor, name, impl, registry, network, port=None,
                 guard=None):
        """
        @param impl: an L{cocaine.interfaces.IRPCService} provider; when it
            also provides C{IService} it is started before the port opens
            and stopped after it closed.
        @param registry: an L{cocaine.interfaces.IRegistry}.
        @param network: the config's L{cocaine.config.Network}.
        @param port: a fixed port; by default one from C{network.ports} or
            the OS.
        @param guard: the node's L{cocaine.auth.guard.Guard}, or L{None}
            when auth is off.
        """
        self.setName(name)
        self._reactor = reactor
        self.impl = impl
        self.hosted = HostedService(name, impl, impl.protocol, impl.version,
                                    guard)
        self._registry = registry
        self._network = network
        self._fixedPort = port
        self._port = None
        self._published = None
        self.endpoint = None

    async def _start(self):
        if IService.providedBy(self.impl):
            await maybeDeferred(self.impl.startService)
        try:
            self._port = self._listen()
            port = self._port.getHost().port
            self.endpoint = (self._network.advertised, port)
            self._published = self._registry.publish(
                self.name, [list(self.endpoint)], self.impl.version,
                self.impl.protocol.graph())
        except BaseException:
            # The parent only stops the children that started: undo what
            # this one did (never withdraw a name someone else published).
            self.running = 0
            if self._port is not None:
                listening, self._port = self._port, None
                await maybeDeferred(listening.stopListening)
            if IService.providedBy(self.impl) and self.impl.running:
                await maybeDeferred(self.impl.stopService)
            raise
        self.log.info("{service} listening on {address}:{port}",
                      service=self.name, address=self._network.bind,
                      port=port)

    def startService(self):
        Service.startService(self)
        return Deferred.fromCoroutine(self._start())

    def _listen(self):
        # the connection limits of the network section; the budget of
        # connections is one per node, shared through its registry
        network = self._network
        factory = ServerFactory(
            self.hosted, network.maxMessage,
            limits=ConnectionLimits.fromNetwork(network),
            reactor=self._reactor,
            budget=budgetFor(self._registry, network))
        factory = wrapServer(getattr(network, "tls", None), factory,
                             self._reactor)
        bind = self._network.bind
        if self._fixedPort is not None:
            candidates = [self._fixedPort]
        elif self._network.ports is not None:
            first, last = self._network.ports
            candidates = range(first, last + 1)
        else:
            candidates = [0]
        error = None
        for port in candidates:
            try:
                return self._reactor.listenTCP(port, factory, interface=bind)
            except CannotListenError as e:
                error = e
        if self._fixedPort is not None or self._network.ports is None:
            raise StartupError("{}: cannot listen on {}:{}: {}".format(
                self.name, bind, candidates[0], _reason(error)))
        raise StartupError("{}: no free port in {}-{} on {}".format(
            self.name, self._network.ports[0], self._network.ports[1], bind))

    async def _stopAccepting(self):
        published, self._published = self._published, None
        if published is not None:
            self._registry.withdraw(self.name, published)
        if self._port is not None:
            port, self._port = self._port, None
            await maybeDeferred(port.stopListening)

    def stopAccepting(self):
        """
        Withdraw the name and close the listening port; connected clients
        stay connected (so their sessions can finish) until C{stopService}.

        @return: a Deferred.
        """
        return Deferred.fromCoroutine(self._stopAccepting())

    async def _stop(self):
        await self._stopAccepting()
        self.hosted.dropConnections()
        if IService.providedBy(self.impl) and self.impl.running:
            await maybeDeferred(self.impl.stopService)

    def stopService(self):
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stop())


def _reason(error):
    socketError = getattr(error, "socketError", None)
    if socketError is not None and getattr(socketError, "errno", None) == (
            errno.EADDRINUSE):
        return "the address is already in use"
    if socketError is not None:
        return str(getattr(socketError, "strerror", None) or socketError)
    return str(error)
