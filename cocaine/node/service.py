# -*- test-case-name: tests.node.test_service -*-
"""
The apps of a node: L{NodeService} provides L{cocaine.interfaces.INode}.
It deploys apps from storage the way the Cocaine tools do, runs
development apps from directories, brings back the apps of the runlist
when the node starts, and keeps each running app as one L{App} child of
its ordered tree (PROTOCOL.md sections 5 and 7).

An app that is stopping stays in the tree until it has stopped: starting it
again waits for that, so the old instance's teardown never touches the new
one's socket or name.
"""

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.cluster.deploy import ClusterApps
from cocaine.engine.engine import AppEngine
from cocaine.engine.service import AppService
from cocaine.errors import AppAlreadyRunning, AppNotRunning, SpawnFailed
from cocaine.interfaces import INode
from cocaine.isolate.process import handOver
from cocaine.driver.service import buildDrivers
from cocaine.management.monitor import startMonitor
from cocaine.metrics.collector import AppsCollector
from cocaine.node import deploy
from cocaine.node.app import App
from cocaine.observers import Observers
from cocaine.ordered import OrderedMultiService
from cocaine.plugins import checkDrivers, loadPlugins
from cocaine.auth.guard import appEnvironment
from cocaine.rpc.host import ServiceHost

#: How long apps get to drain when the whole node stops.
NODE_STOP_DRAIN = 3.0


class _Gone:
    """
    The session of an app that does not run: already answered with the
    error; what the client still sends is ignored.
    """

    finishedWithUpstream = True

    def write(self, chunk):
        pass

    def close(self):
        pass

    def error(self, *args):
        pass

    def connectionLost(self):
        pass


