"""
A real etcd for integration tests: Debian's C{etcd-server} on 127.0.0.1
with free client and peer ports and a throwaway data directory, started
and stopped by PID. When etcd is not installed it is installed with
L{tests.locks.aptInstalled} (which keeps apt from starting the system
service); the test skips, naming why, only when that fails.

Given a C{host} and a C{namespace}, it listens on that address inside
that network namespace (run through C{ip netns exec}; the test's own
checks of it join the namespace with L{tests.integration.netns.netnsCall}).
"""

import base64
import json
import os
import shutil
import subprocess
import urllib.request

from twisted.trial.unittest import SkipTest

from tests.integration.netns import inNamespace, netnsCall
from tests.integration.node import freePort
from tests.integration.servers import stopProcess, waitStarted
from tests.locks import aptInstalled

ETCD = "/usr/bin/etcd"


def etcdBinary():
    """
    The etcd server binary, installing C{etcd-server} when missing.

    @raise SkipTest: naming why it cannot be had.
    """
    from bench.peers.debian import AptError
    try:
        found = aptInstalled(
            lambda: shutil.which("etcd") or (
                ETCD if os.path.exists(ETCD) else None), ["etcd-server"])
    except AptError as e:
        raise SkipTest("etcd is not installed and cannot be: {}".format(e))
    if not found:
        raise SkipTest("etcd-server installed but no etcd binary found")
    return found


class Etcd:
    """
    One single-member etcd process.

    @ivar url: its client URL once started (C{http://HOST:PORT}).
    """

    def __init__(self, directory, host="127.0.0.1", namespace=None):
        """
        @param host: the address it listens on (clients and peers).
        @param namespace: the network namespace to run it in, or L{None}
            for this one.
        """
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.host = host
        self.namespace = namespace
        self.clientPort = freePort()
        self.peerPort = freePort()
        self.url = "http://{}:{}".format(host, self.clientPort)
        self.process = None
        self.logPath = os.path.join(self.directory, "etcd.log")

    def command(self):
        peer = "http://{}:{}".format(self.host, self.peerPort)
        command = [etcdBinary(), "--name", "test",
                   "--data-dir", os.path.join(self.directory, "data"),
                   "--listen-client-urls", self.url,
                   "--advertise-client-urls", self.url,
                   "--listen-peer-urls", peer,
                   "--initial-advertise-peer-urls", peer,
                   "--initial-cluster", "test=" + peer,
                   "--listen-metrics-urls", "",
                   "--log-level", "warn"]
        if self.namespace is not None:
            command = inNamespace(self.namespace, command)
        return command

    def _answers(self):
        request = urllib.request.Request(
            self.url + "/v3/kv/range",
            data=json.dumps({"key": "AA=="}).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=1) as answer:
            json.load(answer)

    def _answering(self):
        try:
            self.inside(self._answers)
            return True
        except OSError:
            return False

    def keys(self, prefix):
        """
        The keys under C{prefix} now, without it, read straight from etcd's
        gateway (in its namespace when it has one): what the tests check
        registrations with.

        @return: a set of text.
        """
        prefix = prefix.encode()
        end = prefix[:-1] + bytes([prefix[-1] + 1])
        body = json.dumps({"key": base64.b64encode(prefix).decode(),
                           "range_end": base64.b64encode(end).decode(),
                           "keys_only": True}).encode()

        def read():
            request = urllib.request.Request(
                self.url + "/v3/kv/range", method="POST", data=body)
            with urllib.request.urlopen(request, timeout=5) as answer:
                return json.load(answer).get("kvs", [])
        return {base64.b64decode(kv["key"])[len(prefix):].decode()
                for kv in self.inside(read)}

    def inside(self, function, *args):
        """
        Call C{function} where etcd's address is reachable: in its
        namespace when it has one.
        """
        if self.namespace is None:
            return function(*args)
        return netnsCall(self.namespace, function, *args)

    def start(self, timeout=20):
        """
        Start etcd (again, on the same ports and data) and wait until it
        answers.

        @raise RuntimeError: with its log when it does not come up.
        """
        command = self.command()
        self._log = open(self.logPath, "ab")
        self.process = subprocess.Popen(command, stdout=self._log,
                                        stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        if waitStarted(self.process, self._answering, timeout, step=0.1):
            return self
        self.stop()
        with open(self.logPath, errors="replace") as f:
            raise RuntimeError("etcd did not start:\n" + f.read()[-3000:])

    def stop(self, timeout=10):
        """
        SIGTERM its PID, wait; SIGKILL if it lingers.
        """
        process, self.process = self.process, None
        if process is None:
            return
        stopProcess(process, timeout=timeout)
        self._log.close()
