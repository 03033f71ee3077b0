# -*- test-case-name: tests.mesh.test_interop -*-
"""
Interoperability of L{cocaine.mesh} with real cote 1.2.0 (Node.js).

Every test creates its own network namespace (C{cocaine-mesh-<pid>-<n>})
with only C{lo} up, runs the cote helpers of C{tests/mesh/cote/} and the
Python peers of L{tests.mesh.pypeer} inside it with C{ip netns exec}, and
deletes the namespace afterwards: discovery broadcasts to
C{127.255.255.255} never leave it. cote is installed with npm into
C{~/.cache/cocaine-tests/cote} (outside the repository) and found through
C{NODE_PATH}. The tests skip, saying why, without C{node}/C{npm}, when the
install fails, or when network namespaces are not permitted.
"""

import itertools
import json
import os
import selectors
import shutil
import subprocess
import sys
import time

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.integration.netns import loopbackNamespace
from tests.mesh.npm import ensurePackage

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
COTE_DIR = os.path.join(HERE, "cote")
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "cocaine-tests",
                     "cote")
COTE_VERSION = "1.2.0"

_counter = itertools.count()
_prepared = []


def _installCote():
    """
    Make sure cote 1.2.0 is installed in L{CACHE}.

    @return: the C{NODE_PATH} to use.
    @raise SkipTest: when it cannot be.
    """
    if _prepared:
        if isinstance(_prepared[0], SkipTest):
            raise _prepared[0]
        return _prepared[0]
    try:
        for tool in ("node", "npm", "ip"):
            if shutil.which(tool) is None:
                raise SkipTest("{} is not installed".format(tool))
        modules = ensurePackage(CACHE, "cote", COTE_VERSION)
        _prepared.append(modules)
        return modules
    except SkipTest as e:
        _prepared.append(e)
        raise


