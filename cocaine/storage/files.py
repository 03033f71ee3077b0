# -*- test-case-name: tests.storage.test_files -*-
"""
The C{files} storage backend: one file per key.

Layout under the backend's directory::

    <collection>/<key>                  the value, raw bytes
    .tags/<collection>/<tag>/<key>      an empty marker per tag (names
                                        percent-encoded)
    .tmp/                               values being written

A write goes to a temporary file that is renamed over the key, so a reader
(or a node killed mid-write) sees the old value or the new one, never half
of one; the last rename wins between concurrent writers. Values of at least
C{threadThreshold} bytes are read and written in the reactor's thread pool
so a 64 MiB value does not stall other clients; the rename and the tag index
are always updated in the reactor thread, in completion order.

Small values are kept in a read cache bounded in bytes. A read still costs
one C{stat}: a cached value is served only while the file's inode, size and
modification time are unchanged, so a value replaced from outside the node
(by an atomic rename or an edit) is read afresh.
"""

import errno
import os
import stat
import time
import uuid
from collections import OrderedDict
from urllib.parse import quote, unquote

from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.errors import InvalidName, KeyNotFound, SystemError_
from cocaine.interfaces import IStorageBackend

_NAME_MAX = 255

#: Seconds without a byte written after which a temporary file is taken
#: for the leftover of a write that never finished.
STALE_AGE = 600

log = Logger()


def checkName(kind, name, collection=None):
    """
    Reject a collection or key that would escape its directory or that the
    file system cannot hold.

    @raise InvalidName: naming the value and the reason.
    """
    reason = None
    if not name:
        reason = "it is empty"
    elif "/" in name or "\\" in name:
        reason = "it contains a path separator and would escape the " \
                 "storage directory"
    elif name in (".", ".."):
        reason = "it would escape the storage directory"
    elif "\0" in name:
        reason = "it contains a NUL byte"
    elif kind == "collection" and name.startswith("."):
        reason = "names starting with '.' are reserved"
    elif len(name.encode("utf-8")) > _NAME_MAX:
        reason = "it is longer than {} bytes".format(_NAME_MAX)
    if reason is not None:
        where = "" if collection is None else " in collection {!r}".format(
            collection)
        raise InvalidName("storage: {} {!r}{} is not allowed: {}".format(
            kind, name, where, reason))


def _q(name):
    quoted = quote(name, safe="")
    if quoted in (".", ".."):
        # quote() leaves dots alone; a tag "." or ".." must not name the
        # tag directory itself or its parent.
        quoted = quoted.replace(".", "%2E")
    return quoted


class ReadCache:
    """
    Small values by path, each valid while its file's stamp (inode, size,
    modification time in ns) is unchanged; least recently used go first.
    """

    def __init__(self, maxBytes=32 * 1024 * 1024, maxValue=64 * 1024):
        self.maxBytes = maxBytes
        self.maxValue = maxValue
        self._entries = OrderedDict()
        self._bytes = 0

    def get(self, path, stamp):
        entry = self._entries.get(path)
        if entry is None:
            return None
        if entry[0] != stamp:
            self.drop(path)
            return None
        self._entries.move_to_end(path)
        return entry[1]

    def put(self, path, stamp, blob):
        if len(blob) > self.maxValue or len(blob) > self.maxBytes:
            return
        self.drop(path)
        self._entries[path] = (stamp, blob)
        self._bytes += len(blob)
        while self._bytes > self.maxBytes:
            _, (_, old) = self._entries.popitem(last=False)
            self._bytes -= len(old)

    def drop(self, path):
        entry = self._entries.pop(path, None)
        if entry is not None:
            self._bytes -= len(entry[1])

    def __len__(self):
        return len(self._entries)


def _stamp(result):
    return (result.st_ino, result.st_size, result.st_mtime_ns)


