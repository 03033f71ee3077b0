"""
Tests for L{cocaine.engine.engine}'s machine: start, refusals by state,
drain, stop and start again, with a memory reactor and a fake isolate.
"""

import os
import signal
import stat

import msgpack
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine import pool
from cocaine.engine.connection import WorkerConnection, WorkerListener
from cocaine.engine.engine import AppEngine
from cocaine.engine.manifest import parseManifest, parseProfile
from cocaine.engine.pool import crashlogTags
from cocaine.errors import CATEGORY_NODE as NODE
from cocaine.protocol.framing import unpackValue
from cocaine.storage.memory import MemoryStorage
from cocaine.testing import (
    FakeIsolate, FakeReactor, FakeUpstream, admitAnyPeer, runtimeDirectory)


class _MachineCase(SynchronousTestCase):
    """
    An engine over a memory reactor, a L{FakeIsolate} and memory storage,
    its socket in a fresh temporary directory; not started.
    """

    profile = {"termination-timeout": 1, "startup-timeout": 2,
               "heartbeat-timeout": 30, "idle-timeout": 0}

    def setUp(self):
        self.reactor = FakeReactor()
        self.isolate = FakeIsolate()
        self.storage = MemoryStorage()
        self.runtime = runtimeDirectory(self)
        self.engine = AppEngine(
            self.reactor, "app", parseManifest({"slave": "worker"}, "app"),
            parseProfile(self.profile, "test"), "/apps/app", self.isolate,
            self.runtime, lambda: "127.0.0.1:10053", self.storage)
        admitAnyPeer(self.engine)

    def enqueue(self, event="echo", headers=()):
        upstream = FakeUpstream()
        session = self.engine.enqueue(upstream, event, None, headers)
        return upstream, session

    def handshake(self, process):
        connection = WorkerConnection(self.engine)
        transport = StringTransport()
        connection.makeConnection(transport)
        connection.dataReceived(msgpack.packb([1, 0, [process.uuid]]))
        self.assertFalse(transport.disconnecting)
        return connection, transport

    def sent(self, transport):
        unpacker = msgpack.Unpacker(raw=False)
        unpacker.feed(transport.value())
        transport.clear()
        return list(unpacker)

    def reply(self, connection, channel, *chunks):
        data = b"".join(msgpack.packb([channel, 0, [c]], use_bin_type=True)
                        for c in chunks)
        connection.dataReceived(data + msgpack.packb([channel, 2, []]))

    def serving(self):
        """
        Start, take one session, bring its worker up.
        """
        self.engine.start()
        upstream, session = self.enqueue()
        (process,) = self.isolate.processes
        connection, transport = self.handshake(process)
        return upstream, session, process, connection, transport


class StartTests(_MachineCase):

    def test_stoppedBeforeStart(self):
        """
        A new engine is stopped: nothing listens, sessions are refused.
        """
        self.assertEqual(self.engine.state, "stopped")
        self.assertEqual(self.reactor.unixServers, [])
        upstream, session = self.enqueue()
        self.assertEqual(upstream.sent,
                         [("error", [NODE, 4], "app app is stopped")])
        self.assertEqual(session.machine.stateName(), "finished")
        self.assertEqual(self.engine.info()["requests"],
                         {"accepted": 0, "rejected": 1})
        self.assertTrue(self.engine.queueFull())

    def test_startListens(self):
        """
        Start listens for workers on the app's socket; no worker is spawned
        before a session needs one.
        """
        self.engine.start()
        self.assertEqual(self.engine.state, "running")
        ((path, factory, _, mode, _),) = self.reactor.unixServers
        self.assertEqual(path, self.engine.socketPath)
        self.assertEqual(mode, 0o600)
        directory = os.path.dirname(path)
        info = os.lstat(directory)
        self.assertEqual((stat.S_IMODE(info.st_mode), info.st_uid),
                         (0o700, os.geteuid()))
        self.assertIsInstance(factory, WorkerListener)
        self.assertIs(factory.engine, self.engine)
        self.assertEqual(self.isolate.processes, [])
        self.assertFalse(self.engine.queueFull())

    def test_freshPrivateDirectory(self):
        """
        Each start listens in a new directory made with C{mkdtemp}: what
        sits at another path (a directory someone made in the runtime
        directory) is never used.
        """
        os.makedirs(os.path.join(self.runtime, "app"))
        self.engine.start()
        self.assertNotEqual(os.path.dirname(self.engine.socketPath),
                            os.path.join(self.runtime, "app"))
        self.assertTrue(os.path.isdir(os.path.dirname(
            self.engine.socketPath)))

    def test_stopRemovesDirectory(self):
        """
        Stopping removes the start's private directory.
        """
        self.engine.start()
        directory = os.path.dirname(self.engine.socketPath)
        self.successResultOf(self.engine.stop())
        self.assertFalse(os.path.exists(directory))

    def test_served(self):
        upstream, session, process, connection, transport = self.serving()
        self.assertEqual(self.sent(transport), [[2, 0, ["echo"]]])
        self.reply(connection, 2, b"pong")
        self.assertEqual(upstream.sent, [("write", b"pong"), ("close",)])
        self.assertEqual(self.engine.running, set())


