"""
Tests for L{cocaine.cluster.deploy}: cluster-wide start and pause, and the
apps sent to a node linked later, with a fake node service and fake peers.
"""

from types import SimpleNamespace

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.cluster.deploy import CLUSTER_RUNLIST, ClusterApps, RemoteNode
from cocaine.cluster.remote import RemoteTable
from cocaine.errors import AppAlreadyRunning, KeyNotFound, SpawnFailed
from cocaine.protocol.framing import packValue
from cocaine.storage.memory import MemoryStorage
from cocaine.testing import MemoryNode

US, A, B = "node-b0", "node-a0", "node-c0"


class FakePeer:
    def __init__(self, log, endpoint, fail=None):
        self.log = log
        self.endpoint = tuple(endpoint)
        self.fail = fail

    async def deploy(self, name, blobs, profile, marker=None):
        if self.fail:
            raise self.fail
        if callable(blobs):
            blobs = await blobs()
        self.log.append(("deploy", self.endpoint, name, [
            (c, k) for c, k, _, _ in blobs], profile))
        return True

    async def pause(self, name, marker=None):
        self.log.append(("pause", self.endpoint, name))

    def close(self):
        self.log.append(("close", self.endpoint))


class ClusterAppsTests(SynchronousTestCase):
    secret = "cluster-secret"

    def setUp(self):
        self.clock = Clock()
        self.node = MemoryNode()
        self.storage = storage = MemoryStorage()
        self.context = SimpleNamespace(
            reactor=self.clock, uuid=US, locator=SimpleNamespace(
                remote=RemoteTable(), peering=SimpleNamespace(
                    interval=1.0)))
        self.log = []
        self.failing = {}
        self.apps = ClusterApps(
            self.node, storage, self.context, remoteNode=lambda e: FakePeer(
                self.log, e, self.failing.get(tuple(e))), clock=self.clock,
            secret=self.secret)
        self.remote = self.context.locator.remote
        storage.write("manifests", "echo", packValue({"slave": "w"}),
                      ["app"])
        storage.write("apps", "echo", packValue(b"tar"), ["app"])
        storage.write("profiles", "small", packValue({"pool-limit": 1}),
                      ["profile"])

    def settle(self, coroutine):
        return self.successResultOf(Deferred.fromCoroutine(coroutine))

    def runlist(self):
        return self.settle(self.apps.runlist())

    def test_startEverywhere(self):
        """
        Started here, recorded in the cluster runlist, the manifest,
        archive and named profile sent to every linked peer.
        """
        self.remote.link(A, ("127.0.0.1", 1), {})
        self.remote.link(B, ("127.0.0.1", 2), {})
        self.failing[("127.0.0.1", 2)] = RuntimeError("disk full")
        results = self.settle(self.apps.start("echo", b"small"))
        self.assertEqual(results, {US: "ok", A: "ok",
                                   B: "error: disk full"})
        self.assertEqual(self.node.calls, [("startApp", "echo", "small")])
        self.assertEqual(self.runlist(), {"echo": "small"})
        self.assertIn(("deploy", ("127.0.0.1", 1), "echo", [
            ("manifests", "echo"), ("apps", "echo"),
            ("profiles", "small")], "small"), self.log)
        self.assertEqual(sorted(e for e in self.log if e[0] == "close"),
                         [("close", ("127.0.0.1", 1)),
                          ("close", ("127.0.0.1", 2))])
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_startInlineProfileAlreadyRunning(self):
        """
        An inline profile sends no profile blob; an app already running
        here is not started again.
        """
        self.node.add("echo")
        self.remote.link(A, ("127.0.0.1", 1), {})
        self.assertEqual(self.settle(self.apps.start("echo", {})),
                         {US: "ok", A: "ok"})
        self.assertEqual(self.node.calls, [])
        self.assertEqual(self.log[0][3], [("manifests", "echo"),
                                          ("apps", "echo")])

    def test_startMissing(self):
        d = Deferred.fromCoroutine(self.apps.start("nope", {}))
        self.assertEqual(str(self.failureResultOf(d, SpawnFailed).value),
                         "app 'nope': no manifest in storage "
                         "(manifests/nope)")
        d = Deferred.fromCoroutine(self.apps.start("echo", "missing"))
        self.failureResultOf(d, SpawnFailed)
        self.assertEqual(self.node.calls, [])

    def test_pauseEverywhere(self):
        self.remote.link(A, ("127.0.0.1", 1), {})
        self.settle(self.apps.start("echo", {}))
        del self.log[:]
        self.assertEqual(self.settle(self.apps.pause("echo")),
                         {US: "ok", A: "ok"})
        self.assertEqual(self.node.calls[-1], ("pauseApp", "echo"))
        self.assertEqual(self.runlist(), {})
        self.assertEqual(self.log[0], ("pause", ("127.0.0.1", 1), "echo"))
        # not running here: the peers are still told
        self.assertEqual(self.settle(self.apps.pause("echo")),
                         {US: "ok", A: "ok"})

    def test_lateJoiner(self):
        """
        A node linked later is sent, after a delay, the cluster-wide apps
        it does not publish, by the smallest uuid running them; once.
        """
        self.settle(self.apps.start("echo", {}))
        self.storage.write("runlists", CLUSTER_RUNLIST, packValue(
            {"echo": {}, "stopped": {}}), ["runlist"])
        self.remote.link(B, ("127.0.0.1", 2), {})
        self.apps.changed()
        self.assertEqual(self.log, [])
        self.clock.advance(0.5)
        self.assertEqual(self.log, [
            ("deploy", ("127.0.0.1", 2), "echo", [
                ("manifests", "echo"), ("apps", "echo")], {}),
            ("close", ("127.0.0.1", 2))])
        self.apps.changed()
        self.clock.advance(1)
        self.assertEqual(len(self.log), 2)

        # dropped and linked again: checked again, but it runs echo now
        self.remote.drop(B)
        self.apps.changed()
        self.remote.link(B, ("127.0.0.1", 2), {"echo": (
            [["127.0.0.1", 9]], 1, {})})
        self.apps.changed()
        self.clock.advance(1)
        self.assertEqual(len(self.log), 2)

    def test_lateJoinerSmallerUuidSends(self):
        """
        When a node with a smaller uuid runs the app too, it sends it, not
        us.
        """
        self.settle(self.apps.start("echo", {}))
        self.remote.link(A, ("127.0.0.1", 1), {"echo": (
            [["127.0.0.1", 9]], 1, {})})
        self.remote.link(B, ("127.0.0.1", 2), {})
        self.assertEqual(self.settle(self.apps.sync(B)), [])
        self.remote.drop(A)
        self.assertEqual(self.settle(self.apps.sync(B)), ["echo"])

    def test_goneBeforeDelay(self):
        self.remote.link(B, ("127.0.0.1", 2), {})
        self.apps.changed()
        self.remote.drop(B)
        self.apps.changed()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.remote.link(B, ("127.0.0.1", 2), {})
        self.apps.changed()
        self.apps.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class NoSecretTests(ClusterAppsTests):
    """
    Without a cluster secret nothing is pushed to peers.
    """

    secret = None

    def test_startEverywhere(self):
        """
        C{start} refuses, saying why, before starting or sending anything.
        """
        self.remote.link(A, ("127.0.0.1", 1), {})
        error = self.failureResultOf(Deferred.fromCoroutine(
            self.apps.start("echo", "small")), SpawnFailed).value
        self.assertIn("cluster.secret", str(error))
        self.assertEqual(self.node.calls, [])
        self.assertEqual(self.log, [])
        self.assertEqual(self.runlist(), {})

    def test_startInlineProfileAlreadyRunning(self):
        self.test_startEverywhere()

    def test_startMissing(self):
        self.test_startEverywhere()

    def test_lateJoiner(self):
        """
        A node linked later is sent nothing, even of a cluster runlist
        left from before.
        """
        self.storage.write("runlists", CLUSTER_RUNLIST,
                           packValue({"echo": "small"}), ["runlist"])
        self.successResultOf(self.node.startApp("echo", "small"))
        self.remote.link(A, ("127.0.0.1", 1), {})
        self.apps.changed()
        self.clock.advance(1)
        self.assertEqual(self.log, [])

    def test_lateJoinerSmallerUuidSends(self):
        self.test_lateJoiner()

    def test_pauseEverywhere(self):
        """
        C{pause} sends no app: it still stops a cluster-wide app started
        before everywhere.
        """
        self.storage.write("runlists", CLUSTER_RUNLIST,
                           packValue({"echo": "small"}), ["runlist"])
        self.successResultOf(self.node.startApp("echo", "small"))
        self.remote.link(A, ("127.0.0.1", 1), {})
        self.assertEqual(self.settle(self.apps.pause("echo")),
                         {US: "ok", A: "ok"})
        self.assertEqual(self.log, [("pause", ("127.0.0.1", 1), "echo"),
                                    ("close", ("127.0.0.1", 1))])
        self.assertEqual(self.runlist(), {})

    def test_secretFromConfig(self):
        """
        By default the secret is the config's C{cluster.secret}.
        """
        from cocaine.config import Cluster
        apps = ClusterApps(self.node, self.storage, SimpleNamespace(
            reactor=self.clock, config=SimpleNamespace(
                cluster=Cluster(secret="s"))))
        self.assertEqual(apps.secret, "s")
        self.assertIsNone(ClusterApps(self.node, self.storage, SimpleNamespace(
            reactor=self.clock, config=SimpleNamespace(
                cluster=Cluster()))).secret)


