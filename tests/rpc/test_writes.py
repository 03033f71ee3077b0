"""
Tests for L{cocaine.rpc.writes}.
"""

from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

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
        L{writes.generation} is a new number as each outermost batch opens
        (a read, or a turn held), the same while batches nest in it, and
        0 while no batch is open.
        """
        self.assertEqual(writes.generation, 0)
        writes.begin()
        first = writes.generation
        writes.begin()
        self.assertEqual(writes.generation, first)
        writes.end()
        self.assertEqual(writes.generation, first)
        writes.end()
        self.assertEqual(writes.generation, 0)
        clock = Clock()
        writes.holdForTurn(clock)
        held = writes.generation
        self.assertNotIn(held, (0, first))
        writes.begin()
        writes.end()
        self.assertEqual(writes.generation, held)
        clock.advance(0)
        self.assertEqual(writes.generation, 0)
        writes.begin()
        self.assertNotIn(writes.generation, (0, first, held))
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
        writes.write(transport, b"x")
        writes.begin()
        writes.write(transport, b"y")
        writes.write(transport, b"z")
        writes.end()
        self.assertEqual(transport.value(), b"xyz")
