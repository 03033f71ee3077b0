# -*- test-case-name: tests.security.test_dashboard -*-
"""
The dashboard (issue 13's C{admin} service) on a real node with token
authentication (loopback only, a few requests each): what used to be
open to any local process or any web page a local browser opened is now
refused.

  - no token: C{401} on the API, the actions and C{/metrics};
  - a token without the node's event ACL: reads, but every action C{403};
  - the admin's token: actions work;
  - a C{Host} header naming another site (DNS rebinding): C{403}, even
    with the admin's token;
  - the event stream opens only with the cookie C{POST /api/login} sets.
"""

import http.client
import json
import os
import re

from twisted.trial.unittest import SynchronousTestCase

from tests.integration.node import Node
from tests.security.test_auth import ECHO, token, writeSecret

_DASHBOARD = re.compile(r"dashboard on http://127\.0\.0\.1:(\d+)/")


class DashboardAuthTests(SynchronousTestCase):

    def setUp(self):
        directory = os.path.abspath(self.mktemp())
        self.node = Node(directory, {
            "network": {"locator": 0},
            "authentications": {"core": {"type": "token", "args": {
                "secret-file": writeSecret(directory)}}},
            "services": {
                "logging": {"type": "logging"},
                "storage": {"type": "storage"},
                "node": {"type": "node", "args": {
                    "local": {"echo": {"path": ECHO}},
                    "drain-timeout": 2}},
                "admin": {"type": "admin", "args": {"port": 0}}}})
        self.node.start()
        self.addCleanup(self.node.stop)
        self.port = int(_DASHBOARD.search(self.node.log()).group(1))

    def request(self, method, path, uid=None, body=None, host=None,
                headers=None):
        """
        @return: C{(status, headers, decoded JSON or raw body)}.
        """
        connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                timeout=20)
        self.addCleanup(connection.close)
        sent = {"Host": host or "127.0.0.1:{}".format(self.port)}
        if uid is not None:
            sent["Authorization"] = "token " + token(uid)
        if body is not None:
            body = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        connection.request(method, path, body, sent)
        response = connection.getresponse()
        raw = response.read()
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        return response.status, response, value

    def test_noToken(self):
        for method, path, body in [
                ("GET", "/api/overview", None),
                ("GET", "/metrics", None),
                ("POST", "/api/apps/echo/pause", {}),
                ("POST", "/api/apps/echo/pool", {"size": 1})]:
            status, response, answer = self.request(method, path, body=body)
            self.assertEqual((path, status), (path, 401))
            self.assertEqual(answer["kind"], "Unauthorized")
            self.assertIn("Bearer", response.getheader("WWW-Authenticate"))
        self.assertNotIn("app echo stopped", self.node.log())

    def test_tokenWithoutPermission(self):
        status, _, overview = self.request("GET", "/api/overview", uid=5)
        self.assertEqual(status, 200)
        self.assertIn("echo", [app["name"] for app in overview["apps"]])
        for path, body, method in [
                ("/api/apps/echo/pause", {}, "node.pause_app"),
                ("/api/apps/echo/start", {"profile": "default"},
                 "node.start_app"),
                ("/api/apps/echo/pool", {"size": 1}, "node.control")]:
            status, _, answer = self.request("POST", path, 5, body)
            self.assertEqual((path, status), (path, 403))
            self.assertEqual(answer["kind"], "AccessDenied")
            self.assertIn(method, answer["error"])
        self.assertIn("authorization: admin.node.pause_app refused to uid 5",
                      self.node.log())
        self.assertNotIn("app echo stopped", self.node.log())

    def test_admin(self):
        status, _, answer = self.request("POST", "/api/apps/echo/pool", 0,
                                         {"size": 1})
        self.assertEqual((status, answer), (200, {"app": "echo",
                                                  "pinned": 1}))
        status, _, answer = self.request("POST", "/api/apps/echo/pause", 0,
                                         {})
        self.assertEqual((status, answer), (200, {"app": "echo",
                                                  "paused": True}))
        self.assertIn("dashboard: /api/apps/echo/pause from 127.0.0.1 "
                      "(uid 0)", self.node.log())
        status, _, metrics = self.request(
            "GET", "/metrics", headers={
                "Authorization": "Bearer " + token(0)})
        self.assertEqual(status, 200)
        self.assertIn(b"cocaine_", metrics)

    def test_foreignHost(self):
        for path, body in [("/api/overview", None), ("/metrics", None),
                           ("/api/apps/echo/pause", {})]:
            status, _, answer = self.request(
                "POST" if body is not None else "GET", path, 0, body,
                host="rebound.example:{}".format(self.port))
            self.assertEqual((path, status), (path, 403))
            self.assertIn("Host header", answer["error"])
        self.assertNotIn("app echo stopped", self.node.log())

    def test_eventsNeedTheLoginCookie(self):
        status, _, _ = self.request("GET", "/api/events")
        self.assertEqual(status, 401)
        status, response, answer = self.request("POST", "/api/login", 5)
        self.assertEqual((status, answer["identity"]), (200, "uid 5"))
        cookie = response.getheader("Set-Cookie").split(";")[0]
        connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                timeout=20)
        self.addCleanup(connection.close)
        connection.request("GET", "/api/events", headers={
            "Host": "127.0.0.1:{}".format(self.port), "Cookie": cookie})
        response = connection.getresponse()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.getheader("Content-Type"),
                         "text/event-stream")
        self.assertEqual(response.read(12), b"retry: 2000\n")
