# -*- test-case-name: tests.management.test_plane -*-
"""
The management plane's logic: authenticate a request, then create, delete,
reload or describe apps through the node service (PROTOCOL.md section 9).

Replies (one JSON frame):

  - C{create} C{{name: manifest}}: C{{"apps": {name: app info}}}. The
    manifest is stored in C{manifests} (msgpack, tag C{app}); with a
    C{path} (ours) the app runs from that directory (its C{manifest.json},
    as for the node's C{local} apps), otherwise from storage (the archive
    must be in C{apps}). C{profile} (a name or a map; C{engine}, the
    older name, is read too) is its profile.
  - C{delete} C{[names]}: C{{"apps": {name: {"state": "deleted"}}}}: the
    app is paused and its manifest removed.
  - C{reload} C{[names]}: C{{"apps": {name: app info}}}: paused and started
    again the way it was.
  - C{info}: C{{"uuid", "hostname", "apps": {name: app info}}}.

One app that fails gets C{{"error": message}} in its place; the request
as a whole fails with C{{"error": message}} (L{cocaine.management.protocol}).
"""

import hashlib
import json
import socket
import time

from twisted.internet.defer import DeferredLock, maybeDeferred
from twisted.logger import Logger

from cocaine.cluster.replay import (
    DEFAULT_WINDOW, ReplayGuard, Replayed, Stale)
from cocaine.errors import AppAlreadyRunning, AppNotRunning, KeyNotFound
from cocaine.engine.manifest import plain
from cocaine.management.protocol import (
    BAD_SIGNATURE, MAX_NONCE, NO_STAMP, NODE_NOT_RUNNING, REPLAYED,
    SIGNATURE_REQUIRED, STALE, UNAUTHORIZED, ManagementError, checkAction,
    parseRequest)
from cocaine.management.signing import userKey, verify
from cocaine.protocol.framing import packValue, unpackValue

#: Where manifests are stored (PROTOCOL.md section 7).
MANIFESTS = "manifests"


class _WallClock:
    """
    C{seconds()}: the time of day, when no clock is given.
    """

    @staticmethod
    def seconds():
        return time.time()


