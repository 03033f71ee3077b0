"""
C{app ...} and C{info} against a real node: uploads in the storage layout
of PROTOCOL.md section 7 that the node starts, and apps uploaded the
original tools' way that the tool lists.
"""

import io
import json
import os
import shutil
import tarfile

import msgpack
from twisted.internet import reactor

from cocaine.client import Locator, Service
from cocaine.protocol.framing import unpackValue
from tests.integration.node import Node
from tests.tool.support import ECHO, ToolTestCase, nodeConfig


def echoCopy(directory, extra=()):
    """
    A copy of the example echo app in C{directory}, plus C{extra} files
    C{(name, bytes)}.
    """
    os.makedirs(directory)
    for name in ("manifest.json", "worker.py"):
        shutil.copy2(os.path.join(ECHO, name), directory)
    for name, data in extra:
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
    return directory


class UploadTests(ToolTestCase):

    def test_upload20MB(self):
        """
        A 20 MB app goes up in one piece (a progress bar on a terminal),
        lands in storage as a msgpack-packed tar.gz, starts and answers.
        """
        blob = os.urandom(20 * 1024 * 1024)
        path = echoCopy(os.path.join(self.home, "big"), [("blob.bin", blob)])
        result = self.tool("app", "upload", path,
                           env=self.env(TTY_COMPATIBLE="1", COLUMNS="100"))
        self.assertEqual(result.status, 0, result)
        self.assertIn("app big uploaded (20.0 MiB)", result.out)
        self.assertIn("packing big", result.stderr)
        self.assertIn("20.0/20.0 MiB", result.stderr)
        self.assertIn("writing big (20.0 MiB) to storage", result.stderr)

        # storage holds the archive as PROTOCOL.md section 7 says
        stored = self.ok("call", "storage.read", "apps", "big",
                         timeout=60).stdout
        archive = unpackValue(stored)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            self.assertEqual(sorted(tar.getnames()),
                             ["blob.bin", "manifest.json", "worker.py"])
            self.assertEqual(tar.extractfile("blob.bin").read(), blob)
        self.assertEqual(unpackValue(self.ok(
            "call", "storage.read", "manifests", "big").stdout),
            {b"slave": b"worker.py"})

        self.ok("app", "start", "big")
        self.assertEqual(self.ok("call", "big.enqueue", "ping").stdout,
                         b"pong\n")
        self.assertEqual(self.ok("call", "big.enqueue", "echo", "-w", "x")
                         .stdout, b"x\n")
        spooled = os.path.join(self.node.directory, "var", "spool", "big",
                               "blob.bin")
        self.assertEqual(os.path.getsize(spooled), len(blob))

    def test_uploadQuietWhenNotATerminal(self):
        """
        No progress display when standard error is not a terminal.
        """
        out = self.ok("app", "upload", ECHO).out
        self.assertRegex(out, r"^app echo uploaded \([\d.]+ (KiB|bytes)\); "
                         r"start it with `cocaine-tool app start echo`\n$")

    def test_uploadArchive(self):
        """
        An existing archive is sent as it is; its name and manifest come
        from the file unless --name and --manifest say otherwise.
        """
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name in ("manifest.json", "worker.py"):
                tar.add(os.path.join(ECHO, name), arcname="./" + name)
        data = buffer.getvalue()
        path = self.writeFile("myapp.tar", data)
        value = self.json("app", "upload", path)
        self.assertEqual((value["app"], value["archive-bytes"],
                          value["manifest"]),
                         ("myapp", len(data), {"slave": "worker.py"}))
        self.assertEqual(unpackValue(self.ok(
            "call", "storage.read", "apps", "myapp").stdout), data)
        manifest = self.writeFile("manifest.json", json.dumps(
            {"slave": "worker.py", "environment": {"X": "1"}}))
        self.ok("app", "upload", path, "--name", "other", "--manifest",
                manifest)
        self.assertEqual(self.json("app", "view", "other"),
                         {"slave": "worker.py", "environment": {"X": "1"}})
        self.assertEqual(self.json("app", "start", "other"),
                         {"app": "other", "profile": "default",
                          "state": "running"})
        self.assertEqual(self.ok("call", "other.enqueue", "ping").stdout,
                         b"pong\n")
        self.assertEqual(self.json("app", "remove", "myapp"),
                         {"app": "myapp", "removed": ["apps", "manifests"],
                          "runlists": [], "running": False})

    def test_uploadErrors(self):
        self.fails("app", "upload", os.path.join(self.home, "missing"),
                   message="no such directory or archive")
        path = echoCopy(os.path.join(self.home, "broken"))
        with open(os.path.join(path, "manifest.json"), "w") as f:
            f.write('{"slave": "nope.py"}')
        self.assertEqual(
            self.fails("app", "upload", path),
            "cocaine-tool: app upload broken: the manifest's slave 'nope.py' "
            "is not in the app")
        with open(os.path.join(path, "manifest.json"), "w") as f:
            f.write('{"slave": ')
        self.fails("app", "upload", path, message="is not JSON")
        notTar = self.writeFile("x.tar.gz", b"not an archive")
        self.fails("app", "upload", notTar, message="not a readable tar "
                   "archive")
        self.assertEqual(self.json("app", "list"), [])


