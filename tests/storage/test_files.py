"""
Tests for L{cocaine.storage.files}.
"""

import errno
import os
import stat
import time
import subprocess
import sys
import textwrap
import threading

from twisted.internet.defer import Deferred, gatherResults
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from cocaine.errors import InvalidName, KeyNotFound, SystemError_
from cocaine.interfaces import IStorageBackend
from cocaine.storage import files
from cocaine.storage.files import FileStorage
from tests.storage._behaviour import ALL_BYTES, StorageBehaviourMixin

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


class _NoThreadsReactor:
    """
    A reactor for the synchronous tests: any use of the thread pool is a
    test failure.
    """

    def getThreadPool(self):
        raise AssertionError("the thread pool must not be used here")


class FileStorageTests(StorageBehaviourMixin, SynchronousTestCase):
    """
    The shared backend rules, for L{FileStorage}.
    """

    def makeBackend(self):
        self.path = self.mktemp()
        return FileStorage(_NoThreadsReactor(), self.path)


class FileStorageLayoutTests(SynchronousTestCase):
    """
    What L{FileStorage} leaves on disk, and how it fails.
    """

    def setUp(self):
        self.path = os.path.abspath(self.mktemp())
        self.storage = FileStorage(_NoThreadsReactor(), self.path)

    def tmpEntries(self):
        return os.listdir(os.path.join(self.path, ".tmp"))

    def test_interface(self):
        """
        L{FileStorage} provides L{IStorageBackend}.
        """
        self.assertTrue(verifyObject(IStorageBackend, self.storage))

    def test_nothingCreatedUntilWrite(self):
        """
        Building the backend and reading from it touches nothing on disk.
        """
        self.assertRaises(KeyNotFound, self.storage.read, "c", "k")
        self.assertEqual(self.storage.find("c", []), [])
        self.assertEqual(self.storage.find("c", ["t"]), [])
        self.assertFalse(os.path.exists(self.path))

    def test_valueIsAPlainFile(self):
        """
        The value is stored raw at C{<path>/<collection>/<key>}; tag
        markers live under C{.tags} with percent-encoded names.
        """
        self.storage.write("apps", "my app", ALL_BYTES, ["a/b", "app"])
        with open(os.path.join(self.path, "apps", "my app"), "rb") as f:
            self.assertEqual(f.read(), ALL_BYTES)
        tags = os.path.join(self.path, ".tags", "apps")
        self.assertEqual(sorted(os.listdir(tags)), ["a%2Fb", "app"])
        self.assertEqual(os.listdir(os.path.join(tags, "a%2Fb")),
                         ["my%20app"])

    def test_private(self):
        """
        Values and tag markers are 0600, the directories 0700: other local
        users read no value and list no key.
        """
        self.storage.write("keys", "admin", b"secret", ["t"])
        for path, mode in ((self.path, 0o700),
                           (os.path.join(self.path, ".tmp"), 0o700),
                           (os.path.join(self.path, ".tags"), 0o700),
                           (os.path.join(self.path, "keys"), 0o700),
                           (os.path.join(self.path, "keys", "admin"), 0o600),
                           (os.path.join(self.path, ".tags", "keys", "t",
                                         "admin"), 0o600)):
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), mode,
                             path)

    def test_noLeftoverTemporaryFiles(self):
        """
        Writes, overwrites and removes leave nothing behind in C{.tmp}.
        """
        for i in range(20):
            self.storage.write("c", "k%d" % (i % 3), b"x" * i, ["t"])
        self.storage.remove("c", "k0")
        self.assertEqual(self.tmpEntries(), [])
        self.assertEqual(sorted(os.listdir(os.path.join(self.path, "c"))),
                         ["k1", "k2"])

    def test_persistsAcrossInstances(self):
        """
        A new backend on the same directory sees the values and tags.
        """
        self.storage.write("c", "k", b"kept", ["t"])
        again = FileStorage(_NoThreadsReactor(), self.path)
        self.assertEqual(again.read("c", "k"), b"kept")
        self.assertEqual(again.find("c", ["t"]), ["k"])

    def test_relativePathIsMadeAbsolute(self):
        """
        The directory is resolved when the backend is built.
        """
        storage = FileStorage(None, "relative")
        self.assertEqual(storage.path, os.path.abspath("relative"))

    def test_fsync(self):
        """
        With C{fsync} on, values still round-trip.
        """
        storage = FileStorage(_NoThreadsReactor(), self.path, fsync=True)
        storage.write("c", "k", ALL_BYTES, ["t"])
        self.assertEqual(storage.read("c", "k"), ALL_BYTES)

    def test_fsyncSyncsDirectory(self):
        """
        With C{fsync} on, the directory of the renamed value is synced
        after the rename (and the backend's directory when a collection's
        directory is made), or the rename itself may be lost on power
        failure (issue 14).
        """
        from cocaine.storage import files
        synced = []
        self.patch(files, "_syncDirectory", synced.append)
        storage = FileStorage(_NoThreadsReactor(), self.path, fsync=True)
        storage.write("c", "k", b"v")
        storage.write("c", "k2", b"v")
        directory = os.path.dirname(storage._file("c", "k"))
        self.assertEqual(synced, [storage.path, directory, directory])
        synced[:] = []
        FileStorage(_NoThreadsReactor(), self.path).write("c", "k3", b"v")
        self.assertEqual(synced, [])

    def test_staleTemporaryFilesRemoved(self):
        """
        Temporary files of writes that never finished (a crash between the
        write and the rename) are removed before the first write of a new
        backend on the directory; ones written to recently (a writer of
        another process in flight) are not.
        """
        from cocaine.storage import files
        self.storage.write("c", "k", b"v")
        tmp = os.path.join(self.path, ".tmp")
        stale = os.path.join(tmp, "crashed")
        with open(stale, "wb") as f:
            f.write(b"half a value")
        old = time.time() - files.STALE_AGE - 60
        os.utime(stale, (old, old))
        fresh = os.path.join(tmp, "in-flight")
        with open(fresh, "wb") as f:
            f.write(b"x")
        recent = time.time() - files.STALE_AGE + 60
        os.utime(fresh, (recent, recent))
        again = FileStorage(_NoThreadsReactor(), self.path)
        again.write("c", "k2", b"v")
        self.assertEqual(os.listdir(tmp), ["in-flight"])
        self.assertEqual(again.read("c", "k"), b"v")

    def test_failedRenameCleansUp(self):
        """
        When the value cannot be put in place, the write fails with a
        system error naming the key and the collection, the temporary file
        is removed, and the tags are not touched.
        """
        os.makedirs(os.path.join(self.path, "c", "k", "inside"))
        error = self.assertRaises(SystemError_, self.storage.write, "c", "k",
                                  b"value", ["t"])
        self.assertIn("'k'", str(error))
        self.assertIn("'c'", str(error))
        self.assertIn(error.code, (errno.EISDIR, errno.ENOTEMPTY,
                                   errno.EEXIST))
        self.assertEqual(self.tmpEntries(), [])
        self.assertEqual(self.storage.find("c", ["t"]), [])

    def test_findIgnoresDirectories(self):
        """
        C{find} with no tags lists files only.
        """
        self.storage.write("c", "k", b"", [])
        os.makedirs(os.path.join(self.path, "c", "stray"))
        self.assertEqual(self.storage.find("c", []), ["k"])

    def test_longKeyCannotCarryTags(self):
        """
        A key whose percent-encoded marker would be too long for the file
        system can be stored without tags; with tags it is refused with
        L{InvalidName} before anything is written.
        """
        key = "\u00fc" * 100  # 200 bytes of UTF-8, 600 once encoded
        self.storage.write("c", "tagged", b"", ["t"])
        error = self.assertRaises(InvalidName, self.storage.write, "c", key,
                                  b"v", ["t"])
        self.assertIn(repr(key), str(error))
        self.assertRaises(KeyNotFound, self.storage.read, "c", key)
        self.storage.write("c", key, b"v")
        self.assertEqual(self.storage.read("c", key), b"v")
        self.storage.remove("c", key)
        self.assertEqual(self.storage.find("c", []), ["tagged"])
        self.assertEqual(self.tmpEntries(), [])

    def test_longCollectionCannotCarryTags(self):
        """
        A collection whose percent-encoded name would be too long for the
        file system refuses tags with L{InvalidName} naming it, before
        anything is written.
        """
        collection = "\u00fc" * 100
        error = self.assertRaises(InvalidName, self.storage.write,
                                  collection, "k", b"v", ["t"])
        self.assertIn(repr(collection), str(error))
        self.assertRaises(KeyNotFound, self.storage.read, collection, "k")
        self.assertEqual(self.storage.find(collection, ["t"]), [])

    def test_longTagRefused(self):
        """
        A tag too long for the file system once encoded is refused with
        L{InvalidName} naming it, before anything is written.
        """
        tag = "\u00fc" * 50
        error = self.assertRaises(InvalidName, self.storage.write, "c", "k",
                                  b"v", [tag])
        self.assertIn(repr(tag), str(error))
        self.assertRaises(KeyNotFound, self.storage.read, "c", "k")