class BrokenTests(_MachineCase):

    profile = dict(_MachineCase.profile, concurrency=1)

    def breakIt(self):
        upstream, session, process, connection, transport = self.serving()
        waiting, _ = self.enqueue()
        self.engine.pin(1)
        connection.dataReceived(msgpack.packb([1, 1, [2, b"corrupt"]]))
        return upstream, waiting, process

    def test_brokenRefuses(self):
        """
        A worker's abnormal terminate breaks the app: what waits is
        failed, new sessions are refused, naming the reason.
        """
        upstream, waiting, process = self.breakIt()
        self.assertEqual(self.engine.state, "broken")
        reason = ("app app is broken: worker {} terminated abnormally: "
                  "corrupt".format(process.uuid))
        # the queued session waited for a second worker
        self.assertEqual(waiting.sent, [("error", [NODE, 7], reason)])
        # the running one was on the worker that left
        self.assertEqual(upstream.sent[0][:2], ("error", [NODE, 3]))
        refused, _ = self.enqueue()
        self.assertEqual(refused.sent, [("error", [NODE, 7], reason)])
        self.assertEqual(self.engine.info()["state"], "broken")
        self.assertTrue(self.engine.queueFull())

    def test_brokenSpawnsNothing(self):
        """
        A broken app replaces no worker and applies a pin only once it
        runs again.
        """
        upstream, waiting, process = self.breakIt()
        spawned = len(self.isolate.processes)
        process.end(0)
        self.engine.pin(3)
        self.assertEqual(len(self.isolate.processes), spawned)
        self.assertEqual(self.engine.pool.pinned, 3)

    def test_brokenUntilRestarted(self):
        upstream, waiting, process = self.breakIt()
        stopped = self.engine.stop()
        for each in self.isolate.processes:
            each.end(0)
        self.successResultOf(stopped)
        self.engine.pin(-1)
        self.engine.start()
        self.assertEqual(self.engine.state, "running")
        self.assertIsNone(self.engine.brokenReason)
        later, _ = self.enqueue()
        self.assertEqual(later.sent, [])