class LifecycleTests(ToolTestCase):
    """
    upload, list, view, start, check, restart, stop, remove.
    """

    def test_lifecycle(self):
        self.ok("app", "upload", ECHO)
        self.assertEqual(self.json("app", "list"), [
            {"name": "echo", "uploaded": True, "running": False,
             "state": "stopped"}])
        self.assertIn('"slave": "worker.py"', self.ok("app", "view",
                                                      "echo").out)

        # no "default" profile in storage: the defaults apply
        self.assertEqual(self.ok("app", "start", "echo").out,
                         "app echo started with profile default\n")
        self.assertEqual(self.ok("call", "echo.enqueue", "ping").stdout,
                         b"pong\n")
        self.assertEqual(self.ok("app", "check", "echo").out,
                         "echo: running\n")
        out = self.ok("app", "list").out
        self.assertIn("echo", out)
        self.assertIn("running", out)
        self.fails("app", "start", "echo", message="cocaine-tool: app start "
                   "echo: app 'echo' is already running")

        pid = self.json("info", "echo")["workers"][0]["pid"]
        self.assertEqual(self.ok("app", "restart", "echo").out,
                         "app echo restarted with profile default\n")
        self.assertEqual(self.ok("call", "echo.enqueue", "ping").stdout,
                         b"pong\n")
        self.assertNotEqual(self.json("info", "echo")["workers"][0]["pid"],
                            pid)

        self.assertEqual(self.ok("app", "stop", "echo").out,
                         "app echo stopped\n")
        result = self.tool("app", "check", "echo")
        self.assertEqual((result.status, result.out, result.stderr),
                         (1, "echo: stopped\n", ""))
        self.assertEqual(self.json("app", "check", "echo", status=1),
                         {"app": "echo", "state": "stopped"})
        # restart of a stopped app starts it
        self.assertEqual(self.ok("app", "restart", "echo").out,
                         "app echo started with profile default\n")

        # a profile from storage, recorded in the node's runlist
        profile = self.writeFile("small.json", '{"pool-limit": 3}')
        self.ok("profile", "upload", "small", profile)
        self.assertEqual(self.json("app", "restart", "echo", "--profile",
                                   "small"),
                         {"app": "echo", "profile": "small",
                          "state": "running", "was-running": True})
        info = self.json("info", "echo")
        self.assertEqual((info["profile"]["name"],
                          info["profile"]["pool-limit"]), ("small", 3))
        # restart keeps the runlist's profile
        self.ok("app", "restart", "echo")
        self.assertEqual(self.json("info", "echo")["profile"]["name"],
                         "small")

        result = self.tool("app", "remove", "echo")
        self.assertEqual((result.status, result.out), (
            0, "app echo removed (and from runlist default)\n"), result)
        self.assertIn("app echo is still running", result.stderr)
        self.assertEqual(self.json("runlist", "view", "default"), {})
        self.assertEqual(self.json("app", "list"), [
            {"name": "echo", "uploaded": False, "running": True,
             "state": "running"}])
        self.assertEqual(self.json("app", "stop", "echo"),
                         {"app": "echo", "state": "stopped"})
        self.fails("app", "check", "echo", message="no app 'echo': not "
                   "running and not uploaded")
        self.fails("app", "remove", "echo", message="cocaine-tool: app "
                   "remove echo: no app 'echo' in storage")

    def test_unknownApp(self):
        self.assertEqual(self.fails("app", "start", "nope"),
                         "cocaine-tool: app start nope: app 'nope': no "
                         "manifest in storage (manifests/nope)")
        self.assertEqual(self.fails("app", "view", "nope"),
                         "cocaine-tool: app view nope: no app 'nope' in "
                         "storage (manifests/nope)")
        self.assertEqual(self.fails("app", "stop", "nope"),
                         "cocaine-tool: app stop nope: app 'nope' is not "
                         "running")
        self.assertEqual(self.fails("info", "nope"),
                         "cocaine-tool: info nope: app 'nope' is not running")
        self.ok("app", "upload", ECHO)
        self.fails("app", "start", "echo", "--profile", "missing",
                   message="no profile 'missing' in storage")

    def test_clusterFlag(self):
        """
        C{app start/stop --cluster} call C{start_app_cluster} and
        C{pause_app_cluster}: on a node without peers, that node alone;
        the app is kept in the runlist C{cluster}. Without a cluster
        secret the node refuses to push apps (issue 14).
        """
        self.ok("app", "upload", ECHO)
        self.fails("app", "start", "echo", "--cluster",
                   message="cluster-wide apps need a cluster secret")
        self.node.stop()
        config = nodeConfig()
        config["cluster"] = {"secret": "tool-test"}
        self.node = Node(self.mktemp(), config).start()
        self.addCleanup(self.node.stop)
        self.ok("app", "upload", ECHO)
        self.assertEqual(self.ok("app", "start", "echo", "--cluster").out,
                         "app echo running on 1 node\n")
        self.assertEqual(self.ok("call", "echo.enqueue", "ping").stdout,
                         b"pong\n")
        self.assertEqual(self.json("runlist", "view", "cluster"),
                         {"echo": {}})
        result = self.json("app", "stop", "echo", "--cluster")
        self.assertEqual((result["app"], result["state"],
                          list(result["nodes"].values())),
                         ("echo", "stopped", ["ok"]))
        self.assertEqual(self.json("runlist", "view", "cluster"), {})
        result = self.tool("app", "check", "echo")
        self.assertEqual(result.out, "echo: stopped\n")
        self.fails("app", "start", "nope", "--cluster",
                   message="no manifest in storage (manifests/nope)")
        self.assertEqual(self.ok("app", "remove", "echo", "--cluster").out,
                         "app echo removed from 1 of 1 node\n")
        self.fails("app", "remove", "echo", "--cluster",
                   message="no app 'echo' in the storage of any node")

    async def test_uploadedTheOriginalWay(self):
        """
        An app written as the Cocaine 0.12 tools write it (old msgpack raw
        strings, no bin type) is listed, viewed and started.
        """
        from cocaine.client.deploy import packDirectory
        locator = Locator(reactor, [("127.0.0.1", self.node.port)],
                          timeout=20)
        self.addCleanup(locator.disconnect)
        storage = Service("storage", locator, timeout=20)
        self.addCleanup(storage.disconnect)
        old = msgpack.Packer(use_bin_type=False).pack
        await storage.write("manifests", "legacy",
                            old({"slave": "worker.py"}), ["app"])
        await storage.write("apps", "legacy", old(packDirectory(ECHO)),
                            ["app"])
        await storage.write("profiles", "old", old({"pool-limit": 1}),
                            ["profile"])
        self.assertEqual(self.json("app", "list"), [
            {"name": "legacy", "uploaded": True, "running": False,
             "state": "stopped"}])
        self.assertEqual(self.json("app", "view", "legacy"),
                         {"slave": "worker.py"})
        self.assertEqual(self.json("profile", "view", "old"),
                         {"pool-limit": 1})
        self.ok("app", "start", "legacy", "--profile", "old")
        self.assertEqual(self.ok("call", "legacy.enqueue", "ping").stdout,
                         b"pong\n")


