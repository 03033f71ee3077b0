"""
The HTTP gateway through a REAL node (the C{http} service on a free port)
and the standalone C{twistd cocaine-proxy} in front of it: the Python SDK
example, a real 0.12 framework C{@http} app, the Node.js example, and a
test app for the slow, big and crashing cases.

One node serves the whole module (started on first use, stopped at exit):
starting one per test would cost more than the tests.
"""

import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from prometheus_client.parser import text_string_to_metric_families
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.apps012 import frameworkApp
from tests.integration.framework import frameworkPython
from tests.integration.node import (
    ROOT, Node, environment, freePort, twistdCommand)
from tests.worker.languages import once

HERE = os.path.dirname(os.path.abspath(__file__))
ECHO = os.path.join(ROOT, "examples", "apps", "echo")
HTTPWEB = os.path.join(HERE, "apps", "httpweb")

_shared = {}


def _base():
    if "base" not in _shared:
        _shared["base"] = tempfile.mkdtemp(prefix="cocaine-http-")
        atexit.register(shutil.rmtree, _shared["base"], True)
    return _shared["base"]


def _framework():
    """
    The fwecho app directory, or the reason it cannot run.
    """
    try:
        return frameworkApp(os.path.join(_base(), "fwecho"),
                            frameworkPython()), None
    except SkipTest as e:
        return None, str(e)


def startNode(name, apps, **httpArgs):
    """
    A node with the C{http} service serving C{apps} (C{{name: path}}).

    @return: the L{Node} (its C{httpPort} set).
    """
    httpPort = freePort()
    args = {"port": httpPort}
    args.update(httpArgs)
    node = Node(os.path.join(_base(), name), {
        "network": {"locator": 0},
        "services": {
            "logging": {"type": "logging"},
            "storage": {"type": "storage"},
            "node": {"type": "node", "args": {"local": {
                app: {"path": path, "profile": {"pool-limit": 2}}
                for app, path in apps.items()}}},
            "http": {"type": "http", "args": args}}})
    node.start()
    node.httpPort = httpPort
    atexit.register(node.stop)
    return node


def sharedNode():
    if "node" not in _shared:
        fwecho, reason = _framework()
        apps = {"echo": ECHO, "web": HTTPWEB, "crashy": HTTPWEB}
        if fwecho:
            apps["fwecho"] = fwecho
        _shared["node"] = startNode("node", apps, timeouts={
            "web": {"slow": 1.5}})
        _shared["fwecho"] = reason
    return _shared["node"]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name)


