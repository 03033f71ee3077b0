"""
Tests for the per-app quotas and the spool cleanup of
L{cocaine.node.deploy} (issue 14, finding 10).
"""

import os

from twisted.python.threadpool import ThreadPool
from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.archive import ArchiveError
from cocaine.errors import SpawnFailed
from cocaine.node import deploy
from cocaine.protocol.framing import packValue
from cocaine.storage.memory import MemoryStorage
from tests.engine.test_archive import makeTar


class _InlinePool(ThreadPool):
    """
    A thread pool that runs each call at once, in the caller's thread.
    """

    def callInThreadWithCallback(self, onResult, func, *args, **kw):
        try:
            result = func(*args, **kw)
        except BaseException:
            from twisted.python.failure import Failure
            onResult(False, Failure())
        else:
            onResult(True, result)


class _Reactor:
    def getThreadPool(self):
        return _InlinePool()

    def callFromThread(self, f, *args, **kw):
        f(*args, **kw)


def _store(archive):
    storage = MemoryStorage()
    storage.write(deploy.MANIFESTS, "app", packValue({"slave": "worker"}))
    storage.write(deploy.APPS, "app", packValue(archive))
    return storage


class QuotaTests(SynchronousTestCase):

    def setUp(self):
        self.spool = os.path.abspath(self.mktemp())

    def load(self, archive, error, **quotas):
        """
        @return: the failure (of type C{error}) of loading C{archive}.
        """
        return self.failureResultOf(deploy.fromStorage(
            _Reactor(), _store(archive), self.spool, "app", {}, **quotas),
            error)

    def test_archiveQuota(self):
        """
        An archive larger than C{max-archive} is refused by its size,
        before it is unpacked.
        """
        archive = makeTar([("worker", os.urandom(8192))])
        failure = self.load(archive, SpawnFailed, maxArchive=4096)
        self.assertIn("max-archive", failure.getErrorMessage())
        self.assertFalse(os.path.exists(self.spool))

    def test_unpackedQuota(self):
        """
        An archive of a few KB that unpacks to more than C{max-unpacked}
        (a compression bomb) is refused, nothing written.
        """
        archive = makeTar([("worker", b"\0" * (4 << 20))], mode="w:gz")
        self.assertLess(len(archive), 16384)
        failure = self.load(archive, ArchiveError, maxUnpacked=1 << 20)
        self.assertIn(str(1 << 20), failure.getErrorMessage())
        self.assertFalse(os.path.exists(os.path.join(self.spool, "app")))

    def test_defaults(self):
        self.assertEqual((deploy.DEFAULT_MAX_ARCHIVE,
                          deploy.DEFAULT_MAX_UNPACKED),
                         (64 << 20, 256 << 20))


class SpoolTests(SynchronousTestCase):

    def setUp(self):
        self.spool = os.path.abspath(self.mktemp())
        os.makedirs(self.spool)

    def test_cleanSpool(self):
        """
        At boot the staging and replaced directories of unpacks a crash
        interrupted are removed; apps' directories and anything else stay.
        """
        for name in (".app.new-abc123_x", ".app.old-" + "0f" * 16, "app",
                     "other", ".hidden"):
            os.makedirs(os.path.join(self.spool, name, "sub"))
        removed = deploy.cleanSpool(self.spool)
        self.assertEqual(sorted(removed),
                         sorted([".app.new-abc123_x", ".app.old-" + "0f" * 16]))
        self.assertEqual(sorted(os.listdir(self.spool)),
                         [".hidden", "app", "other"])

    def test_cleanMissingSpool(self):
        self.assertEqual(deploy.cleanSpool(self.spool + "-none"), [])

    def test_removeUnpacked(self):
        """
        A paused stored app's unpacked copy is removed; a bad name never
        reaches the file system.
        """
        os.makedirs(os.path.join(self.spool, "app", "sub"))
        deploy.removeUnpacked(self.spool, "app")
        self.assertEqual(os.listdir(self.spool), [])
        self.assertRaises(SpawnFailed, deploy.removeUnpacked, self.spool,
                          "..")


class RunlistTests(SynchronousTestCase):
    """
    The runlist key: 0.12's C{runlists/<name>}, or the node's own
    C{runlists/<name>@<node>} on a shared storage.
    """

    def setUp(self):
        self.storage = MemoryStorage()

    def settle(self, coroutine):
        from twisted.internet.defer import Deferred
        return self.successResultOf(Deferred.fromCoroutine(coroutine))

    def test_unscoped(self):
        """
        Without a node name the runlist is C{runlists/<name>}, as 0.12 and
        its tools keep it.
        """
        runlist = deploy.Runlist(self.storage, "default")
        self.assertEqual(runlist.key, "default")
        self.settle(runlist.add("echo", "small"))
        self.assertEqual(self.storage.find("runlists", ["runlist"]),
                         ["default"])
        self.assertEqual(self.settle(runlist.read()), {"echo": "small"})

    def test_nodeScoped(self):
        """
        Two nodes' runlists on one store are kept apart: a pause on one
        leaves the other's.
        """
        a = deploy.Runlist(self.storage, "default", "node-a")
        b = deploy.Runlist(self.storage, "default", "node-b")
        self.assertEqual(a.key, "default@node-a")
        self.settle(a.add("echo", "small"))
        self.settle(b.add("echo", "small"))
        self.settle(a.remove("echo"))
        self.assertEqual(self.settle(a.read()), {})
        self.assertEqual(self.settle(b.read()), {"echo": "small"})
        self.assertEqual(sorted(self.storage.find("runlists", ["runlist"])),
                         ["default@node-a", "default@node-b"])

    def test_sharedTemplate(self):
        """
        A node whose own runlist is not written yet boots with
        C{runlists/<name>} (prepared for every node, e.g. by 0.12's
        tool); its first change writes its own key only.
        """
        self.storage.write("runlists", "default", packValue(
            {"echo": "small", "other": "small"}), ["runlist"])
        a = deploy.Runlist(self.storage, "default", "node-a")
        self.assertEqual(self.settle(a.read()),
                         {"echo": "small", "other": "small"})
        self.settle(a.remove("other"))
        self.assertEqual(self.settle(a.read()), {"echo": "small"})
        self.assertEqual(self.settle(deploy.Runlist(
            self.storage, "default").read()),
            {"echo": "small", "other": "small"})
        self.assertEqual(deploy.runlistKey("default"), "default")
