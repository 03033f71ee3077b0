# -*- test-case-name: tests.engine.test_connection -*-
"""
Tests for L{cocaine.engine.connection.WorkerConnection}: what answering a
worker's read writes leaves at the end of that read, and a session's
chunks in a row reach it together.
"""

import msgpack
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine import connection as connectionModule
from cocaine.engine.connection import (
    HELD_MAX, WorkerConnection, WorkerListener)
from cocaine.engine.pacing import HOLD_HEARTBEAT, HOLD_LIMIT
from cocaine.protocol.framing import DEFAULT_MAX_BUFFER, Encoder
from cocaine.protocol.idl import STREAMING
from cocaine.rpc import writes
from cocaine.rpc.upstream import Upstream
from tests.rpc.test_writes import FakeDescriptor


class FakeWorker:
    """
    A handshaken worker whose every routed message is written to a client.
    """

    uuid = "w"
    #: no sessions: every message goes through route
    sessions = {}

    def __init__(self, client):
        self.client = client

    def handshake(self, connection):
        return True

    def heard(self):
        pass

    def connectionLost(self):
        pass

    def route(self, channel, mtype, args):
        writes.write(self.client, msgpack.packb([channel, mtype, args]))


class FakeEngine:
    name = "app"
    maxMessage = DEFAULT_MAX_BUFFER

    def __init__(self, worker, running):
        self.worker = worker
        self.running = set(range(running))

    def workerByUuid(self, uuid):
        return self.worker if uuid == self.worker.uuid else None

    def admits(self, worker, transport):
        return True


class SendPerReadTests(SynchronousTestCase):

    def connect(self, running):
        self.client = FakeDescriptor()
        engine = FakeEngine(FakeWorker(self.client), running)
        connection = WorkerConnection(engine)
        connection.makeConnection(FakeDescriptor())
        connection.dataReceived(msgpack.packb([1, 0, ["w"]]))
        return connection

    def reply(self, connection):
        connection.dataReceived(msgpack.packb([2, 0, [b"a"]]) +
                                msgpack.packb([3, 0, [b"b"]]))
        connection.dataReceived(msgpack.packb([2, 2, []]))

    def test_sentPerRead(self):
        """
        Whatever the number of sessions running, what one read's replies
        write leaves at the end of that read, joined per client: the
        client starts on one worker's replies before the next read.
        """
        for running in (0, 1, 2, 8, 15, 16, 64):
            connection = self.connect(running)
            self.reply(connection)
            self.assertEqual(self.client.sent, [
                msgpack.packb([2, 0, [b"a"]]) + msgpack.packb([3, 0, [b"b"]]),
                msgpack.packb([2, 2, []])], running)

    def test_sendClosing(self):
        """
        A message and the end that followed it leave in one send, packed
        as two messages would be one by one.
        """
        connection = WorkerConnection(FakeEngine(FakeWorker(None), 0))
        transport = FakeDescriptor()
        connection.makeConnection(transport)
        connection.sendClosing(7, 0, [b"last"], 2)
        connection.send(8, 2, [])
        self.assertEqual(transport.sent, [
            msgpack.packb([7, 0, [b"last"]]) + msgpack.packb([7, 2, []]),
            msgpack.packb([8, 2, []])])

    def test_sendRequest(self):
        """
        A whole request (the invoke, one chunk and the close) leaves in one
        send, packed as its three messages would be one by one.
        """
        connection = WorkerConnection(FakeEngine(FakeWorker(None), 0))
        transport = FakeDescriptor()
        connection.makeConnection(transport)
        connection.sendRequest(7, "echo", [b"all"])
        self.assertEqual(transport.sent, [
            msgpack.packb([7, 0, ["echo"]]) + msgpack.packb([7, 0, [b"all"]])
            + msgpack.packb([7, 2, []])])

    def test_listenerBuildsConnections(self):
        """
        L{WorkerListener} builds a L{WorkerConnection} for its engine.
        """
        engine = FakeEngine(FakeWorker(None), 0)
        connection = WorkerListener(engine).buildProtocol(None)
        self.assertIsInstance(connection, WorkerConnection)
        self.assertIs(connection.engine, engine)


