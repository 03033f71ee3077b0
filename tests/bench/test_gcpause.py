"""
Tests for L{bench.gcpause}'s reading of a node's pauses (the real run
needs nodes: C{python -m bench.gcpause}).
"""

import contextlib
import io
import json

from twisted.trial.unittest import SynchronousTestCase

from bench import gcpause


class PausesTests(SynchronousTestCase):

    def test_byGeneration(self):
        """
        The count and seconds of each generation's pauses, from the
        names the metrics service gives them.
        """
        plain = {"node_gc_pause_seconds_count.{}".format(g): g + 1
                 for g in range(3)}
        plain.update({"node_gc_pause_seconds_sum.{}".format(g): g * 0.5
                      for g in range(3)})
        plain["other"] = 7
        calls = []

        class Result:
            stdout = json.dumps(plain)

        def run(argv, **kwargs):
            calls.append(argv[-2:])
            return Result()
        self.patch(gcpause.subprocess, "run", run)
        self.assertEqual(gcpause.pauses("127.0.0.1:5"),
                         {0: (1, 0.0), 1: (2, 0.5), 2: (3, 1.0)})
        self.assertEqual(calls, [["fetch", "127.0.0.1:5"]])

    def test_badDepths(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertRaises(SystemExit, gcpause.main, ["--inflight", "8,x"])
        self.assertIn("'x' is not a positive whole number", err.getvalue())