class InfoTests(ToolTestCase):

    local = {"echo": {"path": ECHO, "profile": {"pool-limit": 2}}}

    def test_info(self):
        self.ok("call", "echo.enqueue", "ping")
        out = self.ok("info").out
        for text in ("node ", "echo", "running", "workers", "queue",
                     "accepted", "0/100"):
            self.assertIn(text, out)
        value = self.json("info")
        self.assertEqual(value["node"]["locator"],
                         "127.0.0.1:{}".format(self.node.port))
        with open(os.path.join(self.node.directory, "var", "data",
                               "uuid")) as f:
            self.assertEqual(value["node"]["uuid"], f.read().strip())
        self.assertEqual(list(value["apps"]), ["echo"])
        self.assertEqual(value["apps"]["echo"]["requests"]["accepted"], 1)

        # one app
        value = self.json("info", "echo")
        self.assertEqual(value["state"], "running")
        [worker] = value["workers"]
        out = self.ok("info", "echo").out
        for text in ("app echo", "state", "running", "pool", "capacity 2",
                     "queue", "requests", "1 accepted", "pid", "RSS MB",
                     "CPU %", str(worker["pid"]), worker["uuid"]):
            self.assertIn(text, out)

    def test_noApps(self):
        self.fails("app", "restart", "echo", message="runs from a directory "
                   "on the node")
        self.ok("app", "stop", "echo")
        self.assertIn("no apps running", self.ok("info").out)
        self.assertEqual(self.json("info")["apps"], {})
        self.assertEqual(self.ok("app", "list").out, "no apps\n")
