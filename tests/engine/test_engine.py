"""
Tests for L{cocaine.engine.engine}, L{cocaine.engine.worker} and
L{cocaine.engine.session} with fakes: a L{Clock}, a fake isolate whose
"processes" are records, and worker connections over L{StringTransport}.
"""

import errno
import signal
import time

import msgpack
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine import pool
from cocaine.engine.engine import AppEngine
from cocaine.engine.manifest import parseManifest, parseProfile
from cocaine.engine.connection import WorkerConnection
from cocaine.engine.service import AppService
from cocaine.protocol.framing import unpackValue
from cocaine.protocol.services import APP, APP_VERSION
from cocaine.rpc import writes
from cocaine.rpc.hosting import HostedService
from cocaine.rpc.limits import ConnectionLimits
from cocaine.rpc.server import ServerProtocol
from cocaine.storage.memory import MemoryStorage
from cocaine.testing import (
    FakeIsolate, FakeReactor, FakeUpstream, admitAnyPeer, runtimeDirectory)


class _EngineCase(SynchronousTestCase):

    profile = {}

    def setUp(self):
        self.clock = FakeReactor()
        self.isolate = FakeIsolate()
        self.storage = MemoryStorage()
        self.engine = AppEngine(
            self.clock, "app", parseManifest({"slave": "worker",
                                              "environment": {"A": "1"}},
                                             "app"),
            parseProfile(self.profile, "test"), "/apps/app", self.isolate,
            runtimeDirectory(self), lambda: "127.0.0.1:10053", self.storage,
            environ={"PATH": "/bin"})
        admitAnyPeer(self.engine)
        self.engine.start()

    def enqueue(self, event="echo", headers=()):
        upstream = FakeUpstream()
        session = self.engine.enqueue(upstream, event, None, headers)
        return upstream, session

    def handshake(self, process):
        """
        Connect C{process}'s worker and handshake; return the connection
        and its transport.
        """
        uuid = process.args[process.args.index("--uuid") + 1]
        connection = WorkerConnection(self.engine, self.clock)
        transport = StringTransport()
        connection.makeConnection(transport)
        connection.dataReceived(msgpack.packb([1, 0, [uuid]]))
        return connection, transport

    def sent(self, transport):
        unpacker = msgpack.Unpacker(raw=False)
        unpacker.feed(transport.value())
        transport.clear()
        return list(unpacker)

    def end(self, process, code=0, signum=None):
        if signum:
            reason = ProcessTerminated(signal=signum)
        elif code:
            reason = ProcessTerminated(exitCode=code)
        else:
            reason = ProcessDone(0)
        process.protocol.processEnded(Failure(reason))


class SpawnTests(_EngineCase):

    def test_argvEnvironmentAndDirectory(self):
        """
        The worker runs as PROTOCOL.md section 6 says.
        """
        self.enqueue()
        (process,) = self.isolate.processes
        self.assertEqual(process.executable, "/apps/app/worker")
        uuid = process.args[-1]
        self.assertEqual(process.args, [
            "--app", "app", "--endpoint", self.engine.socketPath, "--locator",
            "127.0.0.1:10053", "--protocol", "1", "--uuid", uuid])
        self.assertEqual(process.env, {"PATH": "/bin", "A": "1"})
        self.assertEqual(process.cwd, "/apps/app")

    def test_profileEnvironmentOverManifest(self):
        """
        The profile's C{environment} (the operator's) is added over the
        manifest's (the app's).
        """
        self.engine.profile = parseProfile(
            {"environment": {"A": "2", "B": "3"}}, "test")
        self.enqueue()
        (process,) = self.isolate.processes
        self.assertEqual(process.env, {"PATH": "/bin", "A": "2", "B": "3"})

    def test_noWorkerUntilNeeded(self):
        self.assertEqual(self.isolate.processes, [])

    def test_unknownUuidRefused(self):
        connection = WorkerConnection(self.engine)
        transport = StringTransport()
        connection.makeConnection(transport)
        connection.dataReceived(msgpack.packb([1, 0, ["nobody"]]))
        self.assertTrue(transport.disconnecting or transport.disconnected)

    def test_spawnFailureFailsQueue(self):
        self.isolate.fail = OSError("no such file")
        upstream, _ = self.enqueue()
        self.assertEqual(upstream.sent[0][0], "error")
        self.assertEqual(upstream.sent[0][1], [0x51FF, 8])
        self.assertIn("no such file", upstream.sent[0][2])


