"""
What the integration tests of C{echo}, C{uniresis}, C{urlfetch} and
C{chrono} share: a real node serving the four, our client, and the real
0.12 framework script (framework_basics.py) run against it.
"""

import os

from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.integration.framework import frameworkPython
from tests.integration.framework_report import readSteps
from tests.integration.node import Node, NodeClientMixin

_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "framework_basics.py")


#: 0.12's primitive and streaming upstreams as the framework reports them
#: (JSON: map keys are text, nil is null).
PRIMITIVE = {"0": ["value", {}], "1": ["error", {}]}
STREAMING = {"0": ["write", None], "1": ["error", {}], "2": ["close", {}]}


class BasicsNodeCase(NodeClientMixin, TestCase):
    """
    A node with the four services (urlfetch with C{urlfetchArgs}).
    """

    timeout = 120
    urlfetchArgs = {}

    def setUp(self):
        directory = os.path.abspath(self.mktemp())
        config = {"network": {"locator": 0}, "services": {
            "logging": {"type": "logging"},
            "echo": {"type": "echo"},
            "uniresis": {"type": "uniresis"},
            "urlfetch": {"type": "urlfetch", "args": self.urlfetchArgs},
            "chrono": {"type": "chrono"}}}
        self.startNode(Node(os.path.join(directory, "node"), config))

    async def framework(self, which, *args):
        """
        Run framework_basics.py against the node (the reactor runs
        meanwhile: a page this test serves can be fetched).

        @return: C{{step: fields}} it printed.
        """
        python = frameworkPython()
        out, err, code = await getProcessOutputAndValue(
            python, [_SCRIPT, str(self.node.port), which]
            + [str(a) for a in args],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            path=os.path.dirname(_SCRIPT), reactor=reactor)
        self.assertEqual(code, 0, err.decode(errors="replace"))
        return readSteps(out.decode())
