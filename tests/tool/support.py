"""
Running C{cocaine-tool} as a subprocess (C{python -m cocaine.tool}) against
a real node started for each test.
"""

import json
import os
import subprocess
import sys

from twisted.trial.unittest import TestCase

from tests.integration.node import ROOT, Node, environment, freePort

ECHO = os.path.join(ROOT, "examples", "apps", "echo")

__all__ = ["ECHO", "ROOT", "ToolTestCase", "freePort", "nodeConfig"]


def nodeConfig(local=None):
    """
    A node with logging, storage and the node service (and C{local} apps
    run from their directories).
    """
    return {"network": {"locator": 0}, "services": {
        "logging": {"type": "logging"},
        "storage": {"type": "storage"},
        "node": {"type": "node", "args": {"local": dict(local or {}),
                                          "drain-timeout": 2}}}}


class Result:
    """
    What one run of the tool did.

    @ivar status: the exit status.
    @ivar stdout: standard output, bytes.
    @ivar stderr: standard error, text.
    """

    def __init__(self, args, status, stdout, stderr):
        self.args = args
        self.status = status
        self.stdout = stdout
        self.stderr = stderr

    @property
    def out(self):
        return self.stdout.decode("utf-8", "replace")

    def __repr__(self):
        return "<cocaine-tool {} → {}\nstdout: {!r}\nstderr: {!r}>".format(
            " ".join(self.args), self.status, self.stdout[:2000],
            self.stderr[:2000])


class ToolTestCase(TestCase):
    """
    A node per test (unless C{startNode} is false) and helpers that run the
    tool against it.
    """

    timeout = 60
    startNode = True
    local = {}

    def setUp(self):
        self.home = os.path.abspath(self.mktemp())
        os.makedirs(self.home)
        self.node = None
        if self.startNode:
            self.node = Node(self.mktemp(), nodeConfig(self.local)).start()
            self.addCleanup(self.node.stop)

    def env(self, **extra):
        env = environment()
        # no ~/.cocaine/tools.yml of the user running the tests
        env["HOME"] = self.home
        for name in ("VISUAL", "EDITOR", "TTY_COMPATIBLE", "FORCE_COLOR",
                     "COLUMNS"):
            env.pop(name, None)
        env.update(extra)
        return env

    def tool(self, *args, stdin=None, env=None, port=None, timeout=45):
        """
        Run C{python -m cocaine.tool --port PORT ARGS...}.

        @param stdin: bytes for standard input, or a path to read it from.
        @rtype: L{Result}
        """
        command = [sys.executable, "-m", "cocaine.tool"]
        if port is not False:
            command += ["--port", str(port if port is not None
                                      else self.node.port)]
        command += [str(a) for a in args]
        kwargs = {}
        if isinstance(stdin, str):
            kwargs["stdin"] = open(stdin, "rb")
        else:
            kwargs["input"] = stdin if stdin is not None else b""
        try:
            process = subprocess.run(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=env or self.env(), cwd=self.home, timeout=timeout,
                **kwargs)
        finally:
            if "stdin" in kwargs:
                kwargs["stdin"].close()
        return Result(command[3:], process.returncode, process.stdout,
                      process.stderr.decode("utf-8", "replace"))

    def ok(self, *args, **kwargs):
        """
        Run the tool, expect status 0 and nothing on standard error.

        @return: the L{Result}.
        """
        result = self.tool(*args, **kwargs)
        self.assertEqual((result.status, result.stderr), (0, ""), result)
        return result

    def json(self, *args, status=0, **kwargs):
        """
        Run the tool with C{--json}; its output must parse as one JSON
        document.

        @return: the value.
        """
        result = self.tool("--json", *args, **kwargs)
        self.assertEqual(result.status, status, result)
        try:
            return json.loads(result.stdout)
        except ValueError:
            self.fail("not JSON: {!r}".format(result))

    def jsonLines(self, *args, **kwargs):
        """
        Run the tool with C{--json} on a stream: one JSON value per line.
        """
        result = self.tool("--json", *args, **kwargs)
        self.assertEqual((result.status, result.stderr), (0, ""), result)
        return [json.loads(line) for line in result.stdout.splitlines()]

    def fails(self, *args, message=None, status=1, **kwargs):
        """
        Run the tool, expect status C{status} and exactly one line on
        standard error (starting C{cocaine-tool: }), equal to or containing
        C{message}.

        @return: that line.
        """
        result = self.tool(*args, **kwargs)
        self.assertEqual(result.status, status, result)
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result)
        self.assertTrue(lines[0].startswith("cocaine-tool: "), result)
        if message is not None:
            self.assertIn(message, lines[0], result)
        return lines[0]

    def writeFile(self, name, data):
        path = os.path.join(self.home, name)
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        return path