def request(port, method, path, body=None, headers=None, timeout=30):
    """
    One request with C{http.client}.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port,
                                            timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        connection.close()


class _GatewayMixin:

    timeout = 60

    def call(self, method, path, body=None, headers=None, timeout=30):
        return request(self.port, method, path, body, headers, timeout)


class NodeGatewayTests(_GatewayMixin, TestCase):
    """
    The C{http} service of a node.
    """

    def setUp(self):
        self.node = sharedNode()
        self.port = self.node.httpPort

    def test_ping(self):
        """
        C{/ping} answers 200.
        """
        response = self.call("GET", "/ping")
        self.assertEqual((response.status, response.body), (200, b"OK"))

    def test_pythonApp(self):
        """
        GET by path reaches the SDK example's C{http} event with the rest
        of the path as its URI.
        """
        response = self.call("GET", "/echo/http/some/path?x=1")
        self.assertEqual(response.status, 200, response.body)
        self.assertEqual(response.body,
                         b"hello from cocaine\nGET /some/path\n")
        self.assertEqual(response.header("X-Powered-By"), "Cocaine")

    def test_headerRouting(self):
        """
        With the dispatch headers the URI goes to the app unchanged.
        """
        response = self.call("GET", "/any/thing?q=2", headers={
            "X-Cocaine-Service": "web", "X-Cocaine-Event": "show"})
        self.assertEqual(response.status, 200, response.body)
        shown = json.loads(response.body)
        self.assertEqual(shown["uri"], "/any/thing?q=2")
        self.assertEqual(shown["method"], "GET")
        self.assertEqual(self.call("GET", "/", headers={
            "X-Cocaine-Service": "web"}).status, 400)

    def test_binaryPost(self):
        """
        A binary body comes back byte-exact, with its content type.
        """
        body = bytes(range(256)) * 1024 + b"\x00\xff"
        response = self.call("POST", "/echo/http", body=body, headers={
            "Content-Type": "application/x-test"})
        self.assertEqual(response.status, 200, response.body[:200])
        self.assertEqual(response.body, body)
        self.assertEqual(response.header("Content-Type"),
                         "application/x-test")

    def test_head(self):
        """
        HEAD is answered without a body.
        """
        response = self.call("HEAD", "/echo/http/")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.body, b"")

    def test_requestId(self):
        """
        X-Request-Id is echoed; a bad one is a 400 of ours.
        """
        response = self.call("GET", "/echo/http", headers={
            "X-Request-Id": "00ab"})
        self.assertEqual(response.header("X-Request-Id"), "00ab")
        response = self.call("GET", "/echo/http", headers={
            "X-Request-Id": "nothex"})
        self.assertEqual(response.status, 400)
        self.assertEqual(response.header("X-Error-Generated-By"), "cocaine")

    def test_streamed(self):
        """
        10 MiB without a Content-Length arrive chunked and whole.
        """
        size = 10 * 2 ** 20
        connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                timeout=30)
        self.addCleanup(connection.close)
        connection.request("GET", "/web/big")
        response = connection.getresponse()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["Transfer-Encoding"], "chunked")
        body = response.read()
        self.assertEqual(len(body), size)
        self.assertEqual(body[:512], bytes(range(256)) * 2)
        self.assertEqual(body[-256:], bytes(range(256)))

    def test_tooLarge(self):
        """
        A 64 MiB upload is refused with 413 before it is read.
        """
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=10) as s:
            s.sendall(b"POST /echo/http HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: %d\r\n\r\n" % (64 * 2 ** 20 + 1))
            s.sendall(b"x" * 65536)
            answer = b""
            while b"\r\n\r\n" not in answer:
                data = s.recv(65536)
                if not data:
                    break
                answer += data
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:100])

    def test_slow(self):
        """
        An app slower than its timeout (1.5 s here) is a 504.
        """
        started = time.monotonic()
        response = self.call("GET", "/web/slow")
        self.assertEqual(response.status, 504, response.body)
        self.assertEqual(response.header("X-Error-Generated-By"), "cocaine")
        self.assertLess(time.monotonic() - started, 15)

    def test_unknownApp(self):
        """
        An app that does not run is a 404.
        """
        response = self.call("GET", "/nosuch/http")
        self.assertEqual(response.status, 404)
        self.assertIn(b"nosuch", response.body)

    def test_killedWorker(self):
        """
        A worker killed while it holds the request is a 500 naming the
        error, not a hang.
        """
        response = self.call("GET", "/crashy/crash", timeout=20)
        self.assertEqual(response.status, 500, response.body)
        self.assertIn(b"[20991, 3]", response.body)

    def test_framework(self):
        """
        A real 0.12 framework C{@http} app is reached.
        """
        if _shared.get("fwecho"):
            raise SkipTest(_shared["fwecho"])
        response = self.call("POST", "/fwecho/http?name=cocaine",
                             body=b"the body",
                             headers={"Content-Type": "text/plain"})
        self.assertEqual(response.status, 200, response.body)
        self.assertEqual(response.body, b"POST name=cocaine the body")
        self.assertEqual(response.header("X-Framework"), "cocaine-0.12")


class JavaScriptTests(_GatewayMixin, TestCase):
    """
    The Node.js example behind the gateway.
    """

    def setUp(self):
        from tests.integration.test_languages_node import prepareJavaScript
        directory = once("javascript", prepareJavaScript)
        if "js" not in _shared:
            _shared["js"] = startNode("js", {"echojs": directory})
        self.port = _shared["js"].httpPort

    def test_echo(self):
        """
        The JS example echoes a binary POST body with its content type.
        """
        body = bytes(range(256)) * 4
        response = self.call("POST", "/echojs/http/p?q", body=body,
                             headers={"Content-Type": "image/x-test"})
        self.assertEqual(response.status, 200, response.body[:200])
        self.assertEqual(response.body, body)
        self.assertEqual(response.header("Content-Type"), "image/x-test")
        self.assertEqual(response.header("X-Uri"), "/p?q")


class ProxyTests(_GatewayMixin, TestCase):
    """
    C{twistd -n cocaine-proxy} in front of the node.
    """

    def setUp(self):
        node = sharedNode()
        self.port = freePort()
        self.metricsPort = freePort()
        directory = os.path.join(_base(), "proxy-{}".format(self.port))
        os.makedirs(directory)
        self.logPath = os.path.join(directory, "proxy.log")
        log = open(self.logPath, "ab")
        self.addCleanup(log.close)
        self.process = subprocess.Popen(
            twistdCommand("--pidfile=", "-n", "cocaine-proxy", "--locator",
                          "127.0.0.1:{}".format(node.port), "--port",
                          str(self.port), "--metrics-port",
                          str(self.metricsPort)),
            cwd=directory, env=environment(), stdout=log,
            stderr=subprocess.STDOUT)
        self.addCleanup(self.stop)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.assertIsNone(self.process.poll(), self.log())
            try:
                if self.call("GET", "/ping", timeout=5).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.fail("cocaine-proxy did not answer /ping:\n" + self.log())

    def log(self):
        with open(self.logPath, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def test_proxy(self):
        """
        The proxy resolves the app at the locator and reaches it; an
        unknown app is a 404.
        """
        body = bytes(range(256))
        response = self.call("POST", "/echo/http", body=body, headers={
            "Content-Type": "application/x-test"})
        self.assertEqual(response.status, 200, response.body)
        self.assertEqual(response.body, body)
        response = self.call("GET", "/web/show/x", headers={
            "X-Request-Id": "abc"})
        self.assertEqual(json.loads(response.body)["uri"], "/x")
        self.assertEqual(response.header("X-Request-Id"), "abc")
        self.assertEqual(self.call("GET", "/nosuch/x").status, 404)

    def test_metrics(self):
        """
        C{--metrics-port} serves C{/metrics}: the proxy's responses by
        code and its process figures.
        """
        self.assertEqual(self.call("GET", "/echo/http").status, 200)
        self.assertEqual(self.call("GET", "/nosuch/x").status, 404)
        response = request(self.metricsPort, "GET", "/metrics")
        self.assertEqual(response.status, 200)
        families = {family.name: family for family in
                    text_string_to_metric_families(
                        response.body.decode("utf-8"))}
        codes = {sample.labels["code"]: sample.value for sample in
                 families["cocaine_http_requests"].samples
                 if sample.name == "cocaine_http_requests_total"}
        # the /ping of setUp counts too
        self.assertGreaterEqual(codes["200"], 2)
        self.assertEqual(codes["404"], 1)
        self.assertGreater(
            families["cocaine_node_rss_bytes"].samples[0].value, 0)
