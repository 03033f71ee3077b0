"""
Apps on a real node: deployed through storage like the Cocaine tools do,
or run from a directory; real worker processes; the faults of the app
engine issue, each shown.
"""

import io
import os
import signal
import tarfile
import time

import psutil
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from cocaine.client.deploy import readManifest, upload
from cocaine.errors import (
    AppAlreadyRunning, CocaineError, EngineBroken, QueueFull,
    ServiceNotAvailable, SpawnFailed, WorkerLost)
from cocaine.protocol.framing import unpackValue
from tests.integration.node import ROOT, Node, NodeClientMixin

ECHO = os.path.join(ROOT, "examples", "apps", "echo")
FAULTY = os.path.join(ROOT, "tests", "integration", "apps", "faulty")


def localApp(path, **profile):
    return {"path": path, "profile": profile}


class _AppTestCase(NodeClientMixin, TestCase):
    """
    A node per test with the node service and the given local apps.
    """

    timeout = 60
    local = {}

    def nodeConfig(self):
        return {"network": {"locator": 0}, "services": {
            "logging": {"type": "logging"},
            "storage": {"type": "storage"},
            "node": {"type": "node", "args": {"local": self.local,
                                              "drain-timeout": 5}}}}

    def setUp(self):
        self.startNode(Node(self.mktemp(), self.nodeConfig()))

    async def call(self, app, event, *chunks):
        """
        One request: send C{chunks}, close, read the reply to the end.
        """
        channel = await app.enqueue(event)
        for chunk in chunks:
            channel.write(chunk)
        channel.close()
        return [chunk async for chunk in channel]

    async def waitFor(self, predicate, timeout=10.0, step=0.05):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = await predicate()
            if result:
                return result
            await deferLater(reactor, step)
        self.fail("condition not reached within {}s".format(timeout))

    async def socketPath(self, name):
        """
        Where app C{name}'s workers connect (a private directory of each
        start): the C{--endpoint} on an active worker's command line.
        """
        (pid, *_) = await self.workerPids(name)
        with open("/proc/{}/cmdline".format(pid), "rb") as f:
            argv = f.read().decode().split("\0")
        return argv[argv.index("--endpoint") + 1]

    async def workerPids(self, name):
        info = await self.service("node").info(name)
        return [w["pid"] for w in info["workers"] if w["state"] == "active"]


