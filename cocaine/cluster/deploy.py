# -*- test-case-name: tests.cluster.test_deploy -*-
"""
Cluster-wide apps (ours): C{node.start_app_cluster(name, profile)} starts
an app here and on every linked peer, copying its manifest, archive and
(named) profile into each peer's storage through the peer's own storage
service (resolved at the peer's locator) and calling the peer's
C{node.start_app}; C{node.pause_app_cluster(name)} stops it everywhere.

Every node keeps the names of its cluster-wide apps in the runlist
C{cluster} (C{runlists/cluster}, C{{name: profile}}): a node linked later
is sent the apps of that list it does not publish, by the node with the
smallest uuid among those running the app, so it is sent once.

Peers on the same shared storage (docs/cluster.md, "Shared storage") are
not sent the blobs: before pushing, this node writes a marker, a random
token of this process, at C{nodes/<uuid>} in its own storage, and each
peer's storage service is asked for that key; a peer that reads the same
token reads the same store, so only C{start_app} is called there. Any
other answer (missing key, another token, an error) means a store of its
own, and the blobs are copied as before. The check costs one small write
here and one small read per peer, and cannot be fooled by two servers
with the same address on different hosts (no configuration is compared).

Apps are pushed only in a cluster with a secret (C{cluster.secret}):
without one any host that can send a datagram to the group is linked, and
would be sent every cluster-wide app's manifest and archive. Without a
secret C{start_app_cluster} refuses (L{NO_SECRET}) and late joiners are
sent nothing.
"""

import secrets

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.logger import Logger

from cocaine.auth.guard import nodeToken
from cocaine.errors import (
    AppAlreadyRunning, AppNotRunning, KeyNotFound, SpawnFailed)
from cocaine.protocol.framing import packValue, unpackValue

#: The runlist holding the cluster-wide apps.
CLUSTER_RUNLIST = "cluster"

#: Storage collections and the tags the tool gives them.
MANIFESTS, APPS, PROFILES, RUNLISTS = ("manifests", "apps", "profiles",
                                       "runlists")
APP_TAGS, PROFILE_TAGS, RUNLIST_TAGS = ["app"], ["profile"], ["runlist"]

#: Where each node writes its store marker (C{nodes/<uuid>}), and its tag.
NODES, NODE_TAGS = "nodes", ["node"]

#: Seconds one peer may take for one step (an archive write, a start).
PEER_TIMEOUT = 60.0

#: Why apps are not pushed to peers without a secret.
NO_SECRET = ("cluster-wide apps need a cluster secret (cluster.secret in "
             "the config): without one any host on the network can join "
             "the cluster and would be sent the apps")

_FROM_CONFIG = object()


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(
        value, bytes) else value


def _runlist(raw):
    try:
        value = unpackValue(raw)
    except Exception:
        return {}
    if not isinstance(value, dict):
        return {}
    return {_text(k): _text(v) for k, v in value.items()}


class RemoteNode:
    """
    A peer reached through its locator: its storage and node services.
    """

    def __init__(self, reactor, endpoint, timeout=PEER_TIMEOUT, token=None):
        """
        @param token: the credentials for the peer (this node's admin
            token when auth is on: nodes sharing a secret trust each
            other), or L{None}.
        """
        from cocaine.client import Locator, Service
        self._locator = Locator(reactor, [tuple(endpoint)],
                                timeout=timeout, connectTimeout=5,
                                token=token)
        self.storage = Service("storage", self._locator, timeout=timeout,
                               token=token)
        self.node = Service("node", self._locator, timeout=timeout,
                            token=token)

    async def _editRunlist(self, edit):
        try:
            runlist = _runlist(await self.storage.read(
                RUNLISTS, CLUSTER_RUNLIST))
        except KeyNotFound:
            runlist = {}
        edit(runlist)
        await self.storage.write(RUNLISTS, CLUSTER_RUNLIST,
                                 packValue(runlist), RUNLIST_TAGS)

    async def sharesStore(self, marker):
        """
        Whether the peer's storage holds our marker: it reads the store we
        write.

        @param marker: C{(key, raw)} of our marker in C{nodes}, or L{None}
            (then C{False}).
        """
        if marker is None:
            return False
        key, raw = marker
        try:
            return await self.storage.read(NODES, key) == raw
        except Exception:
            # missing, or the peer cannot say: a store of its own
            return False

    async def deploy(self, name, blobs, profile, marker=None):
        """
        Write C{blobs} (C{[(collection, key, raw, tags)]}) into the peer's
        storage, add C{name} to its cluster runlist, start it there (one
        already running counts as started). A peer that shares our store
        (L{sharesStore}) has them already: only the start is asked.

        @param blobs: the blobs, or a callable returning an awaitable of
            them (read only when a copy is needed).
        @param marker: our store marker (L{sharesStore}), or L{None}.
        @return: whether the blobs were copied.
        """
        shared = await self.sharesStore(marker)
        if not shared:
            if callable(blobs):
                blobs = await blobs()
            for collection, key, raw, tags in blobs:
                await self.storage.write(collection, key, raw, tags)
            await self._editRunlist(lambda r: r.__setitem__(name, profile))
        try:
            await self.node.start_app(name, profile)
        except AppAlreadyRunning:
            pass
        return not shared

    async def pause(self, name, marker=None):
        """
        Drop C{name} from the peer's cluster runlist (unless it is ours,
        L{sharesStore}) and stop it there (one not running counts as
        stopped).
        """
        if not await self.sharesStore(marker):
            await self._editRunlist(lambda r: r.pop(name, None))
        try:
            await self.node.pause_app(name)
        except AppNotRunning:
            pass

    def close(self):
        self.storage.disconnect()
        self.node.disconnect()
        self._locator.disconnect()


