"""
Conformance with Cocaine 0.12, proven with the REAL published 0.12 Python
framework (C{cocaine} 0.12.14.5 from PyPI) making the calls against a real
node; C{framework_conformance.py} is what it runs.

 1. Extra trailing arguments are ignored, on every service (cocaine-core
    C{traits/tuple.hpp} refuses only a shorter argument array).
 2. The C{legacy_process} isolate (0.12's in-node process isolate) starts
    apps (here through C{start_app}; test_tools_012 does it with the real
    cocaine-tool).
 3. The locator's C{routing} graph is 0.12's and C{discard} is accepted.
 4. A worker's malformed error reaches clients as a well-formed error.

Each point's script runs once per test class against a node of its own;
the tests check parts of what it printed.
"""

import os
import subprocess

from twisted.trial.unittest import TestCase

from tests.integration.apps012 import MALFORMED, frameworkApp, packTree
from tests.integration.framework import frameworkPython
from tests.integration.framework_report import readSteps
from tests.integration.node import Node

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "framework_conformance.py")
EXTRA = "an extra argument"

#: 0.12's streaming and primitive protocols as the framework reports them
#: (JSON: map keys are text, nil is null).
STREAMING = {"0": ["write", None], "1": ["error", {}], "2": ["close", {}]}
PRIMITIVE = {"0": ["value", {}], "1": ["error", {}]}
DISCARD = {"0": ["discard", {}]}


def nodeConfig(local=None):
    return {"network": {"locator": 0}, "services": {
        "logging": {"type": "logging"}, "storage": {"type": "storage"},
        "node": {"type": "node", "args": {"local": local or {},
                                          "drain-timeout": 3}}}}