class SessionFlowTests(_EngineCase):

    def test_queuedChunksFlushedAfterHandshake(self):
        upstream, session = self.enqueue("echo")
        session.write(b"a")
        session.write(b"b")
        session.close()
        _, transport = self.handshake(self.isolate.processes[0])
        self.assertEqual(self.sent(transport), [
            [2, 0, ["echo"]], [2, 0, [b"a"]], [2, 0, [b"b"]], [2, 2, []]])

    def test_responseStreamed(self):
        upstream, session = self.enqueue()
        connection, transport = self.handshake(self.isolate.processes[0])
        connection.dataReceived(msgpack.packb([2, 0, [b"x"]],
                                              use_bin_type=True)
                                + msgpack.packb([2, 2, []]))
        self.assertEqual(upstream.sent, [("write", b"x"), ("close",)])
        self.assertEqual(self.engine.running, set())

    def test_emptyWriteIsAnEmptyChunk(self):
        """
        A worker's C{write} without a chunk reaches the client as an empty
        chunk, never as a C{write} without its argument (which 0.12
        clients cannot decode).
        """
        upstream, _ = self.enqueue()
        connection, _ = self.handshake(self.isolate.processes[0])
        connection.dataReceived(msgpack.packb([2, 0, []])
                                + msgpack.packb([2, 2, []]))
        self.assertEqual(upstream.sent, [("write", b""), ("close",)])

    def test_deadWorkerConnectionClosed(self):
        """
        When a worker's process ends, its connection is closed too (a
        child that inherited the socket must not keep it).
        """
        self.enqueue()
        process = self.isolate.processes[0]
        _, transport = self.handshake(process)
        self.end(process, code=1)
        self.assertTrue(transport.disconnecting)

    def test_workerErrorPassedThrough(self):
        upstream, _ = self.enqueue()
        connection, _ = self.handshake(self.isolate.processes[0])
        connection.dataReceived(msgpack.packb([2, 1, [[42, 100], "boom"]]))
        self.assertEqual(upstream.sent, [("error", [42, 100], "boom")])

    def test_workerMalformedErrorMapped(self):
        """
        A worker's error that is not C{[[category, code], message]} goes
        through the one error mapping: the client gets an invalid-argument
        error naming what came, never "engine broken"; the session ends
        and the worker takes the next one.
        """
        for bad in ([[42], "x"], ["oops"], [], [[b"a", 1], "m"]):
            upstream, _ = self.enqueue()
            if not self.engine.pool.workers or not any(
                    w.connection for w in self.engine.pool.workers.values()):
                connection, _ = self.handshake(self.isolate.processes[0])
            channel = max(w._nextChannel for w in
                          self.engine.pool.workers.values()) - 1
            connection.dataReceived(msgpack.packb([channel, 1, bad]))
            self.assertEqual(len(upstream.sent), 1, bad)
            name, pair, message = upstream.sent[0]
            self.assertEqual((name, pair), ("error", [7, 2]), bad)
            self.assertIn("malformed error message", message)
        self.assertEqual(self.engine.running, set())

    def test_leastLoadedBelowConcurrency(self):
        """
        New sessions go to the active worker with the fewest sessions.
        """
        self.engine.pin(2)
        first, second = self.isolate.processes
        self.handshake(first)
        self.handshake(second)
        for _ in range(4):
            self.enqueue()
        loads = sorted(w.load for w in self.engine.pool.workers.values())
        self.assertEqual(loads, [2, 2])

    def test_handshakeTwiceRefused(self):
        process = self.enqueue() and self.isolate.processes[0]
        self.handshake(process)
        connection = WorkerConnection(self.engine)
        transport = StringTransport()
        connection.makeConnection(transport)
        uuid = process.args[-1]
        connection.dataReceived(msgpack.packb([1, 0, [uuid]]))
        self.assertTrue(transport.disconnecting or transport.disconnected)

    def test_clientGoneWhileQueued(self):
        upstream, session = self.enqueue()
        session.connectionLost()
        self.assertEqual(len(self.engine.queue), 0)

    def test_clientGoneWhileRunning(self):
        """
        The worker is told, with an error on the request stream.
        """
        upstream, session = self.enqueue()
        _, transport = self.handshake(self.isolate.processes[0])
        self.sent(transport)
        session.connectionLost()
        self.assertEqual(self.sent(transport),
                         [[2, 1, [[1, errno.ECONNRESET],
                                  "client disconnected"]]])


