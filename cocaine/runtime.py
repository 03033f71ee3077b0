# -*- test-case-name: tests.test_runtime -*-
"""
The service tree of a node.

    CocaineService (root, ordered start/stop)
    +-- StoragesService      every configured storage backend
    +-- ServiceHost          logging
    +-- ServiceHost          locator (fixed port)
    +-- ClusterService       discovery and peering, when configured
    +-- ServiceHost ...      every other configured service

Start runs in that order and waits for each step; stop runs in reverse and
waits too. Nothing here listens until C{startService}.
"""

import errno
import os
import sys
import uuid as _uuid

from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.python.failure import Failure

from cocaine.locator.registry import Registry
from cocaine.rpc.server import HostedService, ServerFactory


class OrderedMultiService(MultiService):
    """
    A L{MultiService} that starts its children one after another in the
    order they were added, waiting for any Deferred a child's
    C{startService} returns, and stops them in reverse, waiting likewise.

    A child that fails to start stops the ones already started (in the
    background: L{rollback} is the Deferred of that), and the failure is the
    result of C{startService}.
    """

    log = Logger()
    rollback = None

    def startService(self):
        Service.startService(self)
        return Deferred.fromCoroutine(self._startChildren())

    async def _startChildren(self):
        started = []
        for child in list(self):
            try:
                await maybeDeferred(child.startService)
            except BaseException:
                # The failure is the result now, so a synchronous failure
                # stays synchronous; the started ones stop in the
                # background, in reverse.
                self.rollback = Deferred.fromCoroutine(self._rollBack(
                    started))
                raise
            started.append(child)

    async def _rollBack(self, started):
        for child in reversed(started):
            try:
                await maybeDeferred(child.stopService)
            except Exception:
                self.log.failure("stopping {child} after a failed start",
                                 child=child.name)

    def stopService(self):
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stopChildren())

    async def _stopChildren(self):
        for child in reversed(list(self)):
            if not child.running:
                continue
            try:
                await maybeDeferred(child.stopService)
            except Exception:
                self.log.failure("{child} did not stop cleanly",
                                 child=child.name)


class StartupError(Exception):
    """
    A part of the node could not start; the message says which and why.
    """


