"""
Tests for L{cocaine.isolate.process}: the command built, the checks before
spawning and the cgroup bookkeeping with a fake reactor; then real workers
spawned with the real reactor (their pid, process group, limits, group
signalling, environment, exec failures and, where this machine allows it,
real control groups).
"""

import errno
import grp
import os
import pwd
import signal
import sys
import uuid

import psutil
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.logger import LogLevel, Logger, formatEvent
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from cocaine.errors import CATEGORY_NODE, toWire
from cocaine.isolate import (
    EXIT_EXEC_NOT_FOUND, ProcessIsolate, SpawnError, checkExecutable)
from cocaine.isolate import process as processModule
from cocaine.isolate.cgroups import CgroupError, Cgroups, detectCgroupVersion
from tests.isolate.test_cgroups import TreeCgroups, makeV1Tree, makeV2Tree

SHELL = "/bin/sh"


class FakeTransport:
    """
    What L{FakeProcessReactor.spawnProcess} returns.
    """

    def __init__(self, pid):
        self.pid = pid


class FakeProcessReactor:
    """
    Records C{spawnProcess} calls and hands out increasing pids.

    @ivar calls: one L{dict} of the arguments per call.
    @ivar error: if set, raised by the next call.
    """

    def __init__(self):
        self.calls = []
        self.nextPid = 40000
        self.error = None

    def spawnProcess(self, processProtocol, executable, args=(), env=None,
                     path=None, uid=None, gid=None, usePTY=0,
                     childFDs=None):
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        self.calls.append(dict(protocol=processProtocol,
                               executable=executable, args=list(args),
                               env=env, path=path, childFDs=childFDs))
        self.accounts = getattr(self, "accounts", []) + [(uid, gid)]
        self.nextPid += 1
        return FakeTransport(self.nextPid)


def capture():
    """
    A L{Logger} whose events land in a list.

    @return: C{(logger, events)}
    """
    events = []
    return Logger(observer=events.append), events


def makeExecutable(directory, name, content="#!/bin/sh\nexit 0\n",
                   mode=0o755):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(content)
    os.chmod(path, mode)
    return path


class CheckExecutableTests(SynchronousTestCase):
    """
    L{checkExecutable} and the L{SpawnError} it raises.
    """

    def setUp(self):
        self.cwd = os.path.abspath(self.mktemp())
        os.makedirs(self.cwd)

    def test_relativeToCwd(self):
        """
        A relative path is resolved against the working directory.
        """
        path = makeExecutable(self.cwd, "worker")
        self.assertEqual(checkExecutable("worker", self.cwd), path)
        self.assertEqual(checkExecutable("./worker", self.cwd), path)
        self.assertEqual(checkExecutable(path, "/"), path)

    def test_missing(self):
        """
        A missing executable is named, absolute, with the reason.
        """
        error = self.assertRaises(SpawnError, checkExecutable, "nope",
                                  self.cwd)
        path = os.path.join(self.cwd, "nope")
        self.assertEqual(str(error), "spawn failed: {!r} does not "
                         "exist".format(path))
        self.assertEqual(error.path, path)
        self.assertEqual(error.reason, "does not exist")
        self.assertEqual(toWire(error), [[CATEGORY_NODE, 8], str(error)])

    def test_notExecutable(self):
        """
        A file without execute permission is refused, with its mode.
        """
        makeExecutable(self.cwd, "worker", mode=0o644)
        error = self.assertRaises(SpawnError, checkExecutable, "worker",
                                  self.cwd)
        self.assertEqual(error.reason, "is not executable (mode 0644)")

    def test_directory(self):
        """
        A directory is refused.
        """
        os.mkdir(os.path.join(self.cwd, "sub"))
        error = self.assertRaises(SpawnError, checkExecutable, "sub",
                                  self.cwd)
        self.assertEqual(error.reason, "is a directory")

    def test_danglingSymlink(self):
        """
        A symlink to nothing is named as such.
        """
        os.symlink("gone", os.path.join(self.cwd, "worker"))
        error = self.assertRaises(SpawnError, checkExecutable, "worker",
                                  self.cwd)
        self.assertEqual(error.reason, "is a dangling symlink")

    def test_missingCwd(self):
        """
        A missing working directory is named.
        """
        cwd = os.path.join(self.cwd, "absent")
        error = self.assertRaises(SpawnError, checkExecutable, "worker", cwd)
        self.assertEqual(str(error), "spawn failed: {!r} (the working "
                         "directory) does not exist".format(cwd))


