"""
The REAL Cocaine 0.12 command-line tool (C{cocaine-tool} from
C{cocaine-tools} 0.12.13.6, Python 2.7) against a real node, doing what
cocaine-tools' own test suite does (its C{tests/test_tools.py}): apps
uploaded and started with a C{legacy_process} profile, listed, checked,
restarted and stopped; profiles, runlists and routing groups edited;
crashlogs read.

Every command the tool ran and its exit status is appended to
C{tool-commands.txt} in the test's working directory.
"""

import json
import os
import subprocess
import sys

from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from tests.integration.apps012 import crasherApp, frameworkApp, simpleApp
from tests.integration.framework import frameworkPython
from tests.integration.framework_report import readSteps
from tests.integration import tools
from tests.integration.node import ROOT, Node, foreignEnvironment
from tests.integration.tools import Tool, toolsSite

HERE = os.path.dirname(os.path.abspath(__file__))
APP_CLIENT = os.path.join(HERE, "framework_app_client.py")
CONFORMANCE = os.path.join(HERE, "framework_conformance.py")

#: Where the locator's port goes in a framework script's arguments.
PORT = object()

#: The profile cocaine-tools' test suite starts its app with.
LEGACY_PROCESS = json.dumps({"isolate": {"type": "legacy_process"}})


def nodeConfig():
    return {"network": {"locator": 0}, "services": {
        "logging": {"type": "logging"}, "storage": {"type": "storage"},
        "node": {"type": "node", "args": {"drain-timeout": 3}}}}


class ForeignEnvironmentTests(SynchronousTestCase):
    """
    Python 2.7 runs without this interpreter's C{PYTHONPATH}, which a
    C{trial -j} worker sets to the whole C{sys.path} of trial's process.
    """

    def setVariable(self, name, value):
        """
        Set environment variable C{name} for this process and its children
        until the test ends.
        """
        old = os.environ.get(name)
        os.environ[name] = value

        def restore():
            if old is None:
                del os.environ[name]
            else:
                os.environ[name] = old
        self.addCleanup(restore)

    def test_environment(self):
        self.setVariable("PYTHONPATH", os.pathsep.join(sys.path))
        self.setVariable("PYTHONHOME", sys.prefix)
        self.setVariable("COCAINE_OTHER", "kept")
        env = foreignEnvironment()
        self.assertEqual(env.get("COCAINE_OTHER"), "kept")
        self.assertNotIn("PYTHONPATH", env)
        self.assertNotIn("PYTHONHOME", env)

    def test_python2(self):
        """
        The Python 2.7 found without it is found with it: under C{trial
        -j} the tools' tests run, not skip for want of one.
        """
        python = tools.python2()
        self.setVariable("PYTHONPATH", os.pathsep.join(sys.path))
        try:
            found = tools.python2()
        except SkipTest as e:
            self.fail("with trial -j's PYTHONPATH: {}".format(e))
        self.assertEqual(found, python)


