# -*- test-case-name: tests.integration.test_apps -*-
"""
The node service: deploys apps from storage the way the Cocaine tools do,
runs local development apps from directories, and brings back the apps of
the runlist when the node starts (PROTOCOL.md sections 5 and 7).
"""

import hashlib
import json
import os
import sys
import tempfile

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.engine.engine import AppEngine
from cocaine.engine.manifest import ManifestError, parseManifest, parseProfile
from cocaine.engine.service import AppService, PoolControl
from cocaine.errors import (
    AppAlreadyRunning, AppNotRunning, KeyNotFound, SpawnFailed)
from cocaine.interfaces import IRPCService
from cocaine.protocol.framing import packValue, unpackValue
from cocaine.protocol.services import NODE, NODE_VERSION
from cocaine.plugins import checkDrivers, loadPlugins
from cocaine.rpc.host import ServiceHost

#: Storage collections of the app layout (PROTOCOL.md section 7).
MANIFESTS, PROFILES, RUNLISTS, APPS = "manifests", "profiles", "runlists", \
    "apps"

#: UNIX socket paths longer than this do not fit sockaddr_un.
_MAX_SOCKET_PATH = 100


class _RunningApp:
    def __init__(self, engine, host, profile, local):
        self.engine = engine
        self.host = host
        self.profile = profile
        self.local = local


class _DeadControl:
    """
    The target of C{control} for an app that does not run: already
    answered with an error; further messages are ignored.
    """

    def write(self, size):
        pass

    def close(self):
        pass

    def error(self, *args):
        pass