class ClusterApps:
    """
    The cluster-wide apps of one node service.
    """

    log = Logger()

    def __init__(self, node, storage, context, remoteNode=None, clock=None,
                 secret=_FROM_CONFIG):
        """
        @param node: the node's L{cocaine.interfaces.INode}.
        @param storage: the node's storage backend (C{core}).
        @param context: the node's L{cocaine.context.Context} (its
            C{locator} and C{uuid} are read when needed: the locator is
            built after the node service).
        @param remoteNode: C{(endpoint) -> peer} with C{deploy}, C{pause}
            and C{close} (L{RemoteNode} by default).
        @param secret: the cluster secret; by default the config's
            C{cluster.secret} (C{context.config}). Without one nothing is
            pushed to peers.
        """
        self._secret = secret
        self.node = node
        self.storage = storage
        self.context = context
        self.clock = clock or context.reactor
        self._remoteNode = remoteNode or (
            lambda endpoint: RemoteNode(
                self.clock, endpoint,
                token=nodeToken(getattr(context, "guard", None))))
        self._synced = set()
        self._pending = {}
        #: this process's store marker (L{RemoteNode.sharesStore})
        self._token = packValue({"token": secrets.token_hex(16)})

    @property
    def locator(self):
        return self.context.locator

    @property
    def uuid(self):
        return self.context.uuid

    @property
    def secret(self):
        """
        The cluster secret, or L{None}.
        """
        if self._secret is not _FROM_CONFIG:
            return self._secret
        config = getattr(self.context, "config", None)
        return getattr(getattr(config, "cluster", None), "secret", None)

    def peers(self):
        """
        @return: C{{uuid: [host, port]}} of the linked nodes.
        """
        locator = self.locator
        if locator is None:
            return {}
        return locator.remote.nodes()

    # -- the cluster runlist -------------------------------------------------

    async def runlist(self):
        try:
            raw = await maybeDeferred(self.storage.read, RUNLISTS,
                                      CLUSTER_RUNLIST)
        except KeyNotFound:
            return {}
        return _runlist(raw)

    async def _writeRunlist(self, runlist):
        await maybeDeferred(self.storage.write, RUNLISTS,
                            CLUSTER_RUNLIST, packValue(runlist),
                            RUNLIST_TAGS)

    async def _marker(self):
        """
        Write our store marker (again: the store may have been emptied).

        @return: C{(key, raw)} for L{RemoteNode.sharesStore}, or L{None}
            when it cannot be written (then every peer is copied to).
        """
        try:
            await maybeDeferred(self.storage.write, NODES, self.uuid,
                                self._token, NODE_TAGS)
        except Exception as e:
            self.log.warn("store marker not written ({reason}): blobs are "
                          "copied to every peer", reason=str(e))
            return None
        return self.uuid, self._token

    async def _deploy(self, remote, uuid, name, blobs, profile, marker):
        copied = await remote.deploy(name, blobs, profile, marker)
        if not copied:
            self.log.info("cluster-wide app {app} on {uuid}: it shares "
                          "this node's store, nothing copied", app=name,
                          uuid=uuid)
        return copied

    async def _blobs(self, name, profile):
        """
        The raw stored manifest, archive and (named) profile of C{name}.

        @raise SpawnFailed: one of them is not in storage.
        """
        wanted = [(MANIFESTS, name, APP_TAGS, "manifest"),
                  (APPS, name, APP_TAGS, "archive")]
        if isinstance(profile, str):
            wanted.append((PROFILES, profile, PROFILE_TAGS, "profile"))
        blobs = []
        for collection, key, tags, what in wanted:
            try:
                raw = await maybeDeferred(self.storage.read,
                                          collection, key)
            except KeyNotFound:
                raise SpawnFailed("app {!r}: no {} in storage ({}/{})"
                                  .format(name, what, collection, key))
            blobs.append((collection, key, raw, tags))
        return blobs

    # -- everywhere ----------------------------------------------------------

    async def _onPeers(self, uuids, action):
        peers = self.peers()
        results = {}

        async def one(uuid):
            remote = self._remoteNode(peers[uuid])
            try:
                await action(remote, uuid)
                results[uuid] = "ok"
            except Exception as e:
                results[uuid] = "error: {}".format(
                    str(e) or type(e).__name__)
                self.log.warn("cluster-wide app on {uuid}: {reason}",
                              uuid=uuid, reason=results[uuid])
            finally:
                remote.close()
        await DeferredList([Deferred.fromCoroutine(one(uuid))
                            for uuid in uuids if uuid in peers])
        return results

    async def start(self, name, profile):
        """
        Start C{name} here (unless it runs) and on every linked peer.

        @raise SpawnFailed: the cluster has no secret (L{NO_SECRET});
            nothing is started or sent.
        @return: C{{uuid: "ok" or "error: ..."}}, ours included.
        """
        if self.secret is None:
            raise SpawnFailed(NO_SECRET)
        if isinstance(profile, bytes):
            profile = profile.decode("utf-8")
        blobs = await self._blobs(name, profile)
        if name not in self.node.apps():
            await self.node.startApp(name, profile)
        runlist = await self.runlist()
        runlist[name] = profile
        await self._writeRunlist(runlist)
        results = {self.uuid: "ok"}
        marker = await self._marker() if self.peers() else None
        results.update(await self._onPeers(
            sorted(self.peers()), lambda remote, uuid: self._deploy(
                remote, uuid, name, blobs, profile, marker)))
        return results

    async def pause(self, name):
        """
        Stop C{name} here (if it runs) and on every linked peer; it leaves
        every cluster runlist reached.

        @return: C{{uuid: "ok" or "error: ..."}}, ours included.
        """
        runlist = await self.runlist()
        if runlist.pop(name, None) is not None:
            await self._writeRunlist(runlist)
        if name in self.node.apps():
            await self.node.pauseApp(name)
        results = {self.uuid: "ok"}
        marker = await self._marker() if self.peers() else None
        results.update(await self._onPeers(
            sorted(self.peers()), lambda remote, uuid: remote.pause(
                name, marker)))
        return results

    # -- late joiners --------------------------------------------------------

    def changed(self):
        """
        The remote table changed (peering's watcher): check each newly
        linked node after C{delay}, letting it start its own runlist first.
        """
        peers = self.peers()
        self._synced &= set(peers)
        for uuid in list(self._pending):
            if uuid not in peers:
                call = self._pending.pop(uuid)
                if call.active():
                    call.cancel()
        for uuid in peers:
            if uuid not in self._synced and uuid not in self._pending:
                self._pending[uuid] = self.clock.callLater(
                    self.delay(), self._sync, uuid)

    def delay(self):
        peering = getattr(self.locator, "peering", None)
        interval = getattr(peering, "interval", 1.0)
        return min(1.0, interval / 2.0)

    def _sync(self, uuid):
        self._pending.pop(uuid, None)
        if uuid not in self.peers():
            return
        self._synced.add(uuid)
        d = Deferred.fromCoroutine(self.sync(uuid))
        d.addErrback(lambda f: self.log.failure(
            "cluster-wide apps not sent to {uuid}", f, uuid=uuid))

    async def sync(self, uuid):
        """
        Send node C{uuid} the cluster-wide apps it does not publish, those
        this node is the smallest uuid of the nodes running them; nothing
        without a secret.

        @return: the names sent.
        """
        if self.secret is None:
            self.log.warn("cluster-wide apps not sent to {uuid}: {reason}",
                          uuid=uuid, reason=NO_SECRET)
            return []
        remote = self.locator.remote
        published = remote.services(uuid)
        sent = []
        for name, profile in sorted((await self.runlist()).items()):
            if name in published or name not in self.node.apps():
                continue
            runners = set(remote.providers(name)) | {self.uuid}
            if min(runners) != self.uuid:
                continue
            marker = await self._marker()
            results = await self._onPeers([uuid], lambda peer, uuid: (
                self._deploy(peer, uuid, name, lambda: self._blobs(
                    name, profile), profile, marker)))
            if results.get(uuid) == "ok":
                self.log.info("cluster-wide app {app} sent to {uuid}",
                              app=name, uuid=uuid)
                sent.append(name)
        return sent

    def stop(self):
        for call in self._pending.values():
            if call.active():
                call.cancel()
        self._pending = {}