class ServiceHost(Service):
    """
    Serves one service implementation on its own TCP endpoint and publishes
    it in the registry while it runs.
    """

    log = Logger()

    def __init__(self, reactor, name, impl, registry, network, port=None):
        """
        @param impl: an L{cocaine.interfaces.IRPCService} provider.
        @param network: the config's L{cocaine.config.Network}.
        @param port: a fixed port; by default one from C{network.ports} or
            the OS.
        """
        self.setName(name)
        self._reactor = reactor
        self.impl = impl
        self.hosted = HostedService(name, impl, impl.protocol, impl.version)
        self._registry = registry
        self._network = network
        self._fixedPort = port
        self._port = None
        self.endpoint = None

    async def _start(self):
        if IService.providedBy(self.impl):
            await maybeDeferred(self.impl.startService)
        try:
            self._port = self._listen()
            port = self._port.getHost().port
            self.endpoint = (self._network.advertised, port)
            self._registry.publish(self.name, [list(self.endpoint)],
                                   self.impl.version,
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
        factory = ServerFactory(self.hosted, self._network.maxMessage)
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
        self._registry.withdraw(self.name)
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


class StoragesService(Service):
    """
    Starts and stops every storage backend that is also a service.
    """

    def __init__(self, storages):
        self.setName("storages")
        self.storages = storages

    async def _each(self, method, backends):
        for backend in backends:
            if IService.providedBy(backend):
                await maybeDeferred(getattr(backend, method))

    def startService(self):
        Service.startService(self)
        return Deferred.fromCoroutine(self._each(
            "startService", list(self.storages.values())))

    def stopService(self):
        Service.stopService(self)
        return Deferred.fromCoroutine(self._each(
            "stopService", list(reversed(self.storages.values()))))


class CocaineService(OrderedMultiService):
    """
    The root of a node. When start-up fails it says why in one line on
    standard error and in the log, stops what had started, and ends the
    process with a non-zero status.
    """

    log = Logger()

    def __init__(self, reactor, context):
        OrderedMultiService.__init__(self)
        self.setName("cocaine")
        self._reactor = reactor
        self.context = context
        self.registry = context.registry

    def startService(self):
        d = OrderedMultiService.startService(self)
        outcome = []

        def record(result):
            outcome.append(result)
            return result
        d.addBoth(record)
        if outcome and isinstance(outcome[0], Failure):
            # failed before the reactor runs: say why and exit now
            d.addErrback(lambda _: None)
            self._startFailed(outcome[0])
            self.running = 0
            raise SystemExit(1)
        d.addCallbacks(lambda _: self._started(), self._lateFailure)
        return d

    def _started(self):
        entry = self.registry.lookup("locator")
        port = entry[0][0][1] if entry else (
            self.context.config.network.locator)
        self.log.info("node {uuid} running; locator on {address}:{port}",
                      uuid=self.context.uuid,
                      address=self.context.config.network.bind, port=port)

    def _lateFailure(self, failure):
        self._startFailed(failure)
        self._reactor.addSystemEventTrigger("after", "shutdown",
                                            _exitNow, 1)
        self._reactor.stop()

    def _startFailed(self, failure):
        if failure.check(StartupError):
            reason = failure.getErrorMessage()
        else:
            reason = "{}: {}".format(failure.type.__name__,
                                     failure.getErrorMessage())
            self.log.failure("start-up failed", failure)
        self.log.critical("cocaine: could not start: {reason}",
                          reason=reason)
        # twistd has redirected sys.stderr into the log by now
        stderr = sys.__stderr__ or sys.stderr
        stderr.write("cocaine: could not start: {}\n".format(reason))
        stderr.flush()


def _exitNow(status):
    """
    End the process with C{status} once the reactor has shut down (twistd
    has no other way to report a failure that happened while running).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def nodeUuid(config):
    """
    The node's uuid: from the config, else the one kept in the data
    directory, else a new one written there.
    """
    if config.uuid:
        return config.uuid
    path = os.path.join(config.paths.data, "uuid")
    try:
        with open(path) as f:
            value = f.read().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = str(_uuid.uuid4())
    os.makedirs(config.paths.data, exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(value + "\n")
    os.rename(path + ".tmp", path)
    return value


def loadPlugins():
    """
    @return: C{(service plugins, storage plugins)} as C{{name: plugin}}.
    """
    from twisted.plugin import getPlugins

    import services
    from cocaine.interfaces import IServicePlugin, IStoragePlugin
    servicePlugins = {p.name: p for p in getPlugins(IServicePlugin, services)}
    storagePlugins = {p.name: p for p in getPlugins(IStoragePlugin, services)}
    return servicePlugins, storagePlugins


def buildRuntime(reactor, config, plugins=None):
    """
    Build (but do not start) a node's service tree.

    @param plugins: C{(service plugins, storage plugins)}; found with
        L{loadPlugins} by default.
    @raise cocaine.config.ConfigError: the config names an unknown plugin or
        gives one bad args.
    @return: a L{CocaineService}.
    """
    from cocaine.config import checkPlugins
    from cocaine.context import Context
    from cocaine.locator.service import LocatorService

    servicePlugins, storagePlugins = plugins or loadPlugins()
    checkPlugins(config, servicePlugins, storagePlugins)
    context = Context(reactor, config, Registry())
    context.uuid = nodeUuid(config)
    root = CocaineService(reactor, context)
    for name, component in config.storages.items():
        context.storages[name] = storagePlugins[component.type].makeBackend(
            context, name, dict(component.args))
    StoragesService(context.storages).setServiceParent(root)

    first, rest, last = [], [], []
    for name, component in config.services.items():
        impl = servicePlugins[component.type].makeService(
            context, name, dict(component.args))
        host = ServiceHost(reactor, name, impl, context.registry,
                           config.network)
        # logging first; the node (apps) after every other service
        (first if component.type == "logging" else
         last if component.type == "node" else rest).append(host)
    rest.extend(last)
    for host in first:
        host.setServiceParent(root)
    locator = LocatorService(context.registry, context.uuid,
                             context.storages.get("core"))
    context.locator = locator
    ServiceHost(reactor, "locator", locator, context.registry,
                config.network, port=config.network.locator
                ).setServiceParent(root)
    if config.cluster.discovery is not None:
        # cluster: after the locator listens (announces carry its port)
        from cocaine.cluster.service import ClusterService
        ClusterService(reactor, config.cluster, context.uuid,
                       context.registry, locator).setServiceParent(root)
    for host in rest:
        host.setServiceParent(root)
    return root
