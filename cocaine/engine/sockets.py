# -*- test-case-name: tests.engine.test_sockets -*-
"""
Where an app's workers connect, and who may: each start of an app listens
in a fresh private directory (C{tempfile.mkdtemp}: mode 0700, owned by the
node) and admits only the processes it spawned.

The directory is made under the node's runtime directory as
C{<runtime>/<app>.XXXXXXXX/<app>.sock}; when that path would not fit a
UNIX socket address (C{sockaddr_un}: 107 bytes and a NUL), under the
system's temporary directory as C{/tmp/cocaine-XXXXXXXX/worker.sock},
with a link C{<runtime>/<app>.XXXXXXXX} to it: after a node killed
before it could clean up, the next start of the app finds it there
(L{removeStale}).
Nothing is ever made at a predictable path: another local user cannot
pre-create the directory or swap the socket, and the directory is checked
(a real directory, not a link, owned by this process's user, no access
for group or others) before the socket is bound in it.

A connection's peer is known from the kernel (C{SO_PEERCRED}: the pid,
uid and gid of the process that connected); L{admits} holds them against
the worker the node spawned.
"""

import os
import socket
import stat
import struct
import tempfile

from cocaine.errors import CocaineError

#: The longest socket path C{sockaddr_un} takes (108 bytes with the NUL).
MAX_SOCKET_PATH = 107

#: How a socket directory under the temporary directory starts.
TEMP_PREFIX = "cocaine-"

#: mkdtemp's random suffix: 8 characters.
_SUFFIX = 8

_CREDENTIALS = struct.Struct("3i")


class UnsafeSocketDirectory(CocaineError):
    """
    The directory meant for an app's socket is not private to this node.
    """


class Credentials:
    """
    The credentials of a UNIX socket's peer (C{SO_PEERCRED}).
    """

    __slots__ = ("pid", "uid", "gid")

    def __init__(self, pid, uid, gid):
        self.pid = pid
        self.uid = uid
        self.gid = gid

    def __repr__(self):
        return "Credentials(pid={}, uid={}, gid={})".format(
            self.pid, self.uid, self.gid)


def checkPrivate(directory, uid=None):
    """
    Check that C{directory} is a real directory (not a symlink) owned by
    C{uid} (this process's effective uid by default) that neither its group
    nor others may enter.

    @raise UnsafeSocketDirectory: naming the directory and what is wrong.
    """
    try:
        info = os.lstat(directory)
    except OSError as e:
        raise UnsafeSocketDirectory("socket directory {}: {}".format(
            directory, e.strerror or e)) from None
    _checkInfo(directory, info, uid)


def _checkInfo(directory, info, uid=None):
    """
    L{checkPrivate} on C{directory}'s status C{info} (from C{lstat}, or
    C{fstat} of a descriptor opened without following a link).
    """
    uid = os.geteuid() if uid is None else uid
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeSocketDirectory(
            "socket directory {} is not a directory".format(directory))
    if info.st_uid != uid:
        raise UnsafeSocketDirectory(
            "socket directory {} is owned by uid {}, not {}".format(
                directory, info.st_uid, uid))
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise UnsafeSocketDirectory(
            "socket directory {} has mode {:04o}; it must be private "
            "(0700)".format(directory, mode))


def makeSocketDirectory(runtimeDirectory, name):
    """
    Make a fresh private directory for app C{name}'s socket.

    @param runtimeDirectory: the node's runtime directory (made if
        missing, mode 0700).
    @return: C{(directory, socketPath)}.
    @raise UnsafeSocketDirectory: the new directory is not private.
    """
    base = os.path.abspath(runtimeDirectory)
    # mkdtemp's suffix is 8 characters: ".XXXXXXXX"
    path = os.path.join(base, name + ".XXXXXXXX", name + ".sock")
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        os.makedirs(base, mode=0o700, exist_ok=True)
        directory = tempfile.mkdtemp(prefix=name + ".", dir=base)
        socketPath = os.path.join(directory, name + ".sock")
        checkPrivate(directory)
    else:
        directory = tempfile.mkdtemp(prefix=TEMP_PREFIX)
        socketPath = os.path.join(directory, "worker.sock")
        checkPrivate(directory)
        try:
            os.makedirs(base, mode=0o700, exist_ok=True)
            os.symlink(directory, _recordOf(base, name, directory))
        except OSError:
            # only a stale sweep after a kill needs the record
            pass
    return directory, socketPath


def _recordOf(base, name, directory):
    """
    @return: the path of the link in runtime directory C{base} that
        records app C{name}'s socket directory C{directory} made under
        the temporary directory.
    """
    suffix = os.path.basename(directory)[len(TEMP_PREFIX):]
    return os.path.join(base, "{}.{}".format(name, suffix))


def shareWith(directory, socketPath, uid, gid):
    """
    Let workers running as C{uid} (a profile's user) reach the socket: the
    directory's group becomes C{gid} with search permission only (0710),
    the socket becomes C{uid}'s (0600). Other members of the group can
    enter the directory but not connect.
    """
    if gid is not None:
        os.chown(directory, -1, gid)
        os.chmod(directory, 0o710)
    os.chown(socketPath, -1 if uid is None else uid,
             -1 if gid is None else gid)


