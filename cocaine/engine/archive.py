# -*- test-case-name: tests.engine.test_archive -*-
"""
Safe extraction of an app archive into the app's spool directory.

An app archive (PROTOCOL.md section 7) is a tar file, plain or compressed
with gzip, bzip2 or xz. It comes from storage, so it is untrusted input:
L{extractArchive} reads it twice without writing anything the first time,
and rejects, before a single file is created:

  - names that are absolute or hold a C{..} component;
  - symbolic links whose target, resolved through the other links of the
    archive, lands outside the app directory, and hard links to anything
    but a regular file of the archive;
  - entries below a symbolic link or below a file;
  - device files, FIFOs and any other special type (tar has no socket type:
    one shows up as an unknown type and is rejected as such);
  - more than C{maxEntries} entries, or more than C{maxBytes} bytes of file
    data once unpacked (decompression stops there, so a compression bomb
    costs at most that much work), or oversized headers.

The second pass writes every entry itself (C{tarfile}'s own extraction is
never used) into a fresh sibling of the target directory, which then
replaces the target by two renames: a running app sees its old directory or
the new one, never a half-written one.

Extraction is synchronous and may take a while for a big archive: call it
in a thread (L{twisted.internet.threads.deferToThreadPool}); it touches no
reactor state.
"""

import bz2
import gzip
import io
import lzma
import os
import shutil
import tarfile
import tempfile
import uuid
import zlib

from cocaine.errors import CATEGORY_NODE, CocaineError

#: The node category code for "spawn failed" (PROTOCOL.md section 4).
SPAWN_FAILED = 8

#: Header bytes allowed per entry (tar header, pax or GNU long-name records,
#: padding) on top of the file data, before the archive counts as oversized.
_HEADER_ALLOWANCE = 8192

#: Fixed slack on top of the per-entry allowance (end-of-archive blocks,
#: record padding).
_STREAM_SLACK = 1024 * 1024

_CHUNK = 64 * 1024

_DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_DEFAULT_MAX_ENTRIES = 100000


class ArchiveError(CocaineError):
    """
    An app archive that cannot or must not be unpacked.

    The message starts with C{app archive:} and names the offending entry
    and the reason.
    """

    category = CATEGORY_NODE
    code = SPAWN_FAILED


class _TooLarge(Exception):
    """
    Raised inside the decompressing reader when the stream passes its limit.
    """


class _LimitedReader:
    """
    A file-like object that reads an uncompressed tar stream and stops once
    more bytes came through than the current allowance.

    @ivar allowance: a callable returning how many bytes may have been read
        so far.
    """

    def __init__(self, raw, allowance):
        self._raw = raw
        self._allowance = allowance
        self.position = 0

    def read(self, size=-1):
        data = self._raw.read(size)
        self.position += len(data)
        if self.position > self._allowance():
            raise _TooLarge()
        return data


def _decompressed(data):
    """
    A file object yielding the uncompressed bytes of C{data}, chosen from
    its magic number.
    """
    raw = io.BytesIO(data)
    if data[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if data[:3] == b"BZh":
        return bz2.BZ2File(raw, mode="rb")
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw, mode="rb")
    return raw


#: Errors a decompressor or tarfile raises on a corrupt or truncated stream.
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError,
            ValueError)


class _Entry:
    """
    One archive member as the scan understood it.

    @ivar kind: C{"dir"}, C{"file"}, C{"symlink"} or C{"hardlink"}.
    @ivar path: the normalized name, components joined by C{/}; C{""} for
        the root directory itself.
    @ivar name: the name as written in the archive, for messages.
    @ivar mode: permission bits to give a file.
    @ivar link: the link target: as written for a symlink, normalized for a
        hard link.
    """

    __slots__ = ("kind", "path", "name", "mode", "link", "mtime")

    def __init__(self, kind, path, name, mode=0, link=None, mtime=None):
        self.kind = kind
        self.path = path
        self.name = name
        self.mode = mode
        self.link = link
        self.mtime = mtime


def _reject(name, reason):
    return ArchiveError("app archive: entry {!r} {}".format(name, reason))


def _normalize(name):
    """
    Split an entry name into its components.

    @return: the list of components, empty for the root directory.
    @raise ArchiveError: for an absolute name or one with a C{..} component.
    """
    if name.startswith("/"):
        raise _reject(name, "has an absolute path")
    if "\0" in name:
        raise _reject(name, "contains a NUL byte")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _reject(name, "escapes the app directory")
    return parts


#: What L{_resolve} returns for a chain of links that never ends.
_LOOP = object()


def _resolve(parts, links):
    """
    Resolve a path inside the archive the way the kernel would once every
    entry is on disk, following the archive's symbolic links.

    @param parts: path components relative to the root.
    @param links: normalized symlink path to its target as written.
    @return: the resolved components, L{None} if the path leaves the root
        (through C{..} or an absolute link target), or L{_LOOP} if it goes
        round in circles.
    """
    resolved = []
    queue = list(parts)
    hops = 0
    while queue:
        part = queue.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return None
            resolved.pop()
            continue
        resolved.append(part)
        target = links.get("/".join(resolved))
        if target is not None:
            hops += 1
            if hops > 40:
                return _LOOP
            if target.startswith("/"):
                return None
            resolved.pop()
            queue = target.split("/") + queue
    return resolved