@implementer(INode)
class NodeService(OrderedMultiService):
    """
    @ivar local: C{{name: {"path": dir, "profile": name or map}}}
        development apps started from directories on boot.
    @ivar drainTimeout: seconds a paused app's sessions get to finish.
    @ivar maxArchive: the most bytes of a stored app's archive.
    @ivar maxUnpacked: the most bytes of files it may unpack to.
    @ivar cluster: the L{ClusterApps} of cluster-wide apps.
    @ivar nodeName: this node's name in the keys of its own state: the
        C{name} given, else the node's uuid (kept across restarts,
        L{cocaine.runtime.nodeUuid}).
    @ivar sharedStorage: whether the C{core} storage is shared with other
        nodes; then the runlist and crashlogs are kept under keys naming
        this node (docs/cluster.md, "Shared storage").
    """

    log = Logger()

    def __init__(self, context, runlist="default", local=None,
                 drainTimeout=10.0, isolateFactory=None,
                 maxArchive=deploy.DEFAULT_MAX_ARCHIVE,
                 maxUnpacked=deploy.DEFAULT_MAX_UNPACKED,
                 nodeName=None, sharedStorage=None):
        """
        @param context: the node's L{cocaine.context.Context}.
        @param nodeName: the node's name in the keys of its own state; the
            node's uuid by default.
        @param sharedStorage: whether the C{core} storage is shared; by
            default what the backend says (its C{shared} attribute,
            L{cocaine.interfaces.IStorageBackend}).
        @param isolateFactory: C{isolateFactory(reactor, profile, name)}
            returning the isolate for an app; by default
            L{deploy.defaultIsolate}.
        """
        OrderedMultiService.__init__(self)
        self.setName("apps")
        self.context = context
        self._reactor = context.reactor
        self.local = dict(local or {})
        self.drainTimeout = drainTimeout
        self.maxArchive = maxArchive
        self.maxUnpacked = maxUnpacked
        self._isolateFactory = isolateFactory or deploy.defaultIsolate
        self._claimed = set()
        # name -> waiters of a pause still cleaning up (runlist, spool)
        self._pausing = {}
        self._watchers = Observers("app")
        self.nodeName = nodeName or context.uuid
        if sharedStorage is None:
            sharedStorage = bool(getattr(self.storage, "shared", False))
        self.sharedStorage = sharedStorage
        if sharedStorage and not self.nodeName:
            raise SpawnFailed("a node on a shared storage needs a name (or "
                              "a uuid) for the keys of its runlist")
        self._runlist = deploy.Runlist(self.storage, runlist,
                                       self._scope())
        self.cluster = ClusterApps(self, self.storage, context)
        self._unregister = None

    @property
    def storage(self):
        return self.context.storage("core")

    def _scope(self):
        """
        The node's name in the keys of its own state, or L{None} when the
        storage is its own (0.12's keys).
        """
        return self.nodeName if self.sharedStorage else None

    # -- the tree ------------------------------------------------------------

    def startService(self):
        OrderedMultiService.startService(self)
        if self.context.metrics is not None:
            # the apps' figures on /metrics and the metrics service
            self._unregister = self.context.metrics.register(
                AppsCollector(self))
        return Deferred.fromCoroutine(self._boot())

    async def _boot(self):
        spool = self.context.config.paths.spool
        removed = deploy.cleanSpool(spool)
        if removed:
            self.log.info("removed {count} directories of interrupted "
                          "unpacks from the spool {spool}",
                          count=len(removed), spool=spool)
        for name, spec in self.local.items():
            try:
                await self.startLocal(name, spec["path"], spec.get(
                    "profile"))
            except Exception as e:
                self.log.error("local app {app} not started: {reason}",
                               app=name, reason=str(e))
        for name, profile in (await self._runlist.read()).items():
            if name in self.namedServices:
                continue
            try:
                await self._startStored(name, profile, record=False)
            except Exception as e:
                self.log.error("app {app} of runlist {runlist} not started: "
                               "{reason}", app=name,
                               runlist=self._runlist.key, reason=str(e))
        # cluster-wide apps: a node linked later gets the ones it lacks
        peering = getattr(self.context.locator, "peering", None)
        if peering is not None:
            peering.watch(self.cluster.changed)
            self.cluster.changed()

    def stopService(self):
        self.cluster.stop()
        if self._unregister is not None:
            unregister, self._unregister = self._unregister, None
            unregister()
        for app in self:
            app.drainTimeout = min(self.drainTimeout, NODE_STOP_DRAIN)
        return OrderedMultiService.stopService(self)

    # -- INode ---------------------------------------------------------------

    def apps(self):
        return sorted(name for name, app in self.namedServices.items()
                      if app.state == "running")

    def _running(self, name):
        app = self.namedServices.get(name)
        if app is None or app.state != "running":
            raise AppNotRunning("app {!r} is not running".format(name))
        return app

    def info(self, name):
        return self._running(name).info()

    def stats(self, name):
        return self._running(name).engine.stats.snapshot()

    def load(self, name):
        return self._running(name).engine.load()

    def enqueue(self, name, upstream, event, tag=None, headers=()):
        try:
            app = self._running(name)
        except AppNotRunning as e:
            upstream.error(e)
            return _Gone()
        return app.engine.enqueue(upstream, event, tag, headers)

    def origin(self, name):
        return self._running(name).source.origin()

    def runlist(self):
        return Deferred.fromCoroutine(self._runlist.read())

    def watch(self, callback):
        return self._watchers.add(callback)

    def startApp(self, name, profile):
        return Deferred.fromCoroutine(self._startStored(name, profile,
                                                        record=True))

    def startLocal(self, name, path, profile=None):
        return Deferred.fromCoroutine(self._startLocal(name, path, profile))

    def pauseApp(self, name):
        return Deferred.fromCoroutine(self._pause(name))

    # -- starting and stopping apps -----------------------------------------

    async def _startStored(self, name, profile, record):
        await self._claim(name)
        try:
            config = self.context.config
            source = await deploy.fromStorage(
                self._reactor, self.storage, config.paths.spool, name,
                profile, self.maxArchive, self.maxUnpacked)
            await self._run(source)
        finally:
            self._unclaim(name)
        if record:
            await self._runlist.add(name, profile)

    async def _startLocal(self, name, path, profile):
        await self._claim(name)
        try:
            source = await deploy.fromDirectory(self.storage, name, path,
                                                profile)
            await self._run(source)
        finally:
            self._unclaim(name)

    async def _claim(self, name):
        deploy.checkName(name)
        if name in self._pausing:
            # a pause of this name is still taking it out of the runlist
            # and removing its unpacked copy: start after it, not beside it
            waiter = Deferred()
            self._pausing[name].append(waiter)
            await waiter
        old = self.namedServices.get(name)
        if old is not None and old.state == "stopping":
            # the old instance's teardown must finish first (its removal
            # from the tree too)
            await old.whenStopped()
            if self.namedServices.get(name) is old:
                await self.removeRunningChild(old)
        if name in self.namedServices or name in self._claimed:
            raise AppAlreadyRunning("app {!r} is already running".format(
                name))
        self._claimed.add(name)
        # the name is the app's from now on: locator.publish cannot take it
        # while it starts or runs
        self.context.registry.reserve(name)

    def _unclaim(self, name):
        self._claimed.discard(name)
        if name not in self.namedServices:
            self.context.registry.release(name)

    def _workerEnvironment(self, name):
        environ = dict(deploy.workerEnvironment())
        # never the node operator's own token, nor another app's
        for variable in ("COCAINE_TOKEN", "COCAINE_APP_TOKEN_TYPE",
                         "COCAINE_APP_TOKEN_BODY"):
            environ.pop(variable, None)
        # the app's token (docs/security.md), when auth is on
        environ.update(appEnvironment(getattr(self.context, "guard", None),
                                      name))
        return environ

    async def _run(self, source):
        name = source.name
        plugins = self.context.plugins or loadPlugins()
        checkDrivers(name, source.manifest.drivers, plugins)
        config = self.context.config
        isolate = self._isolateFactory(self._reactor, source.profile, name)
        uid = getattr(isolate, "workerUid", None)
        if uid is not None and not source.local:
            # the node's own unpacked copy: the workers' user may read it
            handOver(source.directory, uid, isolate.workerGid)
        engine = AppEngine(
            self._reactor, name, source.manifest, source.profile,
            source.directory, isolate,
            config.paths.runtime,
            self._locatorEndpoint, storage=self.storage,
            environ=self._workerEnvironment(name),
            maxMessage=config.network.maxMessage,
            crashlogNode=self._scope())
        rpc = AppService(engine)
        listener = ServiceHost(self._reactor, name, rpc,
                               self.context.registry, config.network,
                               guard=getattr(self.context, "guard", None))
        app = App(source, engine, listener,
                  buildDrivers(self._reactor, name, engine,
                               source.manifest.drivers, plugins),
                  lambda: startMonitor(name, source.manifest.pubsub),
                  self.drainTimeout)
        rpc.describe = app.info
        # a child from now on, removed again if it cannot start
        await self.addRunningChild(app)
        self._watchers.notify(name, True)

    async def _pause(self, name):
        app = self._running(name)
        waiters = self._pausing.setdefault(name, [])
        try:
            await self._stopAndForget(app, name)
        finally:
            if self._pausing.get(name) is waiters:
                del self._pausing[name]
            for waiter in waiters:
                waiter.callback(None)

    async def _stopAndForget(self, app, name):
        app.drainTimeout = self.drainTimeout
        await self.removeRunningChild(app)
        if name not in self.namedServices and name not in self._claimed:
            self.context.registry.release(name)
        self._watchers.notify(name, False)
        if not app.source.local:
            await self._runlist.remove(name)
            # the unpacked copy: the archive in storage is the original
            await deferToThreadPool(
                self._reactor, self._reactor.getThreadPool(),
                deploy.removeUnpacked, self.context.config.paths.spool, name)

    def _locatorEndpoint(self):
        entry = self.context.registry.lookup("locator")
        if entry is None:
            return "127.0.0.1:{}".format(self.context.config.network.locator)
        host, port = entry[0][0]
        return "{}:{}".format(host, port)

    def pin(self, name, size):
        self._running(name).engine.pin(size)

    def trigger(self, name, driver, request=None):
        return Deferred.fromCoroutine(self._trigger(name, driver, request))

    async def _trigger(self, name, driver, request):
        app = self._running(name)
        target = app.drivers.get(driver)
        trigger = getattr(target, "trigger", None)
        if trigger is None:
            raise SpawnFailed("app {!r} has no manual driver {!r} (it has: "
                              "{})".format(name, driver, ", ".join(
                                  sorted(app.drivers)) or "none"))
        chunks = await trigger([] if request is None else [request])
        return b"".join(chunks)
