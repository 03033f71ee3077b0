"""
A real Redis for tests: Debian's C{redis-server} on 127.0.0.1, a free port
and a throwaway directory, run by PID and stopped by PID.

The package is installed with C{apt-get} (service starts denied) when it is
missing; a test skips, saying why, only when that fails.
"""

import os
import shutil
import socket
import subprocess
import time

from twisted.trial.unittest import SkipTest

from tests.integration.node import freePort

SERVER = "redis-server"


def redisServer():
    """
    The path of C{redis-server}, installing Debian's package when missing.

    @raise SkipTest: naming why it cannot be had.
    """
    path = shutil.which(SERVER)
    if path is not None:
        return path
    from bench.peers.debian import AptError, aptInstall
    try:
        aptInstall(["redis-server"])
    except AptError as e:
        raise SkipTest("redis-server is needed: {}".format(e))
    path = shutil.which(SERVER)
    if path is None:
        raise SkipTest("apt-get installed redis-server but it is not on "
                       "PATH")
    return path


class RedisServer:
    """
    One Redis process, no persistence, loopback only.

    @ivar port: its port once started.
    @ivar url: C{redis://127.0.0.1:<port>/0} once started.
    """

    def __init__(self, directory, port=None):
        """
        @param directory: where its config, log and (empty) data go; made
            if missing.
        @param port: a fixed port (to restart on the same one), else a free
            one.
        """
        self.directory = os.path.abspath(directory)
        self.port = port
        self.process = None

    @property
    def url(self):
        return "redis://127.0.0.1:{}/0".format(self.port)

    def start(self, timeout=20):
        """
        Start it and wait until it answers C{PING}.

        @raise SkipTest: no redis-server to be had.
        @raise RuntimeError: it did not come up (with its log's tail).
        """
        server = redisServer()
        os.makedirs(self.directory, exist_ok=True)
        if self.port is None:
            self.port = freePort()
        config = os.path.join(self.directory, "redis.conf")
        with open(config, "w") as f:
            f.write("bind 127.0.0.1\nport {}\nprotected-mode yes\n"
                    "daemonize no\nsave \"\"\nappendonly no\n"
                    "dir {}\nlogfile {}\n".format(
                        self.port, self.directory,
                        os.path.join(self.directory, "redis.log")))
        self.process = subprocess.Popen(
            [server, config], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self._ping():
                return self
            time.sleep(0.05)
        tail = self.log()[-2000:]
        self.stop()
        raise RuntimeError("redis-server on port {} did not start:\n{}"
                           .format(self.port, tail))

    def _ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args):
        """
        Run one command with a fresh connection (for tests' own checks).

        @return: the raw first reply line(s), bytes.
        """
        payload = b"*%d\r\n" % len(args)
        for arg in args:
            arg = arg if isinstance(arg, bytes) else str(arg).encode()
            payload += b"$%d\r\n%s\r\n" % (len(arg), arg)
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=5) as s:
            s.sendall(payload)
            return s.recv(65536)

    def log(self):
        try:
            with open(os.path.join(self.directory, "redis.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """
        Stop it by its PID and wait for it (idempotent).
        """
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