class _ToolTestCase(TestCase):
    """
    A node per test and the real tool pointed at it.
    """

    timeout = 240

    def setUp(self):
        toolsSite()
        directory = os.path.abspath(self.mktemp())
        self.node = Node(os.path.join(directory, "node"), nodeConfig())
        self.node.start()
        self.addCleanup(self.node.stop)
        self.home = os.path.join(directory, "home")
        self.tool = Tool(self.node.port, self.home)
        self.addCleanup(lambda: self.tool.record(self.id()))

    def ok(self, *args):
        """
        Run the tool, which must succeed.

        @return: what it printed.
        """
        result = self.tool.run(*args)
        self.assertEqual(result.returncode, 0, "cocaine-tool {}:\n{}\n{}"
                         .format(" ".join(args), result.stdout,
                                 result.stderr[-3000:]))
        return result.stdout

    def json(self, *args):
        """
        Run a tool command that prints JSON, which must succeed.
        """
        output = self.ok(*args)
        # some commands print their progress lines before the JSON
        lines = output.splitlines()
        start = next((i for i, line in enumerate(lines)
                      if line[:1] in ("{", "[")), len(lines))
        try:
            return json.loads("\n".join(lines[start:]))
        except ValueError:
            self.fail("cocaine-tool {} printed no JSON:\n{}".format(
                " ".join(args), output))

    def refused(self, *args):
        """
        Run the tool, which must fail as the tools do (exit 128, the
        message on stdout).

        @return: what it printed.
        """
        result = self.tool.run(*args)
        self.assertEqual(result.returncode, 128, "cocaine-tool {}:\n{}\n{}"
                         .format(" ".join(args), result.stdout,
                                 result.stderr[-3000:]))
        return result.stdout

    def framework(self, script, *args):
        """
        Run a script with the real 0.12 framework's interpreter; C{PORT}
        in C{args} is the node's locator port.

        @return: C{{step: fields}} it printed.
        """
        python = frameworkPython()
        args = [str(self.node.port) if a is PORT else a for a in args]
        result = subprocess.run(
            [python, "-E", script] + args,
            cwd=ROOT, capture_output=True, text=True, timeout=120,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        return readSteps(result.stdout)


class AppTests(_ToolTestCase):
    """
    cocaine-tools' C{TestAppActions}, in its order, with its app.
    """

    def test_lifecycle(self):
        name, profile = "random_name", "random_profile"
        package = simpleApp(os.path.join(self.home, "simple_app"))
        self.ok("app", "upload", "--name", name, "--manifest",
                '{"slave": "__init__.py"}', "--package", package)
        self.assertEqual(self.json("app", "view", "--name", name),
                         {"slave": "__init__.py"})
        self.assertIn(name, self.json("app", "list"))

        self.ok("profile", "upload", "--name", profile, "--profile",
                LEGACY_PROCESS)
        self.assertEqual(
            self.ok("app", "start", "--name", name, "--profile",
                    profile).strip(),
            "Application `random_name` has been started with profile "
            "`random_profile`")
        self.ok("app", "check", "--name", name)
        info = self.json("info", "--name", name)
        self.assertEqual(info["count"], 1)
        self.assertEqual(info["apps"][name]["state"], "running")
        self.assertEqual(info["apps"][name]["profile"]["name"], profile)

        self.assertEqual(
            self.ok("app", "restart", "--name", name, "--profile",
                    profile).strip(),
            "Application `random_name` has been restarted with profile "
            "`random_profile`")
        # without a profile the tool reads it from the node's info
        self.assertEqual(
            self.ok("app", "restart", "--name", name).strip(),
            "Application `random_name` has been restarted with profile "
            "`random_profile`")
        self.assertEqual(list(self.json("info")["apps"]), [name])

        self.assertEqual(
            self.ok("app", "stop", "--name", name).strip(),
            "Application `random_name` has been stopped")
        self.assertIn("Not running",
                      self.refused("app", "check", "--name", name))
        self.ok("app", "remove", "--name", name)
        self.assertNotIn(name, self.json("app", "list"))

    def test_noSuchApp(self):
        """
        The failures cocaine-tools' tests expect for an app that is not
        there: the tool says so and exits 128.
        """
        self.assertIn("does not exist", self.refused(
            "app", "remove", "--name", "no_such_app_name"))
        self.assertIn("Not running", self.refused(
            "app", "check", "--name", "no_such_app_name"))
        self.assertIn("Unable to determine a profile name", self.refused(
            "app", "restart", "--name", "no_such_app_name"))
        self.assertIn("Error in service \"node\"", self.refused(
            "app", "start", "--name", "no_such_app_name", "--profile",
            "nope"))

    def test_legacyProcessServes(self):
        """
        Point 2 with the real tool: a worker written with the real 0.12
        framework, uploaded as a directory by C{app upload}, started with
        a C{legacy_process} profile, serves the real framework's client;
        the node records it in the runlist.
        """
        app = frameworkApp(os.path.join(self.home, "fwecho"),
                           frameworkPython())
        self.ok("app", "upload", app, "--name", "fwecho")
        self.ok("profile", "upload", "--name", "lp", "--profile",
                LEGACY_PROCESS)
        self.ok("app", "start", "--name", "fwecho", "--profile", "lp")
        steps = self.framework(APP_CLIENT, PORT, "fwecho")
        self.assertEqual(steps["ping"], {"chunks": ["pong"]})
        self.assertEqual(steps["echo"], {"chunks": ["one", "two", "three"]})
        self.assertEqual(steps["boom"]["error"], [42, 100])
        info = self.json("info", "--name", "fwecho", "-p")
        workers = info["apps"]["fwecho"]["workers"]
        self.assertEqual([w["state"] for w in workers], ["active"])
        self.assertEqual(self.json("runlist", "view", "--name", "default"),
                         {"fwecho": "lp"})
        self.ok("app", "stop", "--name", "fwecho")
        self.assertEqual(self.json("runlist", "view", "--name", "default"),
                         {})


class StorageTests(_ToolTestCase):
    """
    cocaine-tools' C{TestProfileActions}, C{TestRunlistActions} and
    C{TestGroupActions}, plus C{routing}, C{locate} and C{cluster}.
    """

    def test_profiles(self):
        name = "dummy_profile_name"
        dummy = {"aaa": [1, 2, 3]}
        self.ok("profile", "upload", "--name", name, "--profile",
                json.dumps(dummy))
        self.ok("profile", "copy", "--name", name, "--copyname", "copy")
        self.ok("profile", "rename", "--name", "copy", "--copyname", "move")
        listing = self.json("profile", "list")
        self.assertIn(name, listing)
        self.assertIn("move", listing)
        self.assertNotIn("copy", listing)
        self.assertEqual(self.json("profile", "view", "--name", name), dummy)
        self.ok("profile", "remove", "--name", name)
        self.refused("profile", "view", "--name", name)

    def test_runlists(self):
        name = "dummy_runlist"
        self.ok("runlist", "upload", "--name", name, "--runlist",
                json.dumps({"test_app": "test_profile"}))
        self.ok("runlist", "copy", "--name", name, "--copyname", "copy")
        self.ok("runlist", "rename", "--name", "copy", "--copyname", "move")
        listing = self.json("runlist", "list")
        self.assertIn(name, listing)
        self.assertIn("move", listing)
        self.assertNotIn("copy", listing)
        self.assertEqual(self.json("runlist", "view", "--name", name),
                         {"test_app": "test_profile"})
        self.ok("runlist", "remove", "--name", name)
        self.refused("runlist", "view", "--name", name)

        self.ok("runlist", "create", "--name", name)
        self.assertEqual(self.json("runlist", "view", "--name", name), {})
        added = self.json("runlist", "add-app", "--name", name, "--app",
                          "test_app", "--profile", "test_profile")
        self.assertEqual(added["added"], {"app": "test_app",
                                          "profile": "test_profile"})
        added = self.json("runlist", "add-app", "--name", "ZZ" + name,
                          "--app", "test_app", "--profile", "test_profile",
                          "--force")
        self.assertEqual(added["status"], "created")
        missing = self.json("runlist", "remove-app", "--name", name,
                            "--app", "ZZZZtest_app")
        self.assertEqual(missing["status"],
                         "the application named ZZZZtest_app is not in "
                         "runlist")
        removed = self.json("runlist", "remove-app", "--name", name,
                            "--app", "test_app")
        self.assertEqual(removed["status"], "successfully removed")
        self.assertEqual(self.json("runlist", "view", "--name", name), {})

    def test_groupsAndRouting(self):
        """
        Groups edited with the tool; C{routing} (which calls
        C{locator.routing(uid, True)}, an extra argument) shows them after
        a refresh.
        """
        name = "dummy_group"
        self.ok("group", "create", "--name", name, "--content",
                json.dumps({"test_app": 100}))
        self.ok("group", "copy", "--name", name, "--copyname", "copy")
        self.ok("group", "rename", "--name", "copy", "--copyname", "move")
        listing = self.json("group", "list")
        self.assertIn(name, listing)
        self.assertIn("move", listing)
        self.assertNotIn("copy", listing)
        self.assertEqual(self.json("group", "view", "--name", name),
                         {"test_app": 100})
        self.ok("group", "remove", "--name", name)
        self.refused("group", "view", "--name", name)

        self.ok("group", "create", "--name", name, "--content", '{"A": 1}')
        self.ok("group", "push", "--name", name, "--app", "B", "--weight",
                "1")
        self.assertEqual(self.json("group", "view", "--name", name),
                         {"A": 1, "B": 1})
        self.ok("group", "refresh", "--name", name)
        routing = self.json("routing", "--name", name)
        self.assertEqual(sorted(routing[name]), ["A", "B"])
        self.assertAlmostEqual(sum(routing[name].values()), 1.0)
        self.ok("group", "pop", "--name", name, "--app", "B")
        self.ok("group", "refresh")
        self.assertEqual(self.json("routing", "--name", name),
                         {name: {"A": 1.0}})

    def test_locateAndCluster(self):
        locate = self.json("locate", "--name", "locator")
        self.assertEqual(locate["version"], 3)
        self.assertEqual(locate["endpoints"],
                         ["127.0.0.1:{}".format(self.node.port)])
        self.assertEqual(locate["api"]["5"], "routing")
        self.assertEqual(self.json("cluster"), {})


class CrashlogTests(_ToolTestCase):
    """
    Crashlogs the node wrote for a worker that died, read and removed
    with the tool.
    """

    def crash(self):
        """
        Make workers of the crasher app die: a real framework client sends
        two requests (the event C{crash}, then C{ping}); each spawns a
        worker that prints a line and exits before its handshake.
        """
        steps = self.framework(CONFORMANCE, "errors", PORT, "crasher",
                               "crash")
        self.assertIn("error", steps["crash"])
        self.assertIn("error", steps["ping after"])

    def setUp(self):
        _ToolTestCase.setUp(self)
        self.ok("app", "upload", crasherApp(os.path.join(self.home,
                                                         "crasher")),
                "--name", "crasher")
        self.ok("profile", "upload", "--name", "one", "--profile",
                json.dumps({"pool-limit": 1,
                            "isolate": {"type": "legacy_process"}}))
        self.ok("app", "start", "--name", "crasher", "--profile", "one")

    def listing(self, *args):
        """
        C{crashlog list}'s lines as C{(timestamp, uuid)}.
        """
        lines = self.ok("crashlog", "list", "--name", "crasher",
                        *args).splitlines()
        return [(line.split()[0], line.split()[-1]) for line in lines
                if line.strip()]

    def test_crashlogs(self):
        self.crash()
        status = self.ok("crashlog", "status")
        self.assertIn("crasher", status)
        entries = self.listing()
        self.assertEqual(len(entries), 2, entries)
        for timestamp, uuid in entries:
            self.assertTrue(timestamp.isdigit(), timestamp)
            self.assertEqual(len(uuid), 36, uuid)
        view = self.ok("crashlog", "view", "--name", "crasher")
        self.assertIn("crasher: about to fail on purpose", view)
        timestamp = entries[0][0]
        self.assertIn(
            "crasher: about to fail on purpose",
            self.ok("crashlog", "view", "--name", "crasher", "--timestamp",
                    timestamp))
        self.ok("crashlog", "remove", "--name", "crasher", "--timestamp",
                timestamp)
        self.assertEqual(self.listing(), entries[1:])

        self.crash()
        self.assertEqual(len(self.listing()), 3)
        self.ok("crashlog", "removeall", "--name", "crasher")
        self.assertEqual(self.listing(), [])

    def test_crashlogsByDay(self):
        """
        C{crashlog list --day today} finds today's crashlogs: 0.12 indexes each
        crashlog under its app and C{cocaine-%Y-%m-%d} (UTC) of the day it
        was written (cocaine-plugins v0.12
        C{node/src/node/slave/machine.cpp}), and the tool searches both.
        """
        self.crash()
        self.assertEqual(len(self.listing("--day", "today")), 2)

