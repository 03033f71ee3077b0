"""
Network namespaces for the tests that need real traffic kept off the
host's network: one with only a loopback, and a L{Node} that runs inside
one. Each test removes what it made.
"""

import shutil
import subprocess

from twisted.trial.unittest import SkipTest

from tests.integration import node as _node
from tests.integration.node import Node


def inNamespace(namespace, command):
    """
    C{command} run inside C{namespace}.
    """
    return ["ip", "netns", "exec", namespace] + command


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
