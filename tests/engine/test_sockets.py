"""
Tests for L{cocaine.engine.sockets}: private socket directories and the
peer credential check of worker handshakes.
"""

import os
import shutil
import socket
import stat
import tempfile

import msgpack
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.connection import WorkerConnection
from cocaine.engine.engine import AppEngine
from cocaine.engine.manifest import parseManifest, parseProfile
from cocaine.engine.sockets import (
    MAX_SOCKET_PATH, Credentials, UnsafeSocketDirectory, admits,
    checkPrivate, makeSocketDirectory, peerCredentials, removeStale,
    removeSocketDirectory)
from cocaine.testing import (
    FakeIsolate, FakeReactor, FakeUpstream, runtimeDirectory)


class DirectoryTests(SynchronousTestCase):

    def shortRuntime(self):
        """
        @return: a new runtime directory short enough for an app's socket
            under it, whatever the test's working directory (trial's can
            be too long), removed after the test.
        """
        runtime = tempfile.mkdtemp(prefix="ct-")
        self.addCleanup(shutil.rmtree, runtime, True)
        return runtime

    def test_private(self):
        """
        The directory is new, under the runtime directory, 0700 and ours.
        """
        runtime = self.shortRuntime()
        directory, path = makeSocketDirectory(runtime, "echo")
        self.assertEqual(os.path.dirname(directory), runtime)
        self.assertEqual(path, os.path.join(directory, "echo.sock"))
        info = os.lstat(directory)
        self.assertEqual((stat.S_IMODE(info.st_mode), info.st_uid),
                         (0o700, os.geteuid()))
        again, _ = makeSocketDirectory(runtime, "echo")
        self.assertNotEqual(again, directory)

    def test_longPathUnderTemp(self):
        """
        A path too long for C{sockaddr_un} goes to a fresh private
        directory under the temporary directory, never a predictable one.
        """
        runtime = os.path.abspath("r" * 60)
        directory, path = makeSocketDirectory(runtime, "a" * 80)
        self.addCleanup(removeSocketDirectory, directory, path, runtime,
                        "a" * 80)
        self.assertLessEqual(len(path.encode()), MAX_SOCKET_PATH)
        self.assertTrue(os.path.basename(directory).startswith("cocaine-"))
        self.assertEqual(stat.S_IMODE(os.lstat(directory).st_mode), 0o700)

    def test_longPathRecorded(self):
        """
        A directory made under the temporary directory is recorded by a
        link in the runtime directory, named as a directory made there
        would be; removing the directory with the runtime directory and
        the app's name removes the link too.
        """
        runtime = os.path.abspath("s" * 60)
        name = "a" * 80
        directory, path = makeSocketDirectory(runtime, name)
        self.addCleanup(removeSocketDirectory, directory, path)
        suffix = os.path.basename(directory)[len("cocaine-"):]
        record = os.path.join(runtime, name + "." + suffix)
        self.assertEqual(os.readlink(record), directory)
        removeSocketDirectory(directory, path, runtime, name)
        self.assertFalse(os.path.lexists(directory))
        self.assertEqual(os.listdir(runtime), [])

    def test_staleUnderTempRemoved(self):
        """
        A node killed with its socket directory under the temporary
        directory: the next start's sweep follows the record and removes
        the directory and the record; a live one and one holding more are
        left, and a record whose directory is gone goes alone.
        """
        runtime = os.path.abspath("t" * 60)
        name = "a" * 80
        dead, deadPath = makeSocketDirectory(runtime, name)
        self.addCleanup(removeSocketDirectory, dead, deadPath)
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(deadPath)
        live, livePath = makeSocketDirectory(runtime, name)
        self.addCleanup(removeSocketDirectory, live, livePath)
        server = socket.socket(socket.AF_UNIX)
        self.addCleanup(server.close)
        server.bind(livePath)
        server.listen(1)
        full, fullPath = makeSocketDirectory(runtime, name)
        extra = os.path.join(full, "other")
        with open(extra, "w"):
            pass
        self.addCleanup(removeSocketDirectory, full, fullPath)
        self.addCleanup(os.unlink, extra)
        gone, gonePath = makeSocketDirectory(runtime, name)
        os.rmdir(gone)
        self.assertEqual(sorted(removeStale(runtime, name)),
                         sorted([dead, gone]))
        self.assertFalse(os.path.lexists(dead))
        self.assertEqual(sorted(os.readlink(os.path.join(runtime, entry))
                                for entry in os.listdir(runtime)),
                         sorted([live, full]))

    def test_everyAppsRecords(self):
        """
        Without an app's name the sweep follows every app's records and
        leaves the directories under the runtime directory alone (their
        checks need the app's socket name).
        """
        # app "e"'s socket fits under it, the long names' do not
        runtime = self.shortRuntime()
        removed = []
        for name in ("a" * 90, "b" * 90):
            directory, path = makeSocketDirectory(runtime, name)
            self.addCleanup(removeSocketDirectory, directory, path)
            with socket.socket(socket.AF_UNIX) as s:
                s.bind(path)
            removed.append(directory)
        local, localPath = makeSocketDirectory(runtime, "e")
        self.assertEqual(os.path.dirname(local), runtime)
        self.assertEqual(sorted(removeStale(runtime)), sorted(removed))
        self.assertEqual(os.listdir(runtime), [os.path.basename(local)])

    def test_foreignRecordNotFollowed(self):
        """
        A link in the runtime directory that names anything but a socket
        directory of ours under the temporary directory is not followed.
        """
        runtime = os.path.abspath("run-foreign")
        os.makedirs(runtime, 0o700)
        os.mkdir("elsewhere", 0o700)
        os.symlink(os.path.abspath("elsewhere"),
                   os.path.join(runtime, "echo.abcdefgh"))
        self.assertEqual(removeStale(runtime, "echo"), [])
        self.assertTrue(os.path.isdir("elsewhere"))

    def test_removed(self):
        directory, path = makeSocketDirectory("run-removed", "echo")
        with open(path, "w"):
            pass
        removeSocketDirectory(directory, path)
        self.assertFalse(os.path.exists(directory))
        removeSocketDirectory(directory, path)

    def test_staleRemoved(self):
        """
        A directory a killed node left (its socket dead) is removed; a
        live one, someone else's, or one holding more is left alone.
        """
        # short (the socket paths must fit) and this test's own
        run = self.shortRuntime()
        dead, deadPath = makeSocketDirectory(run, "echo")
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(deadPath)
        live, livePath = makeSocketDirectory(run, "echo")
        server = socket.socket(socket.AF_UNIX)
        self.addCleanup(server.close)
        server.bind(livePath)
        server.listen(1)
        full, _ = makeSocketDirectory(run, "echo")
        with open(os.path.join(full, "other"), "w"):
            pass
        open_ = os.path.join(run, "echo.abcdefgh")
        os.mkdir(open_, 0o755)
        os.chmod(open_, 0o755)
        other, _ = makeSocketDirectory(run, "echoes")
        self.assertEqual(removeStale(run, "echo"), [dead])
        self.assertEqual(sorted(os.listdir(run)), sorted(
            os.path.basename(d) for d in (live, full, open_, other)))

    def test_staleSwappedAfterCheck(self):
        """
        A stale directory renamed and replaced by a link to another
        directory after it was checked (a world-writable temporary
        directory without the sticky bit lets anyone do that) is not the
        one emptied: the socket of the directory that link names stays.
        """
        from cocaine.engine import sockets
        run = self.shortRuntime()
        dead, deadPath = makeSocketDirectory(run, "echo")
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(deadPath)
        victim = tempfile.mkdtemp(prefix="cv-")
        self.addCleanup(shutil.rmtree, victim, True)
        kept = os.path.join(victim, "echo.sock")
        with open(kept, "w"):
            pass
        moved = dead + "-moved"
        self.addCleanup(shutil.rmtree, moved, True)
        probe = sockets._listening

        def swapThenProbe(path):
            # between the checks and the removal
            os.rename(dead, moved)
            os.symlink(victim, dead)
            self.addCleanup(os.unlink, dead)
            return probe(path)
        self.patch(sockets, "_listening", swapThenProbe)
        self.assertEqual(removeStale(run, "echo"), [])
        self.assertTrue(os.path.exists(kept))
        self.assertEqual(os.listdir(moved), [])

    def test_checkRefusesOpenMode(self):
        os.mkdir("open")
        os.chmod("open", 0o755)
        error = self.assertRaises(UnsafeSocketDirectory, checkPrivate,
                                  "open")
        self.assertIn("mode 0755", str(error))

    def test_checkRefusesSymlink(self):
        os.mkdir("real", 0o700)
        os.symlink("real", "link")
        self.assertRaises(UnsafeSocketDirectory, checkPrivate, "link")

    def test_checkRefusesOtherOwner(self):
        os.mkdir("theirs", 0o700)
        error = self.assertRaises(UnsafeSocketDirectory, checkPrivate,
                                  "theirs", uid=os.geteuid() + 1)
        self.assertIn("owned by uid", str(error))


