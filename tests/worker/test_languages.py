# -*- test-case-name: tests.worker.test_languages -*-
"""
The example workers in other languages (C{examples/apps/echo-js}, Node.js;
C{examples/apps/echo-c}, plain C; C{examples/apps/echo-cpp}, C++ on
msgpack-c++; C{examples/apps/echo-perl}, Perl on Data::MessagePack)
against the fake runtime of L{tests.worker.runtime}: they speak the same
protocol as the Python SDK.
"""

import atexit
import os
import shutil
import subprocess
import tempfile
import time

import msgpack
from twisted.trial.unittest import SkipTest, TestCase

from tests.worker.runtime import APPS, FakeRuntime
from bench.peers import debian
from tests.locks import exclusive
from tests.worker import languages
from tests.worker.languages import (
    buildWithMake, copyExample, ensureCpp, ensurePerl, once)

JS_APP = os.path.join(APPS, "echo-js")
C_APP = os.path.join(APPS, "echo-c")


def _tail(output, lines=5):
    return " | ".join(output.decode("utf-8", "replace").strip()
                      .splitlines()[-lines:])


def prepareNode():
    """
    Install the JS example's dependencies into its C{node_modules}, one
    test process at a time (L{tests.locks}).

    @return: the worker's command line.
    @raise SkipTest: C{node} or C{npm} is missing, or the install failed
        and the dependencies are not there already.
    """
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        raise SkipTest("node and npm are needed for the Node.js worker "
                       "(missing: {})".format(
                           ", ".join(name for name, path in
                                     [("node", node), ("npm", npm)]
                                     if path is None)))
    # the other trial worker may be installing into the same checkout
    with exclusive(JS_APP):
        try:
            install = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund"], cwd=JS_APP,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                timeout=180)
            failure = (None if install.returncode == 0
                       else _tail(install.stdout))
        except (OSError, subprocess.TimeoutExpired) as error:
            failure = str(error)
    if failure is not None:
        check = subprocess.run(
            [node, "-e", "require('@msgpack/msgpack')"], cwd=JS_APP,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        if check.returncode != 0:
            raise SkipTest("npm install of the Node.js worker's "
                           "dependencies failed: " + failure)
    return [os.path.join(JS_APP, "run")]


def prepareC():
    """
    Compile the C example into a temporary directory.

    @return: the worker's command line.
    @raise SkipTest: there is no C compiler.
    """
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which(
        "clang")
    if compiler is None:
        raise SkipTest("no C compiler (cc, gcc or clang) to build the C "
                       "worker")
    directory = tempfile.mkdtemp(prefix="cocaine-echo-c-")
    atexit.register(shutil.rmtree, directory, True)
    binary = os.path.join(directory, "echo")
    build = subprocess.run(
        [compiler, "-O2", "-Wall", "-Werror", "-o", binary,
         os.path.join(C_APP, "echo.c")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if build.returncode != 0:
        raise AssertionError("the C worker does not build cleanly: "
                             + build.stdout.decode("utf-8", "replace"))
    return [binary]


def prepareCpp():
    """
    Copy the C++ example and build it there with its C{Makefile}, warnings
    as errors; install its toolchain from Debian first when missing.

    @return: the worker's command line.
    @raise SkipTest: the toolchain is missing and cannot be installed.
    """
    ensureCpp()
    directory = copyExample("echo-cpp")
    return [buildWithMake("the C++ worker", directory, "echo",
                          "CXXFLAGS=-O2 -Wall -Wextra -Werror")]


def preparePerl():
    """
    Check the Perl example compiles; install perl and Data::MessagePack
    from Debian first when missing.

    @return: the worker's command line.
    @raise SkipTest: they are missing and cannot be installed.
    """
    ensurePerl()
    script = os.path.join(APPS, "echo-perl", "echo.pl")
    check = subprocess.run(["perl", "-wc", script], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
    if check.returncode != 0 or b"syntax OK" not in check.stdout:
        raise AssertionError("the Perl worker does not compile cleanly: "
                             + check.stdout.decode("utf-8", "replace"))
    return [script]


class LanguageMixin:
    """
    The protocol every example worker speaks. Subclasses set
    C{prepare}, a function returning the worker's command line.
    """

    def startWorker(self, handshake=True, **environment):
        command = once(type(self).__name__, type(self).prepare)
        runtime = FakeRuntime(self, list(command),
                              environment=environment).start()
        if handshake:
            runtime.handshake()
        return runtime

    def test_handshake(self):
        """
        The worker sends C{[1, 0, [uuid]]}, then a heartbeat C{[1, 0, []]}.
        """
        runtime = self.startWorker(handshake=False)
        runtime.handshake()

    def test_echo(self):
        """
        Three chunks come back in order as bin, then a close.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["echo"])
        for chunk in [b"one", b"\x00\xff two", b"x" * 70000]:
            runtime.send(2, 0, [chunk])
        runtime.send(2, 2, [])
        self.assertEqual(runtime.receiveSession(2),
                         ([b"one", b"\x00\xff two", b"x" * 70000],
                          [2, 2, []]))

    def test_interleaved(self):
        """
        Two echo sessions at once stay apart.
        """
        runtime = self.startWorker()
        runtime.send(2, 0, ["echo"])
        runtime.send(3, 0, ["echo"])
        runtime.send(3, 0, [b"b"])
        self.assertEqual(runtime.receive(), [3, 0, [b"b"]])
        runtime.send(2, 0, [b"a"])
        self.assertEqual(runtime.receive(), [2, 0, [b"a"]])
        runtime.send(2, 2, [])
        self.assertEqual(runtime.receive(), [2, 2, []])
        runtime.send(3, 2, [])
        self.assertEqual(runtime.receive(), [3, 2, []])

    def test_ping(self):
        runtime = self.startWorker()
        runtime.send(2, 0, ["ping"])
        self.assertEqual(runtime.receiveSession(2), ([b"pong"], [2, 2, []]))

    def test_unknownEvent(self):
        runtime = self.startWorker()
        runtime.send(2, 0, ["nosuch"])
        self.assertEqual(runtime.receive(), [
            2, 1, [[42, 200], b"no handler for event 'nosuch'"]])
        runtime.send(3, 0, ["ping"])
        self.assertEqual(runtime.receiveSession(3), ([b"pong"], [3, 2, []]))

    def test_terminate(self):
        """
        A terminate is echoed and the worker exits with status 0.
        """
        runtime = self.startWorker()
        sent = time.monotonic()
        runtime.send(1, 1, [1, "normal"])
        self.assertEqual(runtime.receive(), [1, 1, [1, b"normal"]])
        self.assertEqual(runtime.wait(2), 0)
        self.assertLess(time.monotonic() - sent, 2)

    def test_runtimeCloses(self):
        """
        The worker exits with status 1 when the runtime closes the
        connection.
        """
        runtime = self.startWorker()
        runtime.close()
        self.assertEqual(runtime.wait(2), 1)

    def test_disowned(self):
        """
        Answered heartbeats keep the worker alive; unanswered ones make it
        exit with status 1.
        """
        runtime = self.startWorker(COCAINE_HEARTBEAT_INTERVAL="0.1",
                                   COCAINE_DISOWN_TIMEOUT="0.3")
        for _ in range(5):
            self.assertEqual(runtime.receive(skipHeartbeats=False),
                             [1, 0, []])
            runtime.send(1, 0, [])
        self.assertIsNone(runtime.process.poll())
        self.assertEqual(runtime.wait(3), 1)
        self.assertIn("disowned", runtime.output())


class EchoCMixin(LanguageMixin):
    """
    The workers written to behave exactly as C{echo-c}, down to the text
    of errors and what they do with malformed input.
    """

    def test_malformed(self):
        """
        Malformed messages and messages with headers are handled; the
        worker goes on.
        """
        runtime = self.startWorker()
        runtime.sendRaw(msgpack.packb("x") + msgpack.packb([1, 0]))
        runtime.sendRaw(msgpack.packb(
            [2, 0, ["ping"], [[False, "a", "b"], 83]]))
        self.assertEqual(runtime.receiveSession(2), ([b"pong"], [2, 2, []]))
        runtime.send(3, 0, ["echo"])
        runtime.send(3, 1, [[43, 5], "gone"])
        self.assertEqual(runtime.receive(), [
            3, 1, [[42, 100], b"RequestError: [43, 5] gone"]])

    def test_splitFrames(self):
        """
        Messages arriving a few bytes at a time, and several in one write,
        are all served.
        """
        runtime = self.startWorker()
        data = b"".join(msgpack.packb(message, use_bin_type=True)
                        for message in ([2, 0, ["echo"]],
                                        [2, 0, [b"z" * 300]], [2, 2, []]))
        for start in range(0, len(data), 7):
            runtime.sendRaw(data[start:start + 7])
            time.sleep(0.001)
        runtime.sendRaw(msgpack.packb([3, 0, ["ping"]])
                        + msgpack.packb([4, 0, ["ping"]]))
        self.assertEqual(runtime.receiveSession(2),
                         ([b"z" * 300], [2, 2, []]))
        self.assertEqual(runtime.receiveSession(3), ([b"pong"], [3, 2, []]))
        self.assertEqual(runtime.receiveSession(4), ([b"pong"], [4, 2, []]))

    def test_brokenStream(self):
        """
        Bytes that are not msgpack (0xc1 is never used) make the worker
        exit with status 1.
        """
        runtime = self.startWorker()
        runtime.sendRaw(b"\xc1")
        self.assertEqual(runtime.wait(5), 1)
        self.assertIn("broken stream", runtime.output())


class NodeWorkerTests(LanguageMixin, TestCase):
    """
    The Node.js example, C{examples/apps/echo-js}.
    """

    prepare = staticmethod(prepareNode)


class CWorkerTests(EchoCMixin, TestCase):
    """
    The C example, C{examples/apps/echo-c}.
    """

    prepare = staticmethod(prepareC)


class CppWorkerTests(EchoCMixin, TestCase):
    """
    The C++ example, C{examples/apps/echo-cpp}.
    """

    prepare = staticmethod(prepareCpp)


class PerlWorkerTests(EchoCMixin, TestCase):
    """
    The Perl example, C{examples/apps/echo-perl}.
    """

    prepare = staticmethod(preparePerl)


class EnsureToolchainTests(TestCase):
    """
    L{languages._ensure}: install what is missing, skip naming why only
    when that fails.
    """

    def setUp(self):
        self.installed = []
        self.missing = ["Data::MessagePack"]

    def fakeInstall(self, packages, error=None):
        self.installed.append(list(packages))
        if error:
            raise debian.AptError(error)
        self.missing = []

    def ensure(self):
        languages._ensure("the Perl worker", ["perl", "libx-perl"],
                          lambda: ", ".join(self.missing) or None)

    def test_present(self):
        """
        Nothing missing, nothing installed.
        """
        self.patch(debian, "aptInstall", self.fakeInstall)
        self.missing = []
        self.ensure()
        self.assertEqual(self.installed, [])

    def test_installs(self):
        self.patch(debian, "aptInstall", self.fakeInstall)
        self.ensure()
        self.assertEqual(self.installed, [["perl", "libx-perl"]])

    def test_installFails(self):
        """
        The skip names the worker, what is missing, the packages and why
        apt-get failed.
        """
        self.patch(debian, "aptInstall", lambda packages: self.fakeInstall(
            packages, "uid 1000 cannot apt-get install them"))
        skip = self.assertRaises(SkipTest, self.ensure)
        self.assertEqual(str(skip), (
            "the Perl worker needs Data::MessagePack and installing perl "
            "libx-perl failed: uid 1000 cannot apt-get install them"))

    def test_stillMissing(self):
        self.patch(debian, "aptInstall", lambda packages: None)
        skip = self.assertRaises(SkipTest, self.ensure)
        self.assertEqual(str(skip), (
            "the Perl worker needs Data::MessagePack, still missing after "
            "installing perl libx-perl"))
