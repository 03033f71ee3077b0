"""
A real node (twistd subprocess) driven by our client SDK and by raw sockets
on loopback.
"""

import errno
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import msgpack
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest, TestCase

from cocaine.client import Locator, Service
from cocaine.errors import (
    InvalidName, KeyNotFound, ServiceNotAvailable)
from tests.integration.node import (
    ROOT, Node, environment, twistdCommand)


class _NodeTestCase(TestCase):
    """
    Starts one node per test and stops it afterwards.
    """

    timeout = 60
    config = {}

    def setUp(self):
        self.node = Node(self.mktemp(), self.config)
        self.node.start()
        self.addCleanup(self.node.stop)
        self.locator = Locator(reactor, [("127.0.0.1", self.node.port)],
                               timeout=20)
        self.addCleanup(self.locator.disconnect)

    def service(self, name):
        service = Service(name, self.locator, timeout=30)
        self.addCleanup(service.disconnect)
        return service


class StorageThroughSDKTests(_NodeTestCase):
    """
    Storage over the wire with our client SDK.
    """

    async def test_roundTripFindRemove(self):
        storage = self.service("storage")
        blob = bytes(range(256)) * 3
        await storage.write("things", "one", blob, ["red", "round"])
        await storage.write("things", "two", b"2", ["red"])
        self.assertEqual(await storage.read("things", "one"), blob)
        self.assertEqual(await storage.find("things", ["red"]),
                         ["one", "two"])
        self.assertEqual(await storage.find("things", ["red", "round"]),
                         ["one"])
        self.assertIsNone(await storage.remove("things", "one"))
        with self.assertRaises(KeyNotFound) as caught:
            await storage.read("things", "one")
        self.assertEqual((caught.exception.category, caught.exception.code),
                         (1, errno.ENOENT))
        self.assertIn("'one'", caught.exception.message)
        self.assertEqual(await storage.find("things", ["red"]), ["two"])

    async def test_64MiBValue(self):
        """
        A 64 MiB binary value is written and read back intact.
        """
        storage = self.service("storage")
        blob = os.urandom(1024) * (64 * 1024)
        await storage.write("big", "value", blob)
        self.assertEqual(await storage.read("big", "value") == blob, True)

    async def test_keyEscapingDirectoryRejected(self):
        storage = self.service("storage")
        with self.assertRaises(InvalidName) as caught:
            await storage.write("c", "../escape", b"x")
        self.assertIn("../escape", caught.exception.message)
        self.assertFalse(os.path.exists(os.path.join(
            self.node.directory, "var", "data", "escape")))

    async def test_dataSurvivesRestart(self):
        storage = self.service("storage")
        await storage.write("keep", "k", b"v", ["t"])
        await storage.disconnect()
        await self.locator.disconnect()
        status, _ = self.node.stop()
        self.assertIn(status, (0, -signal.SIGTERM))
        self.node.start()
        self.locator.locatorEndpoints = [("127.0.0.1", self.node.port)]
        self.assertEqual(await self.service("storage").read("keep", "k"),
                         b"v")


