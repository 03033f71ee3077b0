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