class DrainTests(_MachineCase):

    profile = dict(_MachineCase.profile, concurrency=1, **{"pool-limit": 1})

    def test_idleDrainsAtOnce(self):
        self.engine.start()
        self.successResultOf(self.engine.drain())
        self.assertEqual(self.engine.state, "stopping")
        self.assertEqual(self.engine.machine.stateName(), "draining")

    def test_refusesNewSessions(self):
        self.engine.start()
        self.engine.drain()
        upstream, _ = self.enqueue()
        self.assertEqual(upstream.sent,
                         [("error", [NODE, 4], "app app is stopping")])
        self.assertTrue(self.engine.queueFull())

    def test_waitsForRunningAndQueued(self):
        """
        Draining serves what was accepted, running or queued, and fires
        once the last of it is done.
        """
        first, _, process, connection, transport = self.serving()
        second, _ = self.enqueue()
        self.assertEqual(len(self.engine.queue), 1)
        drained = self.engine.drain()
        self.assertNoResult(drained)
        self.reply(connection, 2, b"one")
        self.assertEqual(first.sent, [("write", b"one"), ("close",)])
        # the queued one went to the worker
        self.assertEqual(self.sent(transport)[-1], [3, 0, ["echo"]])
        self.assertNoResult(drained)
        self.reply(connection, 3, b"two")
        self.assertEqual(second.sent, [("write", b"two"), ("close",)])
        self.successResultOf(drained)
        self.assertEqual(self.engine.machine.stateName(), "draining")

    def test_drainTimeout(self):
        """
        The drain gives up after its timeout; the sessions still run.
        """
        upstream, session, process, connection, transport = self.serving()
        drained = self.engine.drain(5)
        self.reactor.advance(4.9)
        self.assertNoResult(drained)
        self.reactor.advance(0.1)
        self.successResultOf(drained)
        self.assertEqual(upstream.sent, [])
        self.assertEqual(session.machine.stateName(), "running")

    def test_drainTimerCancelled(self):
        upstream, session, process, connection, transport = self.serving()
        before = len(self.reactor.getDelayedCalls())
        drained = self.engine.drain(5)
        self.assertEqual(len(self.reactor.getDelayedCalls()), before + 1)
        self.reply(connection, 2)
        self.successResultOf(drained)
        self.assertEqual(len(self.reactor.getDelayedCalls()), before)

    def test_drainTwice(self):
        upstream, session, process, connection, transport = self.serving()
        first = self.engine.drain()
        second = self.engine.drain()
        self.reply(connection, 2)
        self.successResultOf(first)
        self.successResultOf(second)

    def test_drainFromBroken(self):
        upstream, session, process, connection, transport = self.serving()
        connection.dataReceived(msgpack.packb([1, 1, [2, b"x"]]))
        self.successResultOf(self.engine.drain())
        self.assertEqual(self.engine.machine.stateName(), "draining")

    def test_drainWhenStoppedOrStopping(self):
        self.successResultOf(self.engine.drain())
        self.assertEqual(self.engine.state, "stopped")
        self.serving()
        stopping = self.engine.stop()
        self.successResultOf(self.engine.drain(5))
        self.assertNoResult(stopping)

    def test_breakWhileDrainingIgnored(self):
        upstream, session, process, connection, transport = self.serving()
        self.engine.drain()
        connection.dataReceived(msgpack.packb([1, 1, [2, b"x"]]))
        self.assertEqual(self.engine.machine.stateName(), "draining")

    def test_workerReplacedWhileDraining(self):
        """
        What was accepted is still served: a worker that dies while the
        app drains is replaced for the queue.
        """
        first, _, process, connection, transport = self.serving()
        second, _ = self.enqueue()
        self.engine.drain()
        process.end(1)
        self.assertEqual(first.sent[0][:2], ("error", [NODE, 3]))
        self.assertEqual(len(self.isolate.processes), 2)
        connection, transport = self.handshake(self.isolate.processes[1])
        self.reply(connection, 2, b"late")
        self.assertEqual(second.sent, [("write", b"late"), ("close",)])

    def test_stopAfterDrainWhenStartingWorkerDies(self):
        """
        C{stop(timeout)} drains first. When the only worker dies before
        its handshake, the queue is failed and nothing is left to drain:
        the stop goes on and completes.
        """
        self.engine.start()
        upstream, _ = self.enqueue()
        (process,) = self.isolate.processes
        stopped = self.engine.stop(10)
        self.assertNoResult(stopped)
        process.end(1)
        self.assertEqual(upstream.sent[0][:2], ("error", [NODE, 8]))
        self.successResultOf(stopped)
        self.assertEqual(self.engine.state, "stopped")


    def test_secondStopWhileDraining(self):
        """
        A plain stop while a C{stop(timeout)} drains: both complete.
        """
        self.engine.start()
        upstream, _ = self.enqueue()
        first = self.engine.stop(10)
        second = self.engine.stop()
        for process in self.isolate.processes:
            process.end(0)
        self.successResultOf(second)
        self.successResultOf(first)
        self.assertEqual(self.engine.state, "stopped")



