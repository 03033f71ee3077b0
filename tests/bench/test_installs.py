"""
The benchmarks install their Debian peers holding the tests' C{apt-get}
lock (L{tests.locks}), as the tests do: C{apt-get} fails beside another,
a test's or another benchmark's.
"""

import fcntl
import os

from twisted.trial.unittest import SynchronousTestCase

from bench import httpload
from bench.compare import processes
from bench.peers import debian, rabbitmq
from tests import locks


class AptLockTests(SynchronousTestCase):
    """
    Each install of a benchmark's Debian peers runs with the lock
    C{"apt-get"} held (lock files in a directory of the test's own).
    """

    def setUp(self):
        self.patch(locks, "LOCKS", os.path.abspath(self.mktemp()))
        os.makedirs(locks.LOCKS)
        self.installs = []
        self.patch(debian, "aptInstall", self.install)

    def held(self):
        """
        @return: whether the lock C{"apt-get"} is held now.
        """
        fd = os.open(locks.lockPath("apt-get"),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def install(self, packages, timeout=900):
        self.installs.append((list(packages), self.held()))

    def test_httpPeers(self):
        """
        L{httpload.ensurePeers} (wrk, uWSGI) installs under the lock.
        """
        self.patch(httpload, "PACKAGES", {"wrk": "/nonexistent/wrk"})
        self.assertRaises(httpload.Unavailable, httpload.ensurePeers)
        self.assertEqual(self.installs, [(["wrk"], True)])

    def test_comparePeers(self):
        """
        L{processes.aptInstall} (the comparison's Redis) installs under
        the lock.
        """
        processes.aptInstall(["redis-server"], ["/nonexistent/redis-server"])
        self.assertEqual(self.installs, [(["redis-server"], True)])

    def test_rabbitmq(self):
        """
        L{rabbitmq.ensureInstalled} installs under the lock, and stops a
        system service the install started before letting it go.
        """
        found = [False, False, True]
        stopped = []
        self.patch(rabbitmq, "installed", lambda: found.pop(0))
        self.patch(rabbitmq, "aptInstall", self.install)
        self.patch(rabbitmq, "_systemBrokers", set)
        self.patch(rabbitmq, "_stopSystemService",
                   lambda before: stopped.append(self.held()))
        rabbitmq.ensureInstalled()
        self.assertEqual((self.installs, stopped),
                         ([(["rabbitmq-server"], True)], [True]))

    def test_rabbitmqInstalledMeanwhile(self):
        """
        L{rabbitmq.ensureInstalled} looks again once it holds the lock:
        what another process installed meanwhile is not installed again.
        """
        found = [False, True]
        self.patch(rabbitmq, "installed", lambda: found.pop(0))
        self.patch(rabbitmq, "aptInstall", self.install)
        rabbitmq.ensureInstalled()
        self.assertEqual(self.installs, [])