class _ClientConnectionCase(_EngineCase):
    """
    Native clients on the app's service (the real L{ServerProtocol} over a
    L{StringTransport}) served by a worker (a L{WorkerConnection}).
    """

    def setUp(self):
        _EngineCase.setUp(self)
        self.engine.pin(1)
        self.worker, self.workerTransport = self.handshake(
            self.isolate.processes[0])
        hosted = HostedService("app", AppService(self.engine), APP,
                               APP_VERSION)
        self.client = ServerProtocol(
            hosted, limits=ConnectionLimits(writeLimit=1 << 20),
            reactor=self.clock)
        self.clientTransport = StringTransport()
        self.client.makeConnection(self.clientTransport)

    def fromClient(self, channel, *messages):
        self.client.dataReceived(b"".join(
            msgpack.packb([channel] + list(m), use_bin_type=True)
            for m in messages))

    def open(self, channel, event, *messages):
        """
        The client opens C{channel} with C{enqueue(event)}, then sends
        C{messages} on it.

        @return: the channel's session (on the worker at once).
        """
        self.fromClient(channel, [0, [event]])
        session = self.client._dispatch[channel].target
        self.assertIs(session.worker.connection, self.worker)
        if messages:
            self.fromClient(channel, *messages)
        return session

    def fromWorker(self, session, *messages):
        self.worker.dataReceived(b"".join(
            msgpack.packb([session.channel] + list(m), use_bin_type=True)
            for m in messages))

    def lose(self):
        self.sent(self.clientTransport)
        self.sent(self.workerTransport)
        self.client.connectionLost(Failure(ConnectionDone()))

    def states(self, *sessions):
        return [s.machine.stateName() for s in sessions]


class ClientConnectionTests(_ClientConnectionCase):
    """
    When a client's connection drops, every session still answering on it
    is told at once, once, whether or not the client had ended its
    request stream. The worker's slot is freed when the worker ends its
    answer, of which nothing more reaches the client.
    """

    def test_goneAfterWholeRequest(self):
        """
        A client that sent its whole request (invoke, chunk, close) goes
        away while the worker streams: the session is orphaned at once
        and counted as disconnected; the worker's further chunks go
        nowhere; its end frees the slot without counting the request
        again.
        """
        session = self.open(1, "stream", [0, [b"9 9"]], [2, []])
        self.fromWorker(session, [0, [b"part"]])
        self.assertEqual(self.sent(self.clientTransport),
                         [[1, 0, [b"part"]]])
        self.lose()
        self.assertEqual(self.states(session), ["orphaned"])
        self.assertEqual(self.engine.stats.disconnected, 1)
        self.fromWorker(session, [0, [b"more"]])
        self.assertEqual(self.clientTransport.value(), b"")
        self.assertEqual(self.engine.running, {session})
        self.fromWorker(session, [2, []])
        self.assertEqual(self.engine.running, set())
        self.assertEqual(self.states(session), ["finished"])
        self.assertEqual((self.engine.stats.ok,
                          self.engine.stats.disconnected), (0, 1))

    def test_wholeRequestInOneRead(self):
        """
        A request a client sends whole, in one read (as every app client
        does), reaches the worker in one write: the invoke, the chunk and
        the close; the session waits for the answer, and its end goes to
        the client and frees the slot.
        """
        self.sent(self.workerTransport)
        self.fromClient(1, [0, ["echo"]], [0, [b"all"]], [2, []])
        [session] = self.engine.running
        channel = session.channel
        self.assertEqual(self.workerTransport.value(), b"".join(
            msgpack.packb(m, use_bin_type=True) for m in (
                [channel, 0, ["echo"]], [channel, 0, [b"all"]],
                [channel, 2, []])))
        self.assertEqual(self.states(session), ["responding"])
        self.fromWorker(session, [0, [b"all"]], [2, []])
        self.assertEqual(self.sent(self.clientTransport),
                         [[1, 0, [b"all"]], [1, 2, []]])
        self.assertEqual((self.engine.running, self.client._dispatch,
                          self.engine.stats.ok), (set(), {}, 1))

    def test_everySessionOfTheConnection(self):
        """
        Of one connection's sessions, each one still answering is told
        once when it drops: one whose client ended its request, one that
        holds the worker for its client (whose buffer is full), one whose
        request is still open (its worker gets an error on the request
        stream, so its handler can stop); one already answered is left
        alone. The hold is let go.
        """
        answered = self.open(1, "echo", [0, [b"a"]], [2, []])
        self.fromWorker(answered, [0, [b"a"]], [2, []])
        ended = self.open(2, "stream", [0, [b"9 9"]], [2, []])
        held = self.open(3, "stream", [0, [b"9 9"]], [2, []])
        sending = self.open(4, "echo", [0, [b"b"]])
        self.client.pauseProducing()
        self.fromWorker(held, [0, [b"part"]])
        self.assertEqual(list(self.worker.holds._holds), [held])
        self.assertEqual(self.workerTransport.producerState, "paused")
        self.lose()
        self.assertEqual(self.states(answered, ended, held, sending),
                         ["finished", "orphaned", "orphaned", "orphaned"])
        self.assertEqual((self.engine.stats.ok,
                          self.engine.stats.disconnected), (1, 3))
        self.assertEqual(self.sent(self.workerTransport), [
            [sending.channel, 1, [[1, errno.ECONNRESET],
                                  "client disconnected"]]])
        self.assertEqual(self.worker.holds._holds, {})
        self.assertEqual(self.workerTransport.producerState, "producing")


