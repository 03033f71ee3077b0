# -*- test-case-name: tests.worker.test_worker -*-
"""
A fake runtime for worker tests: a real UNIX socket the worker under test
connects to, the worker run as a real subprocess, and blocking calls to
play the runtime's side of the protocol (PROTOCOL.md section 6).
"""

import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import msgpack

#: The repository root.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
#: The example apps.
APPS = os.path.join(ROOT, "examples", "apps")
#: The Python echo example.
ECHO = os.path.join(APPS, "echo", "worker.py")
#: The worker app used by the SDK's tests.
TESTAPP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "app.py")

#: Environment variables of the SDK that tests must not inherit.
WORKER_VARIABLES = ("COCAINE_HEARTBEAT_INTERVAL", "COCAINE_DISOWN_TIMEOUT",
                    "COCAINE_TERMINATE_GRACE")

#: Socket paths longer than this go under /tmp (the limit is 107 bytes).
MAX_SOCKET_PATH = 90


def shortDirectory(testCase):
    """
    A fresh directory for a test's socket: the test's own temporary
    directory when its path is short enough for a UNIX socket, a
    directory under /tmp (removed after the test) otherwise.
    """
    directory = os.path.abspath(testCase.mktemp())
    if len(directory) + len("/worker.sock") <= MAX_SOCKET_PATH:
        os.makedirs(directory)
        return directory
    directory = tempfile.mkdtemp(prefix="cw", dir="/tmp")
    testCase.addCleanup(shutil.rmtree, directory, True)
    return directory


def pythonWorker(script):
    """
    @return: the command line start of a Python worker script, run by the
        interpreter running the tests.
    """
    return [sys.executable, script]