class CommandTests(SynchronousTestCase):
    """
    The argument vector L{ProcessIsolate.command} builds (on a host that
    lets workers take C{SCHED_BATCH}, whatever this one does).
    """

    def setUp(self):
        self.patch(processModule, "schedulingAvailable", lambda: None)

    def test_setsidOnly(self):
        """
        Without rlimits, and with the C{normal} scheduling policy, the
        worker runs under C{setsid} alone.
        """
        isolate = ProcessIsolate(FakeProcessReactor(), scheduling="normal")
        isolate.setsidPath = "/usr/bin/setsid"
        self.assertEqual(isolate.command("/app/worker", ["--app", "a"]),
                         ["/usr/bin/setsid", "/app/worker", "--app", "a"])

    def test_batchByDefault(self):
        """
        By default C{chrt} runs the worker under C{SCHED_BATCH}, between
        C{setsid} and the worker.
        """
        isolate = ProcessIsolate(FakeProcessReactor())
        self.assertEqual(isolate.scheduling, "batch")
        isolate.setsidPath = "/usr/bin/setsid"
        isolate.chrtPath = "/usr/bin/chrt"
        self.assertEqual(isolate.command("/app/worker", ["--app", "a"]), [
            "/usr/bin/setsid", "/usr/bin/chrt", "--batch", "0",
            "/app/worker", "--app", "a"])

    def test_setsidAndPrlimit(self):
        """
        rlimits put C{prlimit} and its options between C{chrt} and the
        worker.
        """
        isolate = ProcessIsolate(FakeProcessReactor(),
                                 rlimits={"nofile": 64, "as": 1 << 30,
                                          "cpu": 60})
        isolate.setsidPath = "/usr/bin/setsid"
        isolate.prlimitPath = "/usr/bin/prlimit"
        isolate.chrtPath = "/usr/bin/chrt"
        self.assertEqual(isolate.command("/app/worker", ["-x"]), [
            "/usr/bin/setsid", "/usr/bin/chrt", "--batch", "0",
            "/usr/bin/prlimit", "--as=1073741824:1073741824", "--cpu=60:60",
            "--nofile=64:64", "--", "/app/worker", "-x"])

    def test_launcherWithoutSetsid(self):
        """
        Without C{setsid} the Python launcher runs the worker, and sets
        its policy.
        """
        isolate = ProcessIsolate(FakeProcessReactor(),
                                 rlimits={"nofile": 64})
        isolate.setsidPath = None
        self.assertEqual(isolate.command("/app/worker", ["-x"]), [
            sys.executable, "-I", "-c", processModule.LAUNCHER,
            "nofile=64,sched=batch", "/app/worker", "-x"])

    def test_launcherWithoutPrlimit(self):
        """
        Without C{prlimit}, rlimits are applied by the Python launcher; with
        no rlimits C{setsid} and C{chrt} are enough.
        """
        isolate = ProcessIsolate(FakeProcessReactor(),
                                 rlimits={"cpu": 5, "nofile": 64})
        isolate.setsidPath = "/usr/bin/setsid"
        isolate.prlimitPath = None
        self.assertEqual(isolate.command("/w", [])[:6], [
            sys.executable, "-I", "-c", processModule.LAUNCHER,
            "cpu=5,nofile=64,sched=batch", "/w"])
        plain = ProcessIsolate(FakeProcessReactor())
        plain.setsidPath = "/usr/bin/setsid"
        plain.prlimitPath = None
        plain.chrtPath = "/usr/bin/chrt"
        self.assertEqual(plain.command("/w", []), [
            "/usr/bin/setsid", "/usr/bin/chrt", "--batch", "0", "/w"])

    def test_launcherWithoutChrt(self):
        """
        Without C{chrt} the Python launcher sets the policy; with the
        C{normal} policy C{chrt} is not needed.
        """
        isolate = ProcessIsolate(FakeProcessReactor())
        isolate.setsidPath = "/usr/bin/setsid"
        isolate.chrtPath = None
        self.assertEqual(isolate.command("/w", []), [
            sys.executable, "-I", "-c", processModule.LAUNCHER,
            "sched=batch", "/w"])
        normal = ProcessIsolate(FakeProcessReactor(), scheduling="normal")
        normal.setsidPath = "/usr/bin/setsid"
        normal.chrtPath = None
        self.assertEqual(normal.command("/w", []), ["/usr/bin/setsid", "/w"])

    def test_schedulingRefused(self):
        """
        Where this node may not set a policy, one warning says why and
        workers run under the node's.
        """
        self.patch(processModule, "schedulingAvailable",
                   lambda: "setting the policy failed: Operation not "
                   "permitted")
        log, events = capture()
        isolate = ProcessIsolate(FakeProcessReactor(), log=log)
        isolate.setsidPath = "/usr/bin/setsid"
        self.assertEqual(isolate.scheduling, "normal")
        self.assertEqual(isolate.command("/w", []), ["/usr/bin/setsid", "/w"])
        self.assertEqual([formatEvent(e) for e in events], [
            "workers cannot get the batch scheduling policy: setting the "
            "policy failed: Operation not permitted; they run under the "
            "node's"])
        self.assertEqual(events[0]["log_level"], LogLevel.warn)

    def test_invalidScheduling(self):
        """
        An unknown policy fails at construction, naming it.
        """
        error = self.assertRaises(ValueError, ProcessIsolate,
                                  FakeProcessReactor(), scheduling="fifo")
        self.assertIn("'fifo'", str(error))

    def test_invalidRlimits(self):
        """
        Bad rlimits or cgroups fail at construction, naming the key.
        """
        error = self.assertRaises(ValueError, ProcessIsolate,
                                  FakeProcessReactor(), rlimits={"core": 1})
        self.assertIn("'core'", str(error))
        error = self.assertRaises(ValueError, ProcessIsolate,
                                  FakeProcessReactor(), cgroups={"io": 1})
        self.assertIn("'io'", str(error))

    def test_rlimitAboveHardLimit(self):
        """
        An rlimit above what this node may grant is lowered, with one
        warning, so the worker still starts.
        """
        self.patch(processModule, "canRaiseHardLimits", lambda: False)
        self.patch(processModule, "currentHardLimits",
                   lambda: {"nofile": 1024, "as": -1, "cpu": -1})
        log, events = capture()
        isolate = ProcessIsolate(FakeProcessReactor(),
                                 rlimits={"nofile": 65536, "cpu": 9},
                                 log=log)
        self.assertEqual(isolate.rlimits, {"nofile": 1024, "cpu": 9})
        self.assertEqual([formatEvent(e) for e in events], [
            "rlimit nofile = 65536 is above this node's hard limit 1024, "
            "which it may not raise; workers get 1024"])
        self.assertEqual(events[0]["log_level"], LogLevel.warn)