class LocatorAndLoggingTests(_NodeTestCase):
    """
    resolve, uuid and logging over the wire.
    """

    async def test_resolveLocatorItself(self):
        endpoints, version, graph = await self.locator.resolve("locator")
        self.assertEqual(endpoints, [["127.0.0.1", self.node.port]])
        self.assertEqual(version, 3)
        self.assertEqual(graph[0][0], "resolve")
        self.assertEqual(graph[6][0], "uuid")

    async def test_resolveStorage(self):
        endpoints, version, graph = await self.locator.resolve("storage")
        self.assertEqual(version, 1)
        self.assertEqual([graph[i][0] for i in range(4)],
                         ["read", "write", "remove", "find"])
        self.assertEqual(endpoints[0][0], "127.0.0.1")

    async def test_unknownService(self):
        with self.assertRaises(ServiceNotAvailable) as caught:
            await self.locator.resolve("nope")
        self.assertEqual((caught.exception.category, caught.exception.code),
                         (0x0A, 1))
        self.assertIn("nope", caught.exception.message)

    def test_onTheNodeReactor(self):
        """
        twistd runs the node on L{cocaine.reactor.NodeReactor} when it is
        given no C{--reactor}.
        """
        from cocaine.reactor import NodeReactor
        if NodeReactor is None:
            raise SkipTest("no epoll here")
        self.assertIn("reactor class: cocaine.reactor.NodeReactor.",
                      self.node.log())

    async def test_uuidStable(self):
        first = await self.locator.uuid()
        self.assertEqual(len(first), 36)
        self.assertEqual(first, await self.locator.uuid())

    async def test_emitAndVerbosity(self):
        logging = self.service("logging")
        self.assertEqual(await logging.verbosity(), 1)
        await logging.emit(1, "integration", "hello from a test",
                           [["answer", 42]])
        await logging.emit(0, "integration", "debug is filtered")
        await logging.set_verbosity(0)
        self.assertEqual(await logging.verbosity(), 0)
        await logging.emit(0, "integration", "debug now shows")
        for _ in range(100):
            if "debug now shows" in self.node.log():
                break
            await deferLater(reactor, 0.05)
        log = self.node.log()
        self.assertIn("integration: hello from a test", log)
        self.assertNotIn("debug is filtered", log)
        self.assertIn("debug now shows", log)


class BlockingScriptTests(_NodeTestCase):
    """
    The blocking facade from a plain script.
    """

    def test_lastEmitOfAScriptArrives(self):
        """
        A mute C{emit} as a script's last act still reaches the node: the
        facade flushes its connections at exit.
        """
        script = textwrap.dedent("""
            import sys
            from cocaine.client.blocking import connect
            log = connect("logging", port=int(sys.argv[1]))
            for i in range(3):
                log.emit(1, "script", "line %d of the script" % i)
        """)
        subprocess.run([sys.executable, "-c", script, str(self.node.port)],
                       env=environment(), check=True, timeout=30)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if "line 2 of the script" in self.node.log():
                break
            time.sleep(0.05)
        for i in range(3):
            self.assertIn("script: line {} of the script".format(i),
                          self.node.log())


def _frames(sock, count, timeout=5.0):
    """
    Read C{count} messages from a blocking socket.
    """
    sock.settimeout(timeout)
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    result = []
    while len(result) < count:
        data = sock.recv(65536)
        if not data:
            break
        unpacker.feed(data)
        result.extend(unpacker)
    return result


def _closedByPeer(sock, timeout=5.0):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


