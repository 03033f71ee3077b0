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
(that is how the one in the docs was made). A second run has token
authentication on: the page asks for a token, is given the admin's
through its form, then shows echo running, live, and pauses it.
Chromium and playwright-core
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
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.integration.netns import (
    NamespaceNode, inNamespace, loopbackNamespace)
from tests.integration.node import ROOT, environment

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
        self.namespace = loopbackNamespace(
            self, "cocaine-admin-{}".format(os.getpid()))

    def startNode(self, auth=None):
        directory = os.path.abspath(self.mktemp())
        config = {
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
                {"type": "twistd"}]}}
        if auth is not None:
            config["authentications"] = auth(directory)
        node = NamespaceNode(self.namespace, "127.0.0.1", directory, config)
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

    def test_dashboardWithAuth(self):
        """
        Auth on: the page shows its login form, takes the admin's token,
        keeps it in this tab's sessionStorage (not localStorage, and not
        in a cookie the page can read), shows echo running with live
        updates (the event stream's cookie) and pauses it.
        """
        from cocaine.auth.token import issue
        from tests.security.test_auth import SECRET, writeSecret

        def auth(directory):
            return {"core": {"type": "token", "args": {
                "secret-file": writeSecret(directory)}}}

        node = self.startNode(auth)
        profile = tempfile.mkdtemp(prefix="cocaine-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        env = dict(os.environ, NODE_PATH=self.playwright, HOME=profile,
                   ADMIN_TOKEN=issue(SECRET, uids=[0],
                                     expiry=int(time.time()) + 600))
        browser = subprocess.run(
            inNamespace(self.namespace, [
                "node", DRIVER, "http://127.0.0.1:{}/".format(ADMIN_PORT),
                os.path.abspath(self.mktemp() + ".png"), profile, "echo"]),
            env=env, capture_output=True, text=True, timeout=300)
        lines = browser.stdout.strip().splitlines()
        self.assertTrue(lines, "the driver printed nothing: {}".format(
            browser.stderr[-2000:]))
        result = json.loads(lines[-1])
        self.assertEqual(result["status"], "done", result)
        self.assertEqual(result["steps"],
                         ["loaded", "login", "running", "paused"])
        self.assertTrue(result["live"])
        self.assertEqual(result["stored"], {"session": True, "local": 0,
                                            "cookie": ""})
        self.assertEqual(result["state"], "stopped")
        log = node.log()
        self.assertIn("dashboard: /api/apps/echo/pause from 127.0.0.1 "
                      "(uid 0)", log)
        self.assertIn("app echo stopped", log)
