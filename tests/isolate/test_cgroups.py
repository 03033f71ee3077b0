"""
Tests for L{cocaine.isolate.cgroups}: validation, and the cgroup file
layouts written into fake v1 and v2 trees.
"""

import errno
import os
import shutil

from twisted.trial.unittest import SynchronousTestCase

from cocaine.isolate.cgroups import (
    CgroupError, Cgroups, _reason, detectCgroupVersion, sharesToWeight,
    validateCgroups)


class TreeCgroups(Cgroups):
    """
    L{Cgroups} over a plain directory tree that behaves like a cgroup file
    system where it matters: a new group directory comes with its
    C{cgroup.procs}, C{rmdir} removes a group together with its control
    files, and fails with C{EBUSY} while a process or a child group is in
    it.
    """

    def _osMkdir(self, path):
        os.mkdir(path, 0o755)
        with open(os.path.join(path, "cgroup.procs"), "w"):
            pass

    def _osRmdir(self, path):
        names = os.listdir(path)
        with open(os.path.join(path, "cgroup.procs")) as f:
            busy = f.read().strip()
        if busy or any(os.path.isdir(os.path.join(path, name))
                       for name in names):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        for name in names:
            os.unlink(os.path.join(path, name))
        os.rmdir(path)


def write(path, content=""):
    with open(path, "w") as f:
        f.write(content)


def read(path):
    with open(path) as f:
        return f.read()


def makeV1Tree(root, controllers=("cpuset", "memory", "cpu")):
    """
    A cgroup v1 layout: one directory per controller, the root cpuset
    holding CPUs 0-3 and memory node 0.
    """
    os.makedirs(root)
    for controller in controllers:
        os.mkdir(os.path.join(root, controller))
        write(os.path.join(root, controller, "cgroup.procs"))
    if "cpuset" in controllers:
        write(os.path.join(root, "cpuset", "cpuset.cpus"), "0-3\n")
        write(os.path.join(root, "cpuset", "cpuset.mems"), "0\n")
    return root


def makeV2Tree(root, controllers="cpuset cpu io memory pids"):
    """
    A cgroup v2 layout: C{cgroup.controllers} in the root, nothing enabled
    for children yet.
    """
    os.makedirs(root)
    write(os.path.join(root, "cgroup.controllers"), controllers + "\n")
    write(os.path.join(root, "cgroup.subtree_control"), "")
    write(os.path.join(root, "cgroup.procs"))
    return root


class CgroupValidationTests(SynchronousTestCase):
    """
    Validation of profile cgroups, and the shares to weight mapping.
    """

    def test_valid(self):
        """
        Known keys with well-formed values pass; L{None} means none.
        """
        self.assertEqual(validateCgroups(None), {})
        limits = {"cpuset": "0-1,3", "memory": 1 << 28, "shares": 2}
        self.assertEqual(validateCgroups(limits), limits)
        validateCgroups({"shares": 262144, "cpuset": "0"})

    def test_unknownKey(self):
        """
        An unknown key is named in the error.
        """
        error = self.assertRaises(ValueError, validateCgroups,
                                  {"blkio": 1})
        self.assertEqual(str(error), "isolate cgroups: unknown limit 'blkio' "
                         "(known: cpuset, memory, shares)")

    def test_badValues(self):
        """
        Malformed values are rejected, naming the key.
        """
        for key, value in [("cpuset", "0-"), ("cpuset", 1), ("cpuset", ""),
                           ("cpuset", "0;rm"), ("memory", 0),
                           ("memory", "1G"), ("shares", 1),
                           ("shares", 262145), ("shares", True)]:
            error = self.assertRaises(ValueError, validateCgroups,
                                      {key: value})
            self.assertIn("isolate cgroups: {!r} must be".format(key),
                          str(error))
            self.assertIn(repr(value), str(error))

    def test_sharesToWeight(self):
        """
        systemd's mapping: 1024 shares are the default weight 100, the
        extremes clamp to 1 and 10000.
        """
        self.assertEqual(sharesToWeight(1024), 100)
        self.assertEqual(sharesToWeight(512), 50)
        self.assertEqual(sharesToWeight(2), 1)
        self.assertEqual(sharesToWeight(102400), 10000)
        self.assertEqual(sharesToWeight(262144), 10000)