class SpawnTests(SynchronousTestCase):
    """
    L{ProcessIsolate.spawn} with a fake reactor.
    """

    def setUp(self):
        self.patch(processModule, "schedulingAvailable", lambda: None)
        self.reactor = FakeProcessReactor()
        self.cwd = os.path.abspath(self.mktemp())
        os.makedirs(self.cwd)
        self.worker = makeExecutable(self.cwd, "worker")

    def test_spawnArguments(self):
        """
        The launcher is the program executed; the environment, working
        directory and the three standard descriptors are passed on.
        """
        isolate = ProcessIsolate(self.reactor)
        isolate.setsidPath = "/usr/bin/setsid"
        isolate.chrtPath = "/usr/bin/chrt"
        protocol = ProcessProtocol()
        transport = isolate.spawn(protocol, "worker", ["--app", "a"],
                                  {"A": "1"}, self.cwd, "a")
        self.assertEqual(transport.pid, 40001)
        self.assertEqual(self.reactor.calls, [dict(
            protocol=protocol, executable="/usr/bin/setsid",
            args=["/usr/bin/setsid", "/usr/bin/chrt", "--batch", "0",
                  self.worker, "--app", "a"],
            env={"A": "1"}, path=self.cwd,
            childFDs={0: "w", 1: "r", 2: "r"})])

    def test_user(self):
        """
        A profile user: the worker is spawned with its uid and gid (Twisted
        switches them in the child, with the user's groups) and its own
        C{HOME}, C{USER} and C{LOGNAME}.
        """
        if os.geteuid() != 0:
            raise SkipTest("switching users needs root")
        nobody = pwd.getpwnam("nobody")
        isolate = ProcessIsolate(self.reactor, user="nobody")
        self.assertEqual((isolate.workerUid, isolate.workerGid),
                         (nobody.pw_uid, nobody.pw_gid))
        isolate.spawn(ProcessProtocol(), "worker", [], {"HOME": "/root"},
                      self.cwd, "a")
        self.assertEqual(self.reactor.accounts,
                         [(nobody.pw_uid, nobody.pw_gid)])
        self.assertEqual(self.reactor.calls[0]["env"], {
            "HOME": nobody.pw_dir, "USER": "nobody", "LOGNAME": "nobody"})

    def test_noUser(self):
        isolate = ProcessIsolate(self.reactor)
        isolate.spawn(ProcessProtocol(), "worker", [], {}, self.cwd, "a")
        self.assertEqual(self.reactor.accounts, [(None, None)])

    def test_group(self):
        group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid)
        uid, gid, _ = processModule.resolveAccount("nobody", group.gr_name,
                                                   euid=0)
        self.assertEqual(gid, group.gr_gid)

    def test_unknownUser(self):
        error = self.assertRaises(SpawnError, ProcessIsolate, self.reactor,
                                  user="no-such-user-here")
        self.assertIn("'no-such-user-here' (the profile's user) does not "
                      "exist", str(error))
        self.assertRaises(SpawnError, ProcessIsolate, self.reactor,
                          group="no-such-group-here")

    def test_notRootRefused(self):
        """
        A node that is not root cannot switch its workers to another user:
        it refuses clearly instead of failing in the child.
        """
        error = self.assertRaises(SpawnError, processModule.resolveAccount,
                                  "nobody", None, euid=1000)
        self.assertEqual(str(error), "spawn failed: 'nobody' (the profile's "
                         "user) needs the node to run as root to switch to; "
                         "it runs as uid 1000")

    def test_handOver(self):
        """
        The unpacked app directory is given to the workers' user, links
        themselves (not what they point to).
        """
        if os.geteuid() != 0:
            raise SkipTest("switching users needs root")
        os.symlink("/etc/passwd", os.path.join(self.cwd, "link"))
        processModule.handOver(self.cwd, 65534, 65534)
        for name in ("", "worker", "link"):
            info = os.lstat(os.path.join(self.cwd, name))
            self.assertEqual((info.st_uid, info.st_gid), (65534, 65534))
        self.assertEqual(os.stat("/etc/passwd").st_uid, 0)

    def test_missingExecutableNotSpawned(self):
        """
        A missing executable raises L{SpawnError} and nothing is spawned.
        """
        isolate = ProcessIsolate(self.reactor)
        error = self.assertRaises(SpawnError, isolate.spawn,
                                  ProcessProtocol(), "missing", [], {},
                                  self.cwd, "a")
        self.assertEqual(error.reason, "does not exist")
        self.assertEqual(self.reactor.calls, [])

    def test_forkFailure(self):
        """
        An L{OSError} from the reactor (no more processes) becomes a
        L{SpawnError}.
        """
        self.reactor.error = OSError(errno.EAGAIN, "Resource temporarily "
                                     "unavailable")
        isolate = ProcessIsolate(self.reactor)
        error = self.assertRaises(SpawnError, isolate.spawn,
                                  ProcessProtocol(), "worker", [], {},
                                  self.cwd, "a")
        self.assertEqual(str(error), "spawn failed: {!r} could not be "
                         "started: Resource temporarily unavailable".format(
                             self.worker))

    def test_noCgroups(self):
        """
        Without cgroups nothing is tracked and C{cgroupsApplied} is None.
        """
        isolate = ProcessIsolate(self.reactor)
        isolate.spawn(ProcessProtocol(), "worker", [], {}, self.cwd, "a")
        self.assertIsNone(isolate.cgroupsApplied)
        isolate.release(40001)
        self.assertEqual(isolate.cleanup(), [])


