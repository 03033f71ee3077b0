"""
Issue 14, the workers' part, each finding written as the attack that now
fails against a real node on loopback: a stolen worker handshake
(finding 4), another local user reading storage or connecting to a
worker socket (finding 2), names taken through C{locator.publish}
(finding 3), a pre-created socket directory (finding 9), the node's
secrets in a worker's environment, workers under a profile user.

Bounded: one node per test, a handful of connections, deadlines of
seconds. The "other local user" is C{nobody} through C{setpriv}; those
tests need root and skip without it.
"""

import hashlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time

import msgpack
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest

from cocaine.client.deploy import upload
from tests.integration.node import ROOT, Node, freePort
from tests.integration.test_apps import ECHO, _AppTestCase, localApp

#: locator.publish's method id (PROTOCOL.md section 5).
PUBLISH = 4

SETPRIV = shutil.which("setpriv")


def _needRoot():
    if os.geteuid() != 0 or SETPRIV is None:
        raise SkipTest("needs root and setpriv to act as another user")


def asNobody(*argv):
    """
    Run C{argv} as C{nobody:nogroup} without supplementary groups.

    @return: the L{subprocess.CompletedProcess}.
    """
    group = "nogroup"
    try:
        import grp
        grp.getgrnam(group)
    except KeyError:
        group = "nobody"
    return subprocess.run(
        [SETPRIV, "--reuid=nobody", "--regid=" + group, "--clear-groups",
         "--"] + list(argv), capture_output=True, timeout=20)


def publishRaw(port, name, endpoint=("127.0.0.1", 1), timeout=5,
               held=None):
    """
    C{locator.publish(name)} on a raw connection.

    @param held: a list: a publication that was accepted keeps its
        connection open (appended here; the caller closes it), as a real
        hijacker would.
    @return: the first reply message, or L{None} if the connection closed
        (or could not be made) before one.
    """
    try:
        conn = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return None
    reply = None
    try:
        conn.sendall(msgpack.packb([1, PUBLISH, [name, [list(endpoint)],
                                                 [1, {}]]]))
        unpacker = msgpack.Unpacker(raw=False)
        while reply is None:
            data = conn.recv(65536)
            if not data:
                break
            unpacker.feed(data)
            for reply in unpacker:
                break
    except OSError:
        pass
    if held is not None and reply is not None and reply[1] == 0:
        held.append(conn)
    else:
        conn.close()
    return reply


def _closeAll(connections):
    for conn in connections:
        conn.close()


def handshakeAs(endpoint, uuid, timeout=5):
    """
    Connect to a worker socket and handshake with C{uuid}, as an impostor.

    @return: what the node sent before closing (b"" when it closed at
        once), or C{"open"} if it kept the connection.
    """
    conn = socket.socket(socket.AF_UNIX)
    conn.settimeout(timeout)
    with conn:
        conn.connect(endpoint)
        conn.sendall(msgpack.packb([1, 0, [uuid]]))
        received = b""
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return received
                received += data
        except socket.timeout:
            return "open"
        except ConnectionResetError:
            return received


def argvOf(pid):
    with open("/proc/{}/cmdline".format(pid), "rb") as f:
        return f.read().decode().split("\0")


def environOf(pid):
    with open("/proc/{}/environ".format(pid), "rb") as f:
        return dict(item.split("=", 1) for item in
                    f.read().decode(errors="replace").split("\0")
                    if "=" in item)


def uidOf(pid):
    with open("/proc/{}/status".format(pid)) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])


def _sharedDirectory():
    """
    A directory other users may pass through (so a refusal is the node's
    doing, not a locked parent's).
    """
    directory = tempfile.mkdtemp(prefix="cocaine-sec-")
    os.chmod(directory, 0o755)
    return directory