def removeStale(runtimeDirectory, name=None):
    """
    Remove the socket directories of app C{name} that a node killed before
    it could clean up left in C{runtimeDirectory}: ours (L{checkPrivate}),
    holding nothing but the socket, on which nobody listens; those under
    the temporary directory are found by their records there.

    @param name: the app, or L{None} for the records of every app (what a
        node's stop leaves for anyone to sweep once it is gone).
    @return: the directories removed.
    """
    base = os.path.abspath(runtimeDirectory)
    removed = []
    try:
        entries = os.listdir(base)
    except OSError:
        return removed
    for entry in entries:
        app, dot, suffix = entry.rpartition(".")
        if not dot or len(suffix) != _SUFFIX or (name is not None
                                                 and app != name):
            continue
        directory = os.path.join(base, entry)
        if os.path.islink(directory):
            stale = _removeStaleTemp(directory, suffix)
            if stale is not None:
                removed.append(stale)
            continue
        if name is None:
            continue
        if _sweep(directory, name + ".sock"):
            removed.append(directory)
    return removed


def _removeStaleTemp(link, suffix):
    """
    Follow a runtime directory's record (L{makeSocketDirectory}) to a
    socket directory under the temporary directory, and remove both when
    that directory is ours, holds nothing but C{worker.sock} and nobody
    listens there; a record whose directory is gone is removed alone. A
    link naming anything else than C{<tmp>/cocaine-<suffix>} is not
    followed.

    @return: the directory removed (or found gone), or L{None}.
    """
    try:
        target = os.readlink(link)
    except OSError:
        return None
    if target != os.path.join(os.path.abspath(tempfile.gettempdir()),
                              TEMP_PREFIX + suffix):
        return None
    if os.path.lexists(target) and not _sweep(target, "worker.sock"):
        return None
    try:
        os.unlink(link)
    except OSError:
        return None
    return target


def _sweep(directory, socketName):
    """
    Remove socket directory C{directory} when it is ours (L{checkPrivate}),
    holds nothing but C{socketName}, and nobody listens on that.

    The checks, the probe and the socket's removal all go through one
    descriptor of the directory, opened without following a link: a
    directory renamed and replaced (by a link to another, say) after the
    check is not the one emptied. At worst the last step, removing the
    now empty directory by its path, removes someone's empty directory
    put there in its place.

    @return: whether it was removed (or found gone meanwhile).
    """
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        _checkInfo(directory, os.fstat(fd))
        entries = os.listdir(fd)
        if entries not in ([], [socketName]):
            return False
        if entries and _listening(_through(fd, directory, socketName)):
            return False
        if entries:
            os.unlink(socketName, dir_fd=fd)
    except (UnsafeSocketDirectory, OSError):
        return False
    finally:
        os.close(fd)
    try:
        os.rmdir(directory)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def _through(fd, directory, name):
    """
    @return: a path to entry C{name} of the directory open as C{fd} that
        does not depend on C{directory}'s name staying its (through
        C{/proc/self/fd}), or its path under C{directory} without procfs.
    """
    proc = "/proc/self/fd/{}".format(fd)
    if os.path.isdir(proc):
        return os.path.join(proc, name)
    return os.path.join(directory, name)


def _listening(path):
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        return False
    except OSError:
        # not a socket, or not ours to test: leave it alone
        return True
    finally:
        probe.close()
    return True


def removeSocketDirectory(directory, socketPath, runtimeDirectory=None,
                          name=None):
    """
    Remove an app's socket and its private directory; what is already gone
    is fine.

    @param runtimeDirectory: the node's runtime directory and the app's
        C{name}: given, a directory made under the temporary directory
        loses its record there too (L{makeSocketDirectory}).
    """
    for remove, path in ((os.unlink, socketPath), (os.rmdir, directory)):
        try:
            remove(path)
        except FileNotFoundError:
            pass
    if runtimeDirectory is None or name is None:
        return
    base = os.path.abspath(runtimeDirectory)
    if os.path.dirname(directory) == base:
        return
    record = _recordOf(base, name, directory)
    try:
        if os.readlink(record) == directory:
            os.unlink(record)
    except OSError:
        pass


def peerCredentials(transport):
    """
    @return: the L{Credentials} of the process at the other end of a UNIX
        stream C{transport}, or L{None} when they cannot be known.
    """
    getHandle = getattr(transport, "getHandle", None)
    if getHandle is None:
        return None
    try:
        raw = getHandle().getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                     _CREDENTIALS.size)
    except (OSError, AttributeError):
        return None
    return Credentials(*_CREDENTIALS.unpack(raw))


def processGroup(pid):
    """
    @return: the process group of C{pid}, or L{None} if it is gone.
    """
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def admits(credentials, pid, uid, inProcess=False, groupOf=processGroup):
    """
    Whether the peer with C{credentials} may handshake as the worker the
    node spawned with C{pid} to run as C{uid}.

    A process worker is admitted when the peer runs as C{uid} and is the
    spawned process itself (a launcher or a wrapper script that C{exec}s
    keeps the pid) or a member of its process group (a wrapper that forks
    its worker: the spawned process leads a group and session of its own,
    which no process outside the session can join). A worker of the thread
    isolate runs inside the node: its peer must be the node itself.

    @param credentials: the peer's L{Credentials}, or L{None} (unknown:
        refused).
    """
    if credentials is None:
        return False
    if inProcess:
        return credentials.pid == os.getpid()
    if pid is None or credentials.uid != uid:
        return False
    return credentials.pid == pid or groupOf(credentials.pid) == pid
