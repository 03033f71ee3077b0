"""
Tests for L{bench.peers.processes}: how a benchmark's processes end.
"""

import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from bench.compare.sides import ROOT


class ExitOnTermTests(SynchronousTestCase):
    """
    L{bench.peers.processes.exitOnTerm}: a benchmark stopped with SIGTERM
    still cleans up.
    """

    def test_finallyRuns(self):
        """
        SIGTERM ends the process through its C{finally} blocks, with the
        status a shell gives a process ended by that signal.
        """
        script = (
            "import os, signal\n"
            "from bench.peers.processes import exitOnTerm\n"
            "exitOnTerm()\n"
            "try:\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n"
            "    signal.pause()\n"
            "finally:\n"
            "    print('cleaned up', flush=True)\n")
        result = subprocess.run([sys.executable, "-c", script], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        self.assertEqual((result.returncode, result.stdout),
                         (143, "cleaned up\n"), result.stderr[-500:])
