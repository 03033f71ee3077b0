# -*- test-case-name: tests.bench.test_processes -*-
"""
Starting a peer's server and running its client, with every wait bounded
and every process ended by its own PID.

    server = PeerServer([python, ZERORPC_PEER, "server"], "zerorpc", logDir)
    server.endpoint     # what followed "ready" on its first line
    server.pids()       # the server and its children
    result = runClient([python, ZERORPC_PEER, "client", ...])
    server.stop()
"""

import ctypes
import json
import os
import selectors
import signal
import subprocess
import time

import psutil

QUIET = {"PYTHONWARNINGS": "ignore", "PYTHONUNBUFFERED": "1"}
PR_SET_PDEATHSIG = 1


def termWithParent():
    """
    In a child between fork and exec: ask Linux to send it SIGTERM when
    the thread that started it ends, so that a parent killed outright
    leaves no server behind. (The thread, not the process: start the
    children from a thread that lives as long as they should.)
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def exitOnTerm():
    """
    Make SIGTERM end this process as an exception would, so that its
    C{finally} blocks and context managers run: a benchmark stopped so
    still stops its servers and deletes the network namespace it made
    (Python's default for SIGTERM ends the process at once).
    """
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


class PeerError(Exception):
    """
    A peer's server did not get ready, or its client gave no result.
    """


def _tail(path, size=2000):
    """
    @return: the last C{size} characters of the file at C{path}.
    @rtype: L{str}
    """
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            return f.read().decode("utf-8", "replace")
    except OSError as e:
        return "({}: {})".format(path, e.strerror)


def peerEnvironment():
    """
    @return: this process's environment without Python path overrides,
        quiet about deprecations, unbuffered.
    @rtype: L{dict}
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(QUIET)
    return env


class PeerServer:
    """
    A peer's server process, started on construction, ready when it has
    printed its C{ready} line.

    @ivar endpoint: what followed C{ready} on that line (may be empty).
    @ivar log: the file its stderr goes to.
    """

    def __init__(self, argv, name, logDir, timeout=60.0, env=None, cwd="/"):
        """
        @param argv: the command, ending in C{server ...}.
        @param name: the peer's name, for messages and the log's name.
        @param logDir: where to put C{NAME-server.log}.
        @param timeout: seconds to wait for the C{ready} line.
        @param env: its environment (default L{peerEnvironment}).
        @param cwd: its working directory.
        @raise PeerError: no C{ready} line in time; the server is stopped.
        """
        self.name = name
        os.makedirs(logDir, exist_ok=True)
        self.log = os.path.join(logDir, name + "-server.log")
        with open(self.log, "wb") as err:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=err, env=peerEnvironment() if env is None else env,
                cwd=cwd,
                preexec_fn=termWithParent)
        try:
            self.endpoint = self._awaitReady(timeout)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self):
        """
        @return: the server's PID.
        @rtype: L{int}
        """
        return self.process.pid

    def _awaitReady(self, timeout):
        """
        @return: what followed C{ready} on the server's first stdout line.
        @raise PeerError: another line, an exit, or C{timeout} seconds.
        """
        deadline = time.monotonic() + timeout
        line = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise self._failure("no ready line in {:.0f} s".format(
                        timeout))
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    self.process.wait(timeout=5)
                    raise self._failure("exited {}".format(
                        self.process.returncode))
                line += chunk
        words = line.decode("utf-8", "replace").split()
        if not words or words[0] != "ready":
            raise self._failure("printed {!r} instead of ready".format(line))
        return " ".join(words[1:])

    def _failure(self, why):
        """
        @return: a L{PeerError} saying C{why}, with the server's log tail.
        """
        return PeerError("{} server (PID {}): {}; {}:\n{}".format(
            self.name, self.process.pid, why, self.log, _tail(self.log)))

    def pids(self):
        """
        @return: the server's PID and its children's, while it runs.
        @rtype: L{list} of L{int}
        """
        try:
            root = psutil.Process(self.process.pid)
            return [root.pid] + [p.pid for p in root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout=15.0):
        """
        TERM the server, then KILL it after C{timeout} seconds; its
        children likewise, by the PIDs they had. Safe to call twice.
        """
        try:
            procs = [psutil.Process(pid) for pid in self.pids()]
        except psutil.NoSuchProcess:
            procs = []
        endTree(procs, timeout)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.process.stdout.close()


def runClient(argv, timeout=900.0):
    """
    Run a peer's client to the end and read its JSON line.

    @param argv: the command, ending in C{client ...}.
    @param timeout: seconds before the client is killed.
    @return: the parsed last line of its stdout.
    @rtype: L{dict}
    @raise PeerError: it failed, timed out or printed no JSON line.
    """
    try:
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=timeout, env=peerEnvironment(), cwd="/")
    except subprocess.TimeoutExpired as e:
        raise PeerError("client ran over {} s: {}\n{}".format(
            timeout, " ".join(argv), (e.stderr or b"")[-2000:]))
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        result = None
    if done.returncode != 0 or not isinstance(result, dict):
        raise PeerError("client exited {} with no result line: {}\n{}".format(
            done.returncode, " ".join(argv),
            (done.stdout + done.stderr)[-2000:]))
    return result


def endTree(procs, timeout):
    """
    TERM, then after C{timeout} seconds KILL, each process given.

    @param procs: L{psutil.Process} objects, already resolved, so that a
        reused PID is never signalled.
    @return: the processes that were still there to be killed.
    @rtype: L{list}
    """
    alive = [p for p in procs if p.is_running()]
    for p in alive:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, stubborn = psutil.wait_procs(alive, timeout=timeout)
    for p in stubborn:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(stubborn, timeout=5)
    return stubborn