class DeployTests(_AppTestCase):
    """
    Deploying as the Cocaine tools do: storage, then node.start_app.
    """

    async def deploy(self, name="echo", profile=None, **kw):
        storage = self.service("storage")
        await upload(storage, name, path=kw.pop("path", ECHO),
                     profile=profile or {"pool-limit": 2},
                     profileName="small", **kw)
        await self.service("node").start_app(name, "small")

    async def test_deployAndCall(self):
        await self.deploy()
        node = self.service("node")
        self.assertEqual(await node.list(), ["echo"])
        endpoints, version, graph = await self.locator.resolve("echo")
        self.assertEqual([graph[i][0] for i in range(3)],
                         ["enqueue", "info", "control"])
        echo = self.service("echo")
        self.assertEqual(await self.call(echo, "echo", b"a", b"\x00b", b"c"),
                         [b"a", b"\x00b", b"c"])
        self.assertEqual(await self.call(echo, "ping"), [b"pong"])
        # a long reply (the comparison benchmark's stream) arrives whole
        chunks = await self.call(echo, "stream", b"3000 1024")
        self.assertEqual(len(chunks), 3000)
        self.assertEqual(set(chunks), {b"x" * 1024})
        runlist = unpackValue(await self.service("storage").read(
            "runlists", "default"))
        self.assertEqual(runlist, {b"echo": b"small"})
        self.assertTrue(os.path.exists(os.path.join(
            self.node.directory, "var", "spool", "echo", "worker.py")))

    async def test_startWhileDraining(self):
        """
        C{start_app} of an app that is still draining waits for the old
        instance to stop, then starts it: the old instance's teardown
        leaves the new one's socket and name alone (a race found in
        review: the old teardown unlinked the new socket and withdrew the
        new registration).
        """
        await self.deploy()
        old = await self.locator.resolve("echo")
        echo = self.service("echo")
        slow = await echo.enqueue("slow")
        slow.write(b"700")
        node = self.service("node")
        answered = []
        paused = node.pause_app("echo")
        paused.addCallback(lambda result: answered.append("paused"))
        await deferLater(reactor, 0.2)
        started = node.start_app("echo", "small")
        started.addCallback(lambda result: answered.append("started"))
        await deferLater(reactor, 0.2)
        # neither answered: the accepted session is still being served
        self.assertEqual(answered, [])
        self.assertEqual([chunk async for chunk in slow], [b"done"])
        await paused
        await started
        self.assertEqual(answered, ["paused", "started"])
        self.assertEqual(await node.list(), ["echo"])
        new = await self.locator.resolve("echo")
        self.assertNotEqual(new[0], old[0])
        # the new instance serves, on a fresh worker through its socket
        fresh = self.service("echo")
        self.assertEqual(await self.call(fresh, "ping"), [b"pong"])
        self.assertTrue(os.path.exists(await self.socketPath("echo")))
        info = await fresh.info()
        self.assertEqual(info["state"], "running")
        self.assertEqual(info["requests"]["accepted"], 1)

    async def test_infoShowsPoolAndWorkers(self):
        await self.deploy()
        echo = self.service("echo")
        await self.call(echo, "ping")
        info = await echo.info()
        self.assertEqual(info["state"], "running")
        self.assertEqual(info["queue"], {"capacity": 100, "depth": 0})
        self.assertEqual(info["pool"]["capacity"], 2)
        self.assertEqual(info["pool"]["idle"], 1)
        self.assertEqual(info["requests"], {"accepted": 1, "rejected": 0})
        self.assertEqual(info["profile"]["name"], "small")
        (worker,) = info["workers"]
        self.assertEqual(worker["state"], "active")
        self.assertEqual(worker["load"], 0)
        self.assertTrue(psutil.pid_exists(worker["pid"]))
        self.assertGreater(worker["rss"], 1000000)
        self.assertIsInstance(worker["cpu"], float)
        # the profile's default, as the kernel has it
        self.assertEqual(worker["scheduling"], "batch")
        self.assertEqual(await self.service("node").info("echo"), info | {
            "workers": (await self.service("node").info("echo"))["workers"]})

    async def test_startAppErrors(self):
        node = self.service("node")
        with self.assertRaises(SpawnFailed) as caught:
            await node.start_app("ghost", {})
        self.assertIn("no manifest in storage (manifests/ghost)",
                      str(caught.exception))
        storage = self.service("storage")
        await upload(storage, "noslave", path=ECHO,
                     manifest={"slave": "missing.py"})
        with self.assertRaises(SpawnFailed) as caught:
            await node.start_app("noslave", {})
        self.assertIn("slave 'missing.py' not found", str(caught.exception))
        await upload(storage, "noexec", path=ECHO,
                     manifest={"slave": "manifest.json"})
        with self.assertRaises(SpawnFailed) as caught:
            await node.start_app("noexec", {})
        self.assertIn("slave 'manifest.json' is not executable",
                      str(caught.exception))
        await self.deploy()
        with self.assertRaises(AppAlreadyRunning):
            await node.start_app("echo", "small")
        await upload(storage, "echo2", path=ECHO)
        with self.assertRaises(CocaineError) as caught:
            await node.start_app("echo2", {"pool-limit": 0})
        self.assertIn("pool-limit", str(caught.exception))
        self.assertEqual(await node.list(), ["echo"])

    async def test_unsafeArchiveRejected(self):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo("../escape.sh")
            data = b"#!/bin/sh\n"
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        await upload(self.service("storage"), "evil",
                     archive=buffer.getvalue(),
                     manifest={"slave": "escape.sh"})
        with self.assertRaises(CocaineError) as caught:
            await self.service("node").start_app("evil", {})
        self.assertIn("../escape.sh", str(caught.exception))
        self.assertFalse(os.path.exists(os.path.join(
            self.node.directory, "var", "escape.sh")))

    async def test_runlistBringsAppsBackAfterRestart(self):
        await self.deploy()
        await self.locator.disconnect()
        self.node.stop()
        self.node.start()
        self.locator.locatorEndpoints = [("127.0.0.1", self.node.port)]
        echo = self.service("echo")
        self.assertEqual(await self.call(echo, "ping"), [b"pong"])

    async def test_pauseDrainsAndStops(self):
        await self.deploy()
        echo = self.service("echo")
        node = self.service("node")
        slow = echo.enqueue("slow")
        channel = await slow
        channel.write(b"400")
        channel.close()
        await deferLater(reactor, 0.1)
        paused = node.pause_app("echo")
        self.assertEqual([c async for c in channel], [b"done"])
        await paused
        self.assertEqual(await node.list(), [])
        with self.assertRaises(ServiceNotAvailable):
            await self.locator.resolve("echo")
        self.assertEqual(unpackValue(await self.service("storage").read(
            "runlists", "default")), {})

    async def test_controlPinsThePool(self):
        await self.deploy(profile={"pool-limit": 5})
        control = await self.service("node").control("echo")
        control.write(3)

        async def three():
            return len(await self.workerPids("echo")) == 3
        await self.waitFor(three)
        control.write(1)

        async def one():
            info = await self.service("node").info("echo")
            return len(info["workers"]) == 1
        await self.waitFor(one)
        control.close()
        self.assertIsNone(await control.read())