class StopTests(_MachineCase):

    profile = dict(_MachineCase.profile, concurrency=1)

    def test_stop(self):
        """
        Stop fails what waits, asks active workers to go (terminate),
        signals starting ones, closes the port; it is over when every
        process ended, and no timer is left.
        """
        upstream, session, process, connection, transport = self.serving()
        self.sent(transport)
        self.engine.pin(2)
        starting = self.isolate.processes[1]
        waiting = [self.enqueue()[0] for _ in range(2)]
        self.assertEqual(len(self.engine.queue), 2)
        stopped = self.engine.stop()
        self.assertEqual(self.engine.state, "stopping")
        for each in waiting:
            self.assertEqual(each.sent, [(
                "error", [NODE, 4],
                "app app stopped before serving the request")])
        self.assertEqual(self.sent(transport), [[1, 1, [1, "app stopped"]]])
        self.assertEqual(starting.signals, [signal.SIGTERM])
        self.assertNoResult(stopped)
        refused, _ = self.enqueue()
        self.assertEqual(refused.sent,
                         [("error", [NODE, 4], "app app is stopping")])
        (port,) = self.reactor.ports
        self.assertFalse(port.stopped)
        # the running session is answered before its worker leaves
        self.reply(connection, 2, b"bye")
        self.assertEqual(upstream.sent, [("write", b"bye"), ("close",)])
        process.end(0)
        self.assertNoResult(stopped)
        starting.end(exitCode=None, signal=signal.SIGTERM)
        self.successResultOf(stopped)
        self.assertTrue(port.stopped)
        self.assertEqual(self.engine.state, "stopped")
        self.assertEqual(self.engine.pool.workers, {})
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.assertEqual(self.storage.find("crashlogs", ["app"]), [])

    def test_stopEscalates(self):
        upstream, session, process, connection, transport = self.serving()
        stopped = self.engine.stop()
        self.reactor.advance(1)
        self.assertEqual(process.signals, [signal.SIGTERM])
        self.reactor.advance(1)
        self.assertEqual(process.signals, [signal.SIGTERM, signal.SIGKILL])
        process.end(exitCode=None, signal=signal.SIGKILL)
        self.successResultOf(stopped)
        # the running session ends with "worker lost"
        self.assertEqual(upstream.sent[0][:2], ("error", [NODE, 3]))
        self.assertIn("app stopped", upstream.sent[0][2])

    def test_stopWhileStopping(self):
        upstream, session, process, connection, transport = self.serving()
        first = self.engine.stop()
        second = self.engine.stop()
        self.assertNoResult(second)
        process.end(0)
        self.successResultOf(first)
        self.successResultOf(second)

    def test_stopWhenStopped(self):
        self.successResultOf(self.engine.stop())
        self.engine.start()
        self.successResultOf(self.engine.stop())
        self.successResultOf(self.engine.stop())
        self.assertEqual(self.engine.state, "stopped")

    def test_startAgain(self):
        """
        A stopped engine starts again: a new listen, new sessions served
        by new workers.
        """
        upstream, session, process, connection, transport = self.serving()
        stopped = self.engine.stop()
        process.end(0)
        self.successResultOf(stopped)
        self.engine.start()
        self.assertEqual(self.engine.state, "running")
        first, second = [s[0] for s in self.reactor.unixServers]
        self.assertEqual(second, self.engine.socketPath)
        self.assertNotEqual(first, second)
        first, second = self.reactor.ports
        self.assertTrue(first.stopped)
        self.assertFalse(second.stopped)
        again, _ = self.enqueue()
        fresh = self.isolate.processes[1]
        self.assertNotEqual(fresh.uuid, process.uuid)
        connection, transport = self.handshake(fresh)
        self.reply(connection, 2, b"again")
        self.assertEqual(again.sent, [("write", b"again"), ("close",)])
        # the old worker's uuid is not taken again
        old = WorkerConnection(self.engine)
        oldTransport = StringTransport()
        old.makeConnection(oldTransport)
        old.dataReceived(msgpack.packb([1, 0, [process.uuid]]))
        self.assertTrue(oldTransport.disconnecting)

    def test_stopWithDrain(self):
        upstream, session, process, connection, transport = self.serving()
        stopped = self.engine.stop(5)
        self.assertEqual(self.engine.machine.stateName(), "draining")
        self.reply(connection, 2)
        self.assertEqual(self.engine.machine.stateName(), "stopping")
        process.end(0)
        self.successResultOf(stopped)