class FakeRuntime:
    """
    Listens on a UNIX socket, starts a worker process and plays the
    runtime's side with blocking calls.

    @ivar process: the worker's L{subprocess.Popen}.
    @ivar path: the socket path passed as C{--endpoint}.
    @ivar heartbeats: heartbeats skipped by L{receive} so far.
    @ivar startedAt: when the process was started (C{time.monotonic}).
    """

    def __init__(self, testCase, command, uuid="U-1", app="echo",
                 environment=None, cwd=None):
        """
        @param command: the worker's command line before the runtime's
            flags.
        @param environment: variables added to the worker's environment.
        """
        self.testCase = testCase
        self.command = command
        self.uuid = uuid
        self.app = app
        self.environment = environment or {}
        self.cwd = cwd
        self.directory = shortDirectory(testCase)
        self.path = os.path.join(self.directory, "worker.sock")
        self.unpacker = msgpack.Unpacker(raw=True, strict_map_key=False)
        self.pending = []
        self.heartbeats = 0
        self.connection = None
        self.process = None

    def start(self, timeout=10.0):
        """
        Listen, start the worker and accept its connection.

        @return: C{self}.
        """
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.testCase.addCleanup(self.listener.close)
        self.listener.bind(self.path)
        self.listener.listen(1)
        environment = dict(os.environ)
        for name in WORKER_VARIABLES:
            environment.pop(name, None)
        environment.update(self.environment)
        self.stderrPath = os.path.join(self.directory, "stderr")
        self.stderrFile = open(self.stderrPath, "wb")
        self.testCase.addCleanup(self.stderrFile.close)
        self.startedAt = time.monotonic()
        self.process = subprocess.Popen(
            self.command + ["--app", self.app, "--endpoint", self.path,
                            "--locator", "127.0.0.1:10053", "--protocol",
                            "1", "--uuid", self.uuid],
            stdin=subprocess.DEVNULL, stdout=self.stderrFile,
            stderr=self.stderrFile, env=environment, cwd=self.cwd)
        self.testCase.addCleanup(self._reap)
        self.listener.settimeout(timeout)
        try:
            self.connection, _ = self.listener.accept()
        except socket.timeout:
            raise AssertionError("the worker did not connect in {} s; "
                                 "output: {!r}".format(timeout,
                                                       self.output()))
        self.testCase.addCleanup(self.connection.close)
        return self

    def _reap(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def output(self):
        """
        @return: what the worker wrote to stdout and stderr so far (text).
        """
        self.stderrFile.flush()
        with open(self.stderrPath, "rb") as output:
            return output.read().decode("utf-8", "replace")

    def send(self, channel, kind, args):
        """
        Send C{[channel, kind, args]}, text as str and bytes as bin.
        """
        self.sendRaw(msgpack.packb([channel, kind, args], use_bin_type=True))

    def sendRaw(self, data):
        self.connection.sendall(data)

    def _fill(self, deadline):
        """
        Read more from the worker until a message is complete.

        @return: L{False} at the end of the stream.
        """
        while not self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            ready, _, _ = select.select([self.connection], [], [],
                                        remaining)
            if not ready:
                raise socket.timeout()
            data = self.connection.recv(1 << 20)
            if not data:
                return False
            self.unpacker.feed(data)
            self.pending.extend(self.unpacker)
        return True

    def receive(self, timeout=5.0, skipHeartbeats=True):
        """
        Wait for the worker's next message.

        @param skipHeartbeats: count heartbeats C{[1, 0, []]} in
            L{heartbeats} and wait on instead of returning them.
        @return: the message, as decoded with C{raw=True}.
        @raise AssertionError: nothing came within C{timeout} seconds, or
            the worker closed the connection.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                alive = self._fill(deadline)
            except socket.timeout:
                raise AssertionError(
                    "no message from the worker in {} s; output: {!r}"
                    .format(timeout, self.output()))
            if not alive:
                raise AssertionError(
                    "the worker closed the connection; output: {!r}".format(
                        self.output()))
            message = self.pending.pop(0)
            if skipHeartbeats and message == [1, 0, []]:
                self.heartbeats += 1
                continue
            return message

    def receiveSession(self, channel, timeout=5.0):
        """
        Receive a whole response stream on C{channel}: chunks until a close
        or an error. Messages on other channels are not expected.

        @return: C{(chunks, end)}: the chunks' payloads and the final
            message.
        """
        chunks = []
        while True:
            message = self.receive(timeout)
            self.testCase.assertEqual(message[0], channel, message)
            if message[1] == 0:
                chunks.append(message[2][0])
            else:
                return chunks, message

    def assertSilent(self, duration=0.2):
        """
        Fail if the worker sends anything but heartbeats for C{duration}
        seconds.
        """
        deadline = time.monotonic() + duration
        while True:
            try:
                alive = self._fill(deadline)
            except socket.timeout:
                return
            if not alive:
                return
            message = self.pending.pop(0)
            if message == [1, 0, []]:
                self.heartbeats += 1
                continue
            raise AssertionError("unexpected message {!r}".format(message))

    def handshake(self, answer=True):
        """
        Expect the handshake and the first heartbeat, and answer the
        heartbeat.

        @return: the seconds from start to the handshake.
        """
        first = self.receive(skipHeartbeats=False)
        elapsed = time.monotonic() - self.startedAt
        self.testCase.assertEqual(
            first, [1, 0, [self.uuid.encode("ascii")]])
        self.testCase.assertEqual(self.receive(skipHeartbeats=False),
                                  [1, 0, []])
        if answer:
            self.send(1, 0, [])
        return elapsed

    def waitForClose(self, timeout=5.0):
        """
        Read until the worker closes the connection.

        @return: the messages received until then.
        """
        deadline = time.monotonic() + timeout
        messages = []
        while True:
            try:
                alive = self._fill(deadline)
            except socket.timeout:
                raise AssertionError(
                    "the worker kept the connection open; output: "
                    "{!r}".format(self.output()))
            messages.extend(self.pending)
            del self.pending[:]
            if not alive:
                return messages

    def wait(self, timeout=5.0):
        """
        Wait for the worker to exit.

        @return: its exit status.
        """
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("the worker did not exit in {} s; "
                                 "output: {!r}".format(timeout,
                                                       self.output()))

    def close(self):
        """
        Close the runtime's end of the connection.
        """
        self.connection.close()
