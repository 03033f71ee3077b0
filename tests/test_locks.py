"""
Tests for L{tests.locks}.
"""

import fcntl
import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from bench.peers import debian
from tests import locks
from tests.locks import aptInstalled, exclusive, lockPath

#: Try the lock file argv[1] without waiting; exit 0 if it was free.
_TRY = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(3)
"""


def heldElsewhere(path):
    """
    @return: whether another process finds the lock file C{path} held.
    """
    code = subprocess.run([sys.executable, "-c", _TRY, path]).returncode
    if code not in (0, 3):
        raise AssertionError("the lock check exited {}".format(code))
    return code == 3


class LockTests(SynchronousTestCase):

    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())

    def test_lockPath(self):
        """
        A lock's file is in the locks' directory, named after what is
        locked, a path's separators and anything odd made C{_}.
        """
        self.assertEqual(lockPath("apt-get", "/d"), "/d/apt-get.lock")
        self.assertEqual(lockPath("/root/.cache/x y/cote-1.2", "/d"),
                         "/d/_root_.cache_x_y_cote-1.2.lock")
        self.assertEqual(os.path.dirname(lockPath("x")), locks.LOCKS)

    def test_exclusive(self):
        """
        While a process holds a lock, another finds it held; once the
        block ends it is free, and its file stays.
        """
        path = lockPath("thing", self.directory)
        with exclusive("thing", self.directory):
            self.assertTrue(heldElsewhere(path))
        self.assertFalse(heldElsewhere(path))
        self.assertTrue(os.path.exists(path))

    def test_releasedOnError(self):
        """
        A block that raises lets the lock go.
        """
        with self.assertRaises(ZeroDivisionError):
            with exclusive("thing", self.directory):
                1 / 0
        self.assertFalse(heldElsewhere(lockPath("thing", self.directory)))

    def test_notInherited(self):
        """
        A subprocess started while the lock is held does not hold it on:
        its descriptor is closed on exec.
        """
        path = lockPath("thing", self.directory)
        with exclusive("thing", self.directory):
            child = subprocess.Popen(
                [sys.executable, "-c", "import sys; sys.stdin.read()"],
                stdin=subprocess.PIPE, close_fds=False)
            self.addCleanup(child.wait)
            self.addCleanup(child.stdin.close)
        self.assertFalse(heldElsewhere(path))

    def installer(self, brings=True, error=None):
        """
        Replace L{bench.peers.debian.aptInstall} with a fake that records
        its packages and whether the C{apt-get} lock was held then, raises
        C{error} or makes L{find} find something when C{brings}.
        """
        self.patch(locks, "LOCKS", self.directory)
        self.present = False
        self.installs = []
        self.looks = []

        def install(packages):
            self.installs.append((packages,
                                  heldElsewhere(lockPath("apt-get"))))
            if error is not None:
                raise error
            self.present = brings

        self.patch(debian, "aptInstall", install)

    def find(self):
        self.looks.append(heldElsewhere(lockPath("apt-get")))
        return "/usr/bin/thing" if self.present else None

    def test_aptInstalledPresent(self):
        """
        What is there already is found, under the lock, and nothing is
        installed.
        """
        self.installer()
        self.present = True
        self.assertEqual(aptInstalled(self.find, ["thing"]),
                         "/usr/bin/thing")
        self.assertEqual((self.installs, self.looks), ([], [True]))

    def test_aptInstalledInstalls(self):
        """
        What is missing is installed and looked for again, all under the
        lock; the lock is free afterwards.
        """
        self.installer()
        self.assertEqual(aptInstalled(self.find, ["thing", "lib"]),
                         "/usr/bin/thing")
        self.assertEqual((self.installs, self.looks),
                         ([(["thing", "lib"], True)], [True, True]))
        self.assertFalse(heldElsewhere(lockPath("apt-get")))

    def test_aptInstalledStillMissing(self):
        """
        An install that does not bring it returns what C{find} found.
        """
        self.installer(brings=False)
        self.assertIsNone(aptInstalled(self.find, ["thing"]))

    def test_aptInstalledFails(self):
        """
        The install's error is raised, and the lock let go.
        """
        self.installer(error=debian.AptError("no such package"))
        self.assertRaises(debian.AptError, aptInstalled, self.find,
                          ["thing"])
        self.assertFalse(heldElsewhere(lockPath("apt-get")))


class SameProcessTests(SynchronousTestCase):
    """
    C{flock(2)} locks belong to an open file: a second open of the lock's
    file in the same process waits for it too, so two threads of one
    process (or two L{exclusive} blocks nested on one name, which would
    wait forever) are not let through together.
    """

    def test_secondOpen(self):
        directory = os.path.abspath(self.mktemp())
        with exclusive("thing", directory):
            fd = os.open(lockPath("thing", directory), os.O_RDWR)
            self.addCleanup(os.close, fd)
            self.assertRaises(BlockingIOError, fcntl.flock, fd,
                              fcntl.LOCK_EX | fcntl.LOCK_NB)