class LocalAppTests(_AppTestCase):
    """
    An app run straight from a directory, for development.
    """

    local = {"echo": localApp(ECHO)}

    async def test_answers(self):
        self.assertEqual(await self.service("node").list(), ["echo"])
        echo = self.service("echo")
        self.assertEqual(await self.call(echo, "echo", b"x"), [b"x"])

    async def test_errorsFromTheWorker(self):
        echo = self.service("echo")
        with self.assertRaises(CocaineError) as caught:
            await self.call(echo, "fail")
        self.assertEqual((caught.exception.category, caught.exception.code),
                         (42, 100))
        with self.assertRaises(CocaineError) as caught:
            await self.call(echo, "no-such-event")
        self.assertEqual((caught.exception.category, caught.exception.code),
                         (42, 200))
        self.assertEqual(await self.call(echo, "ping"), [b"pong"])


class ThreadIsolateTests(_AppTestCase):
    """
    A small Python app run in a thread of the node.
    """

    local = {"echo": localApp(ECHO, isolate={"type": "thread"})}

    async def test_servesFromAThread(self):
        echo = self.service("echo")
        self.assertEqual(await self.call(echo, "echo", b"a", b"b"),
                         [b"a", b"b"])
        self.assertEqual(await self.call(echo, "ping"), [b"pong"])
        info = await echo.info()
        (worker,) = info["workers"]
        self.assertIsNone(worker["pid"])
        self.assertEqual(info["profile"]["isolate"], {"type": "thread"})
        node = self.service("node")
        await node.pause_app("echo")
        self.assertEqual(await node.list(), [])