class SharedRun:
    """
    One run of the framework script against one node, shared by the tests
    of a class (trial has no class fixtures): the node is started, the
    script runs to its end, the node is stopped, and the tests read what
    was printed and logged.

    @ivar steps: C{{step: fields}} the script printed.
    @ivar log: the node's log.
    """

    def __init__(self, config, *arguments):
        self.config = config
        self.arguments = arguments
        self.done = False
        self.failure = None

    def get(self, directory, prepare):
        """
        The finished run, running it the first time. A run that could not
        be made (no framework, a node that did not start, a script that
        did not end) fails every test that asks for it, the same way.

        @param prepare: C{prepare(python, directory)} returning the node's
            config and further arguments for the script, called before
            the node starts.
        """
        if self.failure is not None:
            raise self.failure
        if not self.done:
            try:
                self._run(directory, prepare)
            except BaseException as e:
                self.failure = e
                raise
            self.done = True
        return self

    def _run(self, directory, prepare):
        python = frameworkPython()
        os.makedirs(directory)
        config, more = prepare(python, directory)
        node = Node(os.path.join(directory, "node"), config).start()
        try:
            arguments = [self.arguments[0], str(node.port)] + list(
                self.arguments[1:]) + more
            result = subprocess.run(
                [python, "-E", SCRIPT] + arguments, cwd=directory,
                capture_output=True, text=True, timeout=150,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
            self.output, self.errors = result.stdout, result.stderr
            self.status = result.returncode
            self.steps = readSteps(result.stdout)
        finally:
            node.stop()
            self.log = node.log()


class _StepsTestCase(TestCase):
    """
    Tests reading one L{SharedRun}.
    """

    timeout = 200
    shared = None

    def prepare(self, python, directory):
        return self.shared.config, []

    def setUp(self):
        run = self.shared.get(os.path.abspath(type(self).__name__),
                           self.prepare)
        self.steps, self.log = run.steps, run.log
        self.output, self.errors, self.status = (run.output, run.errors,
                                                 run.status)

    def step(self, name):
        self.assertIn(name, self.steps, "step {!r} missing:\n{}\n{}".format(
            name, self.output, self.errors[-3000:]))
        return self.steps[name]

    def succeeded(self, name):
        """
        The value of a step that must not have failed.
        """
        step = self.step(name)
        self.assertNotIn("error", step, "{}: {}".format(name, step))
        return step.get("value", step.get("chunks"))


class ExtraArgumentsTests(_StepsTestCase):
    """
    Point 1: every call made with one argument more than declared works
    as without it: locator, storage, logging, node, an app's info and
    control, an app stream's C{write}. The app is fwecho (the real
    framework's worker) deployed through storage and started with a
    C{legacy_process} profile.
    """

    shared = SharedRun(nodeConfig(), "extra", "fwecho")

    def prepare(self, python, directory):
        app = frameworkApp(os.path.join(directory, "fwecho"), python)
        archive = os.path.join(directory, "fwecho.tar.gz")
        with open(archive, "wb") as f:
            f.write(packTree(app))
        return nodeConfig(), [archive]

    def test_ranToTheEnd(self):
        self.assertEqual(self.status, 0, self.errors[-3000:])

    def test_locatorRouting(self):
        """
        C{routing(uid, True)}, as the 0.12 HTTP proxy and C{cocaine-tool
        routing} call it: the first table comes.
        """
        self.assertEqual(self.succeeded("routing"), {})

    def test_locator(self):
        endpoints, version, graph = self.succeeded("resolve")
        self.assertEqual(endpoints[0][0], "127.0.0.1")
        self.assertEqual(graph["0"][0], "read")
        self.assertEqual(self.succeeded("cluster"), {})
        self.assertEqual(len(self.succeeded("uuid")), 36)
        self.assertEqual(self.succeeded("refresh"), [])

    def test_locatorStreams(self):
        """
        C{connect(uuid)} and C{publish(name, endpoints, [version,
        graph])}, each with an argument more: the connect stream's first
        chunk is the node's table; the published service resolves until
        the publishing channel is discarded.
        """
        uuid, table = self.succeeded("connect")
        self.assertEqual(uuid, self.succeeded("uuid"))
        self.assertIn("storage", table)
        self.assertEqual(self.succeeded("publish"), [])
        endpoints, version, graph = self.succeeded("resolve published")
        self.assertEqual((endpoints, version, graph),
                         ([["127.0.0.1", 1]], 1, {}))
        # its discard (with an extra argument too) withdraws it
        self.assertEqual(self.step("resolve discarded")["error"], [10, 1])

    def test_storage(self):
        self.assertEqual(self.succeeded("write"), [])
        self.assertEqual(self.succeeded("read"), "\x00v")
        self.assertEqual(self.succeeded("find"), ["key"])
        self.assertEqual(self.succeeded("remove"), [])

    def test_logging(self):
        self.assertIsInstance(self.succeeded("verbosity"), int)
        self.assertEqual(self.succeeded("set_verbosity"), [])
        self.assertIn("conformance: emitted with an extra argument",
                      self.log)

    def test_node(self):
        self.assertEqual(self.succeeded("start_app"), [])
        self.assertEqual(self.succeeded("list"), ["fwecho"])
        self.assertEqual(self.succeeded("info")["state"], "running")
        self.assertEqual(self.succeeded("node control"), [])
        self.assertEqual(self.succeeded("pause_app"), [])
        self.assertEqual(self.succeeded("list after pause"), [])

    def test_appInfoAndControl(self):
        self.assertEqual(self.succeeded("app info")["state"], "running")
        self.assertEqual(self.succeeded("app control"), [])
        self.assertEqual(self.succeeded("app info pinned")["pool"]["pinned"],
                         1)

    def test_streamWrite(self):
        """
        A chunk written with an extra argument on an app's request stream
        is delivered to the worker (fwecho echoes it back).
        """
        self.assertEqual(self.succeeded("enqueue write"), ["first", "second"])

    def test_legacyProcess(self):
        """
        Point 2 through the framework: the profile names the isolate as
        0.12 does, and the app serves.
        """
        self.assertEqual(
            self.succeeded("info")["profile"]["isolate"]["type"], "process")
        self.assertNotIn("isolate: type must be", self.log)


class RoutingGraphTests(_StepsTestCase):
    """
    Point 3: the locator's dispatch graph is exactly the one the 0.12
    framework has built in (its C{API.Locator}), and a routing stream
    takes the client's C{discard}: nothing answers it, nothing more is
    sent on it, the connection stays.
    """

    shared = SharedRun(nodeConfig(), "routing")

    def test_ranToTheEnd(self):
        self.assertEqual(self.status, 0, self.errors[-3000:])

    def test_routingGraph(self):
        graph = self.step("graph")
        self.assertEqual(graph["routing"], ["routing", DISCARD, STREAMING])
        self.assertEqual(graph["routing"], graph["framework"])
        self.assertEqual(graph["publish"], ["publish", DISCARD, PRIMITIVE])

    def test_wholeGraphIsTheFrameworks(self):
        self.assertTrue(self.step("graph")["same"], self.step("graph"))

    def test_discardAccepted(self):
        self.assertEqual(self.succeeded("first table"),
                         {"g": self.succeeded("first table")["g"]})
        self.assertEqual(self.step("after discard"), {"silent": True})
        self.assertEqual(self.step("first after refresh"), {"silent": True})
        self.assertEqual(self.step("second after discard"), {"silent": True})
        self.assertEqual(len(self.succeeded("uuid")), 36)

    def test_streamUpdates(self):
        """
        A stream that was not discarded gets the table again after a
        refresh, with the new member.
        """
        first = self.succeeded("second table")["g"]
        self.assertEqual({member for point, member in first}, {"alpha"})
        update = self.succeeded("second update")["g"]
        self.assertEqual({member for point, member in update},
                         {"alpha", "beta"})


#: The malformed worker's events (apps/malformed/worker.py) and a part of
#: what came that the error's message must name.
MALFORMED_EVENTS = {
    "no-args": "[]",
    "not-a-pair": "oops",
    "short-pair": "short pair",
    "text-code": "text code",
    "map": "a map",
    "long-pair": "long pair",
    "nil": "nil",
}


class MalformedErrorTests(_StepsTestCase):
    """
    Point 4: a worker's malformed C{error} reaches a 0.12 client as a
    well-formed one, dispatch C{invalid_argument} [7, 2] naming what came,
    never as "engine broken"; well-formed ones pass unchanged; the app
    goes on serving.
    """

    shared = SharedRun(
        nodeConfig({"malformed": {"path": MALFORMED, "profile": {
            "pool-limit": 1, "log-output": True}}}),
        "errors", "malformed", *(list(MALFORMED_EVENTS)
                                 + ["no-message", "user"]))

    def test_ranToTheEnd(self):
        self.assertEqual(self.status, 0, self.errors[-3000:])

    def test_malformedIsInvalidArgument(self):
        for event, named in MALFORMED_EVENTS.items():
            step = self.step(event)
            self.assertEqual(step.get("error"), [7, 2], (event, step))
            self.assertIn("malformed error", step["reason"], event)
            self.assertIn(named, step["reason"], event)

    def test_wellFormedPassesThrough(self):
        self.assertEqual(self.step("no-message"),
                         {"error": [43, 5], "reason": ""})
        self.assertEqual(self.step("user"),
                         {"error": [43, 6], "reason": "user error"})

    def test_appStillServes(self):
        self.assertEqual(self.succeeded("ping after"), ["pong"])
        info = self.succeeded("info after")
        self.assertEqual(info["state"], "running")
        self.assertEqual([w["state"] for w in info["workers"]], ["active"])
        self.assertNotIn("engine broken", self.log)
