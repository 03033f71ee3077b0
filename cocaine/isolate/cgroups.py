# -*- test-case-name: tests.isolate.test_cgroups -*-
"""
Control groups for workers, from the app profile's C{cgroups} map::

    "cgroups": {"cpuset": "0-1", "memory": 536870912, "shares": 512}

A directory per app under the cgroup file system; each worker's pid is
written into it right after spawn.

Layouts written by L{Cgroups}:

  - cgroup v2 (C{cgroup.controllers} in the root)::

        <root>/cocaine/<name>/{cpuset.cpus, memory.max, cpu.weight}

    with the needed controllers enabled in C{<root>/cgroup.subtree_control}
    and C{<root>/cocaine/cgroup.subtree_control};

  - cgroup v1 (one directory per controller in the root)::

        <root>/cpuset/cocaine/<name>/{cpuset.cpus, cpuset.mems}
        <root>/memory/cocaine/<name>/memory.limit_in_bytes
        <root>/cpu/cocaine/<name>/cpu.shares

    C{cpuset.mems} (and, for the shared C{cocaine} level, C{cpuset.cpus}) are
    copied from the parent: a v1 cpuset accepts no process until both are
    set.

Everything here is synchronous file work on a pseudo file system; nothing
touches the reactor.
"""

import errno
import os
import re

#: The cgroup limits a profile may set, with the v1 controller of each.
CGROUP_CONTROLLERS = {"cpuset": "cpuset", "memory": "memory", "shares": "cpu"}

#: Bounds of v1 C{cpu.shares} (the kernel's).
SHARES_MIN = 2
SHARES_MAX = 262144

#: The cgroup directory under which every app's group lives.
PARENT = "cocaine"

_CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


def _positiveInt(value):
    return isinstance(value, int) and not isinstance(value, bool) \
        and value > 0


def validateCgroups(cgroups):
    """
    Check the C{cgroups} of a profile.

    @param cgroups: C{{"cpuset": "0-1", "memory": bytes, "shares": n}}, any
        subset, or L{None}.
    @return: a new L{dict} with the same limits (empty for L{None}).
    @raise ValueError: naming the key that is unknown or whose value is
        malformed.
    """
    if cgroups is None:
        return {}
    if not isinstance(cgroups, dict):
        raise ValueError("isolate cgroups: expected a map, not {!r}".format(
            cgroups))
    result = {}
    for key, value in cgroups.items():
        if key not in CGROUP_CONTROLLERS:
            raise ValueError(
                "isolate cgroups: unknown limit {!r} (known: {})".format(
                    key, ", ".join(sorted(CGROUP_CONTROLLERS))))
        if key == "cpuset":
            if not isinstance(value, str) or not _CPUSET.match(value):
                raise ValueError(
                    "isolate cgroups: 'cpuset' must be a CPU list such as "
                    "'0-1,3', not {!r}".format(value))
        elif key == "memory":
            if not _positiveInt(value):
                raise ValueError(
                    "isolate cgroups: 'memory' must be a positive number of "
                    "bytes, not {!r}".format(value))
        elif key == "shares":
            if not _positiveInt(value) or not \
                    SHARES_MIN <= value <= SHARES_MAX:
                raise ValueError(
                    "isolate cgroups: 'shares' must be an integer from {} to "
                    "{}, not {!r}".format(SHARES_MIN, SHARES_MAX, value))
        result[key] = value
    return result


