# -*- test-case-name: tests.engine.test_plainunix -*-
"""
Tests for L{cocaine.engine.plainunix}.
"""

import socket

from twisted.internet import unix
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.plainunix import PlainUNIXServer, usePlainTransport


class Collect(Protocol):
    def __init__(self):
        self.received = []

    def dataReceived(self, data):
        self.received.append(data)


class PlainUNIXServerTests(SynchronousTestCase):
    """
    L{PlainUNIXServer} reads and writes a UNIX stream socket with plain
    C{recv} and C{send}.
    """

    def setUp(self):
        self.ours, self.peer = socket.socketpair(socket.AF_UNIX,
                                                 socket.SOCK_STREAM)
        self.addCleanup(self.peer.close)
        self.ours.setblocking(False)
        self.reactor = MemoryReactor()
        self.protocol = Collect()
        self.transport = PlainUNIXServer(self.ours, self.protocol, "",
                                         None, 1, self.reactor)
        self.protocol.makeConnection(self.transport)
        self.addCleanup(self.ours.close)

    def test_read(self):
        """
        C{doRead} hands what the peer sent to the protocol, without
        C{recvmsg}.
        """
        self.patch(unix._SendmsgMixin, "doRead", None)
        self.peer.sendall(b"hello")
        self.transport.doRead()
        self.assertEqual(self.protocol.received, [b"hello"])

    def test_readNothing(self):
        """
        C{doRead} with nothing to read delivers nothing and keeps the
        connection.
        """
        self.assertIsNone(self.transport.doRead())
        self.assertEqual(self.protocol.received, [])

    def test_readClosed(self):
        """
        C{doRead} once the peer closed reports the connection done.
        """
        self.peer.close()
        self.assertIsNotNone(self.transport.doRead())

    def test_write(self):
        """
        C{writeSomeData} sends with C{send} and returns how much it sent.
        """
        self.patch(unix._SendmsgMixin, "writeSomeData", None)
        self.assertEqual(self.transport.writeSomeData(b"world"), 5)
        self.assertEqual(self.peer.recv(100), b"world")


class UsePlainTransportTests(SynchronousTestCase):
    """
    L{usePlainTransport} switches Twisted's UNIX ports only.
    """

    def test_unixPort(self):
        """
        A Twisted UNIX port accepts its connections as L{PlainUNIXServer}s.
        """
        port = unix.Port("/nonexistent/x.sock", Factory(),
                         reactor=MemoryReactor())
        self.assertIs(usePlainTransport(port), port)
        self.assertIs(port.transport, PlainUNIXServer)
        self.assertIs(unix.Port.transport, unix.Server)

    def test_otherPort(self):
        """
        Any other port (a test's fake) is left as it is.
        """
        port = object()
        self.assertIs(usePlainTransport(port), port)