class QueueFullTests(_MachineCase):

    profile = dict(_MachineCase.profile, concurrency=1,
                   **{"queue-limit": 1, "pool-limit": 1})

    def test_queueFull(self):
        """
        Full when a new session would be refused: no worker can take it
        and the queue is at its limit.
        """
        self.engine.start()
        self.assertFalse(self.engine.queueFull())
        first, _ = self.enqueue()
        (process,) = self.isolate.processes
        self.assertTrue(self.engine.queueFull())
        refused, _ = self.enqueue()
        self.assertEqual(refused.sent[0][:2], ("error", [NODE, 2]))
        connection, transport = self.handshake(process)
        # the queued one runs; the worker is at its concurrency
        self.assertEqual(len(self.engine.queue), 0)
        self.assertFalse(self.engine.queueFull())
        self.enqueue()
        self.assertTrue(self.engine.queueFull())
        self.reply(connection, 2)
        self.assertFalse(self.engine.queueFull())


class PinTests(_MachineCase):

    def test_pinWhileStoppedAppliedOnStart(self):
        self.engine.pin(2)
        self.assertEqual(self.isolate.processes, [])
        self.assertEqual(self.engine.info()["pool"]["pinned"], 2)
        self.engine.start()
        self.assertEqual(len(self.isolate.processes), 2)

    def test_unpin(self):
        self.engine.start()
        self.engine.pin(2)
        self.engine.pin(-1)
        self.assertIsNone(self.engine.pool.pinned)
        self.assertEqual(len(self.isolate.processes), 2)

    def test_pinWhileStopping(self):
        upstream, session, process, connection, transport = self.serving()
        self.engine.stop()
        self.engine.pin(3)
        self.assertEqual(len(self.isolate.processes), 1)
        self.assertEqual(self.engine.pool.pinned, 3)


class InfoTests(_MachineCase):

    profile = dict(_MachineCase.profile, concurrency=2,
                   **{"pool-limit": 3, "queue-limit": 7})

    def test_keys(self):
        """
        The info map has the keys of PROTOCOL.md section 5 (app) and ours.
        """
        upstream, session, process, connection, transport = self.serving()
        info = self.engine.info()
        for key in ("state", "queue", "pool", "sessions", "load-median",
                    "profile", "requests", "workers", "crashlogs"):
            self.assertIn(key, info)
        self.assertEqual(info["state"], "running")
        self.assertEqual(info["queue"], {"capacity": 7, "depth": 0})
        self.assertEqual(info["sessions"], {"pending": 1})
        self.assertEqual(info["requests"], {"accepted": 1, "rejected": 0})
        self.assertEqual(info["pool"], {"active": 1, "idle": 0,
                                        "starting": 0, "capacity": 3,
                                        "pinned": None})
        self.assertEqual(info["load-median"], 1)
        self.assertEqual(info["profile"]["name"], "test")
        self.assertEqual(info["profile"]["pool-limit"], 3)
        self.assertEqual(info["crashlogs"], 0)
        (worker,) = info["workers"]
        self.assertEqual(
            {k: worker[k] for k in ("uuid", "pid", "state", "load",
                                    "accepted")},
            {"uuid": process.uuid, "pid": process.pid, "state": "active",
             "load": 1, "accepted": 1})
        self.assertLessEqual({"rss", "cpu", "scheduling"}, set(worker))

    def test_stateNames(self):
        names = [self.engine.info()["state"]]
        upstream, session, process, connection, transport = self.serving()
        names.append(self.engine.info()["state"])
        self.engine.drain()
        names.append(self.engine.info()["state"])
        self.engine.stop()
        names.append(self.engine.info()["state"])
        process.end(0)
        names.append(self.engine.info()["state"])
        self.assertEqual(names, ["stopped", "running", "stopping",
                                 "stopping", "stopped"])

    def test_load(self):
        upstream, session, process, connection, transport = self.serving()
        self.engine.pin(2)
        self.assertEqual(self.engine.load(), {
            "queue": 0, "busy": 1, "sessions": 1, "capacity": 3,
            "concurrency": 2})
        self.enqueue()
        self.enqueue()
        self.assertEqual(self.engine.load(), {
            "queue": 1, "busy": 1, "sessions": 2, "capacity": 3,
            "concurrency": 2})


