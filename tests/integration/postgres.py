"""
A real PostgreSQL for tests: Debian's C{postgresql} 15, a throwaway cluster
made with C{initdb}, listening on 127.0.0.1 and a free port only (its unix
socket in the cluster's directory), run by PID and stopped by PID.

Never the system's cluster or service. The server refuses to run as root,
so when the tests run as root the cluster's directory belongs to the
C{postgres} system user (created by the Debian package) and the server
runs as that user (C{subprocess}'s C{user=}: no C{su}/C{runuser} process in
between, so the PID is the server's own). Authentication is C{trust} on
loopback only; C{fsync} is off, as tests need no power-loss safety (a fast
shutdown still writes every acknowledged transaction out).

Given a C{host} and a C{namespace}, the server listens on that address
inside that network namespace instead (C{ip netns exec}, then
C{setpriv} to the C{postgres} user: both replace themselves, so the PID is
still the server's), trusting the C{clients} networks as well; the test's
own connections join the namespace (L{tests.integration.netns.netnsCall}).

The package is installed with C{apt-get} (service starts denied) when
missing; a test skips, saying why, only when that fails.
"""

import atexit
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile

from twisted.trial.unittest import SkipTest

from tests.integration.netns import inNamespace, netnsCall
from tests.integration.node import freePort
from tests.integration.servers import readLog, stopProcess, waitStarted
from tests.locks import aptInstalled

#: The role and database the tests use.
USER = "cocaine"
DATABASE = "cocaine"


def binDirectory():
    """
    The directory of C{initdb} and C{postgres} (C{/usr/lib/postgresql/N/
    bin}), installing Debian's package when missing.

    @raise SkipTest: naming why it cannot be had.
    """
    from bench.peers.debian import AptError
    try:
        found = aptInstalled(_binDirectory, ["postgresql"])
    except AptError as e:
        raise SkipTest("PostgreSQL is needed: {}".format(e))
    if found is None:
        raise SkipTest("apt-get installed postgresql but no "
                       "/usr/lib/postgresql/*/bin/postgres is there")
    return found


def _binDirectory():
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                        key=lambda p: int(p.split("/")[4])
                        if p.split("/")[4].isdigit() else 0)
    if candidates:
        return os.path.dirname(candidates[-1])
    return None


def _runAs():
    """
    @return: C{(user, group)} names to run the server as, or C{(None,
        None)} when this process is not root.
    """
    if os.geteuid() != 0:
        return None, None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise SkipTest("running as root, and there is no postgres system "
                       "user to run PostgreSQL as")
    return entry.pw_name, entry.pw_gid