@implementer(IStorageBackend)
class FileStorage:
    """
    Values as files under C{path}.

    @ivar shared: C{False}: a directory of this host is the node's own
        (the node service's C{shared-storage} says otherwise, e.g. for a
        network file system).
    """

    shared = False

    def __init__(self, reactor, path, fsync=False,
                 threadThreshold=1024 * 1024, cacheBytes=32 * 1024 * 1024):
        """
        @param path: the backend's directory; created when missing.
        @param fsync: flush each value to disk before acknowledging it
            (survives power loss, not just a crash of the node).
        @param threadThreshold: values of at least this many bytes are read
            and written off the reactor thread.
        @param cacheBytes: the read cache's budget (0 turns it off).
        """
        self._reactor = reactor
        self.cache = ReadCache(cacheBytes)
        self.path = os.path.abspath(path)
        self.fsync = fsync
        self.threadThreshold = threadThreshold
        self._tmp = os.path.join(self.path, ".tmp")
        self._tags = os.path.join(self.path, ".tags")
        self._ready = False
        self._born = time.time()
        #: C{{(collection, key): path}} of names already checked
        self._paths = {}

    def _prepare(self):
        if not self._ready:
            # the node's alone: values, keys and tags (0700/0600)
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            os.makedirs(self._tmp, mode=0o700, exist_ok=True)
            os.makedirs(self._tags, mode=0o700, exist_ok=True)
            self._ready = True
            self.removeStale()

    def removeStale(self):
        """
        Remove the temporary files of writes that never finished (the
        node crashed or was killed in the middle): those in C{.tmp} not
        written to for L{STALE_AGE} seconds before this backend was made
        (a writer in flight, of another process sharing the directory,
        keeps its file's modification time fresh). Done once, before the
        first write.

        @return: how many were removed.
        """
        removed = 0
        for name in _listdir(self._tmp):
            path = os.path.join(self._tmp, name)
            try:
                if os.lstat(path).st_mtime < self._born - STALE_AGE:
                    os.unlink(path)
                    removed += 1
            except OSError:
                pass
        if removed:
            log.info("storage {path}: removed {count} temporary files of "
                     "unfinished writes", path=self.path, count=removed)
        return removed

    def _inThread(self, f, *args):
        return deferToThreadPool(self._reactor, self._reactor.getThreadPool(),
                                 f, *args)

    #: The most paths L{_file} remembers (then it starts afresh).
    PATHS = 4096

    def _file(self, collection, key):
        # A name's checks and its path depend on the name alone: a value
        # read again and again (the usual case) is checked once, not on
        # every read (two checks and a join were a tenth of a read).
        paths = self._paths
        path = paths.get((collection, key))
        if path is None:
            checkName("collection", collection)
            checkName("key", key, collection)
            path = os.path.join(self.path, collection, key)
            if len(paths) >= self.PATHS:
                paths.clear()
            paths[(collection, key)] = path
        return path

    def read(self, collection, key):
        path = self._file(collection, key)
        cache = self.cache
        if len(cache):
            try:
                stamp = _stamp(os.stat(path))
            except FileNotFoundError:
                cache.drop(path)
                raise _notFound(collection, key)
            except OSError as e:
                raise _systemError(e, collection, key)
            blob = cache.get(path, stamp)
            if blob is not None:
                return blob
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise _notFound(collection, key)
        except OSError as e:
            raise _systemError(e, collection, key)
        try:
            result = os.fstat(fd)
        except OSError as e:
            os.close(fd)
            raise _systemError(e, collection, key)
        if stat.S_ISDIR(result.st_mode):
            os.close(fd)
            raise _notFound(collection, key)
        size = result.st_size
        if size < self.threadThreshold:
            try:
                blob = _readAll(fd, size)
            except OSError as e:
                raise _systemError(e, collection, key)
            finally:
                os.close(fd)
            cache.put(path, _stamp(result), blob)
            return blob
        return self._inThread(_readAndClose, fd, size)

    def write(self, collection, key, blob, tags=()):
        path = self._file(collection, key)
        tags = list(dict.fromkeys(tags or ()))
        for tag in tags:
            if not tag or "\0" in tag:
                raise InvalidName("storage: tag {!r} is not allowed".format(
                    tag))
            if len(_q(tag)) > _NAME_MAX:
                raise InvalidName("storage: tag {!r} is too long for the "
                                  "file system".format(tag))
        if tags and len(_q(collection)) > _NAME_MAX:
            raise InvalidName("storage: collection {!r} is too long to "
                              "carry tags".format(collection))
        if tags and len(_q(key)) > _NAME_MAX:
            raise InvalidName("storage: key {!r} in collection {!r} is too "
                              "long to carry tags".format(key, collection))
        self._prepare()
        tmp = os.path.join(self._tmp, uuid.uuid4().hex)
        if len(blob) < self.threadThreshold:
            _writeFile(tmp, blob, self.fsync)
            self._commit(tmp, path, collection, key, tags)
            return None
        d = self._inThread(_writeFile, tmp, blob, self.fsync)
        d.addCallback(lambda _: self._commit(tmp, path, collection, key,
                                             tags))
        return d

    def _commit(self, tmp, path, collection, key, tags):
        try:
            try:
                os.rename(tmp, path)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(path), mode=0o700,
                            exist_ok=True)
                if self.fsync:
                    _syncDirectory(self.path)
                os.rename(tmp, path)
            if self.fsync:
                # the rename is durable only once its directory is synced
                _syncDirectory(os.path.dirname(path))
        except OSError as e:
            _unlinkQuietly(tmp)
            raise _systemError(e, collection, key)
        self.cache.drop(path)
        self._retag(collection, key, tags)

    def _retag(self, collection, key, tags):
        root = os.path.join(self._tags, _q(collection))
        marker = _q(key)
        if max(len(marker), len(_q(collection))) > _NAME_MAX:
            return  # write() refuses tags for such names: no marker exists
        wanted = {_q(tag) for tag in tags}
        for existing in _listdir(root):
            if existing not in wanted:
                _unlinkQuietly(os.path.join(root, existing, marker))
        for tag in wanted:
            directory = os.path.join(root, tag)
            target = os.path.join(directory, marker)
            try:
                fd = os.open(target, os.O_CREAT | os.O_WRONLY, 0o600)
            except FileNotFoundError:
                os.makedirs(directory, mode=0o700, exist_ok=True)
                fd = os.open(target, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)

    def remove(self, collection, key):
        path = self._file(collection, key)
        try:
            os.unlink(path)
        except FileNotFoundError:
            raise _notFound(collection, key)
        except OSError as e:
            raise _systemError(e, collection, key)
        self.cache.drop(path)
        self._retag(collection, key, ())
        return None

    def find(self, collection, tags):
        checkName("collection", collection)
        if not tags:
            directory = os.path.join(self.path, collection)
            return sorted(name for name in _listdir(directory)
                          if os.path.isfile(os.path.join(directory, name)))
        root = os.path.join(self._tags, _q(collection))
        keys = None
        for tag in dict.fromkeys(tags):
            if max(len(_q(tag)), len(_q(collection))) > _NAME_MAX:
                return []  # write() refuses such tags: none is stored
            found = set(_listdir(os.path.join(root, _q(tag))))
            keys = found if keys is None else keys & found
            if not keys:
                return []
        return sorted(unquote(k) for k in keys)


def _notFound(collection, key):
    return KeyNotFound("storage: key {!r} not found in collection {!r}"
                       .format(key, collection))


def _listdir(path):
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _unlinkQuietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _readAll(fd, size):
    chunks = []
    remaining = size
    while True:
        chunk = os.read(fd, max(remaining, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _readAndClose(fd, size):
    try:
        return _readAll(fd, size)
    finally:
        os.close(fd)


def _syncDirectory(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _writeFile(path, blob, fsync):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    try:
        view = memoryview(blob)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlinkQuietly(path)
        raise
    os.close(fd)


def _systemError(e, collection, key):
    if e.errno == errno.ENAMETOOLONG:
        return InvalidName("storage: key {!r} in collection {!r} is too "
                           "long for the file system".format(key, collection))
    return SystemError_("storage: {} for key {!r} in collection {!r}".format(
        os.strerror(e.errno or errno.EIO), key, collection),
        code=e.errno or errno.EIO)