class QueuedClientTests(_ClientConnectionCase):
    """
    Clients' requests past the worker's C{concurrency} wait in the queue.
    """

    profile = {"concurrency": 1}

    def test_wholeRequestsQueued(self):
        """
        Whole requests past the worker's concurrency wait in the queue
        with their chunk and close, and reach the worker in order as
        slots free up.
        """
        self.fromClient(1, [0, ["echo"]], [0, [b"one"]], [2, []])
        self.fromClient(2, [0, ["echo"]], [0, [b"two"]], [2, []])
        [queued] = self.engine.queue
        self.assertEqual(self.states(queued), ["queuedEnded"])
        [first] = self.engine.running
        self.sent(self.workerTransport)
        self.fromWorker(first, [2, []])
        self.assertEqual(self.sent(self.workerTransport), [
            [queued.channel, 0, ["echo"]], [queued.channel, 0, [b"two"]],
            [queued.channel, 2, []]])
        self.assertEqual(self.states(queued), ["responding"])


class GroupingTests(_EngineCase):
    """
    While few sessions run, the cheap sessions one read opens go to one
    worker (L{cocaine.engine.pool.Pool.pick}); a request's cost is
    measured per event over the workers' busy periods.
    """

    profile = {"concurrency": 3}

    def setUp(self):
        _EngineCase.setUp(self)
        self.engine.pin(2)
        self.connections = [self.handshake(process)[0]
                            for process in self.isolate.processes]

    def read(self, *events):
        """
        Open a session of each of C{events} as one read does.

        @return: the workers' loads, sorted.
        """
        writes.begin()
        try:
            self.sessions = [self.enqueue(event)[1] for event in events]
        finally:
            writes.end()
        return self.loads()

    def loads(self):
        return sorted(w.load for w in self.engine.pool.workers.values())

    def cheap(self, *events):
        for event in events or ("echo",):
            self.engine.pool.costs[event] = pool.CHEAP / 2

    def test_spreadUntilMeasured(self):
        """
        Before a request of its event was measured, a session is spread.
        """
        self.assertEqual(self.engine.pool.costs, {})
        self.assertEqual(self.read(*["echo"] * 4), [2, 2])

    def test_cheapGroupedPerRead(self):
        """
        Cheap requests of one read go to one worker while it has room
        (C{concurrency}); the next read starts on the least loaded.
        """
        self.cheap()
        self.assertEqual(self.read("echo", "echo"), [0, 2])
        self.assertEqual(self.read("echo"), [1, 2])
        self.assertEqual(self.read(*["echo"] * 3), [3, 3])

    def test_costlySpread(self):
        """
        Requests that cost a worker L{pool.CHEAP} or more are spread, and
        a costly one ends a read's group.
        """
        self.engine.pool.costs["slow"] = pool.CHEAP
        self.assertEqual(self.read(*["slow"] * 4), [2, 2])

    def test_costlyEndsTheGroup(self):
        """
        A costly session between cheap ones of a read ends their group:
        the cheap one after it starts on the least loaded worker again.
        """
        self.cheap()
        self.engine.pool.costs["slow"] = pool.CHEAP
        self.read("echo", "slow", "echo")
        first, slow, last = (s.worker for s in self.sessions)
        self.assertIsNot(first, slow)
        self.assertIs(last, first)
        self.assertEqual(self.loads(), [1, 2])

    def test_notInABatch(self):
        """
        Sessions opened outside any read (a driver's timer, say) are
        spread: each is its own.
        """
        self.cheap()
        self.read("echo")
        self.enqueue("echo")
        self.enqueue("echo")
        self.assertEqual(self.loads(), [1, 2])

    def test_manyRunningSpread(self):
        """
        With L{pool.GROUP_BELOW} sessions running, sessions are spread.
        """
        self.patch(pool, "GROUP_BELOW", 2)
        self.cheap()
        # two grouped, then the third spread
        self.assertEqual(self.read(*["echo"] * 3), [1, 2])

    def test_heldWorkerPassedOver(self):
        """
        A worker a slow client holds (its connection unread) gets no new
        session while another worker has room, though it has fewer; once
        none other has room, it is picked; let go, it is picked again as
        the least loaded.
        """
        held, other = self.connections
        slowClient = object()
        held.holds.hold(slowClient)
        self.assertTrue(held.worker.held)
        for _ in range(3):
            self.assertIs(self.enqueue("echo")[1].worker, other.worker)
        self.assertIs(self.enqueue("echo")[1].worker, held.worker)
        held.holds.release(slowClient)
        self.assertFalse(held.worker.held)
        self.assertIs(self.engine.pool.pick("echo"), held.worker)

    def test_heldWorkerLeavesItsGroup(self):
        """
        The cheap sessions of a read do not follow the one before them to
        a worker a slow client has come to hold since.
        """
        self.cheap()
        writes.begin()
        try:
            first = self.enqueue()[1].worker
            connection = self.connections[[
                c.worker for c in self.connections].index(first)]
            connection.holds.hold(object())
            second = self.enqueue()[1].worker
        finally:
            writes.end()
        self.assertIsNot(second, first)

    def test_heldCleared(self):
        """
        A worker whose connection is gone is no longer held.
        """
        connection = self.connections[0]
        worker = connection.worker
        connection.holds.hold(object())
        connection.connectionLost(Failure(ConnectionDone()))
        self.assertFalse(worker.held)

    def test_leftWorkerNotReused(self):
        """
        A worker that stopped taking sessions is not picked again for the
        rest of the read, nor kept.
        """
        self.cheap()
        writes.begin()
        try:
            first = self.enqueue()[1].worker
            self.engine.pool.workerLeaving(first)
            self.assertIsNone(self.engine.pool._lastPick)
            second = self.enqueue()[1].worker
        finally:
            writes.end()
        self.assertIsNot(first, second)

    def finish(self, session):
        connection = self.connections[
            [w for w in self.engine.pool.workers.values()].index(
                session.worker)]
        connection.dataReceived(msgpack.packb([session.channel, 2, []]))

    def test_costOfBusyPeriods(self):
        """
        A worker's busy period, from taking a session while idle to idle
        again, divided by the sessions it served, is a measure of the
        cost of each event it served: a higher one is taken at once, a
        lower one moves it a quarter of the way; the app's info shows the
        costs.
        """
        self.read("echo")
        self.clock.advance(0.001)
        self.finish(self.sessions[0])
        self.assertAlmostEqual(self.engine.pool.costs["echo"], 0.001)
        self.read("echo", "echo")
        self.clock.advance(0.0001)
        self.finish(self.sessions[0])
        self.clock.advance(0.0001)
        self.finish(self.sessions[1])
        # two workers, one session each: 0.0001 and 0.0002
        self.assertAlmostEqual(self.engine.pool.costs["echo"], 0.001
                               + 0.25 * (0.0001 - 0.001)
                               + 0.25 * (0.0002 - 0.000775))
        self.read("echo")
        self.clock.advance(0.01)
        self.finish(self.sessions[0])
        self.assertAlmostEqual(self.engine.pool.costs["echo"], 0.01)
        self.assertEqual(self.engine.info()["request-cost-us"],
                         {"echo": 10000.0})

    def test_costOfSeveralSessions(self):
        """
        A busy period of several sessions counts each of them, and
        measures each event it served.
        """
        self.cheap("echo", "ping")
        self.assertEqual(self.read("echo", "ping", "echo"), [0, 3])
        self.clock.advance(0.003)
        for session in self.sessions:
            self.finish(session)
        self.assertEqual(self.engine.pool.costs, {"echo": 0.001,
                                                  "ping": 0.001})

    def test_mixedPeriodsOnlyRaise(self):
        """
        A period that served several events may raise their costs but
        not lower them: a costly event served among many cheap ones
        measures low.
        """
        costs = self.engine.pool.costs
        costs.update({"echo": pool.CHEAP / 2, "slow": 0.002})
        self.engine.pool.busyPeriod(0.0016, 16, {"echo", "slow"})
        self.assertEqual(costs, {"echo": 0.0001, "slow": 0.002})
        self.engine.pool.busyPeriod(0.001, 10, {"slow"})
        self.assertAlmostEqual(costs["slow"], 0.002 + 0.25 * (0.0001 - 0.002))

    def test_costsBounded(self):
        """
        At most L{pool.MAX_COSTS} events are kept: the one measured
        longest ago goes.
        """
        self.patch(pool, "MAX_COSTS", 2)
        measure = self.engine.pool.busyPeriod
        measure(0.001, 1, {"a"})
        measure(0.001, 1, {"b"})
        measure(0.001, 1, {"a"})
        measure(0.001, 1, {"c"})
        self.assertEqual(sorted(self.engine.pool.costs), ["a", "c"])

    def test_clockBackMeasuresNothing(self):
        """
        A busy period that ends before it began (the clock stepped back)
        measures nothing.
        """
        self.read("echo")
        self.clock.rightNow -= 5
        self.finish(self.sessions[0])
        self.assertEqual(self.engine.pool.costs, {})


