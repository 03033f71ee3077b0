# -*- test-case-name: tests.isolate.test_process -*-
"""
The C{process} isolate: a worker is a child process in its own process
group, with optional rlimits and control groups.

Twisted has no pre-exec hook, so the constraints are applied by small
programs that then C{exec} the worker, keeping its pid::

    /usr/bin/setsid [/usr/bin/chrt --batch 0] \\
        [/usr/bin/prlimit --as=N:N --cpu=N:N --nofile=N:N --] \\
        <executable> <args...>

C{setsid} only forks when it is already a process group leader, which a
freshly spawned child never is, so the pid Twisted reports is the worker's
pid and, the worker leading its own group and session, also its process
group id: L{ProcessIsolate.signalGroup} reaches the worker and everything it
forked. Without C{setsid} (or without C{prlimit} when limits are asked for)
a few lines of Python run by C{sys.executable} do the same job. The
scheduling policy is L{cocaine.isolate.scheduling}'s.

When C{exec} fails after all (the file vanished, a script names a missing
interpreter), the process exits with status 127 (no such file) or 126
(other errors) and its standard error says
C{"<tool>: failed to execute <path>: <reason>"}; L{ProcessIsolate.spawn}
checks the executable first so the common cases fail early with
L{SpawnError} instead.
"""

import grp
import os
import pwd
import shutil
import stat
import sys

from twisted.logger import Logger

from cocaine.errors import CATEGORY_NODE, CocaineError
from cocaine.isolate.cgroups import CgroupError, Cgroups, validateCgroups
from cocaine.isolate.rlimits import (
    canRaiseHardLimits, clampRlimits, currentHardLimits, prlimitArguments,
    validateRlimits)
from cocaine.isolate.scheduling import (
    chrtArguments, schedulingAvailable, validateScheduling)

#: The node category code for "spawn failed" (PROTOCOL.md section 4).
SPAWN_FAILED = 8

#: Exit status of a launcher whose exec found no such file (util-linux's
#: C{EX_EXEC_ENOENT}, the shell's "command not found").
EXIT_EXEC_NOT_FOUND = 127

#: Exit status of a launcher whose exec failed otherwise (C{EX_EXEC_FAILED}).
EXIT_EXEC_FAILED = 126

#: The fallback launcher, run as C{python -I -c LAUNCHER LIMITS PATH ARGS...}
#: where C{LIMITS} is C{"as=N,nofile=N,sched=batch"} (possibly empty).
LAUNCHER = """\
import os, resource, sys
for item in filter(None, sys.argv[1].split(",")):
    key, value = item.split("=")
    if key == "sched":
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError as e:
            sys.stderr.write("cocaine-launcher: the %s scheduling policy "
                             "was not set: %s\\n" % (value, e.strerror))
        continue
    try:
        resource.setrlimit(getattr(resource, "RLIMIT_" + key.upper()),
                           (int(value), int(value)))
    except (OSError, ValueError) as e:
        sys.stderr.write("cocaine-launcher: failed to set the %s limit: %s\\n"
                         % (key, e))
        os._exit(1)
os.setpgid(0, 0)
try:
    os.execv(sys.argv[2], sys.argv[2:])
except OSError as e:
    sys.stderr.write("cocaine-launcher: failed to execute %s: %s\\n"
                     % (sys.argv[2], e.strerror))
    os._exit(127 if e.errno == 2 else 126)
"""


class SpawnError(CocaineError):
    """
    A worker could not be started at all.

    Its message reads C{"spawn failed: '<path>' <reason>"}, e.g.
    C{"spawn failed: '/var/spool/cocaine/app/worker.py' does not exist"}.

    @ivar path: the absolute path of the executable (or of the working
        directory, when that is what is missing).
    @ivar reason: why, in words: C{"does not exist"}, C{"is not
        executable"}, ...
    """

    category = CATEGORY_NODE
    code = SPAWN_FAILED

    def __init__(self, path, reason):
        CocaineError.__init__(self, "spawn failed: {!r} {}".format(
            path, reason))
        self.path = path
        self.reason = reason


