"""
Tests for L{bench.cpushare}'s arithmetic (the real run needs a node and
two CPUs: C{python -m bench.cpushare}).
"""

import contextlib
import io
import json

from twisted.trial.unittest import SynchronousTestCase

from bench import cpushare
from bench.arguments import positives


class _Client:
    """
    Stands for the load generator's process: announces the end of its
    warm-up, then prints its summary.
    """

    def __init__(self, command, summary, announce="timed"):
        self.command = command
        self.stdout = io.StringIO(
            announce + "\n" + json.dumps(summary) + "\n")
        self.returncode = None

    def wait(self, timeout=None):
        self.returncode = 0
        return 0

    def poll(self):
        return self.returncode

    def kill(self):
        self.returncode = -9


class MeasureTests(SynchronousTestCase):

    def setUp(self):
        self.patch(cpushare, "family", lambda pids: [1, 2, 3])
        self.patch(cpushare, "_pin", lambda pids, cpu: None)
        self.clients = []

    def client(self, summary, announce="timed"):
        def popen(command, **kw):
            self.clients.append(_Client(command, summary, announce))
            return self.clients[-1]
        self.patch(cpushare.subprocess, "Popen", popen)

    def test_perRequest(self):
        """
        Each side's CPU over the timed requests (sampled after the load
        generator's warm-up) is divided by their number; the client
        measures itself.
        """
        readings = iter([
            {1: (1.0, 0.5), 2: (2.0, 0.0), 3: (3.0, 0.0)},
            {1: (1.6, 0.6), 2: (2.1, 0.1), 3: (3.2, 0.0)},
        ])
        self.patch(cpushare, "_cpu", lambda pids: next(readings))
        self.client({"rate": 5000.0, "errors": 0, "client_cpu_s": 0.3,
                     "p99_us": 812.5})
        result = cpushare.measure("127.0.0.1:1", 1, 64, 10000, "request")
        self.assertEqual(result["p99_us"], 812.5)
        self.assertAlmostEqual(result["node"], 0.7e6 / 10000)
        self.assertAlmostEqual(result["node_sys"], 0.1e6 / 10000)
        self.assertAlmostEqual(result["workers"], 0.4e6 / 10000)
        self.assertAlmostEqual(result["client"], 30.0)
        self.assertEqual(result["rate"], 5000.0)
        command = self.clients[0].command
        self.assertIn("--announce", command)
        self.assertEqual(command[command.index("--inflight") + 1], "64")

    def test_errorsRefused(self):
        """
        A run with errors is no measurement, nor one whose load generator
        never said its warm-up ended.
        """
        self.patch(cpushare, "_cpu", lambda pids: {1: (0.0, 0.0)})
        self.client({"rate": 1.0, "errors": 3, "first_error": "KeyError: x",
                     "client_cpu_s": 0.0})
        error = self.assertRaises(RuntimeError, cpushare.measure,
                                  "127.0.0.1:1", 1, 8, 100, "request")
        self.assertIn("KeyError: x", str(error))
        self.client({"rate": 1.0, "errors": 0}, announce="oops")
        error = self.assertRaises(RuntimeError, cpushare.measure,
                                  "127.0.0.1:1", 1, 8, 100, "request")
        self.assertIn("warm up", str(error))


class ArgumentTests(SynchronousTestCase):
    """
    Bad arguments are one line naming the value, before anything runs.
    """

    def test_badCounts(self):
        for argv in (["--inflight", "8,x"], ["--inflight", "0"],
                     ["--requests", "-5"], ["--runs", "two"]):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                self.assertRaises(SystemExit, cpushare.main, argv)
            self.assertIn("is not a positive whole number", err.getvalue())

    def test_counts(self):
        self.assertEqual(positives("1,8,64"), [1, 8, 64])


class SchedulingTests(SynchronousTestCase):
    """
    C{--scheduling}: the policies compared, each in its node's app
    profile.
    """

    def test_policies(self):
        """
        Each policy once, in the order given.
        """
        self.assertEqual(cpushare._policies("batch,normal"),
                         ["batch", "normal"])
        self.assertEqual(cpushare._policies("normal,batch,normal"),
                         ["normal", "batch"])

    def test_unknownPolicy(self):
        """
        An unknown policy is an argument error naming it.
        """
        with contextlib.redirect_stderr(io.StringIO()) as err:
            self.assertRaises(SystemExit, cpushare.main,
                              ["--scheduling", "batch,fifo"])
        self.assertIn("'fifo'", err.getvalue())

    def test_inProfile(self):
        config = cpushare.withScheduling(cpushare.nodeConfig(), "normal")
        local = config["services"]["node"]["args"]["local"]
        self.assertEqual(local[cpushare.APP]["profile"]["scheduling"],
                         "normal")