@implementer(IRPCService)
class NodeService(Service):
    """
    C{start_app}, C{pause_app}, C{list}, C{info}, C{control}.
    """

    protocol = NODE
    version = NODE_VERSION
    log = Logger()

    def __init__(self, context, runlist="default", local=None,
                 drainTimeout=10.0, isolateFactory=None):
        """
        @param local: C{{name: {"path": dir, "profile": name or map}}}
            development apps started from directories.
        @param isolateFactory: C{isolateFactory(reactor, profile, name)}
            returning the isolate for an app; by default the C{process}
            isolate with the profile's limits.
        """
        self.context = context
        self._reactor = context.reactor
        self.runlist = runlist
        self.local = dict(local or {})
        self.drainTimeout = drainTimeout
        self._isolateFactory = isolateFactory or _processIsolate
        self.apps = {}
        self._starting = set()
        from cocaine.cluster.deploy import ClusterApps
        self.cluster = ClusterApps(self)

    @property
    def storage(self):
        return self.context.storage("core")

    # -- lifecycle -------------------------------------------------------------

    def startService(self):
        Service.startService(self)
        return Deferred.fromCoroutine(self._boot())

    async def _boot(self):
        for name, spec in self.local.items():
            try:
                await self._startLocal(name, spec)
            except Exception as e:
                self.log.error("local app {app} not started: {reason}",
                               app=name, reason=str(e))
        runlist = await self._readRunlist()
        for name, profile in runlist.items():
            if name in self.apps:
                continue
            try:
                await self._startFromStorage(name, profile, record=False)
            except Exception as e:
                self.log.error("app {app} of runlist {runlist} not started: "
                               "{reason}", app=name, runlist=self.runlist,
                               reason=str(e))
        # cluster-wide apps: a node linked later gets the ones it lacks
        peering = getattr(self.context.locator, "peering", None)
        if peering is not None:
            peering.watch(self.cluster.changed)
            self.cluster.changed()

    def stopService(self):
        Service.stopService(self)
        self.cluster.stop()
        return Deferred.fromCoroutine(self._stopAll())

    async def _stopAll(self):
        for name in list(self.apps):
            await self._stop(name, timeout=min(self.drainTimeout, 3.0))

    # -- the protocol ------------------------------------------------------------

    async def startApp(self, name, profile):
        await self._startFromStorage(name, profile, record=True)

    async def pauseApp(self, name):
        if name not in self.apps:
            raise AppNotRunning("app {!r} is not running".format(name))
        local = self.apps[name].local
        await self._stop(name, timeout=self.drainTimeout)
        if not local:
            runlist = await self._readRunlist()
            if runlist.pop(name, None) is not None:
                await self._writeRunlist(runlist)

    async def startAppCluster(self, name, profile):
        """
        Ours: C{start_app} here and on every linked node (docs/cluster.md).

        @return: C{{uuid: "ok" or "error: ..."}}.
        """
        return (await self.cluster.start(name, profile),)

    async def pauseAppCluster(self, name):
        """
        Ours: C{pause_app} here and on every linked node.

        @return: C{{uuid: "ok" or "error: ..."}}.
        """
        return (await self.cluster.pause(name),)

    def list(self):
        return (sorted(self.apps),)

    def info(self, name, flags=None):
        app = self.apps.get(name)
        if app is None:
            raise AppNotRunning("app {!r} is not running".format(name))
        return (app.engine.info(),)

    async def trigger(self, name, driver, request=None):
        """
        Run one job of a C{manual} driver now.

        @return: the worker's answer, its chunks joined.
        """
        app = self.apps.get(name)
        if app is None:
            raise AppNotRunning("app {!r} is not running".format(name))
        target = app.engine.drivers.get(driver)
        trigger = getattr(target, "trigger", None)
        if trigger is None:
            raise SpawnFailed("app {!r} has no manual driver {!r} (it has: "
                              "{})".format(name, driver, ", ".join(
                                  sorted(app.engine.drivers)) or "none"))
        chunks = await trigger([] if request is None else [request])
        return (b"".join(chunks),)

    def control(self, upstream, name):
        app = self.apps.get(name)
        if app is None:
            upstream.error(AppNotRunning("app {!r} is not running".format(
                name)))
            return _DeadControl()
        return PoolControl(app.engine, upstream)

    # -- deploying -------------------------------------------------------------

    async def _read(self, collection, key, what):
        try:
            return unpackValue(await maybeDeferred(
                self.storage.read, collection, key))
        except KeyNotFound:
            raise SpawnFailed("app {!r}: no {} in storage ({}/{})".format(
                key if collection != PROFILES else what, what, collection,
                key))

    async def _profile(self, name, profile):
        if isinstance(profile, bytes):
            profile = profile.decode("utf-8")
        if isinstance(profile, str):
            raw = await self._read(PROFILES, profile, "profile")
            return parseProfile(raw, profile)
        if isinstance(profile, dict) or profile is None:
            return parseProfile(profile or {}, "<{} inline>".format(name))
        raise ManifestError("app {!r}: profile must be a name or a map, got "
                            "{!r}".format(name, profile))

    async def _startFromStorage(self, name, profile, record):
        self._claim(name)
        try:
            manifest = parseManifest(await self._read(
                MANIFESTS, name, "manifest"), name)
            parsed = await self._profile(name, profile)
            archive = await self._read(APPS, name, "archive")
            if isinstance(archive, str):
                archive = archive.encode("utf-8", "surrogateescape")
            if not isinstance(archive, bytes):
                raise SpawnFailed("app {!r}: the archive in storage is not "
                                  "binary data".format(name))
            directory = os.path.abspath(os.path.join(
                self.context.config.paths.spool, name))
            from cocaine.engine.archive import extractArchive
            await deferToThreadPool(self._reactor,
                                    self._reactor.getThreadPool(),
                                    extractArchive, archive, directory)
            await self._run(name, manifest, parsed, directory, local=False)
        finally:
            self._starting.discard(name)
        if record:
            runlist = await self._readRunlist()
            runlist[name] = profile
            await self._writeRunlist(runlist)

    async def _startLocal(self, name, spec):
        self._claim(name)
        try:
            directory = os.path.abspath(spec["path"])
            path = os.path.join(directory, "manifest.json")
            try:
                with open(path, "rb") as f:
                    raw = json.load(f)
            except (OSError, ValueError) as e:
                raise SpawnFailed("app {!r}: cannot read {}: {}".format(
                    name, path, e))
            manifest = parseManifest(raw, name)
            parsed = await self._profile(name, spec.get("profile"))
            await self._run(name, manifest, parsed, directory, local=True)
        finally:
            self._starting.discard(name)

    def _claim(self, name):
        if name in self.apps or name in self._starting:
            raise AppAlreadyRunning("app {!r} is already running".format(
                name))
        if not name or "/" in name or name in (".", ".."):
            raise SpawnFailed("app name {!r} is not allowed".format(name))
        self._starting.add(name)

    async def _run(self, name, manifest, profile, directory, local):
        slave = os.path.join(directory, manifest.slave)
        if not os.path.isfile(slave):
            raise SpawnFailed("app {!r}: slave {!r} not found in {}".format(
                name, manifest.slave, directory))
        if profile.isolate.get("type") != "thread" and not os.access(
                slave, os.X_OK):
            raise SpawnFailed("app {!r}: slave {!r} is not executable"
                              .format(name, manifest.slave))
        from cocaine.driver.registry import startDrivers
        plugins = self.context.plugins or loadPlugins()
        checkDrivers(name, manifest.drivers, plugins)
        config = self.context.config
        engine = AppEngine(
            self._reactor, name, manifest, profile, directory,
            self._isolateFactory(self._reactor, profile, name),
            self._socketPath(name), self._locatorEndpoint,
            storage=self.storage, environ=workerEnvironment(),
            maxMessage=config.network.maxMessage)
        from cocaine.management.monitor import startMonitor
        engine.monitor = startMonitor(name, manifest.pubsub)
        host = ServiceHost(self._reactor, name, AppService(engine),
                           self.context.registry, config.network)
        engine.start()
        try:
            await host.startService()
        except Exception:
            await engine.stop(0)
            raise
        try:
            engine.drivers = await startDrivers(
                self._reactor, name, engine, manifest.drivers, plugins)
        except Exception:
            await host.stopService()
            await engine.stop(0)
            raise
        self.apps[name] = _RunningApp(engine, host, profile, local)
        self.log.info("app {app} running (profile {profile})", app=name,
                      profile=profile.name)

    async def _stop(self, name, timeout):
        # no new clients; the connected ones finish what the engine drains
        app = self.apps.pop(name)
        from cocaine.driver.registry import stopDrivers
        await stopDrivers(app.engine.drivers)
        await app.host.stopAccepting()
        await app.engine.stop(timeout)
        await app.host.stopService()

    def _socketPath(self, name):
        directory = os.path.abspath(self.context.config.paths.runtime)
        path = os.path.join(directory, name + ".sock")
        if len(path.encode()) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha1(directory.encode()).hexdigest()[:12]
        short = os.path.join(tempfile.gettempdir(), "cocaine-" + digest)
        path = os.path.join(short, hashlib.sha1(name.encode()).hexdigest()[
            :16] + ".sock")
        self.log.info("app {app}: socket path too long for {directory}; "
                      "using {path}", app=name, directory=directory,
                      path=path)
        return path

    def _locatorEndpoint(self):
        entry = self.context.registry.lookup("locator")
        if entry is None:
            return "127.0.0.1:{}".format(
                self.context.config.network.locator)
        host, port = entry[0][0]
        return "{}:{}".format(host, port)

    # -- the runlist -------------------------------------------------------------

    async def _readRunlist(self):
        try:
            value = unpackValue(await maybeDeferred(
                self.storage.read, RUNLISTS, self.runlist))
        except KeyNotFound:
            return {}
        if not isinstance(value, dict):
            self.log.warn("runlist {runlist} is not a map; ignored",
                          runlist=self.runlist)
            return {}
        return {(k.decode() if isinstance(k, bytes) else k):
                (v.decode() if isinstance(v, bytes) else v)
                for k, v in value.items()}

    async def _writeRunlist(self, runlist):
        await maybeDeferred(self.storage.write, RUNLISTS, self.runlist,
                            packValue(runlist), ["runlist"])


def workerEnvironment(environ=None):
    """
    The base environment of workers: the node's, with the directory of the
    node's own interpreter first on C{PATH}, so a worker starting with
    C{#!/usr/bin/env python3} runs on the installation that has our worker
    SDK.
    """
    env = dict(os.environ if environ is None else environ)
    here = os.path.dirname(sys.executable)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    env["PATH"] = os.pathsep.join([here] + [p for p in parts if p != here])
    return env


def _processIsolate(reactor, profile, name):
    if profile.isolate.get("type") == "thread":
        from cocaine.isolate.thread import ThreadIsolate
        return ThreadIsolate(reactor)
    from cocaine.isolate.process import ProcessIsolate
    return ProcessIsolate(reactor, rlimits=dict(profile.rlimits) or None,
                          cgroups=dict(profile.cgroups) or None)
