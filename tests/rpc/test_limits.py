"""
Tests for L{cocaine.rpc.limits} and the connection limits of
L{cocaine.rpc.server} (issue 14, findings 5 and 8), with Twisted fakes: a
L{Clock} and string transports.
"""

import errno
import io
import struct

import msgpack
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import parse
from cocaine.rpc.limits import (
    UNLIMITED, ConnectionBudget, ConnectionLimits, budgetFor)
from cocaine.rpc.hosting import ServerFactory
from cocaine.rpc.server import ServerProtocol
from tests.rpc._fakes import ECHO_IDS as ID, echoService


class UnreadTransport(StringTransportWithDisconnection):
    """
    A transport whose peer reads nothing: everything written stays in its
    write buffer, which it reports as Twisted's TCP transport does.
    """

    offset = 0
    _tempDataLen = 0
    #: a file-descriptor transport's (never called: see _writeDisconnected)
    writeSomeData = None

    @property
    def dataBuffer(self):
        return self.value()


class Connection:

    def __init__(self, limits, clock=None, transport=None):
        self.service = echoService()
        self.protocol = ServerProtocol(self.service, limits=limits,
                                       reactor=clock)
        self.transport = transport or StringTransportWithDisconnection()
        self.transport.protocol = self.protocol
        self.protocol.makeConnection(self.transport)

    def send(self, *message):
        self.protocol.dataReceived(msgpack.packb(list(message),
                                                 use_bin_type=True))

    def replies(self):
        data = self.transport.value()
        self.transport.clear()
        return list(msgpack.Unpacker(io.BytesIO(data), raw=False))


class ConnectionLimitsTests(SynchronousTestCase):

    def test_fromNetwork(self):
        """
        The limits come from the network section.
        """
        network = parse({"network": {"max-channels": 7, "idle-timeout": 30,
                                     "frame-timeout": 5}}).network
        limits = ConnectionLimits.fromNetwork(network)
        self.assertEqual((limits.maxChannels, limits.idleTimeout,
                          limits.frameTimeout, limits.period,
                          limits.writeLimit),
                         (7, 30.0, 5.0, 5.0, network.maxMessage))

    def test_periodWithoutTimeouts(self):
        self.assertIsNone(UNLIMITED.period)
        self.assertEqual(ConnectionLimits(idleTimeout=9).period, 9)


class BudgetTests(SynchronousTestCase):

    def test_perPeerAndTotal(self):
        """
        Connections are admitted up to the per-peer and total limits and
        released again.
        """
        budget = ConnectionBudget(total=3, perPeer=2)
        self.assertTrue(budget.admit("10.0.0.1"))
        self.assertTrue(budget.admit("10.0.0.1"))
        self.assertFalse(budget.admit("10.0.0.1"))
        self.assertTrue(budget.admit("10.0.0.2"))
        self.assertFalse(budget.admit("10.0.0.3"))
        self.assertEqual((budget.open, budget.refused), (3, 2))
        budget.release("10.0.0.1")
        self.assertTrue(budget.admit("10.0.0.3"))

    def test_clampedBelowFileLimit(self):
        """
        The total stays below the process's file descriptor limit.
        """
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        network = parse({"network": {"max-connections": 2 ** 30}}).network
        budget = ConnectionBudget.fromNetwork(network)
        if soft != resource.RLIM_INFINITY:
            self.assertLess(budget.total, soft)

    def test_onePerOwner(self):
        """
        The services of one node (one registry) share one budget.
        """
        class Owner:
            pass
        network = parse({}).network
        one, two = Owner(), Owner()
        self.assertIs(budgetFor(one, network), budgetFor(one, network))
        self.assertIsNot(budgetFor(one, network), budgetFor(two, network))

    def test_factoryRefusesAndReleases(self):
        """
        The factory builds no protocol past the budget (Twisted closes
        such a connection at once), and a closed connection frees its
        place.
        """
        budget = ConnectionBudget(total=10, perPeer=1)
        factory = ServerFactory(echoService(), budget=budget)
        addr = IPv4Address("TCP", "10.1.1.1", 5000)
        first = factory.buildProtocol(addr)
        self.assertIsNotNone(first)
        self.assertIsNone(factory.buildProtocol(addr))
        self.assertIsNotNone(factory.buildProtocol(
            IPv4Address("TCP", "10.1.1.2", 5000)))
        transport = StringTransportWithDisconnection()
        transport.protocol = first
        first.makeConnection(transport)
        transport.loseConnection()
        self.assertIsNotNone(factory.buildProtocol(addr))