def _scan(data, maxBytes, maxEntries):
    """
    First pass: read every header, check it and plan the extraction.

    @return: the list of L{_Entry}, in archive order.
    @raise ArchiveError: for the first problem found.
    """
    entries = []
    state = {"entries": 0}
    total = 0

    def allowance():
        return maxBytes + _STREAM_SLACK + _HEADER_ALLOWANCE * (
            state["entries"] + 1)

    last = None
    try:
        reader = _LimitedReader(_decompressed(data), allowance)
        tar = tarfile.open(fileobj=reader, mode="r|")
        while True:
            member = tar.next()
            if member is None:
                break
            del tar.members[:]
            state["entries"] += 1
            if state["entries"] > maxEntries:
                raise ArchiveError(
                    "app archive: more than {} entries (at entry {!r})".format(
                        maxEntries, member.name))
            entry = _classify(member)
            if entry.kind == "file":
                total += member.size
                if total > maxBytes:
                    raise ArchiveError(
                        "app archive: entry {!r} makes the app larger than "
                        "{} bytes unpacked".format(member.name, maxBytes))
            entries.append(entry)
            last = member.name
    except _TooLarge:
        where = "at the start" if last is None else \
            "after entry {!r}".format(last)
        raise ArchiveError(
            "app archive: larger than {} bytes unpacked (oversized headers "
            "{})".format(maxBytes, where)) from None
    except tarfile.ReadError as e:
        if last is None:
            raise ArchiveError(
                "app archive: not a tar archive ({})".format(e)) from None
        raise ArchiveError(
            "app archive: corrupt or truncated after entry {!r} ({})".format(
                last, e)) from None
    except _CORRUPT as e:
        if last is None:
            raise ArchiveError(
                "app archive: not a tar archive ({})".format(
                    e or type(e).__name__)) from None
        raise ArchiveError(
            "app archive: corrupt or truncated after entry {!r} ({})".format(
                last, e or type(e).__name__)) from None
    _checkTree(entries)
    return entries


def _classify(member):
    """
    Turn one tar member into an L{_Entry}, rejecting what we never unpack.
    """
    name = member.name
    path = "/".join(_normalize(name))
    if member.isdir():
        return _Entry("dir", path, name)
    if path == "":
        raise _reject(name, "names the app directory itself but is not a "
                      "directory")
    if member.isreg():
        return _Entry("file", path, name, mode=member.mode,
                      mtime=member.mtime)
    if member.issym():
        if not member.linkname:
            raise _reject(name, "is a symlink with an empty target")
        if "\0" in member.linkname:
            raise _reject(name, "is a symlink whose target contains a NUL "
                          "byte")
        return _Entry("symlink", path, name, link=member.linkname)
    if member.islnk():
        target = member.linkname
        if target.startswith("/"):
            raise _reject(name, "is a hardlink to {!r}, which escapes the "
                          "app directory".format(target))
        try:
            parts = _normalize(target)
        except ArchiveError:
            raise _reject(name, "is a hardlink to {!r}, which escapes the "
                          "app directory".format(target)) from None
        return _Entry("hardlink", path, name, link="/".join(parts))
    if member.ischr() or member.isblk():
        raise _reject(name, "is a device file")
    if member.isfifo():
        raise _reject(name, "is a FIFO")
    raise _reject(name, "has the unsupported type {!r} (sockets and other "
                  "special files are not allowed)".format(
                      member.type.decode("latin-1")))


def _checkTree(entries):
    """
    Checks that need the whole archive: links that escape, entries below a
    link or a file, duplicate names of different kinds.
    """
    kinds = {}
    links = {}
    for entry in entries:
        previous = kinds.get(entry.path)
        if previous is not None and previous != entry.kind:
            raise _reject(entry.name, "appears twice, as a {} and as a "
                          "{}".format(previous, entry.kind))
        kinds[entry.path] = entry.kind
        if entry.kind == "symlink":
            links[entry.path] = entry.link
    seenFiles = set()
    for entry in entries:
        parts = entry.path.split("/") if entry.path else []
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            kind = kinds.get(prefix)
            if kind == "symlink":
                raise _reject(entry.name, "is inside the symlink {!r}".format(
                    prefix))
            if kind in ("file", "hardlink"):
                raise _reject(entry.name, "is inside {!r}, which is not a "
                              "directory".format(prefix))
        if entry.kind == "symlink":
            if entry.link.startswith("/"):
                raise _reject(entry.name, "is a symlink to {!r}, which "
                              "escapes the app directory".format(entry.link))
            resolved = _resolve(parts[:-1] + entry.link.split("/"), links)
            if resolved is None:
                raise _reject(entry.name, "is a symlink to {!r}, which "
                              "escapes the app directory".format(entry.link))
            if resolved is _LOOP:
                raise _reject(entry.name, "is a symlink to {!r}, which "
                              "loops".format(entry.link))
        elif entry.kind == "hardlink":
            if entry.link not in seenFiles:
                raise _reject(entry.name, "is a hardlink to {!r}, which is "
                              "not a regular file earlier in the "
                              "archive".format(entry.link))
        if entry.kind == "file":
            seenFiles.add(entry.path)