class WorkerLossTests(_AppTestCase):
    """
    A worker killed with SIGKILL mid-stream.
    """

    local = {"echo": localApp(ECHO, **{"pool-limit": 2, "concurrency": 1})}

    async def test_sigkillMidStream(self):
        echo = self.service("echo")
        control = await self.service("node").control("echo")
        control.write(2)
        await self.waitFor(lambda: self._count(2))
        first = await echo.enqueue("echo")
        first.write(b"1")
        self.assertEqual(await first.read(), b"1")
        second = await echo.enqueue("echo")
        second.write(b"2")
        self.assertEqual(await second.read(), b"2")
        info = await self.service("node").info("echo")
        busy = [w["pid"] for w in info["workers"] if w["load"]]
        self.assertEqual(len(busy), 2)
        # which worker serves the first session: kill that one
        victim = busy[0]
        os.kill(victim, signal.SIGKILL)
        started = time.monotonic()
        errors = []
        for channel in (first, second):
            try:
                channel.write(b"more")
                await channel.read()
            except WorkerLost as e:
                errors.append((channel, e, time.monotonic() - started))
        self.assertEqual(len(errors), 1)
        self.assertLess(errors[0][2], 1.0)
        self.assertIn("worker", str(errors[0][1]))
        survivor = second if errors[0][0] is first else first
        survivor.close()
        self.assertEqual([c async for c in survivor], [])
        # the next request goes to a fresh worker
        self.assertEqual(await self.call(echo, "ping"), [b"pong"])
        # written once the node reaped the process, which a loaded machine
        # may deliver after the connection loss
        await self.waitFor(self._crashlogs)

    async def _crashlogs(self):
        found = await self.service("storage").find("crashlogs", ["echo"])
        self.assertLessEqual(len(found), 1)
        return len(found) == 1

    async def _count(self, n):
        return len(await self.workerPids("echo")) == n


class FaultyWorkerTests(_AppTestCase):
    """
    Workers that do not follow the protocol.
    """

    def nodeConfig(self):
        config = _AppTestCase.nodeConfig(self)
        local = {}
        for name, fault, profile in (
                ("silent", "nohandshake", {"startup-timeout": 1}),
                ("mute", "noheartbeat", {"heartbeat-timeout": 1}),
                ("faulty", "none", {"pool-limit": 1, "crashlog-limit": 5})):
            path = os.path.abspath(self.mktemp())
            os.makedirs(path)
            with open(os.path.join(FAULTY, "worker.py"), "rb") as f:
                script = f.read()
            with open(os.path.join(path, "worker.py"), "wb") as f:
                f.write(script)
            os.chmod(os.path.join(path, "worker.py"), 0o755)
            with open(os.path.join(path, "manifest.json"), "w") as f:
                f.write('{"slave": "worker.py", "environment": '
                        '{"FAULT": "%s"}}' % fault)
            local[name] = localApp(path, **profile)
        config["services"]["node"]["args"]["local"] = local
        return config

    async def test_neverHandshakes(self):
        started = time.monotonic()
        with self.assertRaises(SpawnFailed) as caught:
            await self.call(self.service("silent"), "echo", b"x")
        self.assertLess(time.monotonic() - started, 5)
        self.assertIn("no handshake within 1s", str(caught.exception))
        keys = await self.service("storage").find("crashlogs", ["silent"])
        self.assertEqual(len(keys), 1)
        lines = unpackValue(await self.service("storage").read(
            "crashlogs", keys[0]))
        self.assertIn(b"fault nohandshake", lines[0])

    async def test_stopsHeartbeating(self):
        with self.assertRaises(WorkerLost) as caught:
            await self.call(self.service("mute"), "echo", b"x")
        self.assertIn("no heartbeat within 1s", str(caught.exception))

    async def test_floodsStdout(self):
        faulty = self.service("faulty")
        flood = self.call(faulty, "flood")
        # the node keeps serving other clients meanwhile
        for _ in range(5):
            self.assertEqual(await self.service("storage").find("x", []),
                             [])
        self.assertEqual(await flood, [b"flooded"])
        self.assertEqual(await self.call(faulty, "echo", b"ok"), [b"ok"])

    async def test_terminateCodeTwoBreaksTheApp(self):
        faulty = self.service("faulty")
        with self.assertRaises(WorkerLost):
            await self.call(faulty, "break")
        info = await faulty.info()
        self.assertEqual(info["state"], "broken")
        with self.assertRaises(EngineBroken) as caught:
            await self.call(faulty, "echo", b"x")
        self.assertIn("corrupt state", str(caught.exception))