class ChannelLimitTests(SynchronousTestCase):

    def test_channelsCapped(self):
        """
        Past C{maxChannels} open channels a new one is answered with an
        error and its handler is not called; once one is answered there
        is room again.
        """
        connection = Connection(ConnectionLimits(maxChannels=3))
        for channel in (1, 2, 3):
            connection.send(channel, ID["later"], [channel])
        connection.send(4, ID["later"], [4])
        (refused,) = connection.replies()
        self.assertEqual(refused[:2], [4, 1])
        self.assertEqual(refused[2][0], [1, errno.EMFILE])
        self.assertIn("max-channels", refused[2][1])
        self.assertNotIn(4, connection.service.impl.pending)
        connection.service.impl.pending[1].callback(("one",))
        connection.send(5, ID["echo"], ["x"])
        self.assertEqual(connection.replies(),
                         [[1, 0, ["one"]], [5, 0, ["x"]]])

    def test_capInOneRead(self):
        """
        Calls pipelined in one read are capped as well.
        """
        connection = Connection(ConnectionLimits(maxChannels=3))
        connection.protocol.dataReceived(b"".join(
            msgpack.packb([channel, ID["later"], [channel]])
            for channel in range(1, 11)))
        self.assertEqual(sorted(connection.service.impl.pending), [1, 2, 3])
        self.assertEqual([m[0] for m in connection.replies()],
                         list(range(4, 11)))

    def test_streamsCapped(self):
        """
        Streams count as open channels.
        """
        connection = Connection(ConnectionLimits(maxChannels=2))
        connection.send(1, ID["watch"], [])
        connection.send(2, ID["watch"], [])
        connection.send(3, ID["watch"], [])
        self.assertEqual(len(connection.service.impl.upstreams), 2)
        (refused,) = connection.replies()
        self.assertEqual(refused[0], 3)

    def test_twoWayChannelCountsOnce(self):
        """
        A channel open both ways (an app session, a chat) counts once.
        """
        connection = Connection(ConnectionLimits(maxChannels=2))
        connection.send(1, ID["chat"], [])
        connection.send(2, ID["chat"], [])
        connection.send(3, ID["chat"], [])
        self.assertEqual(len(connection.service.impl.targets), 2)

    def test_muteNotAnswered(self):
        """
        A mute message past the cap is dropped without an answer.
        """
        connection = Connection(ConnectionLimits(maxChannels=1))
        connection.send(1, ID["watch"], [])
        connection.send(2, ID["note"], ["x"])
        self.assertEqual(connection.replies(), [])
        self.assertEqual(connection.service.impl.notes, [])


class BackpressureTests(SynchronousTestCase):

    def test_pauseReadingWhileWriteBufferFull(self):
        """
        The connection registers as the transport's streaming producer;
        when the transport says its buffer is full, reading pauses until
        it drained.
        """
        connection = Connection(ConnectionLimits(writeLimit=1 << 20))
        transport = connection.transport
        self.assertIs(transport.producer, connection.protocol)
        connection.protocol.pauseProducing()
        self.assertEqual(transport.producerState, "paused")
        connection.protocol.resumeProducing()
        self.assertEqual(transport.producerState, "producing")

    def test_closeUnregistersProducer(self):
        """
        Closing unregisters the producer, which would hold the close open.
        """
        connection = Connection(ConnectionLimits(writeLimit=1 << 20))
        connection.service.dropConnections()
        self.assertIsNone(connection.transport.producer)
        self.assertFalse(connection.transport.connected)

    def test_peerThatDoesNotReadDropped(self):
        """
        Replies piling up for a peer that does not read are bounded: past
        C{writeLimit} bytes waiting the connection is aborted and later
        replies are dropped (issue 14, finding 5).
        """
        connection = Connection(
            ConnectionLimits(writeLimit=64 * 1024),
            transport=UnreadTransport())
        big = "x" * 8192
        for channel in range(1, 200):
            connection.send(channel, ID["echo"], [big])
        self.assertTrue(connection.transport.disconnected)
        self.assertLess(len(connection.transport.value()), 74 * 1024)

    def test_smallRepliesCountedWhilePaused(self):
        """
        Small replies are counted too once the transport said the peer
        does not keep up.
        """
        connection = Connection(
            ConnectionLimits(writeLimit=64 * 1024),
            transport=UnreadTransport())
        connection.protocol.pauseProducing()
        for channel in range(1, 200):
            connection.send(channel, ID["echo"], ["x" * 1024])
        self.assertTrue(connection.transport.disconnected)

    def test_readingPeerNotDropped(self):
        """
        A peer that reads its replies may receive far more than the limit.
        """
        connection = Connection(
            ConnectionLimits(writeLimit=16 * 1024),
            transport=UnreadTransport())
        big = "x" * 8192
        for channel in range(1, 200):
            connection.send(channel, ID["echo"], [big])
            connection.transport.clear()
        self.assertTrue(connection.transport.connected)


class WrappedTransportTests(SynchronousTestCase):
    """
    A transport whose buffer cannot be seen (TLS's wrapper): what was
    written since it last said it drained is what counts.
    """

    def test_droppedByCount(self):
        connection = Connection(ConnectionLimits(writeLimit=64 * 1024))
        connection.protocol.pauseProducing()
        for channel in range(1, 200):
            connection.send(channel, ID["echo"], ["x" * 1024])
        self.assertFalse(connection.transport.connected)

    def test_drainResetsCount(self):
        connection = Connection(ConnectionLimits(writeLimit=64 * 1024))
        for channel in range(1, 200):
            connection.send(channel, ID["echo"], ["x" * 8192])
            connection.protocol.pauseProducing()
            connection.protocol.resumeProducing()
        self.assertTrue(connection.transport.connected)


