# -*- test-case-name: tests.test_ports -*-
"""
Ports on 127.0.0.1 for the servers and meshes tests start, that no other
test process of the machine is handed while this one runs.

A port found free and closed again is free for anyone: for the other trial
worker (C{python -m tests} runs two), for a second checkout's suite, for
the kernel's next bind to port 0. Two tests handed one port start two
servers on it (the second fails to start), or two meshes that hear each
other's discovery. So the socket that found a port free stays bound to it
until this process exits, without listening: every other process's
L{freePort} or L{freeUDPPort} finds the port taken, and so does the
kernel's choice for a bind to port 0 on 127.0.0.1.

The server a TCP port is for binds it all the same: the socket holding it
sets C{SO_REUSEADDR}, and Linux lets sockets that all set it share a port
while none listens (socket(7)); every server the tests start on a port
from here sets it too (Twisted, Redis, PostgreSQL, etcd, Prosody). A UDP
port is for a mesh's loopback discovery, which listens on
C{127.255.255.255}: an address of its own, so it binds the port beside the
socket on C{127.0.0.1}, which receives none of its broadcasts.
"""

import random
import socket

#: The sockets holding the ports handed out, bound until this process
#: exits or L{HELD} newer ones push them out.
_held = []

#: How many ports one process holds at most: the oldest is let go past
#: that. A hold matters only until the test that asked binds its server,
#: long done that many ports later, and a run one test after another
#: (C{COCAINE_TEST_JOBS=1}) must stay well within a soft limit of 1,024
#: open files.
HELD = 128


def _ephemeralLow():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _hold(kind, port):
    """
    Bind a socket of C{kind} to C{port} on 127.0.0.1, alone, and keep it.

    @return: the port bound, or L{None} when another socket has it.
    """
    s = socket.socket(socket.AF_INET, kind)
    try:
        # without SO_REUSEADDR: refused if any other socket has the port,
        # another process's holder included
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    if kind == socket.SOCK_STREAM:
        # set once bound: the server the port is for may now share it
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _held.append(s)
    if len(_held) > HELD:
        _held.pop(0).close()
    return s.getsockname()[1]


def freePort():
    """
    A TCP port on 127.0.0.1 for a server to listen on, held for it (see
    the module's description), chosen below the kernel's ephemeral range.

    A port the kernel hands out for port 0 can be handed out again as soon
    as it is closed, and a node binds its own services to port 0 before
    its locator: one of them took the locator's port once (a fresh-clone
    CI run, 2026-12-05). No socket bound to port 0 gets a port below that
    range.
    """
    low = _ephemeralLow()
    for _ in range(200):
        port = _hold(socket.SOCK_STREAM,
                     random.randint(max(1024, low - 12000), low - 1))
        if port is not None:
            return port
    return _hold(socket.SOCK_STREAM, 0)


def freeUDPPort():
    """
    A UDP port for a mesh's loopback discovery, held for it (see the
    module's description).
    """
    return _hold(socket.SOCK_DGRAM, 0)