class BadInputTests(_NodeTestCase):
    """
    PROTOCOL.md section 1 over real sockets: framing errors close that
    connection, dispatch errors answer and keep it, and the node keeps
    serving everybody else.
    """

    def connectStorage(self):
        sock = socket.create_connection(("127.0.0.1", self.storagePort), 5)
        self.addCleanup(sock.close)
        return sock

    async def setUpStorage(self):
        endpoints, _, _ = await self.locator.resolve("storage")
        self.storagePort = endpoints[0][1]

    async def assertStillServing(self):
        storage = self.service("storage")
        await storage.write("alive", "k", b"yes")
        self.assertEqual(await storage.read("alive", "k"), b"yes")

    async def test_framingErrorsCloseOnlyThatConnection(self):
        await self.setUpStorage()
        bystander = self.connectStorage()
        cases = [
            b"\xc1\xc1\xc1",                        # never-used msgpack byte
            msgpack.packb(42),                       # not an array
            msgpack.packb({"a": 1}),                 # a map
            msgpack.packb(["x", 0, []]),             # channel not an int
            msgpack.packb([1, 0]),                   # too short
            b"\xc6\x7f\xff\xff\xff" + b"\0" * 1024,  # declares 2 GiB
        ]
        for data in cases:
            sock = self.connectStorage()
            sock.sendall(data)
            if data.startswith(b"\xc6"):
                # the node waits for the rest; the declared length is over
                # the limit only once the buffer fills, so push more
                try:
                    sock.sendall(b"\0" * (1 << 20))
                except OSError:
                    pass
                sock.close()
                continue
            self.assertTrue(_closedByPeer(sock), data)
        bystander.sendall(msgpack.packb([1, 0, ["alive", "nothing"], []]))
        (reply,) = _frames(bystander, 1)
        self.assertEqual(reply[:2], [1, 1])
        await self.assertStillServing()
        log = self.node.log()
        self.assertIn("framing error from 127.0.0.1:", log)
        self.assertIn("not a message: 42", log)

    async def test_hugeDeclaredLengthClosesConnection(self):
        """
        A frame declared larger than network.max-message closes the
        connection once that much is buffered.
        """
        self.node.stop()
        self.node = Node(self.mktemp(), {"network": {
            "locator": 0, "max-message": 4096}})
        self.node.start()
        self.addCleanup(self.node.stop)
        self.locator.locatorEndpoints = [("127.0.0.1", self.node.port)]
        await self.setUpStorage()
        sock = self.connectStorage()
        sock.sendall(b"\xc6\x00\x10\x00\x00" + b"\0" * 8192)
        self.assertTrue(_closedByPeer(sock))
        self.assertIn("frame larger than the 4096 byte limit",
                      self.node.log())

    async def test_dispatchErrorsAnswerAndKeepConnection(self):
        await self.setUpStorage()
        sock = self.connectStorage()
        sock.sendall(msgpack.packb([5, 9, []]))                  # unknown type
        sock.sendall(msgpack.packb([3, 0, ["c", "k"]]))          # lower id
        sock.sendall(msgpack.packb([6, 0, ["c", 17]]))           # wrong type
        sock.sendall(msgpack.packb([7, 0, ["c", "../x"]]))       # escaping key
        sock.sendall(msgpack.packb([8, 1, ["c", "k", b"v", []], []]))  # valid
        replies = {r[0]: r for r in _frames(sock, 5)}
        self.assertEqual(replies[5][1:], [1, [[7, 5], replies[5][2][1]]])
        self.assertEqual(replies[3][2][0], [7, 4])
        self.assertEqual(replies[6][2][0], [7, 2])
        self.assertIn("'key'", replies[6][2][1])
        self.assertEqual(replies[7][2][0], [1, errno.EINVAL])
        self.assertEqual(replies[8], [8, 0, []])
        await self.assertStillServing()

    async def test_unknownServiceKeepsLocatorConnection(self):
        sock = socket.create_connection(("127.0.0.1", self.node.port), 5)
        self.addCleanup(sock.close)
        sock.sendall(msgpack.packb([1, 0, ["missing"], []]))
        sock.sendall(msgpack.packb([2, 0, ["storage"], []]))
        first, second = _frames(sock, 2)
        self.assertEqual(first[:2], [1, 1])
        self.assertEqual(first[2][0], [10, 1])
        self.assertEqual(second[:2], [2, 0])