def findTool(name, candidates):
    """
    Find a helper program: the first of C{candidates} that is executable,
    else C{name} on C{PATH}.

    @return: an absolute path, or L{None}.
    """
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    return os.path.abspath(found) if found else None


def checkExecutable(executable, cwd):
    """
    Resolve C{executable} against C{cwd} and check that it can be executed.

    @param executable: an absolute path, or a path relative to C{cwd} (the
        manifest's C{slave}).
    @param cwd: the working directory of the worker, or L{None} for ours.
    @return: the absolute path.
    @raise SpawnError: naming the path and the reason.
    """
    base = os.path.abspath(cwd if cwd is not None else os.getcwd())
    if cwd is not None and not os.path.isdir(base):
        reason = "does not exist" if not os.path.lexists(base) \
            else "is not a directory"
        raise SpawnError(base, "(the working directory) " + reason)
    path = os.path.normpath(os.path.join(base, executable))
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise SpawnError(path, "is a dangling symlink") from None
        raise SpawnError(path, "does not exist") from None
    except OSError as e:
        raise SpawnError(path, "cannot be examined: {}".format(
            e.strerror or e)) from None
    if stat.S_ISDIR(info.st_mode):
        raise SpawnError(path, "is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise SpawnError(path, "is not a regular file")
    if not os.access(path, os.X_OK):
        raise SpawnError(path, "is not executable (mode {:04o})".format(
            stat.S_IMODE(info.st_mode)))
    return path


def resolveAccount(user=None, group=None, euid=None):
    """
    The uid and gid a profile's C{user} and C{group} name.

    @param user: a user name or uid, or L{None}.
    @param group: a group name or gid, or L{None} (the user's primary
        group).
    @param euid: the node's effective uid (this process's by default).
    @return: C{(uid, gid, account)}: L{None} for what is not changed;
        C{account} the user's L{pwd.struct_passwd} (or L{None}).
    @raise SpawnError: an unknown user or group, or a node that is not
        root asked to run workers as another user or group.
    """
    euid = os.geteuid() if euid is None else euid
    uid = gid = account = None
    if user is not None:
        try:
            account = (pwd.getpwuid(user) if isinstance(user, int)
                       else pwd.getpwnam(user))
        except KeyError:
            raise SpawnError(str(user), "(the profile's user) does not "
                             "exist") from None
        uid, gid = account.pw_uid, account.pw_gid
    if group is not None:
        try:
            gid = (grp.getgrgid(group) if isinstance(group, int)
                   else grp.getgrnam(group)).gr_gid
        except KeyError:
            raise SpawnError(str(group), "(the profile's group) does not "
                             "exist") from None
    if euid != 0 and (uid not in (None, euid) or gid not in (
            None, os.getegid())):
        which = "user" if uid not in (None, euid) else "group"
        raise SpawnError(
            str(user if which == "user" else group),
            "(the profile's {}) needs the node to run as root to switch "
            "to; it runs as uid {}".format(which, euid))
    return uid, gid, account


def userEnvironment(account):
    """
    The variables that name the account a worker runs as.

    @param account: a L{pwd.struct_passwd}.
    """
    return {"HOME": account.pw_dir, "USER": account.pw_name,
            "LOGNAME": account.pw_name}


def handOver(directory, uid, gid):
    """
    Give an unpacked app directory to the user its workers run as (only
    the node's own spool copy: it is replaced on every deploy).
    """
    for top, dirs, files in os.walk(directory):
        os.chown(top, uid, gid, follow_symlinks=False)
        for name in dirs + files:
            os.chown(os.path.join(top, name), uid, gid,
                     follow_symlinks=False)


class ProcessIsolate:
    """
    Start workers as child processes, each leading its own process group,
    with the rlimits and control groups of the app profile.

    One isolate serves one app (one profile); it may start any number of
    workers.

    @ivar setsidPath: the C{setsid} program, or L{None} to use the Python
        launcher.
    @ivar prlimitPath: the C{prlimit} program, or L{None} to use the Python
        launcher when there are rlimits.
    @ivar chrtPath: the C{chrt} program, or L{None} to use the Python
        launcher when workers get a scheduling policy of their own.
    @ivar scheduling: the scheduling policy workers get (a name of
        L{cocaine.isolate.scheduling.POLICIES}): the profile's, or
        C{"normal"} where this node may not set one.
    @ivar rlimits: the rlimits applied, after lowering any that exceeds what
        this process may grant.
    @ivar cgroupWarning: L{None}, or why control groups are not applied (set
        on the first failure; from then on this isolate does not try
        again).
    """

    _log = Logger()

    #: Makes the L{Cgroups} of an isolate from C{(root, limits)}; tests
    #: replace it to emulate a cgroup file system in a plain directory.
    cgroupsFactory = Cgroups

    def __init__(self, reactor, rlimits=None, cgroups=None,
                 cgroupRoot="/sys/fs/cgroup", log=None, user=None,
                 group=None, scheduling=None):
        """
        @param reactor: an L{IReactorProcess}.
        @param rlimits: C{{"as": bytes, "nofile": n, "cpu": seconds}} or
            L{None}.
        @param cgroups: C{{"cpuset": "0-1", "memory": bytes, "shares": n}}
            or L{None}.
        @param cgroupRoot: where the cgroup file systems are mounted.
        @param log: a L{Logger}; the module's by default.
        @param user: the profile's C{user}: workers run as this user (name
            or uid), with its supplementary groups and its C{HOME},
            C{USER} and C{LOGNAME}.
        @param group: the profile's C{group} (the user's primary group by
            default).
        @param scheduling: the profile's C{scheduling} (C{"batch"} by
            default, L{cocaine.isolate.scheduling}).
        @raise ValueError: for a malformed or unknown limit or policy,
            naming it.
        @raise SpawnError: for an unknown user or group, or one this node
            may not switch to (it is not root).
        """
        self._reactor = reactor
        #: the uid and gid workers run as (L{None}: the node's)
        self.workerUid, self.workerGid, self._account = resolveAccount(
            user, group)
        if log is not None:
            self._log = log
        asked = validateRlimits(rlimits)
        self.rlimits, lowered = clampRlimits(
            asked, currentHardLimits() if asked else {},
            canRaiseHardLimits() if asked else True)
        for key, wanted, applied in lowered:
            self._log.warn(
                "rlimit {key} = {wanted} is above this node's hard limit "
                "{applied}, which it may not raise; workers get {applied}",
                key=key, wanted=wanted, applied=applied)
        limits = validateCgroups(cgroups)
        self._cgroups = self.cgroupsFactory(cgroupRoot, limits) \
            if limits else None
        self.cgroupWarning = None
        self._pidNames = {}
        self._namePids = {}
        self.scheduling = validateScheduling(scheduling)
        if chrtArguments(self.scheduling):
            refused = schedulingAvailable()
            if refused is not None:
                self._log.warn(
                    "workers cannot get the {policy} scheduling policy: "
                    "{reason}; they run under the node's",
                    policy=self.scheduling, reason=refused)
                self.scheduling = "normal"
        self.setsidPath = findTool("setsid", ["/usr/bin/setsid"])
        self.prlimitPath = findTool("prlimit", ["/usr/bin/prlimit"])
        self.chrtPath = findTool("chrt", ["/usr/bin/chrt"])

    @property
    def cgroupsApplied(self):
        """
        C{True} if control groups are configured and working so far,
        C{False} if they failed (see C{cgroupWarning}), L{None} if none are
        configured.
        """
        if self._cgroups is None:
            return None
        return self.cgroupWarning is None

    def command(self, executable, args):
        """
        The argument vector that runs C{executable} with C{args} in a new
        process group under this isolate's rlimits; its first element is
        the program to execute.

        @param executable: the absolute path of the worker.
        @param args: the worker's arguments (without C{argv[0]}).
        @rtype: L{list} of L{str}
        """
        args = list(args)
        limits = prlimitArguments(self.rlimits)
        policy = chrtArguments(self.scheduling)
        if self.setsidPath is not None and (
                not limits or self.prlimitPath is not None) and (
                not policy or self.chrtPath is not None):
            prefix = [self.setsidPath]
            if policy:
                prefix += [self.chrtPath] + policy
            if limits:
                prefix += [self.prlimitPath] + limits
            return prefix + [executable] + args
        items = ["{}={}".format(key, value)
                 for key, value in sorted(self.rlimits.items())]
        if policy:
            items.append("sched=" + self.scheduling)
        return [sys.executable, "-I", "-c", LAUNCHER, ",".join(items),
                executable] + args

    def spawn(self, processProtocol, executable, args, env, cwd, name):
        """
        Start a worker.

        @param processProtocol: the L{IProcessProtocol} for the worker; it
            gets the worker's standard output and error. When the worker
            exits at once, its C{processEnded} may run before this returns.
        @param executable: path of the worker, absolute or relative to
            C{cwd}.
        @param args: the worker's arguments (without C{argv[0]}).
        @param env: the worker's whole environment.
        @param cwd: its working directory.
        @param name: the app name; all workers spawned with one name share
            one control group.
        @return: the L{IProcessTransport}; its C{pid} is the worker's pid
            and process group id.
        @raise SpawnError: if the executable or the working directory is
            missing or unusable, or the process cannot be created.
        """
        path = checkExecutable(executable, cwd)
        argv = self.command(path, args)
        if self._cgroups is not None and self.cgroupWarning is None:
            try:
                self._cgroups.create(name)
            except CgroupError as e:
                self._disableCgroups(name, e.reason)
        if self._account is not None:
            env = dict(env, **userEnvironment(self._account))
        try:
            transport = self._reactor.spawnProcess(
                processProtocol, argv[0], argv, env=env, path=cwd,
                uid=self.workerUid, gid=self.workerGid,
                childFDs={0: "w", 1: "r", 2: "r"})
        except OSError as e:
            raise SpawnError(path, "could not be started: {}".format(
                e.strerror or e)) from None
        pid = transport.pid
        if pid is not None and self._cgroups is not None and \
                self.cgroupWarning is None:
            try:
                if self._cgroups.attach(name, pid):
                    self._pidNames[pid] = name
                    self._namePids.setdefault(name, set()).add(pid)
            except CgroupError as e:
                self._disableCgroups(name, e.reason)
        return transport

    def _disableCgroups(self, name, reason):
        self.cgroupWarning = reason
        self._log.warn(
            "cgroups for app {name!r} not applied: {reason}; the app runs "
            "without them", name=name, reason=reason)
        self._cgroups.cleanup()

    def signalGroup(self, pid, signum):
        """
        Send C{signum} to the process group of the worker C{pid}: the
        worker and everything it forked that stayed in its group.

        @param pid: the worker's pid (its process group id).
        @return: C{False} if the group is gone (or not ours to signal),
            C{True} if the signal was sent.
        @raise ValueError: for a pid that cannot be a worker's group (0, 1,
            negative, or this node's own group).
        """
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
            raise ValueError("not a worker process group: {!r}".format(pid))
        if pid == os.getpgrp():
            raise ValueError(
                "refusing to signal the node's own process group {}".format(
                    pid))
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            return False
        except PermissionError:
            self._log.warn(
                "cannot signal process group {pid}: permission denied; it "
                "is not a worker of this node any more", pid=pid)
            return False
        return True

    def release(self, pid):
        """
        Forget a worker that ended; remove its app's control group once no
        worker of the app is left (a group still held by a stray child is
        retried by L{cleanup}).
        """
        name = self._pidNames.pop(pid, None)
        if name is None:
            return
        pids = self._namePids.get(name, set())
        pids.discard(pid)
        if not pids:
            self._namePids.pop(name, None)
            if not self._cgroups.remove(name):
                self._log.debug(
                    "cgroup of app {name!r} still in use after its last "
                    "worker {pid} ended; removed later", name=name, pid=pid)

    def cleanup(self):
        """
        Remove every control group this isolate created that no process
        holds any more. Call it when the app stops.

        @return: the names of groups that are still held.
        """
        if self._cgroups is None:
            return []
        left = self._cgroups.cleanup()
        for name in left:
            self._log.warn(
                "cgroup of app {name!r} is still held by a process and was "
                "not removed", name=name)
        return left
