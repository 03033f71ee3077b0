# -*- test-case-name: tests.integration.test_admin_browser -*-
"""
The dashboard in a real browser: a real node (twistd) with the example
echo app and the C{admin} service, a client sending requests, and headless
Chromium driven by playwright-core (C{browser/admin.js}), all inside a
network namespace the test creates (only C{lo} up; deleted afterwards).

The page loads and shows echo running, its req/s chart draws a point
above zero while the client sends requests, pinning the pool with the
pool input shows on the page, and pausing echo turns it to stopped (the
node's log says so too). A screenshot is saved in the test's temporary
directory, or to C{docs/admin-dashboard.png} when C{COCAINE_SCREENSHOTS=1}
(that is how the one in the docs was made). Chromium and playwright-core
are installed as for the Sockend's browser test
(L{tests.mesh.test_sockend}); the test skips, saying why, when they or a
network namespace cannot be had.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.integration import node as _node
from tests.integration.node import ROOT, Node, environment

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "browser", "admin.js")

#: The dashboard's port inside the test's own namespace (free there).
ADMIN_PORT = 10081

#: Pings echo about 20 times a second for at most 150 s (the test stops
#: it sooner): python -c LOAD PORT.
LOAD = """
import sys, time
from cocaine.client.blocking import connect
echo = connect("echo", host="127.0.0.1", port=int(sys.argv[1]), timeout=10)
deadline = time.monotonic() + 150
while time.monotonic() < deadline:
    channel = echo.enqueue("ping")
    list(channel)
    time.sleep(0.05)
"""


def inNamespace(namespace, command):
    return ["ip", "netns", "exec", namespace] + command


class _NamespaceNode(Node):
    """
    A L{Node} whose twistd runs inside a network namespace.
    """

    def __init__(self, namespace, *args, **kwargs):
        Node.__init__(self, *args, **kwargs)
        self.namespace = namespace

    def start(self, timeout=30):
        original = _node.twistdCommand
        _node.twistdCommand = lambda *args: inNamespace(
            self.namespace, original(*args))
        try:
            return Node.start(self, timeout)
        finally:
            _node.twistdCommand = original


def _stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class AdminBrowserTests(SynchronousTestCase):

    def setUp(self):
        from tests.mesh.test_sockend import _prepareBrowser
        self.playwright = _prepareBrowser()
        self.namespace = "cocaine-admin-{}".format(os.getpid())
        result = subprocess.run(["ip", "netns", "add", self.namespace],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise SkipTest("cannot create a network namespace: {}".format(
                result.stderr.strip()))
        self.addCleanup(subprocess.run,
                        ["ip", "netns", "delete", self.namespace],
                        capture_output=True)
        subprocess.run(["ip", "-n", self.namespace, "link", "set", "lo",
                        "up"], check=True)

    def startNode(self):
        directory = os.path.abspath(self.mktemp())
        node = _NamespaceNode(self.namespace, directory, {
            "network": {"bind": "127.0.0.1", "locator": 0},
            "storages": {"core": {"type": "files", "args": {
                "path": os.path.join(directory, "storage")}}},
            "services": {
                "logging": {"type": "logging"},
                "node": {"type": "node", "args": {"local": {"echo": {
                    "path": os.path.join(ROOT, "examples", "apps", "echo"),
                    "profile": {"pool-limit": 2}}}}},
                "admin": {"type": "admin", "args": {"port": ADMIN_PORT}}},
            "logging": {"verbosity": "debug", "sinks": [
                {"type": "twistd"}]}})
        node.start()
        self.addCleanup(node.stop)
        return node

    def test_dashboard(self):
        node = self.startNode()
        self.assertIn("dashboard on http://127.0.0.1:{}/".format(ADMIN_PORT),
                      node.log())
        load = subprocess.Popen(
            inNamespace(self.namespace, [sys.executable, "-c", LOAD,
                                         str(node.port)]),
            env=environment(), stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        self.addCleanup(_stop, load)

        if os.environ.get("COCAINE_SCREENSHOTS") == "1":
            screenshot = os.path.join(ROOT, "docs", "admin-dashboard.png")
        else:
            screenshot = os.path.abspath(self.mktemp() + "-dashboard.png")
        profile = tempfile.mkdtemp(prefix="cocaine-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        env = dict(os.environ, NODE_PATH=self.playwright, HOME=profile)
        try:
            browser = subprocess.run(
                inNamespace(self.namespace, [
                    "node", DRIVER,
                    "http://127.0.0.1:{}/".format(ADMIN_PORT), screenshot,
                    profile, "echo"]),
                env=env, capture_output=True, text=True, timeout=300)
        finally:
            _stop(load)
        lines = browser.stdout.strip().splitlines()
        self.assertTrue(lines, "the driver printed nothing: {}".format(
            browser.stderr[-2000:]))
        result = json.loads(lines[-1])
        self.assertEqual(result["status"], "done", result)
        self.assertEqual(result["steps"], ["loaded", "running",
                                           "chart moves", "resized",
                                           "paused"])
        self.assertTrue(any(v and v > 0 for v in result["rps"]), result)
        self.assertIn("pinned 1", result["pool"])
        self.assertEqual(result["state"], "stopped")
        self.assertEqual([m for m in result["console"]
                          if m.startswith(("error", "pageerror"))], [])
        log = node.log()
        self.assertIn("dashboard: /api/apps/echo/pool from 127.0.0.1", log)
        self.assertIn("dashboard: /api/apps/echo/pause from 127.0.0.1", log)
        self.assertIn("app echo stopped", log)
        self.assertTrue(os.path.getsize(screenshot) > 10000)