class LimitsTests(_EngineCase):

    profile = {"queue-limit": 3, "pool-limit": 2, "concurrency": 1,
               "grow-threshold": 1}

    def test_queueFull(self):
        results = [self.enqueue()[0] for _ in range(5)]
        rejected = [u for u in results if u.sent]
        self.assertEqual(len(rejected), 2)
        for upstream in rejected:
            self.assertEqual(upstream.sent[0][1], [0x51FF, 2])
        info = self.engine.info()
        self.assertEqual(info["requests"], {"accepted": 3, "rejected": 2})
        self.assertEqual(info["queue"], {"capacity": 3, "depth": 3})

    def test_growsTowardDepthOverThreshold(self):
        for _ in range(3):
            self.enqueue()
        # depth 3 / grow-threshold 1, at most pool-limit 2
        self.assertEqual(len(self.isolate.processes), 2)

    def test_deadlineFromHeader(self):
        upstream, _ = self.enqueue(headers=[(b"request_timeout", b"1.5")])
        self.clock.advance(1.4)
        self.assertEqual(upstream.sent, [])
        self.clock.advance(0.2)
        self.assertEqual(upstream.sent[0][1], [0x51FF, 1])
        self.assertEqual(len([s for s in self.engine.queue if not s.done]),
                         0)

    def test_deadlineFromRepeatedHeaders(self):
        """
        A connection hands the engine the same header list while a
        client's headers repeat: each request still gets the deadline it
        names, and a list without one sets none.
        """
        headers = [(b"request_timeout", b"1.5")]
        first, _ = self.enqueue(headers=headers)
        self.clock.advance(1.0)
        second, _ = self.enqueue(headers=headers)
        third, _ = self.enqueue(headers=[(b"trace_id", b"1")])
        self.clock.advance(0.6)
        self.assertEqual(first.sent[0][1], [0x51FF, 1])
        self.assertEqual(second.sent, [])
        self.clock.advance(1.0)
        self.assertEqual(second.sent[0][1], [0x51FF, 1])
        self.clock.advance(60)
        self.assertEqual(third.sent, [])


