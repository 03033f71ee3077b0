# -*- test-case-name: tests.test_runtime -*-
"""
The service tree of a node.

    CocaineService (root, ordered start/stop)
    +-- StoragesService      every configured storage backend
    +-- StoragesService      every unicorn backend, when configured
    +-- ServiceHost          logging
    +-- ServiceHost          locator (fixed port)
    +-- ClusterService       discovery and peering, when configured
    +-- ServiceHost ...      every other configured service (node last)
    +-- front services       those on a protocol of their own (http,
                             admin): not published, after the node

Start runs in that order and waits for each step; stop runs in reverse and
waits too. Nothing here listens until C{startService}.
"""

import os
import sys
import uuid as _uuid

from twisted.application.service import IService, Service
from twisted.internet.error import ReactorNotRunning
from twisted.logger import Logger

from cocaine.auth.guard import buildGuard
from cocaine.cluster.service import ClusterService
from cocaine.config import ConfigError, withFile
from cocaine.context import Context
from cocaine.errors import StartupError
from cocaine.heap import freezeWanted, settle
from cocaine.interfaces import IRPCService
from cocaine.locator.registry import Registry
from cocaine.locator.service import LocatorService
from cocaine.metrics.collector import GCPauses, ProcessCollector
from cocaine.metrics.registry import Metrics
from cocaine.ordered import OrderedMultiService
from cocaine.plugins import checkConfig, loadPlugins
from cocaine.rpc.host import ServiceHost


class StoragesService(OrderedMultiService):
    """
    Every storage backend that is also a service, started in config order
    (first of the node's children: everything else reads storage).
    """

    def __init__(self, storages, name="storages"):
        OrderedMultiService.__init__(self)
        self.setName(name)
        self.storages = storages
        for backend in storages.values():
            if IService.providedBy(backend):
                backend.setServiceParent(self)


class AuthService(Service):
    """
    Protected by default (C{docs/security.md}): refuses to start a node
    bound beyond loopback with no authentication unless the config says
    C{"insecure": true} (then warns at each start); loads what the guard
    keeps in memory. Starts after the storages, before anything listens.
    """

    log = Logger()

    def __init__(self, config, guard):
        self.setName("auth")
        self._config = config
        self.guard = guard

    def startService(self):
        Service.startService(self)
        network = self._config.network
        if self.guard is None and not _loopback(network.bind):
            if not self._config.insecure:
                self.running = 0
                raise StartupError(withFile(
                    "network.bind is {} (beyond loopback) and no "
                    "authentication is configured: configure "
                    "\"authentications\" (docs/security.md) or set "
                    "\"insecure\": true".format(network.bind),
                    self._config.source))
            self.log.warn("INSECURE: bound to {bind} without "
                          "authentication (\"insecure\": true): anyone "
                          "who reaches the node may do anything",
                          bind=network.bind)
        if self.guard is not None:
            self.log.info("auth on: {type} authentication, event ACLs "
                          "{event}, storage ACLs {storage}",
                          type=self.guard.authenticator.name,
                          event="on" if self.guard.events else "off",
                          storage="on" if self.guard.storage else "off")
            return self.guard.start()
        return None

    def stopService(self):
        Service.stopService(self)
        if self.guard is not None:
            self.guard.stop()


def _loopback(address):
    import ipaddress
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class CocaineService(OrderedMultiService):
    """
    The root of a node. When start-up fails, before the reactor runs or
    later, it says why in one line on standard error and in the log, stops
    what had started, and ends the process with status 1 once the reactor
    has shut down.
    """

    log = Logger()

    #: whether start-up's objects are frozen out of garbage collection
    #: once the node runs (L{cocaine.heap.settle}): the daemon's node does
    #: (L{cocaine.tap}); a node inside another program, a test's, leaves
    #: that program's collector alone
    settleHeap = False

    def __init__(self, reactor, context):
        OrderedMultiService.__init__(self)
        self.setName("cocaine")
        self._reactor = reactor
        self.context = context
        self.registry = context.registry
        #: the garbage collector's pauses, in the node's metrics
        self.gcPauses = GCPauses()
        context.metrics.register(self.gcPauses)

    def startService(self):
        self.gcPauses.start()
        d = OrderedMultiService.startService(self)
        d.addCallbacks(lambda _: self._started(), self._startFailed)
        return d

    def stopService(self):
        self.gcPauses.close()
        return OrderedMultiService.stopService(self)

    def _started(self):
        # what start-up built lives as long as the node: out of the
        # collector's way from now on (cocaine.heap)
        frozen = settle() if self.settleHeap else None
        if frozen is not None:
            self.log.debug("{count} objects of start-up frozen out of "
                           "garbage collection", count=frozen)
        entry = self.registry.lookup("locator")
        port = entry[0][0][1] if entry else (
            self.context.config.network.locator)
        self.log.info("node {uuid} running; locator on {address}:{port}",
                      uuid=self.context.uuid,
                      address=self.context.config.network.bind, port=port)

    def _startFailed(self, failure):
        self.gcPauses.close()
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
        # twistd starts the tree before the reactor runs: stop it (and
        # exit with 1) as soon as it does, or now if it already runs
        self._reactor.callWhenRunning(self._exit, 1)

    def _exit(self, status):
        self._reactor.addSystemEventTrigger("after", "shutdown", _exitNow,
                                            status)
        try:
            self._reactor.stop()
        except ReactorNotRunning:
            # stopping already (a SIGTERM came while it started): the
            # trigger above still ends the process with the status
            pass


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

    @raise ConfigError: the data directory cannot keep it (C{paths.data}).
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
    except OSError as e:
        raise _dataError(config, e)
    value = str(_uuid.uuid4())
    try:
        os.makedirs(config.paths.data, exist_ok=True)
        with open(path + ".tmp", "w") as f:
            f.write(value + "\n")
        os.rename(path + ".tmp", path)
    except OSError as e:
        raise _dataError(config, e)
    return value