class CgroupIsolateTests(SynchronousTestCase):
    """
    L{ProcessIsolate} with control groups in fake cgroup trees.
    """

    def setUp(self):
        self.reactor = FakeProcessReactor()
        self.cwd = os.path.abspath(self.mktemp())
        os.makedirs(self.cwd)
        makeExecutable(self.cwd, "worker")
        self.patch(ProcessIsolate, "cgroupsFactory", TreeCgroups)

    def spawn(self, isolate, name="app"):
        return isolate.spawn(ProcessProtocol(), "worker", [], {}, self.cwd,
                             name)

    def test_v1Attached(self):
        """
        Each worker's pid is written into the app's group; the group goes
        when its last worker is released.
        """
        root = makeV1Tree(os.path.abspath(self.mktemp()))
        log, events = capture()
        isolate = ProcessIsolate(self.reactor, cgroups={"memory": 1 << 20},
                                 cgroupRoot=root, log=log)
        first = self.spawn(isolate)
        procs = os.path.join(root, "memory", "cocaine", "app",
                             "cgroup.procs")
        with open(procs) as f:
            self.assertEqual(f.read(), str(first.pid))
        second = self.spawn(isolate)
        self.assertTrue(isolate.cgroupsApplied)
        # the processes leave the group when they exit
        with open(procs, "w"):
            pass
        isolate.release(first.pid)
        self.assertTrue(os.path.exists(procs))
        isolate.release(second.pid)
        self.assertFalse(os.path.exists(os.path.join(root, "memory",
                                                     "cocaine")))
        self.assertEqual(events, [])

    def test_v2Attached(self):
        """
        The same on the unified hierarchy.
        """
        root = makeV2Tree(os.path.abspath(self.mktemp()))
        isolate = ProcessIsolate(self.reactor, cgroups={"shares": 2048},
                                 cgroupRoot=root)
        transport = self.spawn(isolate)
        group = os.path.join(root, "cocaine", "app")
        with open(os.path.join(group, "cgroup.procs")) as f:
            self.assertEqual(f.read(), str(transport.pid))
        with open(os.path.join(group, "cpu.weight")) as f:
            self.assertEqual(f.read(), "200")
        self.assertEqual(isolate.cleanup(), ["app"])

    def test_warnsOnceAndKeepsGoing(self):
        """
        When cgroups cannot be set up, one warning names the reason, and
        every worker is still spawned.
        """
        root = makeV1Tree(os.path.abspath(self.mktemp()), ("cpu",))
        log, events = capture()
        isolate = ProcessIsolate(self.reactor, cgroups={"memory": 1 << 20},
                                 cgroupRoot=root, log=log)
        self.spawn(isolate, "x")
        self.spawn(isolate, "x")
        self.assertEqual(len(self.reactor.calls), 2)
        self.assertFalse(isolate.cgroupsApplied)
        reason = "{} does not exist (no memory controller)".format(
            os.path.join(root, "memory"))
        self.assertEqual(isolate.cgroupWarning, reason)
        self.assertEqual([formatEvent(e) for e in events], [
            "cgroups for app 'x' not applied: {}; the app runs without "
            "them".format(reason)])
        self.assertEqual(events[0]["log_level"], LogLevel.warn)
        self.assertEqual(events[0]["name"], "x")
        self.assertEqual(events[0]["reason"], reason)

    def test_readOnlyWarning(self):
        """
        A read-only cgroup file system is named in the warning.
        """
        class ReadOnly(TreeCgroups):
            def _osMkdir(self, path):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)

        self.patch(ProcessIsolate, "cgroupsFactory", ReadOnly)
        root = makeV1Tree(os.path.abspath(self.mktemp()))
        log, events = capture()
        isolate = ProcessIsolate(self.reactor, cgroups={"memory": 1 << 20},
                                 cgroupRoot=root, log=log)
        self.spawn(isolate, "x")
        self.assertEqual([formatEvent(e) for e in events], [
            "cgroups for app 'x' not applied: {} is read-only; the app runs "
            "without them".format(os.path.join(root, "memory"))])

    def test_attachFailureWarns(self):
        """
        A pid that cannot be written disables cgroups with the warning; the
        worker is still returned.
        """
        class NoAttach(TreeCgroups):
            def _osWritePid(self, path, pid):
                raise PermissionError(errno.EACCES, "Permission denied", path)

        self.patch(ProcessIsolate, "cgroupsFactory", NoAttach)
        root = makeV2Tree(os.path.abspath(self.mktemp()))
        log, events = capture()
        isolate = ProcessIsolate(self.reactor, cgroups={"memory": 1 << 20},
                                 cgroupRoot=root, log=log)
        transport = self.spawn(isolate, "x")
        self.assertEqual(transport.pid, 40001)
        self.assertEqual(isolate.cgroupWarning, "no permission to write "
                         "40001 to {}".format(os.path.join(
                             root, "cocaine", "x", "cgroup.procs")))
        self.assertEqual(len(events), 1)
        # the half-made group was removed
        self.assertFalse(os.path.exists(os.path.join(root, "cocaine")))