class BurstTests(_AppTestCase):
    """
    Ten times queue-limit requests at once: the excess is rejected, none
    is lost or left hanging.
    """

    local = {"echo": localApp(ECHO, **{"queue-limit": 10, "pool-limit": 2,
                                       "concurrency": 2})}

    async def test_burst(self):
        echo = self.service("echo")

        async def one(i):
            try:
                return await self.call(echo, "slow", b"50")
            except QueueFull:
                return "rejected"
        results = await gatherResults([
            Deferred.fromCoroutine(one(i)) for i in range(100)])
        served = [r for r in results if r == [b"done"]]
        rejected = [r for r in results if r == "rejected"]
        self.assertEqual(len(served) + len(rejected), 100)
        self.assertGreaterEqual(len(served), 10)
        self.assertGreater(len(rejected), 0)
        info = await echo.info()
        self.assertEqual(info["requests"]["accepted"], len(served))
        self.assertEqual(info["requests"]["rejected"], len(rejected))
        self.assertEqual(info["queue"]["depth"], 0)


class NoOrphansTests(_AppTestCase):
    """
    Stopping the node leaves no worker process behind.
    """

    local = {"echo": localApp(ECHO, **{"pool-limit": 3}),
             "faulty": localApp(FAULTY, **{"pool-limit": 1})}

    async def test_noWorkerOutlivesTheNode(self):
        control = await self.service("node").control("echo")
        control.write(3)

        async def three():
            return len(await self.workerPids("echo")) == 3
        await self.waitFor(three)
        self.assertEqual(await self.call(self.service("faulty"), "echo",
                                         b"x"), [b"x"])
        pids = await self.workerPids("echo") + await self.workerPids(
            "faulty")
        self.assertEqual(len(pids), 4)
        await self.locator.disconnect()
        status, seconds = self.node.stop()
        self.assertIn(status, (0, -signal.SIGTERM))
        self.assertLess(seconds, 10)
        alive = [pid for pid in pids if psutil.pid_exists(pid) and
                 psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        self.assertEqual(alive, [])


class DriverTests(_AppTestCase):
    """
    Event drivers declared in a manifest start and stop with their app.
    """

    async def deployWithDrivers(self, name, drivers):
        manifest = dict(readManifest(ECHO), drivers=drivers)
        await upload(self.service("storage"), name, path=ECHO,
                     manifest=manifest)
        await self.service("node").start_app(name, {"pool-limit": 1})

    async def test_timersFeedTheApp(self):
        await self.deployWithDrivers("timed", {
            "tick": {"type": "recurring-timer", "interval": 100,
                     "emit": "ping"},
            "drift": {"type": "drifting-timer", "interval": 100,
                      "emit": "ping"},
            "nightly": {"type": "cron", "schedule": "0 3 * * *",
                        "emit": "ping"}})
        node = self.service("node")

        async def ticked():
            info = await node.info("timed")
            drivers = info["drivers"]
            return drivers if (drivers["tick"]["jobs"] >= 3 and
                               drivers["drift"]["jobs"] >= 2) else None
        drivers = await self.waitFor(ticked)
        self.assertEqual(drivers["tick"]["type"], "recurring-timer")
        self.assertEqual(drivers["tick"]["errors"], 0)
        self.assertEqual(drivers["nightly"]["jobs"], 0)
        self.assertEqual(drivers["nightly"]["schedule"], "0 3 * * *")
        info = await node.info("timed")
        self.assertGreaterEqual(info["requests"]["accepted"], 5)
        await node.pause_app("timed")
        self.assertEqual(await node.list(), [])

    async def test_badDriverFailsTheStart(self):
        with self.assertRaises(CocaineError) as caught:
            await self.deployWithDrivers("badcron", {
                "nightly": {"type": "cron", "schedule": "0 25 * * *"}})
        self.assertIn("driver 'nightly' (cron)", str(caught.exception))
        self.assertIn("hour value 25 out of range 0-23",
                      str(caught.exception))
        self.assertEqual(await self.service("node").list(), [])


class ServerDriverTests(_AppTestCase):
    """
    Filesystem and socket drivers feeding the echo app on a real node.
    """

    async def test_filesystemAndSockets(self):
        watched = os.path.abspath(self.mktemp())
        os.makedirs(watched)
        manifest = dict(readManifest(ECHO), drivers={
            "files": {"type": "filesystem-monitor", "path": watched,
                      "emit": "echo"},
            "raw": {"type": "raw-socket-server", "framing": "line",
                    "endpoint": "tcp://127.0.0.1:0", "emit": "echo"},
            "native": {"type": "native-server",
                       "endpoint": "tcp://127.0.0.1:0", "emit": "echo"},
            "sink": {"type": "native-sink",
                     "endpoint": "tcp://127.0.0.1:0", "emit": "echo"}})
        await upload(self.service("storage"), "served", path=ECHO,
                     manifest=manifest)
        node = self.service("node")
        await node.start_app("served", {"pool-limit": 2})
        drivers = (await node.info("served"))["drivers"]

        with open(os.path.join(watched, "new.txt"), "wb") as f:
            f.write(b"content")

        async def fileJob():
            info = await node.info("served")
            return info["drivers"]["files"]["jobs"] >= 1
        await self.waitFor(fileJob)

        rawPort = int(drivers["raw"]["endpoint"].rsplit(":", 1)[1])
        reply = await deferToThread(_lineExchange, rawPort,
                                    b"hello over raw\n")
        self.assertEqual(reply, b"hello over raw\n")

        from cocaine.driver.sockets import NATIVE
        from cocaine.rpc.client import connect
        nativePort = int(drivers["native"]["endpoint"].rsplit(":", 1)[1])
        connection = await connect(reactor, ("127.0.0.1", nativePort),
                                   "native", NATIVE)
        self.addCleanup(connection.transport.loseConnection)
        channel = connection.open(0, [b"native hello"])
        self.assertEqual([c async for c in channel], [b"native hello"])
        sinkPort = int(drivers["sink"]["endpoint"].rsplit(":", 1)[1])
        sink = await connect(reactor, ("127.0.0.1", sinkPort), "native",
                             NATIVE)
        self.addCleanup(sink.transport.loseConnection)
        await sink.call(1, [b"pushed"])

        async def sunk():
            info = await node.info("served")
            return info["drivers"]["sink"]["jobs"] == 1
        await self.waitFor(sunk)
        info = (await node.info("served"))["drivers"]
        self.assertEqual((info["raw"]["jobs"], info["native"]["jobs"]),
                         (1, 1))
        self.assertEqual(info["files"]["errors"], 0)
        self.assertEqual(info["sink"]["errors"], 0)

    async def test_takenPortFailsTheStart(self):
        import socket
        holder = socket.socket()
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        manifest = dict(readManifest(ECHO), drivers={"raw": {
            "type": "raw-socket-server",
            "endpoint": "tcp://127.0.0.1:%d" % port}})
        await upload(self.service("storage"), "clash", path=ECHO,
                     manifest=manifest)
        with self.assertRaises(CocaineError) as caught:
            await self.service("node").start_app("clash", {})
        self.assertIn("driver 'raw' (raw-socket-server) cannot start",
                      str(caught.exception))
        self.assertEqual(await self.service("node").list(), [])
        with self.assertRaises(ServiceNotAvailable):
            await self.locator.resolve("clash")


def _lineExchange(port, data):
    import socket
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(data)
        received = b""
        while not received.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


class ManualDriverTests(_AppTestCase):
    """
    A manual driver runs jobs only when triggered through the node.
    """

    async def test_trigger(self):
        manifest = dict(readManifest(ECHO), drivers={
            "poke": {"type": "manual", "emit": "echo"}})
        await upload(self.service("storage"), "manual", path=ECHO,
                     manifest=manifest)
        node = self.service("node")
        await node.start_app("manual", {})
        self.assertEqual((await node.info("manual"))["drivers"]["poke"][
            "jobs"], 0)
        self.assertEqual(await node.trigger("manual", "poke", b"now"), b"now")
        self.assertEqual((await node.info("manual"))["drivers"]["poke"][
            "jobs"], 1)
        with self.assertRaises(CocaineError) as caught:
            await node.trigger("manual", "nothing")
        self.assertIn("has no manual driver 'nothing' (it has: poke)",
                      str(caught.exception))