def _slowApp(root, delay="1"):
    """
    The echo app behind a wrapper that waits before it C{exec}s the worker:
    a window in which the worker is spawned but has not handshaken.
    """
    app = os.path.join(root, "slow")
    shutil.copytree(ECHO, app)
    os.rename(os.path.join(app, "worker.py"), os.path.join(app, "echo.py"))
    with open(os.path.join(app, "worker.py"), "w") as f:
        f.write('#!/bin/sh\nsleep {}\nexec "$(dirname "$0")/echo.py" "$@"\n'
                .format(delay))
    os.chmod(os.path.join(app, "worker.py"), 0o755)
    return app


class _SecurityCase(_AppTestCase):

    #: whether setUp starts a node (with L{prepare}'s apps)
    nodeInSetUp = True

    def setUp(self):
        self.shared = _sharedDirectory()
        self.addCleanup(shutil.rmtree, self.shared, True)
        self.prepare()
        if self.nodeInSetUp:
            self.startNode(Node(os.path.join(self.shared, "node"),
                                self.nodeConfig()))

    def prepare(self):
        """
        Before the node starts: make what it needs in C{self.shared}.
        """

    async def argv(self, pid):
        """
        The command line of worker C{pid} once it has C{exec}ed (until
        then the forked child shows the node's).
        """
        async def execed():
            argv = argvOf(pid)
            return argv if "--endpoint" in argv else None
        return await self.waitFor(execed)

    async def workers(self, name, state=None):
        info = await self.service("node").info(name)
        return [w for w in info["workers"]
                if state is None or w["state"] == state]


class HandshakeTheftTests(_SecurityCase):
    """
    Finding 4: the uuid on a worker's command line no longer admits.
    """

    def prepare(self):
        self.local = {"slow": localApp(_slowApp(self.shared, "3"),
                                       **{"startup-timeout": 20})}

    async def test_impostorGetsNothing(self):
        slow = self.service("slow")
        # a request makes the pool spawn a worker; it sleeps before its
        # handshake
        reply = Deferred.fromCoroutine(self.call(slow, "echo", b"mine"))

        async def starting():
            return await self.workers("slow", "starting")
        (worker,) = await self.waitFor(starting)
        argv = await self.argv(worker["pid"])
        uuid = argv[argv.index("--uuid") + 1]
        endpoint = argv[argv.index("--endpoint") + 1]
        # the first to handshake with the uuid used to take the worker's
        # requests: now the connection is closed and nothing is sent
        taken = await deferToThread(handshakeAs, endpoint, uuid)
        self.assertEqual(taken, b"")
        # the real worker still serves
        self.assertEqual(await reply, [b"mine"])
        self.assertIn("refused a handshake as worker " + uuid,
                      self.node.log())


class OtherUserTests(_SecurityCase):
    """
    Finding 2 (files) and 4 (socket): another local user reads no stored
    value and cannot connect to a worker's socket.
    """

    local = {"echo": localApp(ECHO)}

    async def test_storageFilesPrivate(self):
        _needRoot()
        storage = self.service("storage")
        await storage.write("keys", "admin", b"the secret", [])
        path = os.path.join(self.node.directory, "var", "data", "storage",
                            "keys", "admin")
        self.assertTrue(os.path.exists(path))
        # the control: nobody does read a world-readable file here
        control = os.path.join(self.shared, "public")
        with open(control, "w") as f:
            f.write("public")
        os.chmod(control, 0o644)
        self.assertEqual(asNobody("cat", control).stdout, b"public")
        for target in (path, os.path.dirname(path)):
            result = await deferToThread(asNobody, "cat", target)
            self.assertNotEqual(result.returncode, 0)
            self.assertNotIn(b"secret", result.stdout)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)

    async def test_socketUnreachable(self):
        _needRoot()
        self.assertEqual(await self.call(self.service("echo"), "ping"),
                         [b"pong"])
        (worker,) = await self.workers("echo", "active")
        argv = argvOf(worker["pid"])
        endpoint = argv[argv.index("--endpoint") + 1]
        script = ("import socket, sys\n"
                  "s = socket.socket(socket.AF_UNIX)\n"
                  "try:\n"
                  "    s.connect(sys.argv[1])\n"
                  "except OSError as e:\n"
                  "    print('refused', e.errno)\n"
                  "    sys.exit(3)\n"
                  "print('connected')\n")
        python = "/usr/bin/python3"
        if not os.access(python, os.X_OK):
            raise SkipTest("no system python3 for the other user")
        result = await deferToThread(asNobody, python, "-c", script,
                                     endpoint)
        self.assertEqual(result.returncode, 3, result.stdout)
        info = os.lstat(os.path.dirname(endpoint))
        self.assertEqual((stat.S_IMODE(info.st_mode), info.st_uid),
                         (0o700, 0))


