"""
The REAL Cocaine 0.12 HTTP proxy (C{cocaine-tornado-proxy} from
C{cocaine-tools} 0.12.13.6, Python 2.7) on loopback in front of a real
node, serving fwecho (a worker written with the real 0.12 framework).

The proxy subscribes to routing groups with C{locator.routing(uid,
True)}: one argument more than the locator declares, which 0.12 ignores
(conformance point 1). If the node refused it, the proxy would log
"error occurred while watching for group updates" and never learn a
group; here it learns one created after it started and routes a sticky
request through it.

The commands cocaine-tool ran and their exit status are appended to
C{tool-commands.txt} in the test's working directory.
"""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

from twisted.trial.unittest import TestCase

from tests.integration.apps012 import frameworkApp
from tests.integration.framework import frameworkPython
from tests.integration.node import Node, freePort
from tests.integration.tools import Tool, environment, proxyCommand


class _Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body


class ProxyTests(TestCase):
    """
    A node serving fwecho, and the 0.12 proxy in front of it.
    """

    timeout = 180

    def setUp(self):
        python = frameworkPython()
        proxy = proxyCommand()      # installs the tools, or skips
        directory = os.path.abspath(self.mktemp())
        app = frameworkApp(os.path.join(directory, "fwecho"), python)
        self.node = Node(os.path.join(directory, "node"), {
            "network": {"locator": 0}, "services": {
                "logging": {"type": "logging"},
                "storage": {"type": "storage"},
                "node": {"type": "node", "args": {"local": {"fwecho": {
                    "path": app, "profile": {"pool-limit": 1}}}}}}})
        self.node.start()
        self.addCleanup(self.node.stop)
        self.home = os.path.join(directory, "home")
        self.tool = Tool(self.node.port, self.home)
        self.addCleanup(lambda: self.tool.record(self.id()))
        self.httpPort = freePort()
        self.proxyLog = os.path.join(directory, "proxy.log")
        self.startProxy(proxy + [
            "--locators=127.0.0.1:{}".format(self.node.port),
            "--endpoints=tcp://127.0.0.1:{}".format(self.httpPort),
            "--logging=info"])

    def startProxy(self, argv, timeout=30):
        """
        Start the proxy and wait until it answers C{/ping} with 200 (its
        locator health check passed).
        """
        log = open(self.proxyLog, "ab")
        self.addCleanup(log.close)
        process = subprocess.Popen(
            argv, cwd=self.home, env=environment(self.home), stdout=log,
            stderr=subprocess.STDOUT)
        self.addCleanup(self.stopProxy, process)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assertIsNone(process.poll(), self.log())
            try:
                if self.get("/ping").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.fail("the proxy did not answer /ping within {}s:\n{}".format(
            timeout, self.log()))

    def stopProxy(self, process):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log(self):
        with open(self.proxyLog, errors="replace") as f:
            return f.read()

    def get(self, path, data=None, headers=None, timeout=20):
        """
        One HTTP request to the proxy.
        """
        request = urllib.request.Request(
            "http://127.0.0.1:{}{}".format(self.httpPort, path), data=data,
            headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return _Response(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return _Response(e.code, e.headers, e.read())

    def waitForLog(self, text, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            time.sleep(0.2)
        self.fail("{!r} not in the proxy's log within {}s:\n{}".format(
            text, timeout, self.log()))

    def test_appThroughProxy(self):
        """
        An HTTP request through the proxy reaches the framework's C{@http}
        handler and its answer comes back.
        """
        response = self.get("/fwecho/http?name=cocaine", data=b"the body",
                            headers={"Content-Type": "text/plain"})
        self.assertEqual(response.status, 200, response.body)
        self.assertEqual(response.body, b"POST name=cocaine the body")
        self.assertEqual(response.headers["X-Framework"], "cocaine-0.12")
        self.assertEqual(response.headers["X-Cocaine-Application"],
                         "fwecho")

    def test_routingWithExtraArgument(self):
        """
        The proxy's C{routing(uid, True)} stream is accepted and carries a
        group created (with the real cocaine-tool) after the proxy
        started; a request with C{X-Cocaine-Sticky} to the group's name
        is served by the group's member.
        """
        self.waitForLog("subscribe to updates with id")
        for args in (("group", "create", "--name", "front", "--content",
                      json.dumps({"fwecho": 1})),
                     ("group", "refresh", "--name", "front")):
            result = self.tool.run(*args)
            self.assertEqual(result.returncode, 0, result.stdout)
        self.waitForLog("routing groups have been refreshed ['front']")
        response = self.get("/front/http", headers={"X-Cocaine-Sticky": "7"})
        self.assertEqual(response.status, 200, response.body)
        self.assertEqual(response.headers["X-Cocaine-Application"],
                         "fwecho")
        self.assertEqual(response.body, b"GET  ")
        self.assertNotIn("error occurred while watching for group updates",
                         self.log())

    def test_unknownApp(self):
        """
        An app the locator does not know: the proxy's 503.
        """
        response = self.get("/nosuch/event")
        self.assertEqual(response.status, 503)
        self.assertIn(b"nosuch", response.body)