class _Session:
    """
    Records what a worker connection hands a session (decoded: it relays
    to no client connection).
    """

    relays = None

    def __init__(self, name, received, fail=False):
        self.name = name
        self.received = received
        self.fail = fail

    def fromWorker(self, worker, channel, mtype, args):
        self.received.append((self.name, mtype, args))

    def chunksFromWorker(self, run):
        if self.fail:
            raise ValueError("boom")
        self.received.append((self.name, "run", run))

    def endAfter(self, run, mtype, args):
        if self.fail:
            raise ValueError("boom")
        self.received.append((self.name, "run then end", run, mtype, args))


class RunTests(SynchronousTestCase):
    """
    Chunks a worker sent in a row for one session reach it together
    (L{cocaine.engine.session.Session.chunksFromWorker}), in the order of
    the stream with everything else.
    """

    def setUp(self):
        self.received = []
        worker = FakeWorker(FakeDescriptor())
        worker.sessions = {2: _Session("a", self.received),
                           3: _Session("b", self.received)}
        self.connection = WorkerConnection(FakeEngine(worker, 0))
        self.connection.makeConnection(FakeDescriptor())
        self.connection.dataReceived(msgpack.packb([1, 0, ["w"]]))

    def feed(self, *messages):
        self.connection.dataReceived(
            b"".join(msgpack.packb(m) for m in messages))

    def test_inARow(self):
        """
        A read's chunks for one session come as one run; its close right
        after them comes with them (L{Session.endAfter}), so the client's
        answer and its end can leave in one write.
        """
        self.feed([2, 0, [b"x"]], [2, 0, [b"y"]], [2, 0, [b"z"]], [2, 2, []])
        self.assertEqual(self.received, [
            ("a", "run then end", [[b"x"], [b"y"], [b"z"]], 2, [])])

    def test_errorAfterRun(self):
        """
        An error that ends the stream right after a run comes with it,
        as a close does.
        """
        self.feed([2, 0, [b"x"]], [2, 1, [[1, 2], "bad"]])
        self.assertEqual(self.received, [
            ("a", "run then end", [[b"x"]], 1, [[1, 2], b"bad"])])

    def test_endAfterFails(self):
        """
        A session failing on its run and end is logged, and the messages
        after it still reach their sessions.
        """
        self.received[:] = []
        self.connection.worker.sessions[2].fail = True
        self.feed([2, 0, [b"x"]], [2, 2, []], [3, 0, [b"y"]])
        self.assertEqual(self.received, [("b", "run", [[b"y"]])])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_interleaved(self):
        """
        Another session's message ends a run: each session hears its
        chunks in order, and nothing overtakes anything.
        """
        self.feed([2, 0, [b"1"]], [2, 0, [b"2"]], [3, 0, [b"3"]],
                  [2, 0, [b"4"]], [3, 2, []], [2, 2, []])
        self.assertEqual(self.received, [
            ("a", "run", [[b"1"], [b"2"]]), ("b", "run", [[b"3"]]),
            ("a", "run", [[b"4"]]), ("b", 2, []), ("a", 2, [])])

    def test_otherSessionEnds(self):
        """
        Another session's close right after a run does not take the run
        with it: the run goes to its own session first.
        """
        self.feed([2, 0, [b"1"]], [3, 2, []], [2, 2, []])
        self.assertEqual(self.received, [
            ("a", "run", [[b"1"]]), ("b", 2, []), ("a", 2, [])])

    def test_notOneValue(self):
        """
        A chunk of other than one value goes on by itself, as before.
        """
        self.feed([2, 0, [b"x"]], [2, 0, []], [2, 0, [b"y", b"z"]])
        self.assertEqual(self.received, [
            ("a", "run", [[b"x"]]), ("a", 0, []), ("a", 0, [b"y", b"z"])])

    def test_lastOfRead(self):
        """
        A run the read ends with reaches the session at the end of that
        read.
        """
        self.feed([2, 0, [b"x"]])
        self.assertEqual(self.received, [("a", "run", [[b"x"]])])

    def test_failureLogged(self):
        """
        A session failing on its run is logged and the read's later
        messages still go on.
        """
        self.connection.worker.sessions[2].fail = True
        self.feed([2, 0, [b"x"]], [3, 0, [b"y"]], [2, 0, [b"z"]])
        self.assertEqual(self.received, [("b", "run", [[b"y"]])])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 2)