class TimeoutTests(_EngineCase):

    profile = {"startup-timeout": 2, "heartbeat-timeout": 3,
               "idle-timeout": 10, "termination-timeout": 1}

    def test_startupTimeout(self):
        upstream, _ = self.enqueue()
        process = self.isolate.processes[0]
        self.clock.advance(2.1)
        self.assertIn(signal.SIGKILL, process.signals)
        self.end(process, signum=signal.SIGKILL)
        # it never served: the waiting client is told rather than left
        self.assertEqual(upstream.sent[0][1], [0x51FF, 8])
        self.assertIn("no handshake within 2s", upstream.sent[0][2])
        (key,) = self.storage.find("crashlogs", ["app"])
        lines = unpackValue(self.storage.read("crashlogs", key))
        self.assertIn(b"no handshake", lines[-1])

    def test_heartbeatKeepsAlive(self):
        self.enqueue()
        process = self.isolate.processes[0]
        connection, transport = self.handshake(process)
        for _ in range(5):
            self.clock.advance(2)
            connection.dataReceived(msgpack.packb([1, 0, []]))
        self.assertEqual(process.signals, [])
        self.assertIn([1, 0, []], self.sent(transport))

    def test_heartbeatTimeout(self):
        upstream, _ = self.enqueue()
        process = self.isolate.processes[0]
        self.handshake(process)
        self.clock.advance(3.1)
        self.assertIn(signal.SIGKILL, process.signals)
        self.assertEqual(upstream.sent[0][1], [0x51FF, 3])

    def test_idleTerminateThenKill(self):
        upstream, session = self.enqueue()
        process = self.isolate.processes[0]
        connection, transport = self.handshake(process)
        connection.dataReceived(msgpack.packb([2, 2, []]))
        self.sent(transport)
        for _ in range(4):
            self.clock.advance(2.5)
            connection.dataReceived(msgpack.packb([1, 0, []]))
        self.assertIn([1, 1, [1, "idle"]], self.sent(transport))
        # terminate, then TERM after termination-timeout, then KILL
        self.clock.advance(1.1)
        self.assertEqual(process.signals, [signal.SIGTERM])
        self.clock.advance(1.1)
        self.assertEqual(process.signals, [signal.SIGTERM, signal.SIGKILL])
        self.end(process, signum=signal.SIGKILL)
        self.assertEqual(self.engine.pool.workers, {})
        self.assertEqual(self.engine.pool.crashlogs, 0)

    def test_crashWritesCrashlog(self):
        self.enqueue()
        process = self.isolate.processes[0]
        self.handshake(process)
        process.protocol.errReceived(b"Traceback (most recent call last)\n"
                                     b"ValueError: bad")
        self.end(process, code=1)
        (key,) = self.storage.find("crashlogs", ["app"])
        timestamp, uuid = key.split(":")
        self.assertEqual(uuid, process.args[-1])
        self.assertGreater(int(timestamp), 10 ** 15)
        # indexed by the UTC day too, as 0.12 does (crashlog list --day)
        day = time.strftime("cocaine-%Y-%m-%d",
                            time.gmtime(int(timestamp) / 1e6))
        self.assertEqual(self.storage.find("crashlogs", ["app", day]), [key])
        lines = unpackValue(self.storage.read("crashlogs", key))
        self.assertEqual(lines[:2], [b"Traceback (most recent call last)",
                                     b"ValueError: bad"])

    def test_crashlogOfNamedNode(self):
        """
        A node on a shared storage puts its name in the key:
        C{<microseconds>:<node>:<worker uuid>}.
        """
        self.engine.pool._crashlogNode = "node-a"
        self.enqueue()
        process = self.isolate.processes[0]
        self.handshake(process)
        self.end(process, code=1)
        (key,) = self.storage.find("crashlogs", ["app"])
        timestamp, node, uuid = key.split(":")
        self.assertEqual((node, uuid), ("node-a", process.args[-1]))
        self.assertGreater(int(timestamp), 10 ** 15)

    def test_terminateCodeTwoBreaksApp(self):
        upstream, _ = self.enqueue()
        process = self.isolate.processes[0]
        connection, _ = self.handshake(process)
        connection.dataReceived(msgpack.packb([1, 1, [2, "corrupt"]]))
        self.assertEqual(self.engine.state, "broken")
        later, _ = self.enqueue()
        self.assertEqual(later.sent[0][1], [0x51FF, 7])
        self.assertIn("corrupt", later.sent[0][2])