class DetectTests(SynchronousTestCase):
    """
    L{detectCgroupVersion}.
    """

    def test_versions(self):
        """
        C{cgroup.controllers} means v2, controller directories mean v1,
        neither means none.
        """
        self.assertEqual(detectCgroupVersion(makeV2Tree(self.mktemp())), 2)
        self.assertEqual(detectCgroupVersion(makeV1Tree(self.mktemp())), 1)
        self.assertEqual(detectCgroupVersion(
            makeV1Tree(self.mktemp(), ("memory",))), 1)
        empty = self.mktemp()
        os.mkdir(empty)
        self.assertIsNone(detectCgroupVersion(empty))
        self.assertIsNone(detectCgroupVersion(self.mktemp()))


class CgroupsV1Tests(SynchronousTestCase):
    """
    L{Cgroups} on a v1 layout.
    """

    def setUp(self):
        self.root = makeV1Tree(os.path.abspath(self.mktemp()))
        self.cgroups = TreeCgroups(
            self.root, {"cpuset": "1-2", "memory": 268435456, "shares": 512})

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def test_create(self):
        """
        A group per controller under C{cocaine/<name>}, holding the limits;
        the cpuset gets its memory nodes (and the shared level its CPUs)
        from the parent.
        """
        procs = self.cgroups.create("app")
        self.assertEqual(self.cgroups.version, 1)
        self.assertEqual(procs, [
            self.path("cpu", "cocaine", "app", "cgroup.procs"),
            self.path("cpuset", "cocaine", "app", "cgroup.procs"),
            self.path("memory", "cocaine", "app", "cgroup.procs")])
        self.assertEqual(read(self.path("cpuset", "cocaine", "cpuset.cpus")),
                         "0-3")
        self.assertEqual(read(self.path("cpuset", "cocaine", "cpuset.mems")),
                         "0")
        self.assertEqual(read(self.path("cpuset", "cocaine", "app",
                                        "cpuset.cpus")), "1-2")
        self.assertEqual(read(self.path("cpuset", "cocaine", "app",
                                        "cpuset.mems")), "0")
        self.assertEqual(read(self.path("memory", "cocaine", "app",
                                        "memory.limit_in_bytes")),
                         "268435456")
        self.assertEqual(read(self.path("cpu", "cocaine", "app",
                                        "cpu.shares")), "512")
        self.assertEqual(self.cgroups.create("app"), procs)

    def test_onlyNeededControllers(self):
        """
        Only the controllers of the configured limits are touched.
        """
        cgroups = TreeCgroups(self.root, {"memory": 4096})
        self.assertEqual(cgroups.create("app"), [
            self.path("memory", "cocaine", "app", "cgroup.procs")])
        self.assertFalse(os.path.exists(self.path("cpu", "cocaine")))
        self.assertFalse(os.path.exists(self.path("cpuset", "cocaine")))

    def test_attach(self):
        """
        The pid is written to the C{cgroup.procs} of every controller.
        """
        self.assertTrue(self.cgroups.attach("app", 4242))
        for controller in ("cpu", "cpuset", "memory"):
            self.assertEqual(read(self.path(
                controller, "cocaine", "app", "cgroup.procs")), "4242")

    def test_removeWhenEmpty(self):
        """
        L{Cgroups.remove} fails while a process is inside, then removes the
        group and the C{cocaine} level it created.
        """
        self.cgroups.attach("app", 4242)
        self.assertFalse(self.cgroups.remove("app"))
        self.assertTrue(os.path.isdir(self.path("memory", "cocaine", "app")))
        for controller in ("cpu", "cpuset", "memory"):
            write(self.path(controller, "cocaine", "app", "cgroup.procs"))
        self.assertTrue(self.cgroups.remove("app"))
        for controller in ("cpu", "cpuset", "memory"):
            self.assertFalse(os.path.exists(self.path(controller, "cocaine")))
        self.assertTrue(self.cgroups.remove("never-made"))

    def test_sharedParentKept(self):
        """
        The C{cocaine} level stays while another app's group is inside and
        goes with the last one; a C{cocaine} level that existed before is
        never removed.
        """
        other = TreeCgroups(self.root, {"memory": 4096})
        self.cgroups.create("app")
        other.create("other")
        self.assertEqual(self.cgroups.cleanup(), [])
        self.assertFalse(os.path.exists(self.path("cpu", "cocaine")))
        self.assertTrue(os.path.isdir(self.path("memory", "cocaine",
                                                "other")))
        self.assertEqual(other.cleanup(), [])
        self.assertTrue(os.path.isdir(self.path("memory", "cocaine")))

    def test_cleanupReportsHeld(self):
        """
        L{Cgroups.cleanup} names the groups still held.
        """
        self.cgroups.attach("app", 4242)
        self.cgroups.create("idle")
        self.assertEqual(self.cgroups.cleanup(), ["app"])
        self.assertFalse(os.path.exists(self.path("memory", "cocaine",
                                                  "idle")))
        self.assertEqual(sorted(self.cgroups.groups()), ["app"])

    def test_missingController(self):
        """
        A missing controller directory is named; nothing stays behind.
        """
        root = makeV1Tree(os.path.abspath(self.mktemp()), ("cpu", "cpuset"))
        cgroups = TreeCgroups(root, {"shares": 100, "memory": 4096})
        error = self.assertRaises(CgroupError, cgroups.create, "app")
        self.assertEqual(error.reason, "{} does not exist (no memory "
                         "controller)".format(os.path.join(root, "memory")))
        self.assertEqual(os.listdir(os.path.join(root, "cpu")),
                         ["cgroup.procs"])

    def test_readOnly(self):
        """
        A read-only controller is named as such.
        """
        class ReadOnly(TreeCgroups):
            def _osMkdir(self, path):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)

        cgroups = ReadOnly(self.root, {"memory": 4096})
        error = self.assertRaises(CgroupError, cgroups.create, "app")
        self.assertEqual(error.reason, "{} is read-only".format(
            self.path("memory")))

    def test_permissionDenied(self):
        """
        A controller we may not write to is named as such.
        """
        class Denied(TreeCgroups):
            def _osMkdir(self, path):
                raise OSError(errno.EACCES, os.strerror(errno.EACCES), path)

        cgroups = Denied(self.root, {"memory": 4096})
        error = self.assertRaises(CgroupError, cgroups.create, "app")
        self.assertEqual(error.reason, "no permission to create {}".format(
            self.path("memory", "cocaine")))

    def test_badName(self):
        """
        A name that is not a single directory name is refused.
        """
        for name in ("", ".", "..", "a/b"):
            error = self.assertRaises(CgroupError, self.cgroups.create, name)
            self.assertIn("cannot name a cgroup directory", error.reason)

    def test_noCgroupFileSystem(self):
        """
        A root without any cgroup layout is named.
        """
        root = os.path.abspath(self.mktemp())
        os.mkdir(root)
        error = self.assertRaises(CgroupError,
                                  TreeCgroups(root, {"memory": 1}).create,
                                  "app")
        self.assertIn("holds no cgroup file system", error.reason)

    def test_parentRemovedConcurrently(self):
        """
        If another node removes the empty C{cocaine} level between our two
        C{mkdir}s, it is made (and the cpuset level filled) again.
        """
        class Racy(TreeCgroups):
            raced = False

            def _osMkdir(self, path):
                if os.path.basename(path) == "app" and not self.raced:
                    self.raced = True
                    shutil.rmtree(os.path.dirname(path))
                TreeCgroups._osMkdir(self, path)

        cgroups = Racy(self.root, {"cpuset": "1"})
        cgroups.create("app")
        self.assertTrue(cgroups.raced)
        self.assertEqual(read(self.path("cpuset", "cocaine", "cpuset.mems")),
                         "0")
        self.assertEqual(read(self.path("cpuset", "cocaine", "app",
                                        "cpuset.cpus")), "1")

    def test_attachGoneProcess(self):
        """
        Attaching a process that already exited (the kernel answers
        C{ESRCH}) is not an error: L{Cgroups.attach} returns C{False}.
        """
        class Gone(TreeCgroups):
            def _osWritePid(self, path, pid):
                raise ProcessLookupError(errno.ESRCH, "No such process")

        cgroups = Gone(self.root, {"memory": 4096})
        self.assertFalse(cgroups.attach("app", 4242))