class SignalGroupTests(SynchronousTestCase):
    """
    The guards of L{ProcessIsolate.signalGroup}.
    """

    def test_refusesNonWorkerGroups(self):
        """
        0, 1, negative pids and this node's own group are refused: killpg
        on them would hit far more than a worker.
        """
        isolate = ProcessIsolate(FakeProcessReactor())
        for pid in (0, 1, -5, True, "12"):
            self.assertRaises(ValueError, isolate.signalGroup, pid,
                              signal.SIGTERM)
        self.assertRaises(ValueError, isolate.signalGroup, os.getpgrp(),
                          signal.SIGTERM)

    def test_goneGroup(self):
        """
        A group that does not exist gives C{False}.
        """
        isolate = ProcessIsolate(FakeProcessReactor())
        self.patch(processModule.os, "killpg", self.fakeKillpg)
        self.assertFalse(isolate.signalGroup(31337, signal.SIGTERM))

    def fakeKillpg(self, pgid, signum):
        raise ProcessLookupError(errno.ESRCH, "No such process")


class Recorder(ProcessProtocol):
    """
    Collects a real worker's output and tells when it ended.

    @ivar ended: fires with the reason (L{ProcessDone} or
        L{ProcessTerminated}) once the process ended.
    """

    def __init__(self):
        self.out = b""
        self.err = b""
        self.reason = None
        self.ended = Deferred()
        self._waiting = []

    def outReceived(self, data):
        self.out += data
        self._check()

    def errReceived(self, data):
        self.err += data

    def waitLines(self, count):
        """
        @return: a L{Deferred} firing with the first C{count} output lines.
        """
        d = Deferred()
        self._waiting.append((count, d))
        self._check()
        return d

    def _check(self):
        lines = self.out.split(b"\n")[:-1]
        for count, d in list(self._waiting):
            if len(lines) >= count:
                self._waiting.remove((count, d))
                d.callback([line.decode().strip() for line in lines[:count]])

    def processEnded(self, reason):
        self.reason = reason
        waiting, self._waiting = self._waiting, []
        for count, d in waiting:
            d.errback(AssertionError(
                "worker ended before {} lines; out={!r} err={!r}".format(
                    count, self.out, self.err)))
        self.ended.callback(reason.value)