class Peer:
    """
    One process running inside the namespace, printing JSON lines.
    """

    def __init__(self, argv, env, name):
        self.name = name
        # unbuffered, so select() sees every line readline() has not consumed
        self.process = subprocess.Popen(argv, env=env, cwd=ROOT, bufsize=0,
                                        stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        self.lines = []

    def nextEvent(self, timeout=15.0):
        """
        The next JSON line printed, or L{None} at the deadline or the end.
        """
        deadline = time.monotonic() + timeout
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        try:
            while time.monotonic() < deadline:
                if not selector.select(max(0.0, deadline - time.monotonic())):
                    continue
                line = self.process.stdout.readline()
                if not line:
                    return None
                line = line.decode("utf-8").strip()
                self.lines.append(line)
                if line.startswith("{"):
                    return json.loads(line)
            return None
        finally:
            selector.close()

    def events(self, timeout=25.0):
        """
        Wait for the process to exit and return the JSON lines it printed
        that L{nextEvent} has not returned.
        """
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError("{} did not exit within {} s".format(
                self.name, timeout))
        self.stderr = err.decode("utf-8", "replace")
        lines = out.decode("utf-8").splitlines()
        self.lines.extend(lines)
        return [json.loads(l) for l in lines if l.startswith("{")]

    def stop(self):
        if self.process.poll() is None:
            # by its own pid: ip netns exec execs the child
            self.process.kill()
        self.process.communicate()


class CoteInteropTests(SynchronousTestCase):
    """
    Python and cote components find and call each other over the real wire.
    """

    def setUp(self):
        self.nodePath = _installCote()
        self.namespace = loopbackNamespace(
            self, "cocaine-mesh-{}-{}".format(os.getpid(), next(_counter)))

    def spawn(self, kind, role, **env):
        full = dict(os.environ, NODE_PATH=self.nodePath, PYTHONPATH=ROOT)
        for name in ("COTE_KEY", "COTE_NAMESPACE", "COTE_SECRET", "COTE_ENV"):
            full.pop(name, None)
        full.update({k: str(v) for k, v in env.items()})
        if kind == "cote":
            command = ["node", os.path.join(COTE_DIR, role + ".js")]
        else:
            command = [sys.executable, "-m", "tests.mesh.pypeer", role]
        peer = Peer(["ip", "netns", "exec", self.namespace] + command, full,
                    "{} {}".format(kind, role))
        self.addCleanup(peer.stop)
        return peer

    def server(self, kind, role, **env):
        peer = self.spawn(kind, role, **env)
        event = peer.nextEvent()
        self.assertEqual((event or {}).get("event"), "ready",
                         "{} did not start: {!r}".format(peer.name,
                                                         peer.lines))
        return peer

    def test_pythonRequesterCoteResponder(self):
        """
        A Python Requester calls a cote Responder; cote's thrown error
        arrives as cote sends it (C{{}}).
        """
        self.server("cote", "responder")
        events = self.spawn("python", "requester").events()
        self.assertEqual(events, [
            {"event": "result", "type": "add", "result": 5},
            {"event": "error", "type": "fail", "error": {}}])

    def test_coteRequesterPythonResponder(self):
        """
        A cote Requester calls a Python Responder and gets our errors as
        message/code/name objects.
        """
        self.server("python", "responder")
        events = self.spawn("cote", "requester").events()
        self.assertEqual(events, [
            {"event": "result", "type": "add", "result": 5},
            {"event": "error", "type": "fail",
             "error": {"message": "python says no", "code": "ENOPE",
                       "name": "MeshError"}}])

    def test_cotePublisherPythonSubscriber(self):
        self.server("cote", "publisher")
        (event,) = self.spawn("python", "subscriber").events()
        self.assertEqual(
            (event["event"], event["topic"], event["data"]["from"]),
            ("publication", "news", "cote"))

    def test_pythonPublisherCoteSubscriber(self):
        self.server("python", "publisher")
        (event,) = self.spawn("cote", "subscriber").events()
        self.assertEqual(
            (event["event"], event["topic"], event["data"]["from"]),
            ("publication", "news", "python"))

    def test_secretBothWays(self):
        """
        With the same discovery secret, cote and Python find each other in
        both directions (node-discover's encryption).
        """
        self.server("cote", "responder", COTE_SECRET="s3cret", COTE_KEY="c")
        self.server("python", "responder", COTE_SECRET="s3cret", COTE_KEY="p")
        fromPython = self.spawn("python", "requester", COTE_SECRET="s3cret",
                                COTE_KEY="c")
        fromCote = self.spawn("cote", "requester", COTE_SECRET="s3cret",
                              COTE_KEY="p")
        self.assertEqual(fromPython.events()[0],
                         {"event": "result", "type": "add", "result": 5})
        self.assertEqual(fromCote.events()[1]["error"]["code"], "ENOPE")

    def test_signedHellos(self):
        """
        cote reads our signed hellos (it ignores the signature) and calls a
        signing Python Responder; a signing Python Requester ignores an
        unsigned cote Responder and, with a signing Responder beside it,
        finds only that one.
        """
        self.server("python", "responder", COTE_SIGNING_KEY="k", COTE_KEY="p")
        fromCote = self.spawn("cote", "requester", COTE_KEY="p")
        self.assertEqual(fromCote.events()[0],
                         {"event": "result", "type": "add", "result": 5})
        self.server("cote", "responder", COTE_KEY="c")
        unsigned = self.spawn("python", "requester", COTE_KEY="c",
                              COTE_SIGNING_KEY="k", COTE_GIVE_UP=3)
        self.assertEqual(unsigned.events(), [{"event": "gave-up"}])
        signed = self.spawn("python", "requester", COTE_KEY="p",
                            COTE_SIGNING_KEY="k")
        self.assertEqual(signed.events()[1]["error"]["code"], "ENOPE")

    def test_segmentation(self):
        """
        Keys, namespaces, environments and secrets keep unrelated components
        apart.
        """
        self.server("cote", "responder", COTE_KEY="a", COTE_NAMESPACE="n")
        self.server("cote", "responder", COTE_KEY="s", COTE_SECRET="s3cret")
        strangers = [
            self.spawn("python", "requester", COTE_KEY="b", COTE_NAMESPACE="n",
                       COTE_GIVE_UP=3),
            self.spawn("python", "requester", COTE_KEY="a", COTE_NAMESPACE="m",
                       COTE_GIVE_UP=3),
            self.spawn("python", "requester", COTE_KEY="a", COTE_GIVE_UP=3),
            self.spawn("python", "requester", COTE_KEY="a", COTE_NAMESPACE="n",
                       COTE_ENV="prod", COTE_GIVE_UP=3),
            self.spawn("python", "requester", COTE_KEY="s",
                       COTE_SECRET="other",
                       COTE_GIVE_UP=3),
        ]
        friend = self.spawn("python", "requester", COTE_KEY="a",
                            COTE_NAMESPACE="n")
        for stranger in strangers:
            self.assertEqual(stranger.events(), [{"event": "gave-up"}])
        self.assertEqual(friend.events()[0]["result"], 5)

    def test_responderKilledAndRestarted(self):
        """
        A cote responder killed mid-request fails the request at once
        (never a hang); the requester finds the restarted responder and its
        next request succeeds.
        """
        first = self.server("cote", "responder")
        survivor = self.spawn("python", "survivor")
        self.assertEqual(first.nextEvent(), {"event": "hanging"})
        first.stop()
        self.assertEqual(survivor.nextEvent(),
                         {"event": "error", "type": "hang",
                          "code": "ECONNRESET"})
        self.server("cote", "responder")
        self.assertEqual(survivor.events(),
                         [{"event": "result", "type": "add", "result": 5}])

    def test_multicastBothWays(self):
        """
        With C{multicast} (the namespace's C{lo} carrying multicast), cote
        and Python find each other in both directions.
        """
        for command in (["link", "set", "lo", "multicast", "on"],
                        ["route", "add", "224.0.0.0/4", "dev", "lo"]):
            subprocess.run(["ip", "-n", self.namespace] + command, check=True)
        group = {"COTE_MULTICAST": "239.1.2.3"}
        self.server("cote", "responder", COTE_KEY="c", **group)
        self.server("python", "responder", COTE_KEY="p", **group)
        fromPython = self.spawn("python", "requester", COTE_KEY="c", **group)
        fromCote = self.spawn("cote", "requester", COTE_KEY="p", **group)
        self.assertEqual(fromPython.events()[0],
                         {"event": "result", "type": "add", "result": 5})
        self.assertEqual(fromCote.events()[0],
                         {"event": "result", "type": "add", "result": 5})

    def test_pythonMonitorSeesCote(self):
        """
        A Python Monitor sees cote components of any key and the
        connections a cote Requester reports in its status messages.
        """
        monitor = self.server("python", "monitor")
        self.server("cote", "responder")
        self.server("cote", "responder", COTE_KEY="other")
        self.spawn("cote", "requester", COTE_STAY=1, COTE_STATUS_INTERVAL=300)
        event = monitor.nextEvent(timeout=20)
        self.assertEqual((event or {}).get("event"), "table", monitor.lines)
        rows = sorted((r["name"], r["axon_type"], r["connectedTo"])
                      for r in event["rows"])
        self.assertEqual(rows, [("cote-requester", "req", ["cote-responder"]),
                                ("cote-responder", "rep", None),
                                ("cote-responder", "rep", None)])

    def test_coteMonitorHearsPython(self):
        """
        Our Requester connects to a cote Monitor and sends it cote's
        C{status} messages.
        """
        monitor = self.server("cote", "monitor")
        self.server("python", "responder")
        reporter = self.spawn("python", "reporter", COTE_STATUS_INTERVAL=300)
        result = reporter.nextEvent()
        self.assertEqual((result or {}).get("result"), 5, reporter.lines)
        for _ in range(20):
            event = monitor.nextEvent(timeout=10)
            self.assertIsNotNone(event, monitor.lines)
            status = event["status"]
            if status["id"] == result["iid"] and status["nodes"]:
                break
        self.assertEqual(event["status"],
                         {"id": result["iid"], "nodes": result["nodes"]})
        self.assertEqual(len(result["nodes"]), 1)

    def test_coteRequesterCocaineApp(self):
        """
        A cote Requester calls the echo example app of a real node (run in
        the namespace) through the mesh bridge.
        """
        from tests.integration import node as nodeModule

        command = nodeModule.twistdCommand
        self.patch(nodeModule, "twistdCommand",
                   lambda *a: ["ip", "netns", "exec", self.namespace]
                   + command(*a))
        node = nodeModule.Node(self.mktemp(), {
            "network": {"locator": 0},
            "services": {"logging": {"type": "logging"},
                         "storage": {"type": "storage"},
                         "node": {"type": "node", "args": {"local": {"echo": {
                             "path": os.path.join(
                                 ROOT, "examples", "apps", "echo")}}}},
                         "mesh_bridge": {"type": "mesh_bridge", "args": {
                             "apps": {"echo": ["ping", "echo", "fail"]},
                             "mesh": {"helloInterval": 0.2,
                                      "checkInterval": 1.0,
                                      "nodeTimeout": 2.0}}}}})
        node.start()
        self.addCleanup(node.stop)
        events = self.spawn("cote", "app-requester").events(timeout=40)
        self.assertEqual(events[:2], [
            {"event": "result", "type": "ping", "result": "pong"},
            {"event": "result", "type": "echo",
             "result": {"a": [1, "two"], "b": {"c": None}}}])
        self.assertEqual((events[2]["event"], events[2]["code"]),
                         ("error", "EAPP"))
        self.assertIn("boom", events[2]["message"])