def _write(data, entries, root):
    """
    Second pass: create every entry below C{root}, which is a fresh empty
    directory.
    """
    tar = tarfile.open(fileobj=_decompressed(data), mode="r|")
    index = 0
    while True:
        member = tar.next()
        if member is None:
            break
        del tar.members[:]
        entry = entries[index]
        index += 1
        if entry.name != member.name:
            raise ArchiveError("app archive: changed while being read (entry "
                               "{!r})".format(member.name))
        try:
            _writeEntry(tar, member, entry, root)
        except OSError as e:
            raise ArchiveError("app archive: cannot write entry {!r}: "
                               "{}".format(entry.name, e.strerror or e)) \
                from None
    if index != len(entries):
        raise ArchiveError("app archive: changed while being read")


def _makeDirs(root, parts):
    """
    Create the directories C{parts} below C{root}, each with mode C{0o755}
    whatever the umask. The scan made sure none of them is a link or a file.
    """
    current = root
    for part in parts:
        current = os.path.join(current, part)
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            continue
        os.chmod(current, 0o755)


def _writeEntry(tar, member, entry, root):
    parts = entry.path.split("/") if entry.path else []
    if entry.kind == "dir":
        _makeDirs(root, parts)
        return
    _makeDirs(root, parts[:-1])
    path = os.path.join(root, entry.path)
    if os.path.lexists(path):
        # A later entry of the same name replaces an earlier one, as tar
        # does; unlink first so a hard link to the old one keeps its data.
        os.unlink(path)
    if entry.kind == "file":
        source = tar.extractfile(member)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                     | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
        with os.fdopen(fd, "wb") as sink:
            while True:
                chunk = source.read(_CHUNK)
                if not chunk:
                    break
                sink.write(chunk)
            os.fchmod(sink.fileno(), (entry.mode & 0o755) | 0o600)
        if entry.mtime is not None:
            try:
                os.utime(path, (entry.mtime, entry.mtime))
            except (OSError, OverflowError, ValueError):
                pass
    elif entry.kind == "symlink":
        os.symlink(entry.link, path)
    elif entry.kind == "hardlink":
        os.link(os.path.join(root, entry.link), path, follow_symlinks=False)


def _replace(source, target):
    """
    Put the directory C{source} at C{target}: rename the old target away,
    rename the new one in, remove the old one.
    """
    parent, base = os.path.split(target)
    old = None
    if os.path.lexists(target):
        old = os.path.join(parent, ".{}.old-{}".format(
            base, uuid.uuid4().hex))
        os.rename(target, old)
    try:
        os.rename(source, target)
    except OSError:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.unlink(old)


def extractArchive(data, target, maxBytes=_DEFAULT_MAX_BYTES,
                   maxEntries=_DEFAULT_MAX_ENTRIES):
    """
    Unpack an app archive into C{target}, replacing what was there.

    Every entry is checked before anything is written; files keep their
    permission bits masked with C{0o755} (and stay readable and writable by
    the owner); directories get C{0o755} inside the app directory, which
    is C{0o700}; a spool made here is C{0o711}; ownership is ignored.

    @param data: the archive: tar, tar.gz, tar.bz2 or tar.xz bytes.
    @type data: L{bytes}
    @param target: the app directory; its parent is created if missing.
    @param maxBytes: most bytes of file data the unpacked app may hold.
    @param maxEntries: most entries the archive may hold.
    @raise ArchiveError: the archive is not a tar archive, is corrupt, is
        too big, holds an entry we never unpack (message names it), or
        cannot be written; C{target} is then left as it was.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ArchiveError("app archive: not a tar archive (expected bytes, "
                           "got {})".format(type(data).__name__))
    data = bytes(data)
    entries = _scan(data, maxBytes, maxEntries)
    target = os.path.abspath(target)
    parent, base = os.path.split(target)
    try:
        # the spool: others may pass through to an app's directory (a
        # profile user's workers) but not list it
        os.makedirs(parent, mode=0o711, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".{}.new-".format(base), dir=parent)
    except OSError as e:
        raise ArchiveError("app archive: cannot create the app directory "
                           "{!r}: {}".format(target, e.strerror or e)) \
            from None
    try:
        try:
            os.chmod(staging, 0o700)
            _write(data, entries, staging)
        except _CORRUPT as e:
            # The scan read the same bytes without trouble: this is the
            # file system failing under us.
            raise ArchiveError("app archive: cannot unpack into {!r}: "
                               "{}".format(target, e)) from None
        try:
            _replace(staging, target)
        except OSError as e:
            raise ArchiveError("app archive: cannot replace the app "
                               "directory {!r}: {}".format(
                                   target, e.strerror or e)) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
