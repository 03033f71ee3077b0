"""
Tests for L{bench.cpushare}'s arithmetic (the real run needs a node and
two CPUs: C{python -m bench.cpushare}).
"""

import json
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from bench import cpushare


class MeasureTests(SynchronousTestCase):

    def test_perRequest(self):
        """
        Each side's CPU is divided by the requests it served: the node's
        and the workers' by the timed and warm-up requests, the client's
        by the timed ones (it measures itself over those only).
        """
        readings = iter([
            {1: (1.0, 0.5), 2: (2.0, 0.0), 3: (3.0, 0.0)},
            {1: (1.6, 0.6), 2: (2.1, 0.1), 3: (3.2, 0.0)},
        ])
        self.patch(cpushare, "family", lambda pids: [1, 2, 3])
        self.patch(cpushare, "_pin", lambda pids, cpu: None)
        self.patch(cpushare, "_cpu", lambda pids: next(readings))
        commands = []

        def run(command, **kw):
            commands.append(command)
            return subprocess.CompletedProcess(command, 0, json.dumps({
                "rate": 5000.0, "errors": 0, "client_cpu_s": 0.3}) + "\n")
        self.patch(cpushare.subprocess, "run", run)
        result = cpushare.measure("127.0.0.1:1", 1, 64, 10000, "request")
        # 10,000 timed requests and 1,000 of warm-up
        self.assertAlmostEqual(result["node"], 0.7e6 / 11000)
        self.assertAlmostEqual(result["node_sys"], 0.1e6 / 11000)
        self.assertAlmostEqual(result["workers"], 0.4e6 / 11000)
        self.assertAlmostEqual(result["client"], 30.0)
        self.assertEqual(result["rate"], 5000.0)
        self.assertIn("--pattern", commands[0])
        self.assertEqual(commands[0][commands[0].index("--inflight") + 1],
                         "64")

    def test_errorsRefused(self):
        """
        A run with errors is no measurement.
        """
        self.patch(cpushare, "family", lambda pids: [1])
        self.patch(cpushare, "_pin", lambda pids, cpu: None)
        self.patch(cpushare, "_cpu", lambda pids: {1: (0.0, 0.0)})
        self.patch(cpushare.subprocess, "run", lambda c, **kw: (
            subprocess.CompletedProcess(c, 0, json.dumps({
                "rate": 1.0, "errors": 3, "first_error": "KeyError: x",
                "client_cpu_s": 0.0}))))
        error = self.assertRaises(RuntimeError, cpushare.measure,
                                  "127.0.0.1:1", 1, 8, 100, "request")
        self.assertIn("KeyError: x", str(error))