class _Profile:
    heartbeatTimeout = 30.0


class _HeldSession:
    expired = 0

    def holdExpired(self):
        self.expired += 1


class _PausableTransport(FakeDescriptor):
    paused = False

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False


class HoldTests(SynchronousTestCase):
    """
    L{cocaine.engine.pacing.WorkerHolds}: the worker is not read while a
    session's client does not take its replies, for L{HOLD_LIMIT} at most.
    """

    def setUp(self):
        self.clock = Clock()
        engine = FakeEngine(FakeWorker(FakeDescriptor()), 0)
        engine.profile = _Profile()
        self.connection = WorkerConnection(engine, self.clock)
        self.transport = _PausableTransport()
        self.connection.makeConnection(self.transport)
        self.connection.dataReceived(msgpack.packb([1, 0, ["w"]]))

    def test_holdAndRelease(self):
        """
        The first hold stops reading; the worker is read again once the
        last session holding it lets go; letting go twice, or without a
        hold, changes nothing.
        """
        a, b = _HeldSession(), _HeldSession()
        self.connection.holds.hold(a)
        self.assertTrue(self.transport.paused)
        self.connection.holds.hold(b)
        self.connection.holds.hold(a)
        self.connection.holds.release(a)
        self.assertTrue(self.transport.paused)
        self.connection.holds.release(a)
        self.connection.holds.release(b)
        self.assertFalse(self.transport.paused)
        self.connection.holds.release(b)
        self.assertFalse(self.transport.paused)
        self.clock.advance(HOLD_HEARTBEAT)
        self.clock.advance(HOLD_HEARTBEAT)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_limit(self):
        """
        A hold runs out after L{HOLD_LIMIT} (never more than a third of
        the heartbeat timeout): the worker is read again, the session is
        told, and it is logged.
        """
        logged = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        session = _HeldSession()
        self.connection.holds.hold(session)
        self.clock.advance(HOLD_LIMIT - 0.1)
        self.assertTrue(self.transport.paused)
        self.clock.advance(0.1)
        self.assertFalse(self.transport.paused)
        self.assertEqual(session.expired, 1)
        self.assertEqual(
            [e["limit"] for e in logged if "limit" in e], [HOLD_LIMIT])
        self.connection.holds.release(session)
        self.assertFalse(self.transport.paused)

        self.connection.engine.profile.heartbeatTimeout = 6.0
        self.connection.holds.hold(session)
        self.clock.advance(2.0)
        self.assertFalse(self.transport.paused)
        self.assertEqual(session.expired, 2)

    def test_heartbeatsWhileHeld(self):
        """
        While the worker is held, and for one more beat after, it is sent
        a heartbeat every L{HOLD_HEARTBEAT}: its own wait unread behind
        its output, and a worker whose heartbeat goes unanswered leaves.
        """
        heartbeat = msgpack.packb([1, 0, []])
        session = _HeldSession()
        self.connection.holds.hold(session)
        self.clock.advance(HOLD_HEARTBEAT)
        self.assertEqual(self.transport.sent, [heartbeat])
        self.connection.holds.release(session)
        self.connection.holds.hold(session)
        self.connection.holds.release(session)
        self.clock.advance(HOLD_HEARTBEAT)
        self.assertEqual(self.transport.sent, [heartbeat, heartbeat])
        self.clock.advance(HOLD_HEARTBEAT)
        self.clock.advance(HOLD_HEARTBEAT)
        self.assertEqual(self.transport.sent, [heartbeat, heartbeat])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_connectionLost(self):
        """
        A connection that drops forgets its holds and their timers.
        """
        self.connection.holds.hold(_HeldSession())
        self.connection.connectionLost(None)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class _ClientConnection:
    """
    What a client connection's L{Upstream} writes to, writing bytes as
    L{cocaine.rpc.server.ServerProtocol} does (its encoder, one write a
    call), and recording which way they came.
    """

    def __init__(self):
        self._pack = Encoder().pack
        self._upstreams = {}
        self._dispatch = {}
        self._writeFull = False
        self.written = []
        self.ways = []

    def sendMessage(self, channel, mtype, args):
        self.ways.append("decoded")
        self.written.append(self._pack([channel, mtype, args]))

    def sendMessages(self, channel, mtype, argsLists, endWith=None):
        self.ways.append("decoded")
        self.written.append(b"".join(
            self._pack([channel, mtype, args]) for args in argsLists) + (
            b"" if endWith is None else self._pack([channel, endWith, []])))

    def sendFrames(self, data):
        self.ways.append("relayed")
        self.written.append(data)


