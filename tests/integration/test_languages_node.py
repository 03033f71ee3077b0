"""
The example workers in other languages served by a REAL node as local apps:
C{examples/apps/echo-js} (Node.js), C{examples/apps/echo-c} (plain C),
C{examples/apps/echo-cpp} (C++ on msgpack-c++) and
C{examples/apps/echo-perl} (Perl on Data::MessagePack), each copied into a
temporary directory and built there, driven with our client SDK. The C++
and Perl toolchains are installed from Debian when missing.
"""

import os
import shutil
import signal
import subprocess

import psutil
from twisted.internet import reactor
from twisted.trial.unittest import SkipTest, TestCase

from cocaine.client import Locator, Service
from cocaine.errors import CATEGORY_FRAMEWORK, CocaineError, WorkerLost
from tests.integration.node import Node
from tests.worker.languages import (
    buildWithMake, copyExample, ensureCpp, ensurePerl, once)


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
    directory = copyExample("echo-js")
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
    directory = copyExample("echo-c")
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


def prepareCpp():
    """
    Copy C{echo-cpp} and build it there with its C{Makefile}; install
    C{g++}, C{make} and C{libmsgpack-cxx-dev} first when missing.

    @return: the app directory.
    @raise SkipTest: the toolchain is missing and cannot be installed.
    """
    ensureCpp()
    directory = copyExample("echo-cpp")
    buildWithMake("the C++ worker", directory, "echo")
    return directory


def preparePerl():
    """
    Copy C{echo-perl}; install C{perl} and C{libdata-messagepack-perl}
    first when missing.

    @return: the app directory.
    @raise SkipTest: they are missing and cannot be installed.
    """
    ensurePerl()
    return copyExample("echo-perl")


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

    async def test_unknownEvent(self):
        """
        An event the worker has no handler for is the worker's error
        (framework category, code 200) naming the event; the worker goes
        on serving.
        """
        try:
            await self.call("nosuch", [b"x"])
        except CocaineError as error:
            self.assertEqual((error.category, error.code, error.message),
                             (CATEGORY_FRAMEWORK, 200,
                              "no handler for event 'nosuch'"))
        else:
            self.fail("no error for an unknown event")
        self.assertEqual(await self.call("ping"), [b"pong"])

    async def test_workerKilled(self):
        """
        A worker killed in the middle of a request is the node's
        L{WorkerLost} on that request; the next request gets a new worker.
        """
        channel = await self.app.enqueue("echo")
        channel.write(b"before")
        self.assertEqual(await channel.read(), b"before")
        [worker] = (await self.nodeService.info("echo"))["workers"]
        os.kill(worker["pid"], signal.SIGKILL)
        try:
            channel.write(b"after")
            await channel.read()
        except WorkerLost as error:
            self.assertIn("worker", str(error))
        else:
            self.fail("no error for a request whose worker was killed")
        self.assertEqual(await self.call("ping"), [b"pong"])


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


class CppWorkerTests(_LanguageWorkerTests, TestCase):
    """
    C{examples/apps/echo-cpp}: C++ on msgpack-c++.
    """

    language = "c++"
    prepare = prepareCpp
    processName = "echo"


class PerlWorkerTests(_LanguageWorkerTests, TestCase):
    """
    C{examples/apps/echo-perl}: Perl on Data::MessagePack.
    """

    language = "perl"
    prepare = preparePerl
    processName = "perl"
