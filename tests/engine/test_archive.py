"""
Tests for L{cocaine.engine.archive}.
"""

import io
import os
import stat
import tarfile

from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.archive import ArchiveError, extractArchive
from cocaine.errors import CATEGORY_NODE, toWire


def makeTar(entries, mode="w"):
    """
    Build a tar archive in memory.

    @param entries: a list of C{(name, spec)}: C{spec} is L{bytes} for a
        regular file (mode 0644), a L{dict} of L{tarfile.TarInfo} attributes
        plus an optional C{"data"} key, or C{None} for a directory.
    @param mode: the C{tarfile} write mode (C{"w"}, C{"w:gz"}, ...).
    """
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tar:
        for name, spec in entries:
            info = tarfile.TarInfo(name)
            data = None
            if spec is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif isinstance(spec, bytes):
                info.mode = 0o644
                data = spec
            else:
                spec = dict(spec)
                data = spec.pop("data", None)
                info.mode = 0o644
                for key, value in spec.items():
                    setattr(info, key, value)
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return out.getvalue()


def symlink(target):
    return {"type": tarfile.SYMTYPE, "linkname": target}


def hardlink(target):
    return {"type": tarfile.LNKTYPE, "linkname": target}


class ExtractTests(SynchronousTestCase):
    """
    Good archives unpack completely.
    """

    def setUp(self):
        self.target = os.path.abspath(self.mktemp())

    def read(self, *parts):
        with open(os.path.join(self.target, *parts), "rb") as f:
            return f.read()

    def test_plainTar(self):
        """
        A plain tar unpacks files, directories (implicit ones too) and
        relative symlinks that stay inside.
        """
        data = makeTar([
            ("./", None),
            ("./app.py", b"print('hi')\n"),
            ("lib/", None),
            ("lib/util.py", b"x = 1\n"),
            ("deep/er/file.txt", b"deep"),
            ("lib/link.py", symlink("util.py")),
            ("top", symlink("lib/../deep/er")),
        ])
        extractArchive(data, self.target)
        self.assertEqual(self.read("app.py"), b"print('hi')\n")
        self.assertEqual(self.read("lib", "util.py"), b"x = 1\n")
        self.assertEqual(self.read("deep", "er", "file.txt"), b"deep")
        self.assertEqual(os.readlink(os.path.join(
            self.target, "lib", "link.py")), "util.py")
        self.assertEqual(self.read("lib", "link.py"), b"x = 1\n")
        self.assertEqual(self.read("top", "file.txt"), b"deep")
        # the app's directory is the node's alone
        self.assertEqual(stat.S_IMODE(os.stat(self.target).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(
            self.target, "deep", "er")).st_mode), 0o755)

    def test_compressed(self):
        """
        tar.gz, tar.bz2 and tar.xz are recognized from their content.
        """
        for mode in ("w:gz", "w:bz2", "w:xz"):
            data = makeTar([("slave", b"#!/bin/sh\n" + mode.encode())], mode)
            extractArchive(data, self.target)
            self.assertEqual(self.read("slave"),
                             b"#!/bin/sh\n" + mode.encode())

    def test_executableBitKept(self):
        """
        Files keep their executable bits; group/other write bits, setuid and
        the like are dropped; the owner can always read and write.
        """
        data = makeTar([
            ("slave", {"data": b"#!/bin/sh\n", "mode": 0o755}),
            ("plain", {"data": b"x", "mode": 0o644}),
            ("odd", {"data": b"x", "mode": 0o4777}),
            ("readonly", {"data": b"x", "mode": 0o444}),
        ])
        extractArchive(data, self.target)

        def mode(name):
            return stat.S_IMODE(os.stat(os.path.join(
                self.target, name)).st_mode)

        self.assertEqual(mode("slave"), 0o755)
        self.assertTrue(os.access(os.path.join(self.target, "slave"),
                                  os.X_OK))
        self.assertEqual(mode("plain"), 0o644)
        self.assertEqual(mode("odd"), 0o755)
        self.assertEqual(mode("readonly"), 0o644)

    def test_hardlinkInside(self):
        """
        A hard link to an earlier regular file of the archive is made.
        """
        data = makeTar([
            ("a/file", b"content"),
            ("b", hardlink("a/file")),
        ])
        extractArchive(data, self.target)
        self.assertEqual(self.read("b"), b"content")
        self.assertEqual(
            os.stat(os.path.join(self.target, "b")).st_ino,
            os.stat(os.path.join(self.target, "a", "file")).st_ino)

    def test_replacesExistingDirectory(self):
        """
        An existing app directory is replaced as a whole: old files are
        gone, no staging directories are left next to it.
        """
        extractArchive(makeTar([("old.py", b"old"), ("keep", b"v1")]),
                       self.target)
        extractArchive(makeTar([("new.py", b"new"), ("keep", b"v2")]),
                       self.target)
        self.assertEqual(sorted(os.listdir(self.target)), ["keep", "new.py"])
        self.assertEqual(self.read("keep"), b"v2")
        self.assertEqual(os.listdir(os.path.dirname(self.target)),
                         [os.path.basename(self.target)])

    def test_createsParent(self):
        """
        The parent of the target (the spool directory) is created if
        missing.
        """
        target = os.path.join(self.target, "spool", "app")
        extractArchive(makeTar([("f", b"x")]), target)
        with open(os.path.join(target, "f"), "rb") as f:
            self.assertEqual(f.read(), b"x")

    def test_duplicateFileLastWins(self):
        """
        A file appearing twice (C{tar -r}) holds the later content.
        """
        extractArchive(makeTar([("f", b"one"), ("f", b"two")]), self.target)
        self.assertEqual(self.read("f"), b"two")

    def test_emptyFile(self):
        """
        Empty files and an archive with only directories unpack.
        """
        extractArchive(makeTar([("d/", None), ("d/empty", b"")]), self.target)
        self.assertEqual(self.read("d", "empty"), b"")

    def test_acceptsBytearray(self):
        """
        Any bytes-like object is accepted.
        """
        extractArchive(bytearray(makeTar([("f", b"x")])), self.target)
        self.assertEqual(self.read("f"), b"x")