class NameTests(_SecurityCase):
    """
    Finding 3: C{locator.publish} neither shadows a running app nor takes
    one of the node's own names while it starts.
    """

    async def test_shadowRefused(self):
        """
        A running app's name is refused; one published while the app was
        paused is taken back when it starts (the start used to fail, the
        hijacker kept the name).
        """
        await upload(self.service("storage"), "echo", path=ECHO,
                     profile={}, profileName="small")
        node = self.service("node")
        await node.start_app("echo", "small")
        reply = await deferToThread(publishRaw, self.node.port, "echo")
        self.assertEqual(reply[1], 1)
        self.assertIn("'echo'", reply[2][1])
        await node.pause_app("echo")
        held = []
        self.addCleanup(_closeAll, held)
        reply = await deferToThread(publishRaw, self.node.port, "echo",
                                    held=held)
        self.assertEqual(reply[1], 0)
        await node.start_app("echo", "small")
        endpoints = (await self.locator.resolve("echo"))[0]
        self.assertNotIn(["127.0.0.1", 1], [list(e) for e in endpoints])
        self.assertEqual(await self.call(self.service("echo"), "ping"),
                         [b"pong"])

    def test_earlyPublishRefused(self):
        """
        A client hammering C{publish("node")} from before the locator
        listens until the node runs: every publish that reaches the node
        is refused, and the node comes up serving its own C{node}.
        """
        port = freePort()
        config = self.nodeConfig()
        config["network"] = {"locator": port}
        replies = []
        held = []
        self.addCleanup(_closeAll, held)
        done = threading.Event()

        def attack():
            deadline = time.monotonic() + 20
            while not done.is_set() and time.monotonic() < deadline:
                reply = publishRaw(port, "node", timeout=2, held=held)
                if reply is not None:
                    replies.append(reply)
                else:
                    time.sleep(0.01)
        attacker = threading.Thread(target=attack, daemon=True)
        attacker.start()
        try:
            node = Node(os.path.join(self.shared, "early"), config).start()
        finally:
            done.set()
            attacker.join(25)
        self.addCleanup(node.stop)
        # and once more now that it runs, whatever the timing was
        replies.append(publishRaw(port, "node", held=held))
        self.assertEqual({tuple(r[:2]) for r in replies}, {(1, 1)})
        self.assertIsNone(node.process.poll())
        self.assertNotIn("DuplicateService", node.log())