class _RelayedSession:
    """
    A session answering a client connection's L{Upstream}, as
    L{cocaine.engine.session.Session} does once a worker took it.
    """

    def __init__(self, upstream, relay=True):
        self.upstream = upstream
        self.relays = upstream if relay else None
        self.paced = 0
        self.fail = False

    def _pace(self):
        self.paced += 1
        if self.fail:
            raise ValueError("boom")

    def chunksFromWorker(self, run):
        self.upstream.writeChunks(run)

    def endFrames(self, data, start, end):
        if self.relays is None or not self.relays.relayable:
            return False
        if self.fail:
            raise ValueError("boom")
        self.upstream.closeAfterFrames(data, start, end)
        return True

    def endAfter(self, run, mtype, args):
        self.upstream.closeAfter(run)

    def fromWorker(self, worker, channel, mtype, args):
        if mtype == 0:
            self.upstream.writeArgs(args)
        else:
            self.upstream.close()


class RelayTests(SynchronousTestCase):
    """
    A worker's chunk frames reach a client connection undecoded, with only
    their channel changed, and the client gets the bytes decoding and
    packing them again would give.
    """

    def setUp(self):
        # what a compiled build does; from the Python source it decodes
        self.patch(connectionModule, "RELAY", True)

    def connect(self, relay=True, maxMessage=DEFAULT_MAX_BUFFER):
        self.client = _ClientConnection()
        worker = FakeWorker(FakeDescriptor())
        worker.sessions = {
            2: _RelayedSession(Upstream(self.client, 7, STREAMING), relay),
            3: _RelayedSession(Upstream(self.client, 300, STREAMING), relay)}
        engine = FakeEngine(worker, 0)
        engine.maxMessage = maxMessage
        connection = WorkerConnection(engine)
        connection.makeConnection(FakeDescriptor())
        connection.dataReceived(msgpack.packb([1, 0, ["w"]]))
        return connection

    def stream(self):
        """
        A worker's reply stream for two sessions, chunks of every length
        field, as our SDK (bin) and 0.12's msgpack (str) pack them.
        """
        old = msgpack.Packer(use_bin_type=False).pack
        pack = msgpack.Packer(use_bin_type=True).pack
        return b"".join([
            pack([2, 0, [b""]]), pack([2, 0, [b"a" * 200]]),
            old([2, 0, [b"b" * 40]]), old([2, 0, [b"c" * 70000]]),
            pack([3, 0, [b"d" * 300]]), old([3, 0, [b"e"]]),
            pack([2, 0, [b"f"]]), pack([3, 2, []]), pack([2, 0, [b"g"]]),
            pack([2, 2, []])])

    def deliver(self, relay, pieces):
        connection = self.connect(relay)
        data = self.stream()
        for start in range(0, len(data), pieces):
            connection.dataReceived(data[start:start + pieces])
        return b"".join(self.client.written)

    def test_sameBytes(self):
        """
        Whatever the reads' sizes, the client gets the same bytes relayed
        as decoded: channels changed, str chunks as bin, every length
        field as short as msgpack packs it.
        """
        decoded = self.deliver(False, 1 << 20)
        unpacker = msgpack.Unpacker(raw=False)
        unpacker.feed(decoded)
        messages = [(m[0], m[1], [len(a) if isinstance(a, bytes) else a
                                  for a in m[2]]) for m in unpacker]
        self.assertEqual(messages, [
            (7, 0, [0]), (7, 0, [200]), (7, 0, [40]), (7, 0, [70000]),
            (300, 0, [300]), (300, 0, [1]), (7, 0, [1]), (300, 2, []),
            (7, 0, [1]), (7, 2, [])])
        for pieces in (1 << 20, 1, 2, 3, 7, 64, 1000, 4096, 65536):
            self.assertEqual(self.deliver(True, pieces), decoded, pieces)

    def test_relayedWhole(self):
        """
        A read of chunk frames is relayed in one write a run; from a
        single chunk followed by another message (an echo's answer and
        its close) on, what the read holds is decoded.
        """
        connection = self.connect()
        connection.dataReceived(self.stream())
        self.assertEqual(self.client.ways, [
            "relayed", "decoded", "decoded", "decoded", "decoded"])

    def echoes(self):
        """
        Answers of both sessions: a run of chunks and its close as our
        SDK packs them, an echo's chunk and close as 0.12's msgpack does.
        """
        old = msgpack.Packer(use_bin_type=False).pack
        return (msgpack.packb([2, 0, [b"a"]]) * 3
                + msgpack.packb([2, 2, []])
                + old([3, 0, [b"y" * 300]]) + old([3, 2, []]))

    def test_echoRelayed(self):
        """
        An echo's answer, a chunk and the close, is relayed with its close
        in one write (C{Session.endFrames}); the client gets the bytes
        decoding them would give, whatever the reads' sizes.
        """
        connection = self.connect(relay=False)
        connection.dataReceived(self.echoes())
        decoded = b"".join(self.client.written)
        self.assertEqual(set(self.client.ways), {"decoded"})
        connection = self.connect()
        connection.dataReceived(self.echoes())
        self.assertEqual(self.client.ways, ["relayed"] * 2)
        self.assertEqual(b"".join(self.client.written), decoded)
        data = self.echoes()
        for pieces in (1, 2, 5, 13, 64):
            connection = self.connect()
            for start in range(0, len(data), pieces):
                connection.dataReceived(data[start:start + pieces])
            self.assertEqual(b"".join(self.client.written), decoded, pieces)

    def test_notItsClose(self):
        """
        A chunk followed by another channel's close, or by its stream's
        error, is decoded with it.
        """
        for after in ([3, 2, []], [2, 1, [[1, 2], b"bad"]]):
            connection = self.connect()
            connection.dataReceived(msgpack.packb([2, 0, [b"x"]])
                                    + msgpack.packb(after))
            self.assertEqual(set(self.client.ways), {"decoded"}, after)
        # a single chunk that ends the read is relayed
        connection = self.connect()
        connection.dataReceived(msgpack.packb([3, 0, [b"z"]]))
        self.assertEqual(self.client.ways, ["relayed"])

    def test_endRefused(self):
        """
        Chunks and a close that the session does not take (its client is
        not a client connection, or its upstream is closed) are decoded.
        """
        connection = self.connect(relay=False)
        connection.dataReceived(self.echoes())
        self.assertEqual(set(self.client.ways), {"decoded"})
        connection = self.connect()
        for session in connection.worker.sessions.values():
            session.upstream.closed = True
        connection.dataReceived(self.echoes())
        self.assertEqual(self.client.written, [])

    def test_endFailureLogged(self):
        """
        A relayed end that fails is logged; what follows still reaches its
        session.
        """
        connection = self.connect()
        connection.worker.sessions[2].fail = True
        connection.dataReceived(msgpack.packb([2, 0, [b"x"]])
                                + msgpack.packb([2, 2, []])
                                + msgpack.packb([3, 0, [b"y"]])
                                + msgpack.packb([3, 2, []]))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(self.client.written, [
            msgpack.packb([300, 0, [b"y"]]) + msgpack.packb([300, 2, []])])

    def test_cutShortWaits(self):
        """
        A chunk frame cut short by the end of a read waits for its rest:
        nothing of it reaches the decoder or the client before.
        """
        connection = self.connect()
        frame = msgpack.packb([2, 0, [b"x" * 1000]])
        connection.dataReceived(frame[:500])
        self.assertEqual(self.client.written, [])
        self.assertTrue(connection._decoder.drained())
        connection.dataReceived(frame[500:] + frame)
        self.assertEqual(self.client.written, [
            msgpack.packb([7, 0, [b"x" * 1000]]) * 2])
        self.assertEqual(self.client.ways, ["relayed"])

    def test_largeFrameDecoded(self):
        """
        A chunk frame cut short is held for the next read only while what
        is held stays below L{HELD_MAX}: the start of a larger one goes to
        the decoder, whose buffer grows in place (held, each read would
        copy it whole again), and the client gets the same bytes.
        """
        connection = self.connect()
        frame = msgpack.packb([2, 0, [b"x" * (3 * HELD_MAX)]])
        held = []
        for start in range(0, len(frame), 4096):
            connection.dataReceived(frame[start:start + 4096])
            held.append(len(connection._tail or b""))
        self.assertLessEqual(max(held), HELD_MAX)
        self.assertEqual(self.client.written, [
            msgpack.packb([7, 0, [b"x" * (3 * HELD_MAX)]])])
        self.assertEqual(self.client.ways, ["decoded"])
        # and once the decoder is through it, chunks are relayed again
        connection.dataReceived(msgpack.packb([2, 0, [b"y"]]))
        self.assertEqual(self.client.ways, ["decoded", "relayed"])

    def test_notRelaying(self):
        """
        A session that relays to no client connection (a driver's, the
        gateway's, one whose client is answered) has its chunks decoded.
        """
        connection = self.connect(relay=False)
        connection.dataReceived(msgpack.packb([2, 0, [b"x"]]))
        self.assertEqual(self.client.ways, ["decoded"])

    def test_closedUpstream(self):
        """
        An upstream that can take no chunk now has them decoded, which
        sends nothing either.
        """
        connection = self.connect()
        connection.worker.sessions[2].upstream.closed = True
        connection.dataReceived(msgpack.packb([2, 0, [b"x"]]))
        self.assertEqual(self.client.written, [])

    def test_paced(self):
        """
        Each relayed run is followed by the session's pacing, as a decoded
        one is (the client's buffer full holds the worker).
        """
        connection = self.connect()
        connection.dataReceived(msgpack.packb([2, 0, [b"x"]]) * 3
                                + msgpack.packb([3, 0, [b"y"]]))
        self.assertEqual((connection.worker.sessions[2].paced,
                          connection.worker.sessions[3].paced), (1, 1))

    def test_failureLogged(self):
        """
        A relayed run that fails is logged and lost, as a decoded one is;
        what follows still reaches its session.
        """
        connection = self.connect()
        connection.worker.sessions[2].fail = True
        connection.dataReceived(msgpack.packb([2, 0, [b"x"]]) * 2
                                + msgpack.packb([3, 0, [b"y"]]))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(self.client.written, [
            msgpack.packb([7, 0, [b"x"]]) * 2,
            msgpack.packb([300, 0, [b"y"]])])

    def test_tooLarge(self):
        """
        A chunk frame larger than the connection's limit is not relayed
        or held: the decoder refuses it, and the connection is closed.
        """
        connection = self.connect(maxMessage=1024)
        transport = StringTransport()
        connection.transport = transport
        frame = msgpack.packb([2, 0, [b"x" * 2000]])
        connection.dataReceived(frame[:100])
        self.assertIsNone(connection._tail)
        connection.dataReceived(frame[100:])
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.client.written, [])

    def test_tailDroppedWithConnection(self):
        """
        A chunk frame begun when the connection drops is forgotten with
        it.
        """
        connection = self.connect()
        connection.dataReceived(msgpack.packb([2, 0, [b"x" * 100]])[:50])
        connection.connectionLost(None)
        self.assertIsNone(connection._tail)


class RelaySwitchTests(SynchronousTestCase):
    """
    L{cocaine.engine.connection.RELAY}: chunks are relayed where the
    relay is compiled, decoded where it runs from its source.
    """

    def test_followsTheCodec(self):
        from cocaine.compiled import isCompiled
        from cocaine.protocol import relay
        self.assertIs(connectionModule.RELAY, isCompiled(relay))

    def test_decodedWhenOff(self):
        """
        With the relay off, a session that could take relayed chunks
        gets them decoded.
        """
        self.patch(connectionModule, "RELAY", False)
        tests = RelayTests()
        connection = tests.connect()
        connection.dataReceived(msgpack.packb([2, 0, [b"x"]]) * 2)
        self.assertEqual(tests.client.ways, ["decoded"])
        self.assertEqual(tests.client.written, [
            msgpack.packb([7, 0, [b"x"]]) * 2])