def probeCgroups(root="/sys/fs/cgroup"):
    """
    Whether control groups can be made here.

    @return: L{None} if they can, else the reason.
    """
    cgroups = Cgroups(root, {"memory": 64 << 20})
    try:
        cgroups.create("cocaine-probe-{}".format(uuid.uuid4().hex[:8]))
    except CgroupError as e:
        return e.reason
    finally:
        cgroups.cleanup()
    return None


class RealProcessMixin:
    """
    Spawns real workers through an isolate with the real reactor, and kills
    (by its own pid) any that a test leaves running.
    """

    timeout = 30

    def setUp(self):
        self.cwd = os.path.abspath(self.mktemp())
        os.makedirs(self.cwd)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def makeIsolate(self, **kwargs):
        return ProcessIsolate(reactor, **kwargs)

    def start(self, isolate, script, env=None, name="app", executable=SHELL):
        """
        Spawn C{sh -c script} through C{isolate}.

        @return: C{(transport, recorder, pid)}
        """
        recorder = Recorder()
        args = ["-c", script] if script is not None else []
        transport = isolate.spawn(recorder, executable, args,
                                  self.env if env is None else env,
                                  self.cwd, name)
        pid = transport.pid
        self.addCleanup(self.stop, isolate, recorder, pid)
        return transport, recorder, pid

    def stop(self, isolate, recorder, pid):
        if recorder.reason is None and pid is not None:
            isolate.signalGroup(pid, signal.SIGKILL)
        return recorder.ended

    def waitFor(self, predicate, timeout=5.0, interval=0.05):
        """
        Poll C{predicate} until it returns something true.
        """
        deadline = [timeout]

        def poll(ignored=None):
            value = predicate()
            if value:
                return value
            deadline[0] -= interval
            if deadline[0] <= 0:
                raise AssertionError("condition not met in time")
            return deferLater(reactor, interval, lambda: None).addCallback(
                poll)

        return deferLater(reactor, 0, poll)


