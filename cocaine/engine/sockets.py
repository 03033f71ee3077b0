# -*- test-case-name: tests.engine.test_sockets -*-
"""
Where an app's workers connect, and who may: each start of an app listens
in a fresh private directory (C{tempfile.mkdtemp}: mode 0700, owned by the
node) and admits only the processes it spawned.

The directory is made under the node's runtime directory as
C{<runtime>/<app>.XXXXXXXX/<app>.sock}; when that path would not fit a
UNIX socket address (C{sockaddr_un}: 107 bytes and a NUL), under the
system's temporary directory as C{/tmp/cocaine-XXXXXXXX/worker.sock}.
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
    uid = os.geteuid() if uid is None else uid
    try:
        info = os.lstat(directory)
    except OSError as e:
        raise UnsafeSocketDirectory("socket directory {}: {}".format(
            directory, e.strerror or e)) from None
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
    else:
        directory = tempfile.mkdtemp(prefix="cocaine-")
        socketPath = os.path.join(directory, "worker.sock")
    checkPrivate(directory)
    return directory, socketPath


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


def removeStale(runtimeDirectory, name):
    """
    Remove the socket directories of app C{name} that a node killed before
    it could clean up left in C{runtimeDirectory}: ours (L{checkPrivate}),
    holding nothing but C{<name>.sock}, on which nobody listens.

    @return: the directories removed.
    """
    base = os.path.abspath(runtimeDirectory)
    removed = []
    try:
        entries = os.listdir(base)
    except OSError:
        return removed
    prefix = name + "."
    for entry in entries:
        if not entry.startswith(prefix) or len(entry) != len(prefix) + 8:
            continue
        directory = os.path.join(base, entry)
        path = os.path.join(directory, name + ".sock")
        try:
            checkPrivate(directory)
            if os.listdir(directory) not in ([], [name + ".sock"]):
                continue
            if os.path.lexists(path) and _listening(path):
                continue
            removeSocketDirectory(directory, path)
        except (UnsafeSocketDirectory, OSError):
            continue
        removed.append(directory)
    return removed


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


def removeSocketDirectory(directory, socketPath):
    """
    Remove an app's socket and its private directory; what is already gone
    is fine.
    """
    for remove, path in ((os.unlink, socketPath), (os.rmdir, directory)):
        try:
            remove(path)
        except FileNotFoundError:
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