class CheckedPathTests(SynchronousTestCase):
    """
    A name's checks are done once per name; a bad one is refused each
    time, and what is remembered stays bounded.
    """

    def setUp(self):
        self.storage = FileStorage(_NoThreadsReactor(), self.mktemp())

    def test_badNamesAlwaysRefused(self):
        for _ in range(2):
            self.assertRaises(InvalidName, self.storage.read, "c", "../x")
            self.assertRaises(InvalidName, self.storage.write, ".c", "k",
                              b"v", [])
        self.assertEqual(self.storage._paths, {})

    def test_checkedOnce(self):
        checked = []
        original = files.checkName

        def checkName(kind, name, collection=None):
            checked.append(name)
            return original(kind, name, collection)
        self.patch(files, "checkName", checkName)
        self.storage.write("c", "k", b"v", [])
        for _ in range(3):
            self.assertEqual(self.storage.read("c", "k"), b"v")
        self.assertEqual(checked, ["c", "k"])

    def test_bounded(self):
        self.patch(FileStorage, "PATHS", 4)
        for i in range(10):
            self.assertRaises(KeyNotFound, self.storage.read, "c", str(i))
            self.assertLessEqual(len(self.storage._paths), 4)
        self.assertEqual(self.storage._file("c", "9"),
                         os.path.join(self.storage.path, "c", "9"))