class TimerTests(SynchronousTestCase):

    def test_idleClosed(self):
        """
        A connection with nothing received and no channel open for
        C{idleTimeout} is closed (issue 14, finding 8).
        """
        clock = Clock()
        connection = Connection(ConnectionLimits(idleTimeout=10), clock)
        clock.advance(9)
        connection.send(1, ID["echo"], ["x"])
        clock.advance(10)
        self.assertTrue(connection.transport.connected)
        clock.advance(10)
        self.assertFalse(connection.transport.connected)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_openChannelIsNotIdle(self):
        """
        A connection with a stream open (a locator.connect) is not idle.
        """
        clock = Clock()
        connection = Connection(ConnectionLimits(idleTimeout=10), clock)
        connection.send(1, ID["watch"], [])
        clock.advance(100)
        self.assertTrue(connection.transport.connected)

    def test_slowFrameAborted(self):
        """
        A frame that takes longer than C{frameTimeout} to arrive
        (slowloris) gets its connection aborted; one timer does it.
        """
        clock = Clock()
        connection = Connection(ConnectionLimits(frameTimeout=5), clock)
        data = msgpack.packb([1, ID["echo"], ["x" * 100]])
        # a byte a second: the frame is never complete
        for i in range(9):
            connection.protocol.dataReceived(data[i:i + 1])
            clock.advance(1)
            self.assertTrue(connection.transport.connected)
            self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(1)
        self.assertFalse(connection.transport.connected)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_completeFramesKeepConnection(self):
        """
        Frames that complete, one after the other, are never too slow.
        """
        clock = Clock()
        connection = Connection(ConnectionLimits(frameTimeout=5), clock)
        data = msgpack.packb([1, ID["echo"], ["x"]])
        for channel in range(1, 10):
            data = msgpack.packb([channel, ID["echo"], ["x"]])
            connection.protocol.dataReceived(data[:3])
            clock.advance(3)
            connection.protocol.dataReceived(data[3:])
            clock.advance(3)
        self.assertTrue(connection.transport.connected)

    def test_noTimerWithoutReactor(self):
        connection = Connection(ConnectionLimits(idleTimeout=1))
        self.assertIsNone(connection.protocol._timer)

    def test_timerCancelledOnClose(self):
        clock = Clock()
        connection = Connection(ConnectionLimits(idleTimeout=1), clock)
        connection.transport.loseConnection()
        self.assertEqual(clock.getDelayedCalls(), [])


class ContainerLimitTests(SynchronousTestCase):

    def test_hugeArrayRefused(self):
        """
        An array header past C{maxContainer} closes the connection before
        the array is built (4 M empty arrays in 4 MB).
        """
        connection = Connection(ConnectionLimits(maxContainer=1000))
        connection.protocol.dataReceived(
            b"\x93\x01\x00\xdd" + struct.pack(">I", 4 << 20)
            + b"\x90" * 1000)
        self.assertFalse(connection.transport.connected)


class WritableWaitersTests(SynchronousTestCase):
    """
    L{WritableWaiters}: what a connection's C{whenWritable} keeps, shared
    by the node's server connections and the HTTP gateway's.
    """

    def setUp(self):
        from twisted.logger import Logger
        from cocaine.rpc.flow import WritableWaiters
        self.logged = []
        self.waiters = WritableWaiters(
            Logger(observer=self.logged.append), "{what} failed",
            what="a callback")
        self.called = []

    def test_atOnceWhenNotFull(self):
        self.waiters.add(False, lambda: self.called.append(1))
        self.assertEqual(self.called, [1])

    def test_inOrderUntilPausedAgain(self):
        """
        Waiting callbacks are called in order once the peer reads; one
        that fills the buffer again leaves the rest waiting for the next
        drain.
        """
        full = [False]
        self.waiters.add(True, lambda: self.called.append(1))
        self.waiters.add(True, lambda: (self.called.append(2),
                                        full.__setitem__(0, True)))
        self.waiters.add(True, lambda: self.called.append(3))
        self.waiters.fire(lambda: not full[0])
        self.assertEqual(self.called, [1, 2])
        full[0] = False
        self.waiters.fire(lambda: not full[0])
        self.assertEqual(self.called, [1, 2, 3])

    def test_failureLogged(self):
        """
        A callback that raises is logged with the given fields; the rest
        are still called.
        """
        self.waiters.add(True, lambda: 1 / 0)
        self.waiters.add(True, lambda: self.called.append(2))
        self.waiters.fire(lambda: True)
        self.assertEqual(self.called, [2])
        [event] = self.logged
        self.assertEqual(event["what"], "a callback")
        self.assertIsInstance(event["log_failure"].value, ZeroDivisionError)

    def test_clear(self):
        self.waiters.add(True, lambda: self.called.append(1))
        self.waiters.clear()
        self.waiters.fire(lambda: True)
        self.assertEqual(self.called, [])
