"""
Tests for L{cocaine.rpc.writes}.
"""

import socket

from twisted.internet import tcp, unix
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols.policies import ProtocolWrapper
from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.plainunix import PlainUNIXServer
from cocaine.rpc import writes


class FakeDescriptor:
    """
    The parts of Twisted's C{FileDescriptor} that L{writes} looks at; the
    socket takes at most C{accept} bytes per send.
    """

    def __init__(self, accept=None):
        self.connected = True
        self.disconnecting = False
        self._writeDisconnected = False
        self.producer = None
        self.producerPaused = False
        self._tempDataBuffer = []
        self.dataBuffer = b""
        self.offset = 0
        self.accept = accept
        self.sent = []
        self.written = []

    def writeSomeData(self, data):
        if isinstance(self.accept, Exception):
            return self.accept
        taken = data if self.accept is None else data[:self.accept]
        self.sent.append(bytes(taken))
        return len(taken)

    def write(self, data):
        self.written.append(data)
        self._tempDataBuffer.append(data)


class WritesTests(SynchronousTestCase):

    def test_idleSentAtOnce(self):
        transport = FakeDescriptor()
        writes.write(transport, b"abc")
        self.assertEqual((transport.sent, transport.written), ([b"abc"], []))

    def test_partialSendBuffersTheRest(self):
        transport = FakeDescriptor(accept=2)
        writes.write(transport, b"abcde")
        self.assertEqual(transport.sent, [b"ab"])
        self.assertEqual(transport.written, [b"cde"])

    def test_bufferedGoesBehind(self):
        """
        With data already waiting, a write queues behind it, so order is
        kept.
        """
        transport = FakeDescriptor()
        transport._tempDataBuffer = [b"waiting"]
        writes.write(transport, b"next")
        self.assertEqual((transport.sent, transport.written), ([], [b"next"]))

    def test_errorLeftToTwisted(self):
        transport = FakeDescriptor(accept=ConnectionLost())
        writes.write(transport, b"x")
        self.assertEqual(transport.written, [b"x"])

    def test_producerNotPaused(self):
        """
        A connection whose producer is registered and not paused (the
        HTTP channel watches its buffer that way) is still written at
        once; a paused one queues behind its buffer.
        """
        transport = FakeDescriptor()
        transport.producer = object()
        writes.write(transport, b"a")
        transport.producerPaused = True
        writes.write(transport, b"b")
        self.assertEqual((transport.sent, transport.written), ([b"a"], [b"b"]))

    def test_flush(self):
        """
        L{writes.flush} sends what the open batch holds so far, joined per
        transport; the batch stays open and sends the rest at its end.
        """
        transport = FakeDescriptor()
        writes.begin()
        writes.write(transport, b"a")
        writes.write(transport, b"b")
        writes.flush()
        self.assertEqual(transport.sent, [b"ab"])
        writes.write(transport, b"c")
        self.assertEqual(transport.sent, [b"ab"])
        writes.end()
        self.assertEqual(transport.sent, [b"ab", b"c"])

    def test_holdForTurn(self):
        """
        What is written after L{writes.holdForTurn} leaves, joined per
        connection, when the reactor's turn ends; holding again in the same
        turn changes nothing, and the next turn holds anew.
        """
        clock = Clock()
        one, two = FakeDescriptor(), FakeDescriptor()
        writes.holdForTurn(clock)
        writes.write(one, b"a")
        writes.holdForTurn(clock)
        writes.write(two, b"b")
        writes.write(one, b"c")
        self.assertEqual((one.sent, two.sent), ([], []))
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(0)
        self.assertEqual((one.sent, two.sent), ([b"ac"], [b"b"]))
        writes.write(one, b"d")
        self.assertEqual(one.sent, [b"ac", b"d"])
        writes.holdForTurn(clock)
        writes.write(one, b"e")
        self.assertEqual(one.sent, [b"ac", b"d"])
        clock.advance(0)
        self.assertEqual(one.sent, [b"ac", b"d", b"e"])

    def test_generation(self):
        """
        L{writes.batches.generation} is a new number as each outermost
        batch opens (a read, or a turn held), the same while batches nest
        in it, and 0 while no batch is open.
        """
        self.assertEqual(writes.batches.generation, 0)
        writes.begin()
        first = writes.batches.generation
        writes.begin()
        self.assertEqual(writes.batches.generation, first)
        writes.end()
        self.assertEqual(writes.batches.generation, first)
        writes.end()
        self.assertEqual(writes.batches.generation, 0)
        clock = Clock()
        writes.holdForTurn(clock)
        held = writes.batches.generation
        self.assertNotIn(held, (0, first))
        writes.begin()
        writes.end()
        self.assertEqual(writes.batches.generation, held)
        clock.advance(0)
        self.assertEqual(writes.batches.generation, 0)
        writes.begin()
        self.assertNotIn(writes.batches.generation, (0, first, held))
        writes.end()

    def test_disconnectingLeftToTwisted(self):
        transport = FakeDescriptor()
        transport.disconnecting = True
        writes.write(transport, b"x")
        self.assertEqual((transport.sent, transport.written), ([], [b"x"]))

    def test_wrapperGetsWrite(self):
        """
        A transport that only delegates the descriptor's attributes (TLS's
        C{ProtocolWrapper}, through C{__getattr__}) gets C{write}: the
        wrapped descriptor's C{writeSomeData} would bypass it.
        """
        class Wrapper:
            def __init__(self, transport):
                self.transport = transport
                self.written = []

            def __getattr__(self, name):
                return getattr(self.transport, name)

            def write(self, data):
                self.written.append(data)

        wrapper = Wrapper(FakeDescriptor())
        writes.write(wrapper, b"x")
        self.assertEqual((wrapper.transport.sent, wrapper.written), ([], [b"x"]))

    def test_withoutBufferGetsWrite(self):
        """
        A transport with a C{writeSomeData} but without Twisted's buffer
        beside it gets C{write}, as L{writes} cannot tell whether it is
        idle.
        """
        class Partial:
            def __init__(self):
                self.written = []

            def writeSomeData(self, data):
                raise AssertionError("sent past write()")

            def write(self, data):
                self.written.append(data)

        transport = Partial()
        writes.write(transport, b"x")
        self.assertEqual(transport.written, [b"x"])
        self.assertIsNone(writes.pendingBytes(transport))

    def test_batchJoinsPerTransport(self):
        first, second = FakeDescriptor(), FakeDescriptor()
        writes.begin()
        writes.write(first, b"a")
        writes.write(second, b"1")
        writes.write(first, b"b")
        writes.begin()
        writes.write(first, b"c")
        writes.end()
        self.assertEqual(first.sent, [])
        writes.end()
        self.assertEqual(first.sent, [b"abc"])
        self.assertEqual(second.sent, [b"1"])

    def test_otherTransportsJustWrite(self):
        transport = StringTransport()
        writeAloneThenBatched(transport, b"x", b"y", b"z")
        self.assertEqual(transport.value(), b"xyz")


