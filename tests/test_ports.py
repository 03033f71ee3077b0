"""
Tests for L{tests.ports}.
"""

import socket
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from tests import ports
from tests.ports import freePort, freeUDPPort

#: Bind TCP port argv[1] on 127.0.0.1 (with SO_REUSEADDR when argv[2] is
#: "reuse"); exit 0 if it could, 3 if it was in use.
_BIND = """
import socket, sys
s = socket.socket()
if sys.argv[2] == "reuse":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(3)
"""


def bindsElsewhere(port, reuse):
    """
    @return: whether another process can bind TCP C{port} on 127.0.0.1.
    """
    code = subprocess.run([sys.executable, "-c", _BIND, str(port),
                           "reuse" if reuse else "plain"]).returncode
    if code not in (0, 3):
        raise AssertionError("the bind check exited {}".format(code))
    return code == 0


class FreePortTests(SynchronousTestCase):

    def test_heldAtMost(self):
        """
        A process holds at most L{ports.HELD} ports: past that the oldest
        hold is let go, and its port can be bound elsewhere again.
        """
        self.patch(ports, "HELD", 3)
        self.patch(ports, "_held", [])
        handed = [freePort() for _ in range(4)]
        self.assertEqual(3, len(ports._held))
        self.assertTrue(bindsElsewhere(handed[0], reuse=False))
        self.assertFalse(bindsElsewhere(handed[3], reuse=False))
        for held in ports._held:
            held.close()

    def test_belowEphemeral(self):
        """
        The port is below the kernel's ephemeral range, where no bind to
        port 0 lands, and not handed out twice.
        """
        low = ports._ephemeralLow()
        handed = [freePort() for _ in range(20)]
        self.assertTrue(all(1024 <= port < low for port in handed), handed)
        self.assertEqual(len(set(handed)), len(handed))

    def test_heldFromOtherProcesses(self):
        """
        No other process looking for a free port (binding without
        C{SO_REUSEADDR}) gets it while this one runs; a server that sets
        C{SO_REUSEADDR} binds it.
        """
        port = freePort()
        self.assertFalse(bindsElsewhere(port, reuse=False))
        self.assertTrue(bindsElsewhere(port, reuse=True))
        self.assertFalse(bindsElsewhere(port, reuse=False))

    def test_serverListens(self):
        """
        A server that sets C{SO_REUSEADDR}, as the ones the tests start
        do, listens on the port, on 127.0.0.1 or every address, and is
        connected to; once it has stopped, a connection is refused.
        """
        port = freePort()
        for host in ("127.0.0.1", "0.0.0.0"):
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((host, port))
            server.listen()
            self.assertFalse(bindsElsewhere(port, reuse=True))
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            accepted, _ = server.accept()
            for s in (accepted, client, server):
                s.close()
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)
        self.assertFalse(bindsElsewhere(port, reuse=False))


class FreeUDPPortTests(SynchronousTestCase):

    def test_loopbackBroadcast(self):
        """
        A mesh's loopback discovery listens on C{127.255.255.255} at the
        port and hears a broadcast there; the socket holding the port
        hears nothing, and another bind on 127.0.0.1 is refused.
        """
        port = freeUDPPort()
        listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(listener.close)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.255.255.255", port))
        listener.settimeout(5)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sender.close)
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sender.sendto(b"hello", ("127.255.255.255", port))
        self.assertEqual(listener.recv(64), b"hello")
        (holder,) = [s for s in ports._held
                     if s.type == socket.SOCK_DGRAM
                     and s.getsockname()[1] == port]
        holder.setblocking(False)
        self.assertRaises(BlockingIOError, holder.recv, 64)
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(other.close)
        self.assertRaises(OSError, other.bind, ("127.0.0.1", port))