class _Handle:

    def __init__(self, sock):
        self._sock = sock

    def getHandle(self):
        return self._sock


class CredentialTests(SynchronousTestCase):

    def test_peerCredentials(self):
        """
        The kernel's C{SO_PEERCRED} of a UNIX socket's peer.
        """
        a, b = socket.socketpair(socket.AF_UNIX)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        credentials = peerCredentials(_Handle(a))
        self.assertEqual((credentials.pid, credentials.uid, credentials.gid),
                         (os.getpid(), os.geteuid(), os.getegid()))

    def test_unknown(self):
        self.assertIsNone(peerCredentials(StringTransport()))

    def test_admits(self):
        groups = {500: 400, 600: 600}.get
        self.assertTrue(admits(Credentials(400, 7, 7), 400, 7,
                               groupOf=groups))
        # a child of a wrapper script, in the worker's process group
        self.assertTrue(admits(Credentials(500, 7, 7), 400, 7,
                               groupOf=groups))
        # any other process, or the right one as another user
        self.assertFalse(admits(Credentials(600, 7, 7), 400, 7,
                                groupOf=groups))
        self.assertFalse(admits(Credentials(400, 8, 7), 400, 7,
                                groupOf=groups))
        self.assertFalse(admits(None, 400, 7, groupOf=groups))
        self.assertFalse(admits(Credentials(400, 7, 7), None, 7,
                                groupOf=groups))

    def test_inProcess(self):
        """
        A thread worker's peer is the node itself.
        """
        me = Credentials(os.getpid(), os.geteuid(), os.getegid())
        self.assertTrue(admits(me, None, 0, inProcess=True))
        self.assertFalse(admits(Credentials(1, 0, 0), None, 0,
                                inProcess=True))


