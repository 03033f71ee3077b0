"""
The example workers in other languages served by a REAL node as local apps:
C{examples/apps/echo-js} (Node.js) and C{examples/apps/echo-c} (plain C),
each copied into a temporary directory and built there, driven with our
client SDK.
"""

import atexit
import os
import shutil
import subprocess
import tempfile

import psutil
from twisted.internet import reactor
from twisted.trial.unittest import SkipTest, TestCase

from cocaine.client import Locator, Service
from tests.integration.node import ROOT, Node
from tests.worker.languages import once

APPS = os.path.join(ROOT, "examples", "apps")


def _copy(example):
    """
    A fresh copy of an example app (without what a build or an install
    left in the checkout), removed when the test run ends.
    """
    base = tempfile.mkdtemp(prefix="cocaine-lang-")
    atexit.register(shutil.rmtree, base, True)
    directory = os.path.join(base, example)
    shutil.copytree(os.path.join(APPS, example), directory,
                    ignore=shutil.ignore_patterns("node_modules", "*.o"))
    return directory


def _tail(output, lines=5):
    return " | ".join(output.decode("utf-8", "replace").strip()
                      .splitlines()[-lines:])


def prepareJavaScript():
    """
    Copy C{echo-js} and C{npm install} its dependencies there.

    @return: the app directory.
    @raise SkipTest: C{node} or C{npm} is missing, or the install failed.
    """
    missing = [name for name in ("node", "npm") if shutil.which(name) is None]
    if missing:
        raise SkipTest("the Node.js worker needs node and npm (missing: {})"
                       .format(", ".join(missing)))
    directory = _copy("echo-js")
    try:
        install = subprocess.run(
            [shutil.which("npm"), "install", "--no-audit", "--no-fund"],
            cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=180)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SkipTest("npm install for the Node.js worker failed: {}"
                       .format(error))
    if install.returncode != 0:
        raise SkipTest("npm install for the Node.js worker failed: "
                       + _tail(install.stdout))
    return directory


def prepareC():
    """
    Copy C{echo-c} and build it there: C{make}, or C{cc} directly.

    @return: the app directory.
    @raise SkipTest: no C compiler.
    """
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which(
        "cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        raise SkipTest("the C worker needs a C compiler (cc, gcc or clang)")
    directory = _copy("echo-c")
    binary = os.path.join(directory, "echo")
    if os.path.exists(binary):
        os.unlink(binary)
    if shutil.which("make"):
        command = ["make", "CC=" + compiler]
    else:
        command = [compiler, "-O2", "-o", "echo", "echo.c"]
    build = subprocess.run(command, cwd=directory, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
    if build.returncode != 0 or not os.access(binary, os.X_OK):
        raise SkipTest("building the C worker failed: " + _tail(build.stdout))
    return directory


class _LanguageWorkerTests:
    """
    One node per test serving the example as the local app C{echo}.
    """

    timeout = 60
    #: the name for L{_once} and the function preparing the app directory
    language = None
    prepare = None
    #: what the worker's process is called
    processName = None

    def setUp(self):
        directory = once(self.language, type(self).prepare)
        self.node = Node(self.mktemp(), {
            "network": {"locator": 0},
            "services": {"logging": {"type": "logging"},
                         "storage": {"type": "storage"},
                         "node": {"type": "node", "args": {"local": {
                             "echo": {"path": directory,
                                      "profile": {"pool-limit": 2,
                                                  "log-output": True}}}}}}})
        self.node.start()
        self.addCleanup(self.node.stop)
        self.locator = Locator(reactor, [("127.0.0.1", self.node.port)],
                               timeout=20)
        self.addCleanup(self.locator.disconnect)
        self.app = Service("echo", self.locator, timeout=30)
        self.addCleanup(self.app.disconnect)
        self.nodeService = Service("node", self.locator, timeout=30)
        self.addCleanup(self.nodeService.disconnect)

    async def call(self, event, chunks=()):
        channel = await self.app.enqueue(event)
        for chunk in chunks:
            channel.write(chunk)
        channel.close()
        return [chunk async for chunk in channel]

    async def test_echo(self):
        """
        Three chunks, one at a time, each echoed before the next is sent;
        then close.
        """
        channel = await self.app.enqueue("echo")
        received = []
        for chunk in (b"one", bytes(range(256)), b"three" * 1000):
            channel.write(chunk)
            received.append(await channel.read())
        channel.close()
        received.extend([chunk async for chunk in channel])
        self.assertEqual(received, [b"one", bytes(range(256)),
                                    b"three" * 1000])

    async def test_ping(self):
        self.assertEqual(await self.call("ping"), [b"pong"])
        self.assertEqual(await self.call("ping"), [b"pong"])

    async def test_infoShowsOneWorker(self):
        """
        After a few requests in turn the app has exactly one worker: the
        example's process, with its pid and RSS.
        """
        for _ in range(3):
            self.assertEqual(await self.call("echo", [b"x"]), [b"x"])
        info = await self.nodeService.info("echo")
        self.assertEqual(info["state"], "running")
        self.assertEqual(len(info["workers"]), 1, info["workers"])
        worker = info["workers"][0]
        self.assertEqual(worker["state"], "active")
        self.assertEqual(worker["accepted"], 3)
        self.assertGreater(worker["rss"], 0)
        self.assertEqual(psutil.Process(worker["pid"]).name(),
                         self.processName)


class JavaScriptWorkerTests(_LanguageWorkerTests, TestCase):
    """
    C{examples/apps/echo-js}: Node.js.
    """

    language = "javascript"
    prepare = prepareJavaScript
    processName = "node"


class CWorkerTests(_LanguageWorkerTests, TestCase):
    """
    C{examples/apps/echo-c}: plain C.
    """

    language = "c"
    prepare = prepareC
    processName = "echo"