def sharesToWeight(shares):
    """
    Map v1 C{cpu.shares} to a v2 C{cpu.weight} the way systemd does:
    the default 1024 shares become the default weight 100, proportionally,
    within 1..10000.
    """
    return max(1, min(10000, shares * 100 // 1024))


def detectCgroupVersion(root):
    """
    Which cgroup layout is mounted at C{root}.

    @return: C{2} if C{root} holds C{cgroup.controllers} (the unified
        hierarchy), C{1} if it holds a directory for one of the v1
        controllers we use, L{None} otherwise.
    """
    if os.path.isfile(os.path.join(root, "cgroup.controllers")):
        return 2
    for controller in sorted(set(CGROUP_CONTROLLERS.values())):
        if os.path.isdir(os.path.join(root, controller)):
            return 1
    return None


class CgroupError(Exception):
    """
    Control groups cannot be set up or joined.

    @ivar reason: what went wrong, naming the file or directory, for a
        single warning line.
    @ivar missing: whether a file or directory was missing (C{ENOENT});
        worth one retry when another node may have just removed the shared
        C{cocaine} level.
    """

    def __init__(self, reason, missing=False):
        Exception.__init__(self, reason)
        self.reason = reason
        self.missing = missing


def _reason(error, path, action):
    """
    Explain an L{OSError} met while doing C{action} on C{path}.
    """
    code = error.errno
    if code == errno.EROFS:
        return "{} is read-only".format(path)
    if code in (errno.EACCES, errno.EPERM):
        return "no permission to {} {}".format(action, path)
    if code == errno.ENOENT:
        return "{} does not exist".format(path)
    return "cannot {} {}: {}".format(action, path,
                                     error.strerror or error)


class Cgroups:
    """
    The control groups of the workers of one isolate: one group per name
    (the app name), shared by every worker spawned under that name.

    @ivar root: the cgroup mount point.
    @ivar limits: the validated limits (see L{validateCgroups}).
    @ivar version: C{1} or C{2} once detected; L{None} before.
    """

    def __init__(self, root, limits):
        self.root = root
        self.limits = validateCgroups(limits)
        self.version = None
        self._groups = {}
        self._createdParents = []

    # file system primitives, kept apart so the rest reads as a plan (and
    # so tests can emulate what a cgroup file system does differently from
    # a plain directory tree)

    def _osMkdir(self, path):
        os.mkdir(path, 0o755)

    def _osRmdir(self, path):
        os.rmdir(path)

    def _osWritePid(self, path, pid):
        with open(path, "w") as f:
            f.write(str(pid))

    def _mkdir(self, path):
        """
        Create one directory.

        @return: whether it was created (C{False} if it existed).
        """
        try:
            self._osMkdir(path)
        except FileExistsError:
            if not os.path.isdir(path):
                raise CgroupError("{} exists and is not a directory".format(
                    path)) from None
            return False
        except OSError as e:
            parent = os.path.dirname(path)
            if e.errno == errno.EROFS:
                raise CgroupError("{} is read-only".format(parent)) from None
            if e.errno == errno.ENOENT:
                raise CgroupError("{} does not exist".format(parent),
                                  missing=True) from None
            raise CgroupError(_reason(e, path, "create")) from None
        return True

    def _write(self, path, value):
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise CgroupError(_reason(
                e, path, "write {!r} to".format(value)),
                missing=e.errno == errno.ENOENT) from None

    def _read(self, path):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError as e:
            raise CgroupError(_reason(e, path, "read")) from None

    def _detect(self):
        if self.version is None:
            version = detectCgroupVersion(self.root)
            if version is None:
                raise CgroupError(
                    "{} holds no cgroup file system (neither "
                    "cgroup.controllers nor a cpuset, memory or cpu "
                    "directory)".format(self.root))
            self.version = version
        return self.version

    def _controllers(self):
        return sorted(set(CGROUP_CONTROLLERS[key] for key in self.limits))

    def _group(self, base, name, created, prepare=None):
        """
        Make C{<base>/cocaine/<name>}, and C{<base>/cocaine} first if
        needed (remembering it if we made it).

        Another node (or another isolate of a test run in parallel) may
        remove an empty C{cocaine} level between our two C{mkdir}s: that is
        retried a few times.

        @param prepare: called with the C{cocaine} directory and whether we
            just made it, before the group is made.
        @return: the group directory.
        """
        parent = os.path.join(base, PARENT)
        for attempt in range(3):
            try:
                if self._mkdir(parent):
                    if parent not in self._createdParents:
                        self._createdParents.append(parent)
                    fresh = True
                else:
                    fresh = False
                if prepare is not None:
                    prepare(parent, fresh)
                group = os.path.join(parent, name)
                if self._mkdir(group):
                    created.append(group)
                return group
            except CgroupError as e:
                if not e.missing or attempt == 2 or not os.path.isdir(base):
                    raise

    # v1

    def _createV1(self, name, created):
        procs = []
        for controller in self._controllers():
            base = os.path.join(self.root, controller)
            if not os.path.isdir(base):
                raise CgroupError(
                    "{} does not exist (no {} controller)".format(
                        base, controller))
            if controller == "cpuset":
                def prepare(parent, fresh, base=base):
                    for knob in ("cpuset.cpus", "cpuset.mems"):
                        path = os.path.join(parent, knob)
                        if fresh or not self._readOrEmpty(path):
                            self._write(path, self._read(
                                os.path.join(base, knob)))
            else:
                prepare = None
            group = self._group(base, name, created, prepare)
            parent = os.path.dirname(group)
            if controller == "cpuset":
                self._write(os.path.join(group, "cpuset.cpus"),
                            self.limits["cpuset"])
                self._write(os.path.join(group, "cpuset.mems"),
                            self._read(os.path.join(parent, "cpuset.mems")))
            elif controller == "memory":
                self._write(os.path.join(group, "memory.limit_in_bytes"),
                            str(self.limits["memory"]))
            elif controller == "cpu":
                self._write(os.path.join(group, "cpu.shares"),
                            str(self.limits["shares"]))
            procs.append(os.path.join(group, "cgroup.procs"))
        return procs

    def _readOrEmpty(self, path):
        try:
            return self._read(path)
        except CgroupError:
            return ""

    # v2

    def _enable(self, directory, controllers):
        """
        Enable C{controllers} for the children of C{directory}.
        """
        control = os.path.join(directory, "cgroup.subtree_control")
        enabled = self._readOrEmpty(control).split()
        for controller in controllers:
            if controller not in enabled:
                self._write(control, "+" + controller)

    def _createV2(self, name, created):
        controllers = self._controllers()
        available = self._read(os.path.join(
            self.root, "cgroup.controllers")).split()
        for controller in controllers:
            if controller not in available:
                raise CgroupError(
                    "the {} controller is not available in {} "
                    "(cgroup.controllers: {})".format(
                        controller, self.root, " ".join(available) or
                        "empty"))
        self._enable(self.root, controllers)
        group = self._group(
            self.root, name, created,
            lambda parent, fresh: self._enable(parent, controllers))
        if "cpuset" in self.limits:
            self._write(os.path.join(group, "cpuset.cpus"),
                        self.limits["cpuset"])
        if "memory" in self.limits:
            self._write(os.path.join(group, "memory.max"),
                        str(self.limits["memory"]))
        if "shares" in self.limits:
            self._write(os.path.join(group, "cpu.weight"),
                        str(sharesToWeight(self.limits["shares"])))
        return [os.path.join(group, "cgroup.procs")]

    # public

    def create(self, name):
        """
        Create (or reuse) the group C{name} and write its limits. Does
        nothing if the group is already set up.

        @param name: the app name: a single directory name.
        @return: the C{cgroup.procs} files a pid must be written to.
        @raise CgroupError: naming what failed; whatever this call created
            is removed again.
        """
        if name in self._groups:
            return self._groups[name][1]
        if not isinstance(name, str) or name in ("", ".", "..") \
                or "/" in name or "\0" in name:
            raise CgroupError("{!r} cannot name a cgroup directory".format(
                name))
        created = []
        try:
            if self._detect() == 2:
                procs = self._createV2(name, created)
            else:
                procs = self._createV1(name, created)
        except CgroupError:
            for directory in reversed(created):
                self._rmdir(directory)
            self._removeParents()
            raise
        self._groups[name] = (created, procs)
        return procs

    def attach(self, name, pid):
        """
        Move the process C{pid} into the group C{name} (which L{create} set
        up).

        @return: C{False} if the process is already gone, else C{True}.
        @raise CgroupError: naming the file that could not be written.
        """
        procs = self.create(name)
        for path in procs:
            try:
                self._osWritePid(path, pid)
            except ProcessLookupError:
                return False
            except OSError as e:
                raise CgroupError(_reason(
                    e, path, "write {} to".format(pid))) from None
        return True

    def groups(self):
        """
        The directories of every group this object set up and still
        tracks, by name.
        """
        return dict((name, [os.path.dirname(path) for path in procs])
                    for name, (created, procs) in self._groups.items())

    def _rmdir(self, path):
        try:
            self._osRmdir(path)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True

    def _removeParents(self):
        for parent in list(self._createdParents):
            # Fails harmlessly while another app's group is inside.
            if self._rmdir(parent):
                self._createdParents.remove(parent)

    def remove(self, name):
        """
        Remove the group C{name} if no process is left in it.

        @return: C{True} if it is gone (or was never set up), C{False} if a
            process still holds it; a later call may succeed.
        """
        entry = self._groups.get(name)
        if entry is None:
            return True
        created, procs = entry
        directories = [os.path.dirname(path) for path in procs]
        gone = all([self._rmdir(directory) for directory in directories])
        if gone:
            del self._groups[name]
            self._removeParents()
        return gone

    def cleanup(self):
        """
        Remove every group that is empty, and the C{cocaine} parents this
        object created if nothing else is inside.

        @return: the names of the groups still held by a process.
        """
        left = [name for name in list(self._groups) if not self.remove(name)]
        self._removeParents()
        return left