def _dataError(config, error):
    return ConfigError("paths.data", "cannot keep the node's uuid in {}: "
                       "{}".format(config.paths.data,
                                   error.strerror or error))


def _isFront(impl):
    """
    Whether a service implementation is a front on a protocol of its own
    (an C{IService} that declares no native protocol) rather than one
    served over the native protocol (it provides C{IRPCService} or, as
    third-party plugins may, just has the C{protocol} it declares).
    """
    return (not IRPCService.providedBy(impl) and not hasattr(impl, "protocol")
            and IService.providedBy(impl))


def buildRuntime(reactor, config, plugins=None):
    """
    Build (but do not start) a node's service tree.

    @param config: a L{cocaine.config.Config}.
    @param plugins: a L{cocaine.plugins.Plugins}; found with
        L{loadPlugins} by default.
    @raise cocaine.config.ConfigError: the config names an unknown plugin or
        gives one bad args, or its data directory cannot keep the node's
        uuid: naming the key, and the file it came from (C{(in PATH)});
        or C{COCAINE_GC_FREEZE} is neither 0 nor 1.
    @return: a L{CocaineService}.
    """
    plugins = plugins or loadPlugins()
    try:
        freezeWanted()
    except ValueError as e:
        # the environment's refusal (it names the variable), not the file's
        raise ConfigError("", str(e))
    try:
        return _buildTree(reactor, config, plugins)
    except ConfigError as e:
        # a plugin refused its args, or the file named one that does not
        # exist: said the way load says the file's own refusals
        raise e.withFile(config.source)


def _buildTree(reactor, config, plugins):
    checkConfig(config, plugins)
    context = Context(reactor, config, Registry(), plugins, Metrics())
    # the node process's own figures (each app's join when the node starts)
    context.metrics.register(ProcessCollector())
    context.uuid = nodeUuid(config)
    root = CocaineService(reactor, context)
    for name, component in config.storages.items():
        context.storages[name] = plugins.storages[component.type].makeBackend(
            context, name, dict(component.args))
    StoragesService(context.storages).setServiceParent(root)
    for name, component in config.unicorns.items():
        context.unicorns[name] = plugins.unicorns[component.type].makeBackend(
            context, name, dict(component.args))
    if context.unicorns:
        StoragesService(context.unicorns, "unicorns").setServiceParent(root)
    try:
        tls = config.network.tls
        context.guard = buildGuard(reactor, config.authentication,
                                   config.authorization,
                                   context.storages["core"],
                                   certificates=tls is not None and (
                                       tls.clientCA is not None))
    except ValueError as e:
        raise ConfigError("authentications.core.args.secret-file", str(e))
    AuthService(config, context.guard).setServiceParent(root)

    # the node's own names are its own before anything listens: a client
    # of locator.publish cannot take one while the node starts
    for name in ("locator", *config.services):
        context.registry.reserve(name)
    first, rest, last, fronts = [], [], [], []
    for name, component in config.services.items():
        impl = plugins.services[component.type].makeService(
            context, name, dict(component.args))
        if _isFront(impl):
            # a front on a protocol of its own: after the node, unpublished
            impl.setName(name)
            fronts.append(impl)
            continue
        host = ServiceHost(reactor, name, impl, context.registry,
                           config.network, guard=context.guard)
        # logging first; the node (apps) after every other service
        (first if component.type == "logging" else
         last if component.type == "node" else rest).append(host)
    rest.extend(last)
    rest.extend(fronts)
    for host in first:
        host.setServiceParent(root)
    locator = LocatorService(context.registry, context.uuid,
                             context.storages.get("core"))
    locator.maxStreams = config.network.maxLocatorStreams
    context.locator = locator
    ServiceHost(reactor, "locator", locator, context.registry,
                config.network, port=config.network.locator,
                guard=context.guard).setServiceParent(root)
    if config.cluster.discovery is not None:
        # cluster: after the locator listens (announces carry its port)
        ClusterService(reactor, config.cluster, context.uuid,
                       context.registry, locator, context=context
                       ).setServiceParent(root)
    for host in rest:
        host.setServiceParent(root)
    return root