class PinAndStopTests(_EngineCase):

    profile = {"termination-timeout": 1}

    def test_pinSpawnsAndShrinks(self):
        self.engine.pin(3)
        self.assertEqual(len(self.isolate.processes), 3)
        for process in self.isolate.processes:
            self.handshake(process)
        self.engine.pin(1)
        stopping = [w for w in self.engine.pool.workers.values()
                    if w.state == "terminating"]
        self.assertEqual(len(stopping), 2)
        self.assertEqual(self.engine.info()["pool"]["pinned"], 1)

    def test_pinClampedAtPoolLimit(self):
        """
        A pin above C{pool-limit} (issue 14, finding 1) is clamped to it,
        as Cocaine 0.12 clamps its pool target, and the clamp is logged
        with both numbers.
        """
        from twisted.logger import globalLogPublisher
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        limit = self.engine.profile.poolLimit
        self.engine.pin(2 ** 63)
        self.assertEqual(len(self.isolate.processes), limit)
        self.assertEqual(self.engine.info()["pool"]["pinned"], limit)
        clamped = [e for e in events if e.get("size") == 2 ** 63]
        self.assertEqual(clamped[0]["limit"], limit)

    def test_pinUpAndDownNeverPastLimit(self):
        """
        Pinning up and down in a loop never holds more processes than
        C{pool-limit}: workers still leaving count against it.
        """
        limit = self.engine.profile.poolLimit
        for _ in range(20):
            self.engine.pin(limit)
            self.engine.pin(0)
        self.engine.pin(limit)
        self.assertLessEqual(len(self.engine.pool.workers), limit)
        self.assertLessEqual(len(self.isolate.processes), limit)

    def test_negativePinScalesByLoad(self):
        """
        A negative pin, however large, returns to scaling by load and
        spawns nothing by itself.
        """
        self.engine.pin(-2 ** 63)
        self.assertIsNone(self.engine.pool.pinned)
        self.assertEqual(self.isolate.processes, [])

    def test_stopDrainsThenTerminates(self):
        upstream, session = self.enqueue()
        process = self.isolate.processes[0]
        connection, transport = self.handshake(process)
        self.sent(transport)
        stopped = self.engine.stop(5)
        refused, _ = self.enqueue()
        self.assertEqual(refused.sent[0][1], [0x51FF, 4])
        self.assertNoResult(stopped)
        connection.dataReceived(msgpack.packb([2, 2, []]))
        self.assertEqual(upstream.sent, [("close",)])
        self.assertIn([1, 1, [1, "app stopped"]], self.sent(transport))
        self.end(process)
        self.successResultOf(stopped)
        self.assertEqual(self.engine.state, "stopped")

    def test_stopTimeoutLosesSessions(self):
        upstream, _ = self.enqueue()
        process = self.isolate.processes[0]
        self.handshake(process)
        stopped = self.engine.stop(2)
        self.clock.advance(2.1)
        self.clock.advance(1.1)
        self.assertEqual(process.signals, [signal.SIGTERM])
        self.clock.advance(1.1)
        self.assertEqual(process.signals, [signal.SIGTERM, signal.SIGKILL])
        self.end(process, signum=signal.SIGKILL)
        self.successResultOf(stopped)
        self.assertEqual(upstream.sent[0][1], [0x51FF, 3])