class ManagementPlane:
    """
    Version 3 requests are signed and carry C{timestamp} and C{nonce}
    inside the signed frame: one made more than C{replayWindow} seconds
    from our clock (either way), or whose nonce was used in the window, is
    refused (L{cocaine.cluster.replay}). Only requests whose signature
    verified are remembered.

    @ivar requests: requests handled.
    @ivar errors: requests answered with an error.
    @ivar replay: the L{ReplayGuard} of signed requests.
    """

    log = Logger()

    def __init__(self, node, storage, uuid, requireSignature=False,
                 hostname=None, clock=None, replayWindow=DEFAULT_WINDOW):
        """
        @param node: the node's L{cocaine.interfaces.INode}.
        @param storage: the node's storage backend (C{core}).
        @param uuid: the node's uuid, for C{info}.
        @param requireSignature: refuse version 2 requests.
        @param clock: an C{IReactorTime} (wall time); the time of day by
            default.
        @param replayWindow: seconds a signed request is accepted either
            side of our clock.
        """
        self.replay = ReplayGuard(clock or _WallClock(), replayWindow)
        self.node = node
        self.storage = storage
        self.uuid = uuid
        self.requireSignature = requireSignature
        self.hostname = hostname or socket.gethostname()
        self.requests = 0
        self.errors = 0
        # one change at a time; info does not wait
        self._lock = DeferredLock()

    async def handle(self, frames):
        """
        Serve one request message.

        @return: the reply map.
        """
        self.requests += 1
        try:
            request = parseRequest(frames)
            if request.version == 3:
                await self._authenticate(request)
            elif self.requireSignature:
                raise ManagementError(SIGNATURE_REQUIRED)
            apps = checkAction(request)
            if request.action == "info":
                return self.info()
            if not self.node.running:
                raise ManagementError(NODE_NOT_RUNNING)
            action = getattr(self, "_" + request.action)
            await self._lock.acquire()
            try:
                return {"apps": await self._each(action, apps, request)}
            finally:
                self._lock.release()
        except ManagementError as e:
            self.errors += 1
            return {"error": e.message}
        except Exception as e:
            self.errors += 1
            self.log.failure("management request failed")
            return {"error": "internal error: {}".format(e)}

    async def _authenticate(self, request):
        username = request.username
        if not isinstance(username, str) or not username:
            raise ManagementError(UNAUTHORIZED)
        pem = await userKey(self.storage, username)
        if pem is None:
            self.log.warn("management: no key for user {user}",
                          user=username)
            raise ManagementError(UNAUTHORIZED)
        if not request.signature:
            raise ManagementError(BAD_SIGNATURE)
        try:
            digest = verify(pem, request.body, request.signature)
        except ImportError:
            raise ManagementError("signatures cannot be checked: the "
                                  "cryptography package is not installed")
        except ValueError as e:
            self.log.warn("management: the key of user {user} is not "
                          "usable: {reason}", user=username, reason=str(e))
            raise ManagementError(UNAUTHORIZED)
        if digest is None:
            raise ManagementError(BAD_SIGNATURE)
        nonce = request.nonce
        if (type(request.timestamp) not in (int, float)
                or not isinstance(nonce, str)
                or not 0 < len(nonce) <= MAX_NONCE):
            raise ManagementError(NO_STAMP)
        try:
            self.replay.check(request.timestamp, hashlib.sha256(
                "{}\0{}".format(username, nonce).encode("utf-8")).digest())
        except Stale:
            self.log.warn("management: stale request by {user}",
                          user=username)
            raise ManagementError(STALE)
        except Replayed:
            self.log.warn("management: replayed request by {user}",
                          user=username)
            raise ManagementError(REPLAYED)
        self.log.info("management: {action} by {user} ({digest})",
                      action=request.action, user=username, digest=digest)

    async def _each(self, action, apps, request):
        results = {}
        for name in apps:
            try:
                results[name] = await action(name, apps, request)
            except Exception as e:
                reason = getattr(e, "message", None) or str(e)
                self.log.warn("management: {action} {app}: {reason}",
                              action=request.action, app=name, reason=reason)
                results[name] = {"error": reason}
        return results

    # -- the actions ---------------------------------------------------------

    def info(self):
        apps = {}
        for name in self.node.apps():
            apps[name] = self._appInfo(name)
        return {"uuid": self.uuid, "hostname": self.hostname, "apps": apps}

    def _appInfo(self, name):
        try:
            return self.node.info(name)
        except AppNotRunning:
            return {"state": "stopped"}

    async def _create(self, name, apps, request):
        manifest = apps[name]
        if name in self.node.apps():
            raise AppAlreadyRunning("app {!r} is already running".format(
                name))
        previous = await self._read(name)
        await maybeDeferred(self.storage.write, MANIFESTS, name,
                            packValue(manifest), ["app"])
        try:
            await self._start(name, manifest)
        except Exception:
            if previous is None:
                await maybeDeferred(self.storage.remove, MANIFESTS, name)
            else:
                await maybeDeferred(self.storage.write, MANIFESTS, name,
                                    previous, ["app"])
            raise
        return self._appInfo(name)

    async def _start(self, name, manifest):
        profile = manifest.get("profile", manifest.get("engine"))
        path = manifest.get("path")
        if path is None:
            await self.node.startApp(name, profile)
            return
        if not isinstance(path, str) or not path:
            raise ManagementError("path: must be the app's directory, got "
                                  "{}".format(json.dumps(path)))
        await self.node.startLocal(name, path, profile)

    async def _delete(self, name, apps, request):
        running = name in self.node.apps()
        if running:
            await self.node.pauseApp(name)
        try:
            await maybeDeferred(self.storage.remove, MANIFESTS, name)
        except KeyNotFound:
            if not running:
                raise AppNotRunning("app {!r} is not running".format(name))
        return {"state": "deleted"}

    async def _reload(self, name, apps, request):
        origin = self.node.origin(name)
        stored = await self._read(name)
        manifest = plain(unpackValue(stored)) if stored is not None else {}
        if not isinstance(manifest, dict):
            manifest = {}
        if manifest.get("path") is None and origin["local"]:
            manifest = {"path": origin["path"],
                        "profile": origin["profile"]}
        elif manifest.get("path") is None:
            runlist = await self.node.runlist()
            manifest = {"profile": runlist.get(name, origin["profile"])}
        await self.node.pauseApp(name)
        await self._start(name, manifest)
        return self._appInfo(name)

    async def _read(self, name):
        try:
            return await maybeDeferred(self.storage.read, MANIFESTS, name)
        except KeyNotFound:
            return None
