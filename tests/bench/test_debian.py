"""
L{bench.peers.debian.DenyServiceStarts} keeps apt from starting services
and leaves the machine's own C{policy-rc.d} as it found it.
"""

import os
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from bench.peers.debian import DenyServiceStarts


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def answer(path):
    return subprocess.call([path, "x", "start"])


class DenyServiceStartsTests(SynchronousTestCase):
    def setUp(self):
        self.path = os.path.abspath(self.mktemp())

    def test_noneThere(self):
        with DenyServiceStarts(self.path):
            self.assertEqual(answer(self.path), 101)
        self.assertFalse(os.path.exists(self.path))

    def test_anotherPolicyPutBack(self):
        write(self.path, "#!/bin/sh\nexit 0\n")
        with DenyServiceStarts(self.path):
            self.assertEqual(answer(self.path), 101)
        self.assertEqual(answer(self.path), 0)
        self.assertFalse(os.path.exists(self.path + ".cocaine-bench"))

    def test_denyingPolicyLeftAlone(self):
        write(self.path, "#!/bin/sh\n# theirs\nexit 101\n")
        with DenyServiceStarts(self.path):
            pass
        with open(self.path) as f:
            self.assertIn("# theirs", f.read())