class LifecycleTests(TestCase):
    """
    Start-up errors, shutdown and signals of the twistd process.
    """

    timeout = 60

    def run_(self, *args, cwd=None):
        return subprocess.run(
            twistdCommand(*args), cwd=cwd or self.mktemp_dir(),
            env=environment(), capture_output=True, text=True, timeout=30)

    def mktemp_dir(self):
        path = self.mktemp()
        os.makedirs(path)
        return path

    def test_twistdHelpListsCocaine(self):
        result = self.run_("--help")
        self.assertEqual(result.returncode, 0)
        self.assertRegex(result.stdout, r"\n\s+cocaine\s")

    def assertOneLineError(self, result, *fragments):
        self.assertNotEqual(result.returncode, 0)
        lines = [line for line in result.stderr.splitlines() if line]
        self.assertEqual(len(lines), 1, result.stderr)
        for fragment in fragments:
            self.assertIn(fragment, lines[0])
        self.assertNotIn("listening", result.stdout)

    def test_missingConfig(self):
        result = self.run_("--pidfile=", "-n", "cocaine", "--config",
                           "/nonexistent/cocaine.json")
        self.assertOneLineError(result, "/nonexistent/cocaine.json",
                                "No such file")

    def test_badJson(self):
        directory = self.mktemp_dir()
        with open(os.path.join(directory, "bad.json"), "w") as f:
            f.write('{"network": ')
        result = self.run_("--pidfile=", "-n", "cocaine", "--config",
                           "bad.json", cwd=directory)
        self.assertOneLineError(result, "bad.json", "not valid JSON")

    def test_badValue(self):
        directory = self.mktemp_dir()
        with open(os.path.join(directory, "bad.json"), "w") as f:
            f.write('{"services": {"storage": {"type": "storage", '
                    '"args": {"backend": "x"}}}}')
        result = self.run_("--pidfile=", "-n", "cocaine", "--config",
                           "bad.json", cwd=directory)
        self.assertOneLineError(
            result, 'services.storage.args.backend: no storage named "x"')

    def test_locatorPortTaken(self):
        holder = socket.socket()
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        directory = self.mktemp_dir()
        with open(os.path.join(directory, "c.json"), "w") as f:
            f.write('{"network": {"locator": %d}}' % port)
        result = self.run_("--pidfile=", "-n", "cocaine", "--config",
                           "c.json", cwd=directory)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("could not start: locator: cannot listen on "
                      "127.0.0.1:{}: the address is already in use".format(
                          port), result.stderr)

    def test_sigtermStopsWithinFiveSeconds(self):
        node = Node(self.mktemp()).start()
        self.addCleanup(node.stop)
        # a client connection stays open while the node stops
        sock = socket.create_connection(("127.0.0.1", node.port), 5)
        self.addCleanup(sock.close)
        status, seconds = node.stop()
        # twistd ends by re-raising the signal after a clean shutdown
        self.assertIn(status, (0, -signal.SIGTERM))
        self.assertLess(seconds, 5)
        self.assertIn("Server Shut Down", node.log())

    async def test_secondSigtermDuringDrain(self):
        """
        A SIGTERM while the node drains an app's requests, a first SIGTERM
        having begun the shutdown, is logged, not answered with a second
        stop and its C{ReactorNotRunning} traceback; the shutdown goes on
        as the first began it, the request answered.
        """
        from cocaine.reactor import NodeReactor
        if NodeReactor is None:
            raise SkipTest("no epoll here: Twisted's reactor stops twice")
        node = Node(self.mktemp(), {
            "network": {"locator": 0},
            "services": {"logging": {"type": "logging"},
                         "node": {"type": "node", "args": {"local": {
                             "echo": {"path": os.path.join(
                                 ROOT, "examples", "apps", "echo")}}}}}})
        node.start()
        self.addCleanup(node.stop)
        locator = Locator(reactor, [("127.0.0.1", node.port)], timeout=20)
        self.addCleanup(locator.disconnect)
        echo = Service("echo", locator, timeout=30)
        self.addCleanup(echo.disconnect)
        slow = await echo.enqueue("slow")
        slow.write(b"1500")
        await deferLater(reactor, 0.3)
        process = node.process
        process.send_signal(signal.SIGTERM)
        await deferLater(reactor, 0.5)
        process.send_signal(signal.SIGTERM)
        self.assertEqual([chunk async for chunk in slow], [b"done"])
        status = await deferToThread(process.wait, 30)
        self.assertIn(status, (0, -signal.SIGTERM))
        log = node.log()
        self.assertEqual(log.count("Received SIGTERM, shutting down."), 1)
        self.assertIn("Received SIGTERM, already shutting down.", log)
        self.assertNotIn("Traceback", log)

    def runnerNode(self, *runner):
        """
        A node started by C{runner} (its command line up to the plugin's
        name) instead of twistd's.
        """
        import tests.integration.node
        self.patch(tests.integration.node, "twistdCommand",
                   lambda *twistd: list(runner) + list(
                       twistd[twistd.index("cocaine"):]))
        node = Node(self.mktemp()).start()
        self.addCleanup(node.stop)
        return node

    def test_twistRunsOnTheNodeReactor(self):
        """
        C{twist cocaine}, like twistd, runs the node on
        L{cocaine.reactor.NodeReactor} and says so at start-up; so does
        C{--reactor=cocaine}, twist's and twistd's.
        """
        from cocaine.reactor import NodeReactor
        if NodeReactor is None:
            raise SkipTest("no epoll here")
        twist = [sys.executable, "-m", "twisted", "--log-format=text"]
        for runner in (twist, twist + ["--reactor=cocaine"],
                       twistdCommand("--pidfile=", "-n",
                                     "--reactor=cocaine")):
            node = self.runnerNode(*runner)
            self.assertIn("[cocaine.reactor#info] reactor: "
                          "cocaine.reactor.NodeReactor\n", node.log())
            status, _ = node.stop()
            self.assertIn(status, (0, -signal.SIGTERM))

    def test_sighupReopensFileSink(self):
        directory = os.path.abspath(self.mktemp())
        logFile = os.path.join(directory, "app.log")
        node = Node(directory, {"network": {"locator": 0}, "logging": {
            "sinks": [{"type": "file", "path": logFile}]}}).start()
        self.addCleanup(node.stop)
        script = textwrap.dedent("""
            import sys
            from cocaine.client.blocking import connect
            connect("logging", port=int(sys.argv[1])).emit(
                1, "rotate", sys.argv[2])
        """)

        def emit(text):
            subprocess.run([sys.executable, "-c", script, str(node.port),
                            text], env=environment(), check=True, timeout=30)
        emit("before rotation")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if os.path.exists(logFile):
                with open(logFile) as f:
                    if "before rotation" in f.read():
                        break
            time.sleep(0.05)
        os.rename(logFile, logFile + ".1")
        node.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while not os.path.exists(logFile) and time.monotonic() < deadline:
            time.sleep(0.05)
        emit("after rotation")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with open(logFile) as f:
                if "after rotation" in f.read():
                    break
            time.sleep(0.05)
        with open(logFile + ".1") as f:
            old = f.read()
        with open(logFile) as f:
            new = f.read()
        self.assertIn("INFO rotate: before rotation", old)
        self.assertNotIn("after rotation", old)
        self.assertIn("INFO rotate: after rotation", new)