class LogOutputTests(_EngineCase):
    """
    With C{log-output}, each line a worker prints is logged under the
    app's name; it is kept for the crashlog either way.
    """

    profile = {"log-output": True, "crashlog-limit": 2}

    def test_linesLogged(self):
        from twisted.logger import Logger
        events = []
        self.engine.log = Logger(namespace="cocaine.app.app",
                                 observer=events.append)
        self.enqueue()
        process = self.isolate.processes[0]
        process.protocol.outReceived(b"one\ntw")
        process.protocol.outReceived(b"o\nthree\n")
        lines = [e for e in events if "line" in e]
        self.assertEqual([e["line"] for e in lines], ["one", "two", "three"])
        self.assertEqual({e["log_namespace"] for e in lines},
                         {"cocaine.app.app"})
        worker = next(iter(self.engine.pool.workers.values()))
        self.assertEqual(list(worker.output.lines), ["two", "three"])


class StalledSessionTests(_EngineCase):
    """
    Sessions whose clients never close their request streams (issue 14,
    finding 8) are ended after C{session-idle-timeout}.
    """

    profile = {"session-idle-timeout": 10, "pool-limit": 1,
               "concurrency": 2, "queue-limit": 2}

    def test_neverClosedSessionsEnded(self):
        """
        Sessions that fill every worker slot and queue place without ever
        sending are ended with an error naming the setting; the app serves
        others again.
        """
        held = [self.enqueue() for _ in range(2)]
        connection, transport = self.handshake(self.isolate.processes[0])
        held += [self.enqueue() for _ in range(2)]
        refused, _ = self.enqueue()
        self.assertEqual(refused.sent[0][1], [0x51FF, 2])   # queue full
        for _ in range(3):
            self.clock.advance(5)
        for upstream, session in held:
            self.assertEqual(upstream.sent[-1][0], "error")
            self.assertIn("session-idle-timeout", upstream.sent[-1][2])
        # the worker is told, as for a deadline
        self.assertIn([2, 1], [m[:2] for m in self.sent(transport)])
        served, _ = self.enqueue()
        self.assertEqual(served.sent, [])
        self.assertEqual(len(self.engine.queue), 1)

    def test_progressKeepsSession(self):
        """
        A client that keeps sending is not stalled; one that closed its
        stream is not either (the worker answers in its own time).
        """
        sending, session = self.enqueue()
        closed, other = self.enqueue()
        other.close()
        for _ in range(10):
            session.write(b"x")
            self.clock.advance(5)
        self.assertEqual(sending.sent, [])
        self.assertEqual(closed.sent, [])

    def test_oneTimer(self):
        """
        One timer per engine however many sessions, none once idle.
        """
        for _ in range(3):
            self.enqueue()
        self.assertEqual(len([c for c in self.clock.getDelayedCalls()
                              if "sweep" in repr(c).lower()]), 1)

    def test_off(self):
        """
        C{session-idle-timeout: null} turns it off.
        """
        self.assertIsNone(parseProfile({"session-idle-timeout": None},
                                       "p").sessionIdleTimeout)
        self.assertEqual(parseProfile({}, "p").sessionIdleTimeout, 300.0)
