"""
The benchmarks run (on a tiny size); their figures are not judged here.
"""

import subprocess
import sys

from twisted.trial.unittest import TestCase

from tests.integration.node import ROOT, environment


class BenchmarkRunsTests(TestCase):
    """
    C{python -m bench --quick} prints the machine and the side-by-side
    table.
    """

    timeout = 300

    def test_quickRun(self):
        result = subprocess.run(
            [sys.executable, "-m", "bench", "--quick"], cwd=ROOT,
            env=environment(), capture_output=True, text=True, timeout=240)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("machine: ", result.stdout)
        self.assertIn("| workload | ours: storage.read via node | floor: "
                      "bare Twisted msgpack echo | ours/floor |",
                      result.stdout)
        self.assertIn("| 64 in flight (calls/s) |", result.stdout)
        self.assertIn("in-flight errors: 0", result.stdout)