class ThirdPartyPluginTests(TestCase):
    """
    A module dropped into a services/ directory on PYTHONPATH is served.
    """

    timeout = 60

    async def test_droppedInServiceIsServed(self):
        extra = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(extra, "services"))
        with open(os.path.join(extra, "services", "shout.py"), "w") as f:
            f.write(textwrap.dedent('''
                from twisted.plugin import IPlugin
                from zope.interface import implementer
                from cocaine.interfaces import IServicePlugin
                from cocaine.protocol.idl import Arg, Message, Protocol

                SHOUT = Protocol("shout", [Message("shout", [Arg("text", "str")])])

                class Shout:
                    protocol = SHOUT
                    version = 1
                    def __init__(self, suffix):
                        self.suffix = suffix
                    def shout(self, text):
                        return (text.upper() + self.suffix,)

                @implementer(IPlugin, IServicePlugin)
                class _Plugin:
                    name = "shout"
                    def validate(self, path, args, config):
                        pass
                    def makeService(self, context, name, args):
                        return Shout(args.get("suffix", "!"))

                plugin = _Plugin()
            '''))
        node = Node(os.path.join(extra, "node"), {
            "network": {"locator": 0},
            "services": {"loud": {"type": "shout",
                                  "args": {"suffix": "!!"}}}},
            extraPath=[extra]).start()
        self.addCleanup(node.stop)
        locator = Locator(reactor, [("127.0.0.1", node.port)], timeout=10)
        self.addCleanup(locator.disconnect)
        loud = Service("loud", locator, timeout=10)
        self.addCleanup(loud.disconnect)
        self.assertEqual(await loud.shout("hello"), "HELLO!!")