class SocketDirectoryTests(_SecurityCase):
    """
    Finding 9: a directory another user pre-creates where the node used to
    put long-named apps' sockets is never used.
    """

    nodeInSetUp = False

    def test_precreatedDirectoryIgnored(self):
        name = "a" * 90
        node = Node(os.path.join(self.shared, "n9"), {
            "network": {"locator": 0}, "services": {
                "logging": {"type": "logging"},
                "storage": {"type": "storage"},
                "node": {"type": "node", "args": {
                    "local": {name: localApp(ECHO)}}}}})
        runtime = os.path.join(node.directory, "var", "run")
        # where the old node put it: a predictable path under /tmp
        digest = hashlib.sha1(runtime.encode()).hexdigest()[:12]
        planted = os.path.join(tempfile.gettempdir(), "cocaine-" + digest)
        os.makedirs(planted, exist_ok=True)
        os.chmod(planted, 0o777)
        self.addCleanup(shutil.rmtree, planted, True)
        self.startNode(node)
        return Deferred.fromCoroutine(self._served(name, planted))

    async def _served(self, name, planted):
        self.assertEqual(await self.call(self.service(name), "ping"),
                         [b"pong"])
        (worker,) = await self.workers(name, "active")
        argv = argvOf(worker["pid"])
        endpoint = argv[argv.index("--endpoint") + 1]
        self.assertNotEqual(os.path.dirname(endpoint), planted)
        self.assertEqual(os.listdir(planted), [])
        info = os.lstat(os.path.dirname(endpoint))
        self.assertEqual((stat.S_IMODE(info.st_mode), info.st_uid),
                         (0o700, os.geteuid()))


class EnvironmentTests(_SecurityCase):
    """
    A worker does not see what the node's environment holds beyond what
    it needs.
    """

    local = {"echo": localApp(ECHO)}

    def setUp(self):
        os.environ["SECURITY_TEST_SECRET"] = "hunter2"
        try:
            _SecurityCase.setUp(self)
        finally:
            del os.environ["SECURITY_TEST_SECRET"]

    async def test_secretNotInherited(self):
        self.assertEqual(await self.call(self.service("echo"), "ping"),
                         [b"pong"])
        self.assertEqual(
            environOf(self.node.process.pid).get("SECURITY_TEST_SECRET"),
            "hunter2")
        (worker,) = await self.workers("echo", "active")
        env = environOf(worker["pid"])
        self.assertNotIn("SECURITY_TEST_SECRET", env)
        self.assertIn("PATH", env)
        self.assertIn(ROOT, env.get("PYTHONPATH", ""))


class ProfileUserTests(_SecurityCase):
    """
    Workers under a profile's C{user}.
    """

    def setUp(self):
        _needRoot()
        _SecurityCase.setUp(self)

    async def test_workerRunsAsUser(self):
        nobody = pwd.getpwnam("nobody")
        app = os.path.join(self.shared, "sleeper")
        os.mkdir(app)
        os.chmod(app, 0o755)
        with open(os.path.join(app, "manifest.json"), "w") as f:
            f.write('{"slave": "worker.sh"}')
        with open(os.path.join(app, "worker.sh"), "w") as f:
            # keeps its arguments (--endpoint) on its command line
            f.write("#!/bin/sh\nexec /bin/sh -c 'sleep 30; :' w \"$@\"\n")
        os.chmod(os.path.join(app, "worker.sh"), 0o755)
        storage = self.service("storage")
        await upload(storage, "sleeper", path=app,
                     profile={"user": "nobody", "startup-timeout": 20},
                     profileName="as-nobody")
        await self.service("node").start_app("sleeper", "as-nobody")
        sleeper = self.service("sleeper")
        channel = await sleeper.enqueue("ping")
        self.addCleanup(channel.close)

        async def spawned():
            return await self.workers("sleeper")
        (worker,) = await self.waitFor(spawned)
        argv = await self.argv(worker["pid"])
        self.assertEqual(uidOf(worker["pid"]), nobody.pw_uid)

        async def environ():
            # empty while the worker is between two images (worker.sh
            # execs /bin/sh again): read it once it has one
            return environOf(worker["pid"]) or None
        env = await self.waitFor(environ)
        self.assertEqual((env.get("USER"), env.get("HOME")),
                         ("nobody", nobody.pw_dir))
        endpoint = argv[argv.index("--endpoint") + 1]
        info = os.lstat(endpoint)
        self.assertEqual((info.st_uid, stat.S_IMODE(info.st_mode)),
                         (nobody.pw_uid, 0o600))
