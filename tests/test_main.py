"""
Tests for L{tests.__main__}, the suite's command (C{python -m tests}).
"""

import os
import re

from twisted.trial.unittest import SynchronousTestCase

from tests.__main__ import (
    JOBS, PURE_PASS, defaultRuns, jobArguments, jobs, summarize)

HERE = os.path.dirname(os.path.abspath(__file__))

#: How trial ends, with or without C{-j} (Twisted 26.10, both the same).
SERIAL_END = """\
-------------------------------------------------------------------------------
Ran 7 tests in 0.012s

FAILED (skips=1, expectedFailures=1, failures=1, errors=1, \
unexpectedSuccesses=1, successes=2)
"""
WORKERS_END = """\
Running 3446 tests.
tests.worker.test_eager.UVLoopEagerTests.test_eagerStart
-------------------------------------------------------------------------------
Ran 3446 tests in 930.862s

PASSED (skips=16, successes=3430)
"""


class SummarizeTests(SynchronousTestCase):

    def test_serial(self):
        """
        Failures, errors and unexpected successes fail; expected failures
        pass.
        """
        self.assertEqual(summarize(SERIAL_END.splitlines(True)), (3, 3, 1))

    def test_workers(self):
        """
        C{trial -j} ends with the same line.
        """
        self.assertEqual(summarize(WORKERS_END.splitlines(True)),
                         (3430, 0, 16))

    def test_none(self):
        self.assertIsNone(summarize(["Running 3 tests.\n", "Traceback\n"]))


class JobsTests(SynchronousTestCase):

    def test_default(self):
        """
        Two workers, or one on a machine with one CPU (or none known).
        """
        self.assertEqual([jobs({}, lambda: n) for n in (None, 1, 2, 8)],
                         [1, 1, 2, 2])

    def test_variable(self):
        """
        L{JOBS} sets the count, whatever the CPUs.
        """
        self.assertEqual(jobs({JOBS: "1"}, lambda: 2), 1)
        self.assertEqual(jobs({JOBS: " 3 "}, lambda: 2), 3)
        self.assertEqual(jobs({JOBS: ""}, lambda: 2), 2)

    def test_badVariable(self):
        for value in ("0", "-1", "two", "1.5"):
            error = self.assertRaises(SystemExit, jobs, {JOBS: value},
                                      lambda: 2)
            self.assertIn("COCAINE_TEST_JOBS={!r}".format(value), str(error))

    def test_arguments(self):
        """
        One worker is trial's own process: no C{-j}.
        """
        self.assertEqual(jobArguments(1), [])
        self.assertEqual(jobArguments(2), ["--jobs=2"])


class DefaultRunsTests(SynchronousTestCase):

    def test_twoWorkers(self):
        """
        The whole suite, then the pure pass with C{COCAINE_PURE_PYTHON=1}
        in a temporary directory of its own, both with the workers.
        """
        (whole, wholeEnv), (pure, pureEnv) = defaultRuns({"A": "b"},
                                                         lambda: 2)
        self.assertEqual(whole, ["--jobs=2", "tests"])
        self.assertIsNone(wholeEnv)
        self.assertEqual(
            pure, ["--jobs=2", "--temp-directory=_trial_temp_pure"]
            + PURE_PASS)
        self.assertEqual(pureEnv, {"A": "b", "COCAINE_PURE_PYTHON": "1"})

    def test_oneWorker(self):
        (whole, _), (pure, _) = defaultRuns({JOBS: "1"}, lambda: 2)
        self.assertEqual(whole, ["tests"])
        self.assertEqual(pure, ["--temp-directory=_trial_temp_pure"]
                         + PURE_PASS)


class NoTodoTests(SynchronousTestCase):
    """
    C{trial -j} (Twisted 26.10) reports a todo test that passes as a
    success, where trial alone reports an unexpected success, which
    L{summarize} counts as failed; a plain C{str} todo makes its reporter
    crash. No test is marked todo, so the counts of both agree.
    """

    def test_noTodo(self):
        marked = []
        pattern = re.compile(r"\.todo\s*=|\btodo\s*=|makeTodo\(")
        for directory, subdirectories, files in os.walk(HERE):
            subdirectories[:] = [d for d in subdirectories
                                 if d not in ("__pycache__", "node_modules")]
            for name in files:
                path = os.path.join(directory, name)
                if not name.endswith(".py"):
                    continue
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        if pattern.search(line):
                            marked.append("{}:{}".format(
                                os.path.relpath(path, HERE), number))
        self.assertEqual(marked, [])