class ThreadPoolTests(TestCase):
    """
    Values of at least C{threadThreshold} bytes go through the reactor's
    thread pool. These tests use the real reactor, whose thread pool
    C{deferToThreadPool} needs.
    """

    def setUp(self):
        from twisted.internet import reactor
        self.path = os.path.abspath(self.mktemp())
        self.storage = FileStorage(reactor, self.path, threadThreshold=16)

    def test_smallValuesAreSynchronous(self):
        """
        A value under the threshold is written and read synchronously.
        """
        self.assertIsNone(self.storage.write("c", "k", b"x" * 15, []))
        self.assertEqual(self.storage.read("c", "k"), b"x" * 15)

    def test_largeValueRoundTrip(self):
        """
        A value over the threshold is written and read in a thread (both
        return a Deferred) and reads back identical.
        """
        async def go():
            written = self.storage.write("c", "big", ALL_BYTES, ["t"])
            self.assertIsInstance(written, Deferred)
            self.assertIsNone(await written)
            read = self.storage.read("c", "big")
            self.assertIsInstance(read, Deferred)
            self.assertEqual(await read, ALL_BYTES)
            self.assertEqual(self.storage.find("c", ["t"]), ["big"])
            self.assertEqual(os.listdir(os.path.join(self.path, ".tmp")), [])
        return Deferred.fromCoroutine(go())

    def test_commitInReactorThread(self):
        """
        The rename and the tag index are updated in the reactor thread even
        when the bytes were written in a thread.
        """
        threads = []
        commit = self.storage._commit

        def recordingCommit(*args):
            threads.append(threading.current_thread())
            return commit(*args)
        self.storage._commit = recordingCommit

        async def go():
            await self.storage.write("c", "big", ALL_BYTES, [])
            self.assertEqual(threads, [threading.main_thread()])
        return Deferred.fromCoroutine(go())

    def test_manyLargeValues(self):
        """
        Several large writes in flight at once each land whole, with their
        tags, and leave no temporary files.
        """
        values = {"k%d" % i: bytes([i]) * (1000 + i) + ALL_BYTES
                  for i in range(10)}

        async def go():
            await gatherResults([self.storage.write("c", key, value, ["t"])
                                 for key, value in values.items()])
            for key, value in values.items():
                self.assertEqual(await self.storage.read("c", key), value)
            self.assertEqual(self.storage.find("c", ["t"]), sorted(values))
            self.assertEqual(os.listdir(os.path.join(self.path, ".tmp")), [])
        return Deferred.fromCoroutine(go())


def _values(count, size):
    """
    C{count} different values of different sizes; a mix of any two is
    none of them.
    """
    return [bytes([65 + i]) * (size + i * 7) for i in range(count)]