def writeAloneThenBatched(transport, alone, *batched):
    """
    Write C{alone} to C{transport} outside a batch, then each of
    C{batched} in one.
    """
    writes.write(transport, alone)
    writes.begin()
    for data in batched:
        writes.write(transport, data)
    writes.end()


class SocketDescriptor(FakeDescriptor):
    """
    A L{FakeDescriptor} with TCP's own C{writeSomeData} and a real socket
    (one end of a pair): L{writes} sends on the socket itself.
    """

    writeSomeData = tcp.Connection.writeSomeData
    # as tcp.Connection's, until startTLS
    TLS = False

    def __init__(self, testCase):
        FakeDescriptor.__init__(self)
        self.socket, self.peer = socket.socketpair()
        testCase.addCleanup(self.socket.close)
        testCase.addCleanup(self.peer.close)
        self.socket.setblocking(False)
        self.peer.setblocking(False)

    def received(self):
        data = b""
        while True:
            try:
                more = self.peer.recv(1 << 20)
            except BlockingIOError:
                return data
            if not more:
                return data
            data += more


class SocketTests(SynchronousTestCase):
    """
    A transport with TCP's own C{writeSomeData} (TCP's, and the workers'
    plain UNIX ones) is sent on by L{writes.sendNow} itself, as that
    method sends.
    """

    def test_sentOnTheSocket(self):
        transport = SocketDescriptor(self)
        writeAloneThenBatched(transport, b"abc", b"d", b"e")
        self.assertEqual(transport.received(), b"abcde")
        self.assertEqual(transport.written, [])

    def test_restBuffered(self):
        """
        What the socket's buffer does not take goes to C{write}, in order;
        once the buffer is full, all of a write does.
        """
        transport = SocketDescriptor(self)
        data = bytes(range(256)) * 8192
        writes.write(transport, data)
        self.assertEqual(len(transport.written), 1)
        taken = len(data) - len(transport.written[0])
        self.assertGreater(taken, 0)
        transport._tempDataBuffer = []
        writes.write(transport, b"more")
        self.assertEqual(transport.written[1:], [b"more"])
        self.assertEqual(transport.received() + transport.written[0],
                         data)

    def test_errorLeftToTwisted(self):
        """
        A send that fails (the peer is gone) leaves the data to C{write},
        whose own send finds the error and loses the connection.
        """
        transport = SocketDescriptor(self)
        transport.peer.close()
        writes.write(transport, b"x")
        self.assertEqual(transport.written, [b"x"])

    def test_kinds(self):
        """
        TCP's transports and the workers' plain UNIX ones are sent on
        directly; Twisted's UNIX transport (which may pass descriptors)
        through its own C{writeSomeData}, as is a class with TCP's
        C{writeSomeData} but without its C{TLS} flag; a wrapper only gets
        C{write}.
        """
        class Borrowed(FakeDescriptor):
            writeSomeData = tcp.Connection.writeSomeData

        self.assertEqual(
            [writes._kindOf(cls) for cls in (
                tcp.Server, tcp.Client, PlainUNIXServer, unix.Server,
                ProtocolWrapper, Borrowed)],
            [writes._SOCKET, writes._SOCKET, writes._SOCKET, writes._OWN,
             writes._WRITE, writes._OWN])

    def test_afterStartTLS(self):
        """
        A transport that C{startTLS} turned to TLS (its C{TLS} flag) gets
        C{write}, which encrypts: nothing goes on its socket directly,
        whether its class sends itself or through its own
        C{writeSomeData}.
        """
        transport = SocketDescriptor(self)
        transport.TLS = True
        writeAloneThenBatched(transport, b"abc", b"d", b"e")
        self.assertEqual(transport.written, [b"abc", b"de"])
        self.assertEqual(transport.received(), b"")
        own = FakeDescriptor()
        own.TLS = True
        writes.write(own, b"x")
        self.assertEqual((own.sent, own.written), ([], [b"x"]))