class CgroupsV2Tests(SynchronousTestCase):
    """
    L{Cgroups} on a v2 (unified) layout.
    """

    def setUp(self):
        self.root = makeV2Tree(os.path.abspath(self.mktemp()))

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def test_create(self):
        """
        One group under C{cocaine/<name>}, the controllers enabled on the
        way down, shares mapped to a weight.
        """
        cgroups = TreeCgroups(
            self.root, {"cpuset": "0-1", "memory": 268435456, "shares": 512})
        procs = cgroups.create("app")
        self.assertEqual(cgroups.version, 2)
        self.assertEqual(procs, [self.path("cocaine", "app", "cgroup.procs")])
        # A plain file keeps only the last write; the real file system
        # accumulates them: check the last one went through.
        self.assertEqual(read(self.path("cgroup.subtree_control")),
                         "+memory")
        self.assertEqual(read(self.path("cocaine", "cgroup.subtree_control")),
                         "+memory")
        self.assertEqual(read(self.path("cocaine", "app", "cpuset.cpus")),
                         "0-1")
        self.assertEqual(read(self.path("cocaine", "app", "memory.max")),
                         "268435456")
        self.assertEqual(read(self.path("cocaine", "app", "cpu.weight")),
                         "50")
        cgroups.attach("app", 77)
        self.assertEqual(read(procs[0]), "77")

    def test_enabledControllersNotRewritten(self):
        """
        Controllers already enabled for children are left alone.
        """
        write(self.path("cgroup.subtree_control"), "cpu memory\n")
        cgroups = TreeCgroups(self.root, {"memory": 4096})
        cgroups.create("app")
        self.assertEqual(read(self.path("cgroup.subtree_control")),
                         "cpu memory\n")

    def test_missingController(self):
        """
        A controller the hierarchy does not offer is named.
        """
        root = makeV2Tree(os.path.abspath(self.mktemp()), "cpu io pids")
        cgroups = TreeCgroups(root, {"memory": 4096})
        error = self.assertRaises(CgroupError, cgroups.create, "app")
        self.assertEqual(error.reason, "the memory controller is not "
                         "available in {} (cgroup.controllers: cpu io "
                         "pids)".format(root))
        self.assertFalse(os.path.exists(os.path.join(root, "cocaine")))

    def test_writeFailureRollsBack(self):
        """
        When a limit cannot be written, the directories made for it are
        removed again and the file is named.
        """
        class NoMemoryMax(TreeCgroups):
            def _write(self, path, value):
                if path.endswith("memory.max"):
                    raise CgroupError(_reason(
                        OSError(errno.EINVAL, "Invalid argument"), path,
                        "write {!r} to".format(value)))
                return TreeCgroups._write(self, path, value)

        cgroups = NoMemoryMax(self.root, {"memory": 4096})
        error = self.assertRaises(CgroupError, cgroups.create, "app")
        self.assertEqual(error.reason, "cannot write '4096' to {}: Invalid "
                         "argument".format(self.path("cocaine", "app",
                                                     "memory.max")))
        self.assertFalse(os.path.exists(self.path("cocaine")))

    def test_remove(self):
        """
        The group and the C{cocaine} level go once empty.
        """
        cgroups = TreeCgroups(self.root, {"shares": 1024})
        cgroups.attach("app", 5)
        self.assertEqual(cgroups.cleanup(), ["app"])
        write(self.path("cocaine", "app", "cgroup.procs"))
        self.assertEqual(cgroups.cleanup(), [])
        self.assertFalse(os.path.exists(self.path("cocaine")))
