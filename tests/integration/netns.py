"""
Network namespaces for the tests that need real traffic kept off the
host's network: one with only a loopback, and a L{Node} that runs inside
one. Each test removes what it made.
"""

import ctypes
import os
import shutil
import subprocess
import threading

from twisted.trial.unittest import SkipTest

from tests.integration import node as _node
from tests.integration.node import Node


def inNamespace(namespace, command):
    """
    C{command} run inside C{namespace}.
    """
    return ["ip", "netns", "exec", namespace] + command


#: C{setns(2)}'s flag for a network namespace.
_CLONE_NEWNET = 0x40000000


def netnsCall(namespace, function, *args, **kwargs):
    """
    Call C{function} in a thread of its own that has joined the network
    namespace C{namespace} (made with C{ip netns add}): the sockets it
    makes belong to that namespace, and stay there when used afterwards
    from other threads. Only that thread changes namespace; the thread
    ends with the call.

    @return: what C{function} returned.
    @raise: what C{function} raised, or L{OSError} when the namespace
        cannot be joined.
    """
    outcome = {}

    def run():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(os.path.join("/run/netns", namespace), os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, "setns {}: {}".format(
                        namespace, os.strerror(errno)))
            finally:
                os.close(fd)
            outcome["value"] = function(*args, **kwargs)
        except BaseException as e:
            outcome["error"] = e

    thread = threading.Thread(target=run, name="netns " + namespace,
                              daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def loopbackNamespace(testCase, namespace):
    """
    Make network namespace C{namespace} with its loopback up, removed when
    C{testCase} ends.

    @raise SkipTest: namespaces cannot be made here (no C{ip}, or not
        root), saying why.
    @return: C{namespace}.
    """
    if shutil.which("ip") is None:
        raise SkipTest("no `ip` command to make a network namespace")
    result = subprocess.run(["ip", "netns", "add", namespace],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SkipTest("cannot create a network namespace: {}".format(
            result.stderr.strip() or "not permitted"))
    testCase.addCleanup(subprocess.run, ["ip", "netns", "delete", namespace],
                        capture_output=True)
    subprocess.run(["ip", "-n", namespace, "link", "set", "lo", "up"],
                   check=True)
    return namespace


class NamespaceNode(Node):
    """
    A L{Node} whose twistd runs inside a network namespace.

    @ivar address: the node's address in the namespace, when given.
    """

    def __init__(self, namespace, address, *args, **kwargs):
        Node.__init__(self, *args, **kwargs)
        self.namespace = namespace
        self.address = address

    def start(self, timeout=30):
        original = _node.twistdCommand
        _node.twistdCommand = lambda *args: inNamespace(
            self.namespace, original(*args))
        try:
            return Node.start(self, timeout)
        finally:
            _node.twistdCommand = original