class CrashlogTests(_MachineCase):

    def test_tagsByUtcDay(self):
        """
        The day tag is the UTC day, whatever the local time zone.
        """
        self.assertEqual(crashlogTags("app", 86399.9),
                         ["app", "cocaine-1970-01-01"])
        self.assertEqual(crashlogTags("app", 86400.0),
                         ["app", "cocaine-1970-01-02"])

    def test_crashlogWritten(self):
        """
        A crash writes the worker's last lines and why it ended under
        C{<microseconds>:<uuid>}, tagged with the app and the UTC day.
        """
        now = 1767225599.5  # 2025-12-31T23:59:59.5Z
        self.patch(pool.time, "time", lambda: now)
        upstream, session, process, connection, transport = self.serving()
        process.protocol.errReceived(b"Traceback\nKeyError: 'x'\n")
        process.end(1)
        key = "1767225599500000:{}".format(process.uuid)
        self.assertEqual(self.storage.find("crashlogs", ["app"]), [key])
        self.assertEqual(
            self.storage.find("crashlogs", ["app", "cocaine-2025-12-31"]),
            [key])
        lines = unpackValue(self.storage.read("crashlogs", key))
        self.assertEqual(lines, [
            b"Traceback", b"KeyError: 'x'",
            "[cocaine] worker {} (pid {}) ended: process ended (exit 1)"
            .format(process.uuid, process.pid).encode()])
        self.assertEqual(self.engine.info()["crashlogs"], 1)

    def test_noCrashlogForACleanExit(self):
        upstream, session, process, connection, transport = self.serving()
        stopped = self.engine.stop()
        process.end(0)
        self.successResultOf(stopped)
        self.assertEqual(self.storage.find("crashlogs", ["app"]), [])


class SpawnLoopTests(_MachineCase):

    def test_cleanExitBeforeHandshake(self):
        """
        A worker that exits (even with status 0) before its handshake never
        came up: what waits is failed rather than respawning at once, as
        for any other worker that never came up.
        """
        self.engine.start()
        upstream, _ = self.enqueue()
        (process,) = self.isolate.processes
        process.end(0)
        self.assertEqual(len(self.isolate.processes), 1)
        self.assertEqual(upstream.sent, [(
            "error", [NODE, 8], "app app: worker failed to start: process "
            "ended (exit 0) before its handshake")])



class EngineTableTests(SynchronousTestCase):

    def test_undefinedOnlyWhereImpossible(self):
        """
        C{stopped} comes only from the stop's own shutdown; C{start} only
        to a stopped engine (the node builds a new engine for each start).
        """
        from cocaine.engine.engine import EngineMachine
        from cocaine.statemachine import undefined
        self.assertEqual(undefined(EngineMachine), [
            ("broken", "start"), ("broken", "stopped"),
            ("draining", "start"), ("draining", "stopped"),
            ("running", "start"), ("running", "stopped"),
            ("stopped", "stopped"), ("stopping", "start")])