class RealSpawnTests(RealProcessMixin, TestCase):
    """
    Real workers through C{setsid} (and C{prlimit}).
    """

    launcher = False

    def makeIsolate(self, **kwargs):
        isolate = ProcessIsolate(reactor, **kwargs)
        if self.launcher:
            isolate.setsidPath = None
        elif isolate.setsidPath is None:
            raise self.skipTest("setsid is not installed")
        elif kwargs.get("rlimits") and isolate.prlimitPath is None:
            raise self.skipTest("prlimit is not installed")
        return isolate

    async def test_ownGroupAndLimits(self):
        """
        The spawned pid is the worker's own pid ($$), it leads its own
        process group, and the rlimits are in force.
        """
        isolate = self.makeIsolate(rlimits={"nofile": 64, "as": 1 << 30,
                                            "cpu": 120})
        transport, recorder, pid = self.start(
            isolate, "echo $$; ps -o pgid= -p $$; ulimit -n; ulimit -v; "
            "ulimit -t; sleep 30")
        lines = await recorder.waitLines(5)
        self.assertEqual(lines, [str(pid), str(pid), "64",
                                 str((1 << 30) // 1024), "120"])
        self.assertNotEqual(os.getpgid(pid), os.getpgrp())
        self.assertTrue(isolate.signalGroup(pid, signal.SIGTERM))
        reason = await recorder.ended
        self.assertIsInstance(reason, ProcessTerminated)
        self.assertEqual(reason.signal, signal.SIGTERM)

    async def test_noLimits(self):
        """
        Without rlimits the worker still leads its own group and inherits
        the node's limits.
        """
        isolate = self.makeIsolate()
        transport, recorder, pid = self.start(
            isolate, "echo $$; ps -o pgid= -p $$; ulimit -n")
        lines = await recorder.waitLines(3)
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.assertEqual(lines, [str(pid), str(pid), str(soft)])
        reason = await recorder.ended
        self.assertEqual(reason.exitCode, 0)

    async def test_batchPolicy(self):
        """
        By default the worker runs under C{SCHED_BATCH} from its start,
        and so does what it forks; with C{normal} it has the node's policy.
        """
        isolate = self.makeIsolate()
        if not self.launcher and isolate.chrtPath is None:
            raise self.skipTest("chrt is not installed")
        transport, recorder, pid = self.start(
            isolate, "echo $$; sleep 30 & echo $!; wait")
        worker, child = map(int, await recorder.waitLines(2))
        self.assertEqual(worker, pid)
        self.assertEqual(os.sched_getscheduler(pid), os.SCHED_BATCH)
        self.assertEqual(os.sched_getscheduler(child), os.SCHED_BATCH)
        self.assertEqual(os.getpriority(os.PRIO_PROCESS, pid),
                         os.getpriority(os.PRIO_PROCESS, 0))
        normal = self.makeIsolate(scheduling="normal")
        transport, recorder, pid = self.start(normal, "echo $$; sleep 30")
        await recorder.waitLines(1)
        self.assertEqual(os.sched_getscheduler(pid),
                         os.sched_getscheduler(0))

    async def test_signalGroupEndsChildren(self):
        """
        Signalling the group ends the worker and the children it forked.
        """
        isolate = self.makeIsolate()
        transport, recorder, pid = self.start(
            isolate, "sleep 30 & sleep 30; echo not reached")

        def sleepers():
            try:
                procs = [psutil.Process(pid)]
                procs += procs[0].children(recursive=True)
            except psutil.NoSuchProcess:
                return None
            found = [p for p in procs if _name(p) == "sleep"]
            return procs if len(found) == 2 else None

        procs = await self.waitFor(sleepers)
        for proc in procs:
            self.assertEqual(os.getpgid(proc.pid), pid)
        self.assertTrue(isolate.signalGroup(pid, signal.SIGTERM))
        reason = await recorder.ended
        self.assertEqual(reason.signal, signal.SIGTERM)
        self.assertEqual(recorder.out, b"")
        await self.waitFor(lambda: all(_gone(p) for p in procs))
        # Once the orphaned child is reaped (by init), the group is gone.
        await self.waitFor(lambda: not isolate.signalGroup(pid, 0))
        self.assertFalse(isolate.signalGroup(pid, signal.SIGTERM))

    async def test_envAndCwd(self):
        """
        The worker gets exactly the environment given and runs in C{cwd};
        a relative executable is found there.
        """
        makeExecutable(self.cwd, "worker.sh",
                       '#!/bin/sh\necho "$FOO|$PATH|$HOME"; pwd; echo "$@"\n')
        isolate = self.makeIsolate(rlimits={"nofile": 128})
        recorder = Recorder()
        isolate.spawn(recorder, "worker.sh", ["--app", "a b"],
                      {"FOO": "bar", "PATH": "/usr/bin:/bin"}, self.cwd,
                      "app")
        reason = await recorder.ended
        self.assertEqual(reason.exitCode, 0)
        self.assertEqual(recorder.out.decode().splitlines(), [
            "bar|/usr/bin:/bin|", os.path.realpath(self.cwd), "--app a b"])

    async def test_execFailure(self):
        """
        An executable that passes the checks but cannot be executed (a
        script whose interpreter is missing) makes the process exit with
        127 and say why on standard error.
        """
        makeExecutable(self.cwd, "worker", "#!/nonexistent/interpreter\n")
        for rlimits in (None, {"nofile": 64}):
            isolate = self.makeIsolate(rlimits=rlimits)
            recorder = Recorder()
            isolate.spawn(recorder, "worker", [], self.env, self.cwd, "app")
            reason = await recorder.ended
            self.assertIsInstance(reason, ProcessTerminated)
            self.assertEqual(reason.exitCode, EXIT_EXEC_NOT_FOUND)
            self.assertIn(b"failed to execute " + os.path.join(
                self.cwd, "worker").encode(), recorder.err)

    def test_missingExecutable(self):
        """
        A missing executable fails before anything is spawned.
        """
        isolate = self.makeIsolate()
        error = self.assertRaises(SpawnError, isolate.spawn, Recorder(),
                                  "no-such-worker", [], self.env, self.cwd,
                                  "app")
        self.assertEqual(error.path, os.path.join(self.cwd,
                                                  "no-such-worker"))
        self.assertEqual(error.reason, "does not exist")


class RealLauncherTests(RealSpawnTests):
    """
    The same with the Python launcher that stands in when C{setsid} (or
    C{prlimit}) is missing.
    """

    launcher = True


def _name(proc):
    try:
        return proc.name()
    except psutil.Error:
        return None


def _gone(proc):
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class RealCgroupTests(RealProcessMixin, TestCase):
    """
    Control groups on this machine's C{/sys/fs/cgroup}: applied where they
    can be, one warning where they cannot.
    """

    root = "/sys/fs/cgroup"

    async def test_applied(self):
        """
        Where cgroups can be created, a worker is moved into its app's group
        with the limits written, and the group goes with the worker.
        """
        reason = probeCgroups(self.root)
        if reason is not None:
            raise self.skipTest("cgroups cannot be created here: " + reason)
        name = "cocaine-test-{}".format(uuid.uuid4().hex[:8])
        log, events = capture()
        isolate = self.makeIsolate(
            cgroups={"memory": 256 << 20, "shares": 512, "cpuset": "0"},
            cgroupRoot=self.root, log=log)
        self.addCleanup(isolate.cleanup)
        transport, recorder, pid = self.start(isolate, "echo $$; sleep 30",
                                              name=name)
        self.assertEqual(await recorder.waitLines(1), [str(pid)])
        self.assertEqual([formatEvent(e) for e in events], [])
        self.assertTrue(isolate.cgroupsApplied)
        version = detectCgroupVersion(self.root)
        if version == 2:
            group = os.path.join(self.root, "cocaine", name)
            files = {"memory.max": str(256 << 20), "cpu.weight": "50",
                     "cpuset.cpus": "0"}
            groups = [group]
        else:
            files = {
                os.path.join("memory", "cocaine", name,
                             "memory.limit_in_bytes"): str(256 << 20),
                os.path.join("cpu", "cocaine", name, "cpu.shares"): "512",
                os.path.join("cpuset", "cocaine", name, "cpuset.cpus"): "0"}
            groups = [os.path.join(self.root, c, "cocaine", name)
                      for c in ("cpu", "cpuset", "memory")]
            group = self.root
        for path, expected in files.items():
            with open(os.path.join(group, path)) as f:
                self.assertEqual(f.read().strip(), expected)
        for directory in groups:
            with open(os.path.join(directory, "cgroup.procs")) as f:
                self.assertIn(str(pid), f.read().split())
        self.assertTrue(isolate.signalGroup(pid, signal.SIGKILL))
        await recorder.ended
        isolate.release(pid)
        for directory in groups:
            self.assertFalse(os.path.exists(directory))

    async def test_notPermittedWarns(self):
        """
        Where cgroups cannot be created, the worker runs anyway and one
        warning says why.
        """
        reason = probeCgroups(self.root)
        if reason is None:
            raise self.skipTest(
                "cgroups can be created here (see test_applied); the "
                "warning path is covered by CgroupIsolateTests with fake "
                "trees")
        log, events = capture()
        isolate = self.makeIsolate(cgroups={"memory": 64 << 20},
                                   cgroupRoot=self.root, log=log)
        transport, recorder, pid = self.start(isolate, "echo $$", name="x")
        self.assertEqual(await recorder.waitLines(1), [str(pid)])
        await recorder.ended
        self.assertFalse(isolate.cgroupsApplied)
        self.assertEqual(len(events), 1)
        self.assertIn("cgroups for app 'x' not applied: ",
                      formatEvent(events[0]))