class PeerTokenTests(SynchronousTestCase):
    """
    With auth on, the node calls its peers with its own admin token.
    """

    def test_tokenFromGuard(self):
        """
        The default peer client carries an admin token of this node's
        secret; without a guard it carries none.
        """
        from cocaine.auth.authenticators import TokenAuthenticator
        from cocaine.auth.guard import Guard
        clock = Clock()
        clock.advance(1000)
        authenticator = TokenAuthenticator([b"s" * 32])
        context = SimpleNamespace(reactor=clock, guard=Guard(
            clock, authenticator), config=None)
        apps = ClusterApps(MemoryNode(), MemoryStorage(), context,
                           secret="cluster-secret")
        peer = apps._remoteNode(("127.0.0.1", 1))
        self.addCleanup(peer.close)
        identity, _ = authenticator.identify(
            peer.storage.authorization, clock.seconds())
        self.assertTrue(identity.admin)
        apps = ClusterApps(MemoryNode(), MemoryStorage(), SimpleNamespace(
            reactor=clock, config=None), secret="cluster-secret")
        peer = apps._remoteNode(("127.0.0.1", 1))
        self.addCleanup(peer.close)
        self.assertIsNone(peer.storage.authorization)


class CountingStorage:
    """
    A peer's storage service over a backend, counting its writes.
    """

    def __init__(self, backend, fail=None):
        self.backend = backend
        self.writes = []
        self.fail = fail

    async def read(self, collection, key):
        if self.fail is not None:
            raise self.fail
        return self.backend.read(collection, key)

    async def write(self, collection, key, raw, tags):
        self.writes.append((collection, key))
        self.backend.write(collection, key, raw, tags)