class PostgresServer:
    """
    One PostgreSQL server on a cluster of its own.

    @ivar port: its port once started (kept across L{restart}).
    @ivar directory: the cluster's throwaway directory.
    """

    def __init__(self, port=None, host="127.0.0.1", namespace=None,
                 clients=()):
        """
        @param host: the address it listens on.
        @param namespace: the network namespace to run it in, or L{None}
            for this one.
        @param clients: networks (CIDR) besides loopback whose clients
            are trusted.
        """
        self.port = port
        self.host = host
        self.namespace = namespace
        self.clients = list(clients)
        self.directory = None
        self.process = None

    @property
    def data(self):
        return os.path.join(self.directory, "data")

    @property
    def logPath(self):
        return os.path.join(self.directory, "postgres.log")

    def dsn(self, database=DATABASE):
        return "postgresql://{}@{}:{}/{}".format(USER, self.host, self.port,
                                                database)

    def _spawn(self, argv, namespace=None, **kwargs):
        user, group = _runAs()
        if namespace is not None:
            # joining a namespace needs root: drop to the user after it
            if user is not None:
                argv = ["setpriv", "--reuid", user, "--regid", str(group),
                        "--init-groups"] + argv
            argv = inNamespace(namespace, argv)
            user = group = None
        return subprocess.Popen(argv, user=user, group=group,
                                cwd=self.directory, stdin=subprocess.DEVNULL,
                                **kwargs)

    def start(self, timeout=30):
        """
        Make the cluster (the first time), start the server and wait until
        it accepts connections; the first time, create L{DATABASE}.

        @raise SkipTest: no PostgreSQL to be had.
        @raise RuntimeError: it did not come up (with its log's tail).
        """
        bin = binDirectory()
        first = self.directory is None
        if first:
            # /tmp, not the trial directory: the server's user must reach it
            self.directory = tempfile.mkdtemp(prefix="cocaine-pg-")
            user, group = _runAs()
            if user is not None:
                os.chown(self.directory, pwd.getpwnam(user).pw_uid, group)
            init = self._spawn(
                [os.path.join(bin, "initdb"), "-D", self.data, "-U", USER,
                 "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync",
                 "--no-instructions"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            output = init.communicate(timeout=timeout)[0]
            if init.returncode != 0:
                raise RuntimeError("initdb failed:\n{}".format(
                    output.decode("utf-8", "replace")[-2000:]))
            with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
                f.write("local all all trust\n"
                        "host all all 127.0.0.1/32 trust\n")
                for network in self.clients:
                    f.write("host all all {} trust\n".format(network))
        if self.port is None:
            self.port = freePort()
        with open(self.logPath, "ab") as log:
            self.process = self._spawn(
                [os.path.join(bin, "postgres"), "-D", self.data,
                 "-h", self.host, "-p", str(self.port),
                 "-k", self.directory, "-c", "fsync=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=50",
                 "-c", "logging_collector=off"],
                namespace=self.namespace, stdout=log,
                stderr=subprocess.STDOUT)
        self._waitReady(timeout)
        if first:
            self.sql("CREATE DATABASE {}".format(DATABASE),
                     database="postgres")
        return self

    def _waitReady(self, timeout):
        import psycopg

        def answering():
            try:
                self.inside(lambda: psycopg.connect(
                    self.dsn("postgres"), connect_timeout=2).close())
                return True
            except psycopg.OperationalError:
                return False
        if waitStarted(self.process, answering, timeout):
            return
        tail = self.log()[-2000:]
        self.stop()
        raise RuntimeError("postgres on port {} did not start:\n{}".format(
            self.port, tail))

    def sql(self, statement, params=(), database=DATABASE):
        """
        Run one statement on a fresh connection (for tests' own checks).

        @return: its rows.
        """
        import psycopg

        def run():
            with psycopg.connect(self.dsn(database), autocommit=True,
                                 connect_timeout=5) as connection:
                cursor = connection.execute(statement, params)
                return cursor.fetchall() if cursor.description else []
        return self.inside(run)

    def inside(self, function):
        """
        Call C{function} where the server's address is reachable: in its
        namespace when it has one.
        """
        if self.namespace is None:
            return function()
        return netnsCall(self.namespace, function)

    def log(self):
        return readLog(self.logPath)

    def stop(self):
        """
        Stop the server by its PID with a fast shutdown (C{SIGINT}: every
        session ends, every committed transaction is kept) and wait for it
        (idempotent). The cluster stays for L{start}.
        """
        process, self.process = self.process, None
        stopProcess(process, signal.SIGINT, timeout=30)

    def restart(self):
        self.stop()
        return self.start()

    def remove(self):
        """
        Stop it and delete its cluster.
        """
        self.stop()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


_shared = None


def sharedServer():
    """
    One server for every test of this run that only needs a database (the
    behaviour suite: starting one per test would cost a second each); it
    is stopped by PID and its cluster removed when the test run's process
    exits. Tests that stop or restart the server start their own.
    """
    global _shared
    if _shared is None or _shared.process is None \
            or _shared.process.poll() is not None:
        if _shared is not None:
            _shared.remove()
        _shared = PostgresServer().start()
        atexit.register(_shared.remove)
    return _shared