class ConcurrentWriterTests(SynchronousTestCase):
    """
    Writers racing on one key never leave a torn value.
    """

    def setUp(self):
        self.path = os.path.abspath(self.mktemp())

    def readUntil(self, done, values):
        """
        Read the key over and over until C{done()}.

        @return: the number of reads that found a value.
        """
        storage = FileStorage(_NoThreadsReactor(), self.path)
        allowed = set(values)
        seen = 0
        while not done():
            try:
                value = storage.read("c", "k")
            except KeyNotFound:
                continue
            seen += 1
            if value not in allowed:
                self.fail("torn read of {} bytes".format(len(value)))
        return seen

    def checkFinalState(self, values):
        storage = FileStorage(_NoThreadsReactor(), self.path)
        self.assertIn(storage.read("c", "k"), values)
        self.assertEqual(storage.find("c", ["t"]), ["k"])
        self.assertEqual(storage.find("c", []), ["k"])
        self.assertEqual(os.listdir(os.path.join(self.path, ".tmp")), [])

    def test_threads(self):
        """
        Four threads writing different full values to the same key while
        this thread reads: every read is exactly one of the values.
        """
        values = _values(4, 64 * 1024)
        errors = []

        def writer(value):
            storage = FileStorage(_NoThreadsReactor(), self.path)
            try:
                for _ in range(40):
                    storage.write("c", "k", value, ["t"])
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(v,))
                   for v in values]
        for thread in threads:
            thread.start()
        try:
            seen = self.readUntil(
                lambda: not any(t.is_alive() for t in threads), values)
        finally:
            for thread in threads:
                thread.join()
        self.assertEqual(errors, [])
        self.assertGreater(seen, 0)
        self.checkFinalState(values)

    def test_processes(self):
        """
        Three processes writing different full values to the same key while
        this process reads: every read is exactly one of the values.
        """
        values = _values(3, 256 * 1024)
        script = textwrap.dedent("""
            import sys
            from cocaine.storage.files import FileStorage
            path, letter, size = sys.argv[1], int(sys.argv[2]), \
                int(sys.argv[3])
            storage = FileStorage(None, path)
            value = bytes([letter]) * size
            for _ in range(30):
                storage.write("c", "k", value, ["t"])
        """)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [_ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
        processes = [
            subprocess.Popen([sys.executable, "-c", script, self.path,
                              str(value[0]), str(len(value))], env=env)
            for value in values]
        try:
            self.readUntil(
                lambda: all(p.poll() is not None for p in processes), values)
        finally:
            for process in processes:
                process.wait()
        self.assertEqual([p.returncode for p in processes], [0, 0, 0])
        self.checkFinalState(values)


class ReadCacheTests(SynchronousTestCase):
    """
    The read cache serves small values without reopening the file, and
    never serves a value that was replaced, from inside or outside the
    node.
    """

    def setUp(self):
        self.path = os.path.abspath(self.mktemp())
        self.storage = FileStorage(_NoThreadsReactor(), self.path,
                                   cacheBytes=1024)
        self.storage.write("c", "k", b"first")

    def file(self, key="k"):
        return os.path.join(self.path, "c", key)

    def test_hitDoesNotOpen(self):
        """
        A second read of an unchanged value comes from the cache.
        """
        self.assertEqual(self.storage.read("c", "k"), b"first")
        self.assertEqual(len(self.storage.cache), 1)
        opened = []
        original = os.open
        self.patch(os, "open", lambda *a, **kw: opened.append(a) or original(
            *a, **kw))
        self.assertEqual(self.storage.read("c", "k"), b"first")
        self.assertEqual(opened, [])

    def test_ownWriteInvalidates(self):
        self.storage.read("c", "k")
        self.storage.write("c", "k", b"second")
        self.assertEqual(self.storage.read("c", "k"), b"second")

    def test_outsideRenameSeen(self):
        """
        A value replaced from outside the node by an atomic rename (a new
        inode) is read afresh.
        """
        self.storage.read("c", "k")
        with open(self.file() + ".new", "wb") as f:
            f.write(b"other")
        os.rename(self.file() + ".new", self.file())
        self.assertEqual(self.storage.read("c", "k"), b"other")

    def test_outsideEditSeen(self):
        """
        A value edited in place from outside (same inode, new size or
        modification time) is read afresh.
        """
        self.storage.read("c", "k")
        with open(self.file(), "wb") as f:
            f.write(b"edited in place")
        self.assertEqual(self.storage.read("c", "k"), b"edited in place")

    def test_outsideRemoveSeen(self):
        self.storage.read("c", "k")
        os.unlink(self.file())
        self.assertRaises(KeyNotFound, self.storage.read, "c", "k")
        self.assertEqual(len(self.storage.cache), 0)

    def test_ownRemoveInvalidates(self):
        self.storage.read("c", "k")
        self.storage.remove("c", "k")
        self.assertRaises(KeyNotFound, self.storage.read, "c", "k")

    def test_bounded(self):
        """
        The cache holds at most its budget in bytes, least recently used
        going first.
        """
        for i in range(20):
            self.storage.write("c", str(i), bytes([i]) * 100)
            self.storage.read("c", str(i))
        cache = self.storage.cache
        self.assertLessEqual(cache._bytes, 1024)
        self.assertEqual(len(cache), 10)
        self.assertIsNone(cache.get(self.file("0"), None))
        for i in range(20):
            self.assertEqual(self.storage.read("c", str(i)),
                             bytes([i]) * 100)

    def test_disabled(self):
        storage = FileStorage(_NoThreadsReactor(), self.path, cacheBytes=0)
        self.assertEqual(storage.read("c", "k"), b"first")
        self.assertEqual(len(storage.cache), 0)