class RejectTests(SynchronousTestCase):
    """
    Bad archives are rejected with a message naming the entry, and nothing
    is written: an existing app directory is left untouched.
    """

    def setUp(self):
        self.parent = os.path.abspath(self.mktemp())
        self.target = os.path.join(self.parent, "app")
        os.makedirs(self.target)
        with open(os.path.join(self.target, "existing"), "wb") as f:
            f.write(b"old")

    def assertRejected(self, data, message, **kwargs):
        """
        Extracting C{data} fails with exactly C{message}; the parent holds
        only the untouched app directory.
        """
        error = self.assertRaises(ArchiveError, extractArchive, data,
                                  self.target, **kwargs)
        self.assertEqual(str(error), message)
        self.assertEqual(os.listdir(self.parent), ["app"])
        self.assertEqual(os.listdir(self.target), ["existing"])
        return error

    def test_wireCategory(self):
        """
        L{ArchiveError} is a node-category "spawn failed" error on the wire.
        """
        error = self.assertRejected(
            b"not an archive at all" * 30,
            "app archive: not a tar archive (invalid header)")
        self.assertEqual(toWire(error), [[CATEGORY_NODE, 8], str(error)])

    def test_notAnArchive(self):
        """
        Bytes that are no tar (or compressed tar) are rejected.
        """
        self.assertRejected(
            b"", "app archive: not a tar archive (empty file)")
        self.assertRejected(
            b"PK\x03\x04" + b"\0" * 600,
            "app archive: not a tar archive (bad checksum)")

    def test_corruptGzip(self):
        """
        A gzip stream that is not valid is rejected as not a tar archive.
        """
        error = self.assertRaises(
            ArchiveError, extractArchive, b"\x1f\x8b" + b"garbage" * 20,
            self.target)
        self.assertTrue(str(error).startswith(
            "app archive: not a tar archive ("), str(error))

    def test_gzipOfNonTar(self):
        """
        A valid gzip stream of something that is not tar is rejected.
        """
        import gzip
        error = self.assertRaises(
            ArchiveError, extractArchive,
            gzip.compress(b"hello, not a tar" * 100), self.target)
        self.assertTrue(str(error).startswith(
            "app archive: not a tar archive ("), str(error))

    def test_truncated(self):
        """
        An archive cut in the middle of a file is rejected.
        """
        data = makeTar([("a", b"x" * 10), ("big", b"y" * 100000)])
        error = self.assertRaises(ArchiveError, extractArchive,
                                  data[:20000], self.target)
        self.assertIn("corrupt or truncated", str(error))

    def test_notBytes(self):
        """
        Something that is not bytes at all is rejected.
        """
        self.assertRejected(
            "text", "app archive: not a tar archive (expected bytes, got "
            "str)")

    def test_absolutePath(self):
        """
        Absolute names are rejected.
        """
        self.assertRejected(
            makeTar([("ok", b"x"), ("/etc/evil", b"x")]),
            "app archive: entry '/etc/evil' has an absolute path")

    def test_dotDot(self):
        """
        Any C{..} component is rejected, even one that would stay inside.
        """
        self.assertRejected(
            makeTar([("../evil", b"x")]),
            "app archive: entry '../evil' escapes the app directory")
        self.assertRejected(
            makeTar([("a/../../evil", b"x")]),
            "app archive: entry 'a/../../evil' escapes the app directory")
        self.assertRejected(
            makeTar([("a/../b", b"x")]),
            "app archive: entry 'a/../b' escapes the app directory")

    def test_symlinkAbsolute(self):
        """
        A symlink to an absolute path is rejected.
        """
        self.assertRejected(
            makeTar([("passwd", symlink("/etc/passwd"))]),
            "app archive: entry 'passwd' is a symlink to '/etc/passwd', "
            "which escapes the app directory")

    def test_symlinkOutside(self):
        """
        A relative symlink that climbs out is rejected.
        """
        self.assertRejected(
            makeTar([("a/up", symlink("../../etc"))]),
            "app archive: entry 'a/up' is a symlink to '../../etc', which "
            "escapes the app directory")

    def test_symlinkChainOutside(self):
        """
        A symlink that only escapes through another symlink of the archive
        is rejected too.
        """
        self.assertRejected(
            makeTar([
                ("a/l", symlink("..")),
                ("m", symlink("a/l/../x")),
            ]),
            "app archive: entry 'm' is a symlink to 'a/l/../x', which "
            "escapes the app directory")

    def test_symlinkLoop(self):
        """
        Symlinks pointing at each other are rejected.
        """
        self.assertRejected(
            makeTar([("a", symlink("b")), ("b", symlink("a"))]),
            "app archive: entry 'a' is a symlink to 'b', which loops")

    def test_entryBelowSymlink(self):
        """
        An entry written through a symlink of the archive is rejected, even
        if the symlink itself points inside.
        """
        self.assertRejected(
            makeTar([("l", symlink(".")), ("l/f", b"x")]),
            "app archive: entry 'l/f' is inside the symlink 'l'")

    def test_entryBelowFile(self):
        """
        An entry below a regular file is rejected.
        """
        self.assertRejected(
            makeTar([("f", b"x"), ("f/g", b"y")]),
            "app archive: entry 'f/g' is inside 'f', which is not a "
            "directory")

    def test_duplicateDifferentKinds(self):
        """
        The same name as a file and as a symlink is rejected.
        """
        self.assertRejected(
            makeTar([("f", b"x"), ("f", symlink("g"))]),
            "app archive: entry 'f' appears twice, as a file and as a "
            "symlink")

    def test_hardlinkOutside(self):
        """
        Hard links to absolute paths, out of the directory, or to anything
        that is not an earlier regular file are rejected.
        """
        self.assertRejected(
            makeTar([("h", hardlink("/etc/passwd"))]),
            "app archive: entry 'h' is a hardlink to '/etc/passwd', which "
            "escapes the app directory")
        self.assertRejected(
            makeTar([("h", hardlink("../x"))]),
            "app archive: entry 'h' is a hardlink to '../x', which escapes "
            "the app directory")
        self.assertRejected(
            makeTar([("l", symlink(".")), ("h", hardlink("l"))]),
            "app archive: entry 'h' is a hardlink to 'l', which is not a "
            "regular file earlier in the archive")

    def test_device(self):
        """
        Character and block devices are rejected.
        """
        self.assertRejected(
            makeTar([("null", {"type": tarfile.CHRTYPE, "devmajor": 1,
                               "devminor": 3})]),
            "app archive: entry 'null' is a device file")
        self.assertRejected(
            makeTar([("sda", {"type": tarfile.BLKTYPE, "devmajor": 8})]),
            "app archive: entry 'sda' is a device file")

    def test_fifo(self):
        """
        FIFOs are rejected.
        """
        self.assertRejected(
            makeTar([("pipe", {"type": tarfile.FIFOTYPE})]),
            "app archive: entry 'pipe' is a FIFO")

    def test_socketOrUnknownType(self):
        """
        Types tar does not define (which is how a socket would show up) are
        rejected.
        """
        self.assertRejected(
            makeTar([("sock", {"type": b"s"})]),
            "app archive: entry 'sock' has the unsupported type 's' (sockets "
            "and other special files are not allowed)")

    def test_tooLarge(self):
        """
        More file data than C{maxBytes} is rejected, naming the entry that
        crossed the limit.
        """
        data = makeTar([("a", b"x" * 600), ("b", b"y" * 600)])
        self.assertRejected(
            data, "app archive: entry 'b' makes the app larger than 1000 "
            "bytes unpacked", maxBytes=1000)
        extractArchive(data, self.target, maxBytes=1200)

    def test_compressionBomb(self):
        """
        A small gzip stream that unpacks to far more than C{maxBytes} is
        rejected without unpacking it all.
        """
        data = makeTar([("bomb", b"\0" * (20 * 1024 * 1024))], "w:gz")
        self.assertTrue(len(data) < 100 * 1024)
        self.assertRejected(
            data, "app archive: entry 'bomb' makes the app larger than "
            "4096 bytes unpacked", maxBytes=4096)

    def test_oversizedHeaders(self):
        """
        Metadata (here a huge pax header) counts against the limit too.
        """
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz",
                          format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("f")
            info.pax_headers = {"comment": "z" * (3 * 1024 * 1024)}
            tar.addfile(info, io.BytesIO(b""))
        self.assertRejected(
            out.getvalue(), "app archive: larger than 4096 bytes unpacked "
            "(oversized headers at the start)", maxBytes=4096)

    def test_tooManyEntries(self):
        """
        More than C{maxEntries} entries are rejected.
        """
        data = makeTar([("f{}".format(i), b"") for i in range(4)])
        self.assertRejected(
            data, "app archive: more than 3 entries (at entry 'f3')",
            maxEntries=3)
        extractArchive(data, self.target, maxEntries=4)

    def test_rootNotDirectory(self):
        """
        An entry naming the app directory itself must be a directory.
        """
        self.assertRejected(
            makeTar([("./", b"x")]),
            "app archive: entry './' names the app directory itself but is "
            "not a directory")
