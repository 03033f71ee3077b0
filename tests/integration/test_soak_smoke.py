"""
The soak script runs on a tiny size: it completes, prints its table, and
stops its node. No timing assertions.
"""

import subprocess
import sys

from twisted.trial.unittest import TestCase

from tests.integration.node import ROOT, environment


class SoakSmokeTests(TestCase):

    def run_soak(self, *args):
        result = subprocess.run(
            [sys.executable, "-m", "bench.soak"] + list(args), cwd=ROOT,
            env=environment(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=120)
        return result.returncode, result.stdout.decode("utf-8", "replace")

    def test_soak(self):
        status, output = self.run_soak("--minutes", "0.3", "--rate", "50")
        self.assertIn("elapsed", output)
        self.assertIn("rss MiB", output)
        self.assertIn("fds", output)
        self.assertIn("workers", output)
        # the first and the last sample at least
        table = output.split("spawned\n", 1)[1].split("requests ", 1)[0]
        self.assertGreaterEqual(len(table.strip().splitlines()), 2, output)
        self.assertIn("timeouts 0", output)
        self.assertIn("node stopped", output)
        self.assertEqual(status, 0, output)

    def test_chaosSmoke(self):
        status, output = self.run_soak("--chaos", "--requests", "300",
                                       "--seed", "3")
        self.assertIn("requests 300 ", output)
        self.assertIn("lost 0", output)
        self.assertIn("pool recovered to 4: True", output)
        self.assertEqual(status, 0, output)