class FakeNodeService:
    def __init__(self, running=()):
        self.calls = []
        self.running = set(running)

    async def start_app(self, name, profile):
        self.calls.append(("start_app", name, profile))
        if name in self.running:
            raise AppAlreadyRunning(name)
        self.running.add(name)

    async def pause_app(self, name):
        self.calls.append(("pause_app", name))
        self.running.discard(name)


def fakeRemote(storage, node):
    """
    A L{RemoteNode} whose storage and node services are fakes.
    """
    remote = RemoteNode.__new__(RemoteNode)
    remote.storage, remote.node = storage, node
    remote.close = lambda: None
    return remote


class SharedStoreTests(SynchronousTestCase):
    """
    Peers reading the same store as this node are not sent the blobs:
    each peer is asked for this node's marker (C{nodes/<uuid>}), with the
    real L{RemoteNode} over fake services.
    """

    def setUp(self):
        self.clock = Clock()
        self.storage = MemoryStorage()
        self.context = SimpleNamespace(
            reactor=self.clock, uuid=US, locator=SimpleNamespace(
                remote=RemoteTable(), peering=SimpleNamespace(
                    interval=1.0)))
        # A shares our store; B has one of its own
        self.peerStorage = {
            ("127.0.0.1", 1): CountingStorage(self.storage),
            ("127.0.0.1", 2): CountingStorage(MemoryStorage())}
        self.peerNode = {endpoint: FakeNodeService()
                         for endpoint in self.peerStorage}
        self.apps = ClusterApps(
            MemoryNode(), self.storage, self.context,
            remoteNode=lambda e: fakeRemote(self.peerStorage[tuple(e)],
                                            self.peerNode[tuple(e)]),
            clock=self.clock, secret="s")
        self.remote = self.context.locator.remote
        self.remote.link(A, ("127.0.0.1", 1), {})
        self.remote.link(B, ("127.0.0.1", 2), {})
        self.storage.write("manifests", "echo", packValue({"slave": "w"}),
                           ["app"])
        self.storage.write("apps", "echo", packValue(b"tar"), ["app"])
        self.storage.write("profiles", "small", packValue({}), ["profile"])

    def settle(self, coroutine):
        return self.successResultOf(Deferred.fromCoroutine(coroutine))

    def test_startSharedWithoutCopy(self):
        """
        The peer on our store is only asked to start the app (its storage
        is written nothing, not even the cluster runlist, which is ours
        already); the peer on its own store is sent the blobs and its
        runlist entry, as before.
        """
        results = self.settle(self.apps.start("echo", "small"))
        self.assertEqual(results, {US: "ok", A: "ok", B: "ok"})
        shared, own = (self.peerStorage[("127.0.0.1", i)] for i in (1, 2))
        self.assertEqual(shared.writes, [])
        self.assertEqual(own.writes, [
            ("manifests", "echo"), ("apps", "echo"), ("profiles", "small"),
            ("runlists", CLUSTER_RUNLIST)])
        for i in (1, 2):
            self.assertEqual(self.peerNode[("127.0.0.1", i)].calls,
                             [("start_app", "echo", "small")])
        self.assertEqual(self.settle(self.apps.runlist()),
                         {"echo": "small"})
        self.assertEqual(self.storage.find("nodes", ["node"]), [US])

    def test_pauseShared(self):
        """
        Pausing leaves the runlist of a peer on our store to us.
        """
        self.settle(self.apps.start("echo", "small"))
        shared, own = (self.peerStorage[("127.0.0.1", i)] for i in (1, 2))
        del shared.writes[:], own.writes[:]
        self.assertEqual(self.settle(self.apps.pause("echo")),
                         {US: "ok", A: "ok", B: "ok"})
        self.assertEqual(shared.writes, [])
        self.assertEqual(own.writes, [("runlists", CLUSTER_RUNLIST)])
        self.assertEqual(self.settle(self.apps.runlist()), {})
        self.assertEqual(self.peerNode[("127.0.0.1", 1)].calls[-1],
                         ("pause_app", "echo"))

    def test_markerOfAnotherProcess(self):
        """
        A store holding another token at our key (another node process
        with our uuid, a store restored from a backup) is not ours: the
        blobs are copied.
        """
        other = MemoryStorage()
        other.write("nodes", US, packValue({"token": "0" * 32}), ["node"])
        self.peerStorage[("127.0.0.1", 2)] = CountingStorage(other)
        self.settle(self.apps.start("echo", "small"))
        self.assertEqual(len(self.peerStorage[("127.0.0.1", 2)].writes), 4)

    def test_peerCannotRead(self):
        """
        A peer whose storage read fails is treated as a store of its own
        (the copy then says what is wrong).
        """
        peer = self.peerStorage[("127.0.0.1", 1)]
        peer.fail = KeyNotFound("nodes/" + US)
        remote = fakeRemote(peer, FakeNodeService())
        self.assertFalse(self.settle(remote.sharesStore((US, b"x"))))
        self.assertFalse(self.settle(remote.sharesStore(None)))

    def test_markerNotWritten(self):
        """
        When our marker cannot be written, every peer is copied to.
        """
        def refuse(*args):
            raise OSError("read-only")
        self.storage.write = refuse
        self.assertIsNone(self.settle(self.apps._marker()))
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_lateJoinerShared(self):
        """
        A node linked later on our store is only asked to start the app;
        the blobs are not even read for it.
        """
        self.remote.drop(A)
        self.remote.drop(B)
        self.settle(self.apps.start("echo", {}))
        reads = []
        read = self.storage.read
        self.storage.read = lambda c, k: reads.append((c, k)) or read(c, k)
        self.remote.link(A, ("127.0.0.1", 1), {})
        self.assertEqual(self.settle(self.apps.sync(A)), ["echo"])
        self.assertEqual(self.peerStorage[("127.0.0.1", 1)].writes, [])
        self.assertEqual(self.peerNode[("127.0.0.1", 1)].calls,
                         [("start_app", "echo", {})])
        self.assertNotIn(("apps", "echo"), reads)
