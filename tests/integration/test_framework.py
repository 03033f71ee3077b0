"""
The real Cocaine 0.12 Python framework (cocaine 0.12.14.5 from PyPI)
against our node: locator, storage and logging, unchanged.
"""

import errno
import json
import os
import subprocess

from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.framework import frameworkPython
from tests.integration.node import Node

_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "framework_client.py")


class _Run:
    """
    One run of the framework client against one node, shared by the tests
    below (trial has no class fixtures).
    """

    done = False
    skipped = None

    @classmethod
    def once(cls):
        if cls.skipped is not None:
            raise cls.skipped
        if cls.done:
            return cls
        cls.done = True
        try:
            python = frameworkPython()
        except SkipTest as e:
            cls.skipped = e
            raise
        node = Node(os.path.abspath("framework-node")).start()
        try:
            result = subprocess.run(
                [python, _SCRIPT, str(node.port)],
                capture_output=True, text=True, timeout=120,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
            cls.output = result.stdout
            cls.errors = result.stderr
            cls.status = result.returncode
            cls.steps = {}
            for line in result.stdout.splitlines():
                record = json.loads(line)
                cls.steps[record.pop("step")] = record
            cls.log = node.log()
        finally:
            node.stop()
        return cls


class RealFrameworkClientTests(TestCase):
    """
    Each test checks a part of what the framework client printed.
    """

    timeout = 400

    def setUp(self):
        run = _Run.once()
        self.output, self.errors, self.status = (run.output, run.errors,
                                                 run.status)
        self.steps, self.log = run.steps, run.log

    def step(self, name):
        self.assertIn(name, self.steps, "{}\n{}".format(self.output,
                                                        self.errors))
        return self.steps[name]

    def test_ranToTheEnd(self):
        self.assertEqual(self.status, 0, self.errors)

    def test_resolve(self):
        self.assertEqual(self.step("resolve locator")["methods"], [
            "resolve", "connect", "refresh", "cluster", "publish", "routing",
            "uuid"])
        self.assertEqual(self.step("resolve locator")["version"], 3)
        storage = self.step("resolve storage")
        self.assertEqual(storage["methods"],
                         ["read", "write", "remove", "find"])
        self.assertEqual(storage["endpoints"][0][0], "127.0.0.1")
        self.assertEqual(self.step("resolve logging")["methods"],
                         ["emit", "verbosity", "set_verbosity"])
        missing = self.step("resolve missing")
        self.assertEqual(missing["error"], [10, 1])
        self.assertIn("missing", missing["reason"])

    def test_storage(self):
        self.assertEqual(self.step("write")["value"], [])
        self.assertEqual(self.step("read"), {"intact": True,
                                             "size": 512 * 1024})
        self.assertEqual(sorted(self.step("find x")["value"]),
                         ["blob", "other"])
        self.assertEqual(self.step("find x y")["value"], ["blob"])
        self.assertEqual(self.step("remove")["value"], [])
        removed = self.step("read removed")
        self.assertEqual(removed["error"], [1, errno.ENOENT])
        self.assertIn("blob", removed["reason"])
        self.assertEqual(self.step("escape")["error"], [1, errno.EINVAL])
        self.assertEqual(self.step("own locator read")["value"], "2")

    def test_logging(self):
        self.assertEqual(self.step("verbosity")["value"], 1)
        self.assertIn("emit", self.steps)
        self.assertEqual(self.step("set_verbosity")["value"], [])
        self.assertEqual(self.step("verbosity after")["value"], 0)
        self.assertIn("framework: hello from the real framework", self.log)