class HandshakeTests(SynchronousTestCase):
    """
    The engine takes a handshake only from the spawned process.
    """

    def setUp(self):
        self.isolate = FakeIsolate()
        self.engine = AppEngine(
            FakeReactor(), "app", parseManifest({"slave": "worker"}, "app"),
            parseProfile({}, "test"), "/apps/app", self.isolate,
            runtimeDirectory(self), lambda: "127.0.0.1:10053")
        self.peers = {}
        self.engine.credentialsOf = self.peers.get
        self.engine.start()
        self.engine.enqueue(FakeUpstream(), "echo")
        (self.process,) = self.isolate.processes

    def connect(self, credentials):
        connection = WorkerConnection(self.engine)
        transport = StringTransport()
        self.peers[transport] = credentials
        connection.makeConnection(transport)
        connection.dataReceived(msgpack.packb([1, 0, [self.process.uuid]]))
        return transport

    def test_impostorRefused(self):
        """
        Another process that knows the uuid is closed; the worker stays
        starting and its real process still takes it.
        """
        impostor = self.connect(Credentials(self.process.pid + 1,
                                            os.geteuid(), 0))
        self.assertTrue(impostor.disconnecting)
        worker = self.engine.workerByUuid(self.process.uuid)
        self.assertEqual(worker.state, "starting")
        real = self.connect(Credentials(self.process.pid, os.geteuid(), 0))
        self.assertFalse(real.disconnecting)
        self.assertEqual(worker.state, "active")

    def test_unknownPeerRefused(self):
        transport = self.connect(None)
        self.assertTrue(transport.disconnecting)
