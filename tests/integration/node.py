"""
A real node for integration tests: C{twistd -n cocaine} in a subprocess on
loopback, with its own directory, config and log.
"""

import json
import os
import re
import subprocess
import sys
import time

from cocaine.engine.sockets import removeStale
from tests.integration.servers import stopProcess, waitStarted
from tests.ports import freePort  # noqa: F401 (imported from here)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

_LISTENING = re.compile(r"locator listening on [\d.:]+:(\d+)")


def twistdCommand(*args):
    """
    The command line that runs twistd with this interpreter.
    """
    return [sys.executable, "-c",
            "import sys; from twisted.scripts.twistd import run; "
            "sys.argv[0] = 'twistd'; run()"] + list(args)


def environment(extraPath=()):
    """
    The environment for a node or client subprocess: this checkout first on
    C{PYTHONPATH}.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        list(extraPath) + [ROOT] + ([env["PYTHONPATH"]]
                                   if env.get("PYTHONPATH") else []))
    env.pop("COCAINE_CONFIG", None)
    return env


def foreignEnvironment():
    """
    The environment for another Python than this one (a Python 2.7, the
    0.12 framework's virtualenv) and what it starts: this one's, without
    C{PYTHONPATH} and C{PYTHONHOME}, which name this interpreter's modules.
    A C{trial -j} worker's C{PYTHONPATH} is the whole C{sys.path} of
    trial's process (L{twisted.trial._dist.disttrial}): Python 2.7 does not
    start with Python 3's standard library on it, and another virtualenv's
    pip takes this one's packages for its own.
    """
    return {name: value for name, value in os.environ.items()
            if name not in ("PYTHONPATH", "PYTHONHOME")}


class Node:
    """
    One node process.

    @ivar directory: its working directory (data, spool, log, config).
    @ivar port: its locator port once started.
    """

    def __init__(self, directory, config=None, extraPath=()):
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.config = dict(config or {})
        self.config.setdefault("network", {"locator": 0})
        self.extraPath = list(extraPath)
        self.configPath = os.path.join(self.directory, "cocaine.json")
        self.logPath = os.path.join(self.directory, "node.log")
        self.process = None
        self.port = None

    def start(self, timeout=15):
        """
        Start the node and wait until its locator listens.

        @raise RuntimeError: with the node's log when it did not come up.
        """
        with open(self.configPath, "w") as f:
            json.dump(self.config, f)
        self._log = open(self.logPath, "ab")
        self.process = subprocess.Popen(
            twistdCommand("--pidfile=", "-n", "cocaine", "--config",
                          self.configPath),
            cwd=self.directory, env=environment(self.extraPath),
            stdout=self._log, stderr=subprocess.STDOUT)
        offset = os.path.getsize(self.logPath)

        def listening():
            log = self.log()
            match = None
            for match in _LISTENING.finditer(log):
                pass
            if match and "running; locator" in log[offset:]:
                self.port = int(match.group(1))
                return True
            return False
        if waitStarted(self.process, listening, timeout):
            return self
        self.stop()
        raise RuntimeError("node did not start:\n" + self.log())

    def log(self):
        with open(self.logPath, errors="replace") as f:
            return f.read()

    def readUuid(self):
        """
        The node's uuid, as it wrote it into its data directory.
        """
        with open(os.path.join(self.directory, "var", "data", "uuid")) as f:
            return f.read().strip()

    def stop(self, timeout=10):
        """
        SIGTERM, wait, SIGKILL if it lingers.

        @return: the exit status and the seconds it took to exit.
        """
        if self.process is None:
            return None, 0.0
        process, self.process = self.process, None
        started = time.monotonic()
        status = stopProcess(process, timeout=timeout)
        self._log.close()
        # a node killed with its app sockets under /tmp (a test's runtime
        # path is too long for them) leaves them there: swept by the
        # records in its runtime directory
        runtime = self.config.get("paths", {}).get("runtime", "var/run")
        removeStale(os.path.join(self.directory, runtime))
        return status, time.monotonic() - started


def startConnected(testCase, node):
    """
    Start C{node} and connect our client's locator to it, both stopped at
    C{testCase}'s cleanup.

    @return: the started node and the L{cocaine.client.Locator}.
    """
    from twisted.internet import reactor

    from cocaine.client import Locator
    node.start()
    testCase.addCleanup(node.stop)
    locator = Locator(reactor, [("127.0.0.1", node.port)], timeout=20)
    testCase.addCleanup(locator.disconnect)
    return node, locator


def connectedService(testCase, locator, name, timeout=20):
    """
    A client of the service or app C{name} through C{locator},
    disconnected at C{testCase}'s cleanup.
    """
    from cocaine.client import Service
    service = Service(name, locator, timeout=timeout)
    testCase.addCleanup(service.disconnect)
    return service


class NodeClientMixin:
    """
    For a C{TestCase}: a node started with our client's locator on it and
    services through that, each stopped or disconnected at cleanup.

    @ivar node: the started L{Node}.
    @ivar locator: a L{cocaine.client.Locator} on its port.
    """

    def startNode(self, node):
        """
        Start C{node} and connect L{locator} to it.

        @return: the started node.
        """
        self.node, self.locator = startConnected(self, node)
        return self.node

    def service(self, name, timeout=20):
        """
        A client of the service or app C{name}, through L{locator}.
        """
        return connectedService(self, self.locator, name, timeout)


def waitUntil(testCase, predicate, timeout, step=0.05):
    """
    Block until C{predicate()} holds, failing C{testCase} after
    C{timeout} seconds.

    @return: the seconds it took.
    """
    started = time.monotonic()
    deadline = started + timeout
    while not predicate():
        if time.monotonic() > deadline:
            testCase.fail("condition not reached within {}s".format(timeout))
        time.sleep(step)
    return time.monotonic() - started
