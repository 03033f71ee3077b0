"""
Tests for L{cocaine.engine.worker}: one worker's machine, driven input by
input with a L{Clock}, a L{FakeIsolate} process and a recording engine,
connection and sessions. Every test records what the worker told whom,
in order, and checks that no timer outlives a dead worker.
"""

import signal

import msgpack
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.connection import WorkerConnection, WorkerProcess
from cocaine.engine.manifest import parseProfile
from cocaine.engine.worker import Worker, WorkerMachine
from cocaine.protocol.framing import DEFAULT_MAX_BUFFER
from cocaine.protocol.worker import workerArguments
from cocaine.statemachine import initialState
from cocaine.testing import FakeIsolate

UUID = "5a8f6c1e-0000-4000-8000-000000000001"


class RecordingEngine:
    """
    Stands where the worker's engine would; records what it is told in
    the shared C{events} list.
    """

    name = "app"
    maxMessage = DEFAULT_MAX_BUFFER

    def __init__(self, events):
        self.events = events
        self.idle = True
        self.lines = []
        self.workers = {}
        self.busy = []

    def workerBusyPeriod(self, seconds, served, events):
        self.busy.append((seconds, served, events))

    def admits(self, worker, transport):
        return True

    def workerActive(self, worker):
        self.events.append(("workerActive", worker.uuid))

    def workerLeaving(self, worker):
        self.events.append(("workerLeaving", worker.uuid))

    def workerBroken(self, worker, reason):
        self.events.append(("workerBroken", worker.uuid, reason))

    def workerGone(self, worker):
        self.events.append(("workerGone", worker.uuid))

    def idleAllowed(self, worker):
        return self.idle

    def workerOutputLine(self, line):
        self.lines.append(line)

    def workerByUuid(self, uuid):
        return self.workers.get(uuid)


class RecordingConnection:
    """
    Stands where a L{WorkerConnection} would: records what is sent.
    """

    def __init__(self):
        self.sent = []

    def send(self, channel, mtype, args):
        self.sent.append([channel, mtype, args])

    def sendClosing(self, channel, mtype, args, endWith):
        self.sent.append(("together", [channel, mtype, args],
                          [channel, endWith, []]))

    def sendRequest(self, channel, event, args):
        self.sent.append(("whole", channel, event, args))


class RecordingSession:
    """
    Stands where a L{cocaine.engine.session.Session} would.
    """

    def __init__(self, events, event="echo"):
        self.events = events
        self.event = event
        self.received = []

    def fromWorker(self, worker, channel, mtype, args):
        self.received.append([channel, mtype, args])

    def workerLost(self, worker):
        self.events.append(("workerLost", self.event, worker.uuid))


class _WorkerCase(SynchronousTestCase):
    """
    A worker spawned at time 0 with startup 2 s, heartbeat 3 s, idle 10 s
    and a termination grace of 4 s.
    """

    profile = {"startup-timeout": 2, "heartbeat-timeout": 3,
               "idle-timeout": 10, "termination-timeout": 4,
               "crashlog-limit": 5}

    def setUp(self):
        self.events = []
        self.clock = Clock()
        self.isolate = FakeIsolate()
        self.engine = RecordingEngine(self.events)
        self.worker = Worker(self.engine, UUID, self.clock,
                             parseProfile(self.profile, "test"),
                             self.isolate)
        self.engine.workers[UUID] = self.worker
        self.process = self.isolate.spawn(
            WorkerProcess(self.worker), "/apps/app/worker",
            workerArguments("app", "/run/app.sock", "127.0.0.1:10053", UUID),
            {}, "/apps/app", "app")
        self.worker.started(self.process)
        self.connection = RecordingConnection()

    def activate(self):
        """
        Handshake; forget what that told the engine.
        """
        self.assertTrue(self.worker.handshake(self.connection))
        del self.events[:]

    def assign(self, event="echo"):
        session = RecordingSession(self.events, event)
        channel = self.worker.assign(session)
        return session, channel

    def beat(self):
        self.worker.received(1, 0, [])

    def assertGone(self):
        """
        The worker is dead and nothing of it is left pending.
        """
        self.assertEqual(self.worker.state, "dead")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.worker.sessions, {})


class StartingTests(_WorkerCase):
    """
    A spawned worker waits for its handshake, for at most the startup
    timeout.
    """

    def test_initialState(self):
        self.assertEqual(initialState(WorkerMachine), "starting")
        self.assertEqual(self.worker.state, "starting")
        self.assertEqual(self.worker.pid, self.process.pid)
        self.assertIsNone(self.worker.ending)
        self.assertIsNone(self.worker.reason)

    def test_startupTimerArmed(self):
        (call,) = self.clock.getDelayedCalls()
        self.assertEqual(call.getTime(), 2.0)

    def test_handshakeTaken(self):
        """
        The first handshake makes the worker active: the connection is its
        own, the startup timer stops, the heartbeat and idle timers start
        and the engine is told it can take sessions.
        """
        self.clock.advance(1.5)
        self.assertIs(self.worker.handshake(self.connection), True)
        self.assertEqual(self.worker.state, "active")
        self.assertIs(self.worker.connection, self.connection)
        self.assertEqual(self.events, [("workerActive", UUID)])
        self.assertEqual(sorted(c.getTime()
                                for c in self.clock.getDelayedCalls()),
                         [1.5 + 3, 1.5 + 10])
        self.clock.advance(0.6)
        self.assertEqual(self.process.signals, [])
        self.assertEqual(self.connection.sent, [])

    def test_secondHandshakeRefused(self):
        """
        Only the first handshake of a worker is taken: a second connection
        with the same uuid is refused and changes nothing.
        """
        self.activate()
        other = RecordingConnection()
        self.assertIs(self.worker.handshake(other), False)
        self.assertIs(self.worker.connection, self.connection)
        self.assertEqual(self.worker.state, "active")
        self.assertEqual(self.events, [])

    def test_startupTimeout(self):
        """
        No handshake within startup-timeout: SIGKILL at once, recorded as
        abnormal for a worker that never came up.
        """
        self.clock.advance(1.9)
        self.assertEqual(self.process.signals, [])
        self.clock.advance(0.1)
        self.assertEqual(self.process.signals, [signal.SIGKILL])
        self.assertEqual(self.worker.state, "killed")
        ending = self.worker.ending
        self.assertEqual(ending.reason, "no handshake within 2s")
        self.assertIs(ending.abnormal, True)
        self.assertIs(ending.cameUp, False)
        self.assertEqual(self.events, [("workerLeaving", UUID)])
        # no further escalation: SIGKILL is the end
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.process.end(signal=signal.SIGKILL)
        self.assertEqual(self.events, [("workerLeaving", UUID),
                                       ("workerGone", UUID)])
        self.assertEqual(self.worker.exitStatus, "signal 9")
        self.assertEqual(self.worker.reason, "no handshake within 2s")
        self.assertGone()

    def test_lateHandshakeAfterStartupTimeout(self):
        self.clock.advance(2)
        self.assertIs(self.worker.handshake(self.connection), False)
        self.assertIsNone(self.worker.connection)
        self.assertEqual(self.worker.state, "killed")

    def test_stopWhileStarting(self):
        """
        Nothing to send a terminate on yet: SIGTERM at once, SIGKILL after
        the termination grace.
        """
        self.clock.advance(1)
        self.worker.stop("pool pinned at 0")
        self.assertEqual(self.process.signals, [signal.SIGTERM])
        self.assertEqual(self.worker.state, "signalled")
        self.assertEqual(self.events, [("workerLeaving", UUID)])
        ending = self.worker.ending
        self.assertEqual((ending.reason, ending.abnormal, ending.cameUp),
                         ("pool pinned at 0", False, False))
        # the startup timer no longer matters
        self.clock.advance(3.9)
        self.assertEqual(self.process.signals, [signal.SIGTERM])
        self.clock.advance(0.1)
        self.assertEqual(self.process.signals,
                         [signal.SIGTERM, signal.SIGKILL])
        self.assertEqual(self.worker.state, "killed")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.process.end(signal=signal.SIGKILL)
        self.assertEqual(self.worker.ending.abnormal, False)
        self.assertEqual(self.events[-1], ("workerGone", UUID))
        self.assertGone()

    def test_handshakeWhileSignalledRefused(self):
        self.worker.stop("app stopped")
        self.assertIs(self.worker.handshake(self.connection), False)
        self.assertEqual(self.worker.state, "signalled")

    def test_exitZeroBeforeHandshake(self):
        """
        Even with status 0, leaving before the handshake is a failure to
        start (the engine then fails what waits instead of spawning it
        again and again).
        """
        self.process.end(0)
        ending = self.worker.ending
        self.assertEqual(ending.reason,
                         "process ended (exit 0) before its handshake")
        self.assertIs(ending.abnormal, True)
        self.assertIs(ending.cameUp, False)
        self.assertEqual(self.worker.exitStatus, "exit 0")
        self.assertEqual(self.events, [("workerLeaving", UUID),
                                       ("workerGone", UUID)])
        self.assertGone()

    def test_exitNonZeroBeforeHandshake(self):
        """
        The reason names the last line the worker wrote, even one without
        a line end.
        """
        self.process.protocol.outReceived(b"starting up\n")
        self.process.protocol.errReceived(b"Traceback\nImportError: no x")
        self.process.end(1)
        ending = self.worker.ending
        self.assertEqual(ending.reason, "process ended (exit 1) before its "
                         "handshake: ImportError: no x")
        self.assertIs(ending.abnormal, True)
        self.assertIs(ending.cameUp, False)
        self.assertEqual(list(self.worker.output.lines),
                         ["starting up", "Traceback", "ImportError: no x"])
        self.assertGone()

    def test_signalBeforeHandshake(self):
        self.process.end(exitCode=None, signal=signal.SIGSEGV)
        ending = self.worker.ending
        self.assertEqual(ending.reason, "process ended (signal {}) before its"
                         " handshake".format(int(signal.SIGSEGV)))
        self.assertIs(ending.abnormal, True)
        self.assertEqual(self.worker.exitStatus,
                         "signal {}".format(int(signal.SIGSEGV)))
        self.assertGone()


class ActiveTests(_WorkerCase):
    """
    A handshaken worker takes sessions, answers heartbeats and watches its
    heartbeat and idle timers.
    """

    def test_assignWhole(self):
        """
        A session whose client sent its whole request gets a channel as
        any other; its invoke, chunk and close go in one write.
        """
        self.activate()
        session = RecordingSession(self.events, "ping")
        channel = self.worker.assign(session, [b"all"])
        self.assertEqual(channel, 2)
        self.assertEqual(self.connection.sent,
                         [("whole", 2, "ping", [b"all"])])
        self.assertEqual(self.worker.sessions, {2: session})
        self.assertEqual((self.worker.load, self.worker.accepted), (1, 1))

    def test_assignOpensChannels(self):
        """
        Sessions get channels 2, 3, ... and each starts with an invoke of
        its event.
        """
        self.activate()
        first, one = self.assign("ping")
        second, two = self.assign("pong")
        self.assertEqual((one, two), (2, 3))
        self.assertEqual(self.connection.sent,
                         [[2, 0, ["ping"]], [3, 0, ["pong"]]])
        self.assertEqual(self.worker.sessions, {2: first, 3: second})
        self.assertEqual((self.worker.load, self.worker.accepted), (2, 2))
        self.worker.finished(2)
        self.assertEqual((self.worker.load, self.worker.accepted), (1, 2))
        self.worker.finished(2)
        self.assertEqual(self.worker.sessions, {3: second})

    def test_sendWhileConnected(self):
        self.activate()
        self.worker.send(2, 0, [b"chunk"])
        self.assertEqual(self.connection.sent, [[2, 0, [b"chunk"]]])

    def test_messagesToSessions(self):
        """
        A session's messages go to it; those of unknown channels are
        dropped.
        """
        self.activate()
        session, channel = self.assign()
        self.worker.received(channel, 0, [b"x"])
        self.worker.received(channel, 2, [])
        self.worker.received(77, 0, [b"nobody"])
        self.assertEqual(session.received, [[2, 0, [b"x"]], [2, 2, []]])

    def test_heartbeatAnswered(self):
        self.activate()
        self.beat()
        self.assertEqual(self.connection.sent, [[1, 0, []]])
        self.assertEqual(self.worker.state, "active")

    def test_heartbeatsKeepItAlive(self):
        self.activate()
        self.assign()
        for _ in range(10):
            self.clock.advance(2.9)
            self.beat()
        self.assertEqual(self.process.signals, [])
        self.assertEqual(self.worker.state, "active")

    def test_anyMessageIsASignOfLife(self):
        """
        The heartbeat timeout counts from the worker's last message of any
        kind, not only from its last heartbeat.
        """
        self.activate()
        session, channel = self.assign()
        self.clock.advance(2)
        self.worker.received(channel, 0, [b"x"])
        self.clock.advance(2.9)
        self.assertEqual(self.worker.state, "active")
        self.clock.advance(0.1)
        self.assertEqual(self.worker.state, "killed")

    def test_heartbeatTimeout(self):
        """
        Silent for heartbeat-timeout: SIGKILL, and its sessions are told at
        once, after the engine stopped counting on the worker.
        """
        self.activate()
        self.assign("a")
        self.assign("b")
        self.clock.advance(2)
        self.beat()
        self.clock.advance(2.9)
        self.assertEqual(self.process.signals, [])
        self.clock.advance(0.1)
        self.assertEqual(self.process.signals, [signal.SIGKILL])
        self.assertEqual(self.worker.state, "killed")
        self.assertEqual(self.events, [
            ("workerLeaving", UUID), ("workerLost", "a", UUID),
            ("workerLost", "b", UUID)])
        ending = self.worker.ending
        self.assertEqual((ending.reason, ending.abnormal, ending.cameUp),
                         ("no heartbeat within 3s", True, True))
        self.assertEqual(self.worker.sessions, {})
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.process.end(signal=signal.SIGKILL)
        self.assertEqual(self.events[-1], ("workerGone", UUID))
        self.assertGone()

    def test_idleTimeout(self):
        """
        No session for idle-timeout: terminate with reason "idle", then
        SIGTERM after the grace, then SIGKILL after half of it.
        """
        self.activate()
        for _ in range(4):
            self.clock.advance(2.5)
            self.beat()
        self.assertEqual(self.worker.state, "terminating")
        self.assertIn([1, 1, [1, "idle"]], self.connection.sent)
        # heartbeats are still answered while it finishes: the real
        # framework leaves when one goes unanswered for 5 s
        self.assertEqual(self.connection.sent[-1], [1, 0, []])
        self.assertEqual(self.events, [("workerLeaving", UUID)])
        ending = self.worker.ending
        self.assertEqual((ending.reason, ending.abnormal), ("idle", False))
        self.clock.advance(4)
        self.assertEqual(self.process.signals, [signal.SIGTERM])
        self.clock.advance(2)
        self.assertEqual(self.process.signals,
                         [signal.SIGTERM, signal.SIGKILL])

    def test_idleCountsFromLastSession(self):
        self.activate()
        session, channel = self.assign()
        for _ in range(3):
            self.clock.advance(2.5)
            self.beat()
        self.worker.finished(channel)
        # t = 7.5: idle since 7.5, busy when its timer first fired
        for _ in range(7):
            self.clock.advance(2.5)
            self.beat()
            if self.worker.state != "active":
                break
        self.assertEqual(self.worker.state, "terminating")
        self.assertGreaterEqual(self.clock.seconds(), 17.5)

    def test_notIdleWithSessions(self):
        self.activate()
        self.assign()
        for _ in range(20):
            self.clock.advance(2.5)
            self.beat()
        self.assertEqual(self.worker.state, "active")

    def test_notIdleWhilePinned(self):
        """
        A pinned pool keeps its workers however idle (the engine says no);
        once the engine allows it again, the idle worker leaves.
        """
        self.activate()
        self.engine.idle = False
        for _ in range(20):
            self.clock.advance(2.5)
            self.beat()
        self.assertEqual(self.worker.state, "active")
        self.engine.idle = True
        for _ in range(4):
            self.clock.advance(2.5)
            self.beat()
        self.assertEqual(self.worker.state, "terminating")

    def test_stop(self):
        """
        The engine asks it to go: terminate with the reason, SIGTERM after
        the grace, SIGKILL after max(1, grace / 2).
        """
        self.activate()
        session, channel = self.assign()
        self.clock.advance(1)
        self.worker.stop("app stopped")
        self.assertEqual(self.connection.sent[-1],
                         [1, 1, [1, "app stopped"]])
        self.assertEqual(self.worker.state, "terminating")
        self.assertEqual(self.events, [("workerLeaving", UUID)])
        ending = self.worker.ending
        self.assertEqual((ending.reason, ending.abnormal, ending.cameUp),
                         ("app stopped", False, True))
        # its session goes on
        self.assertEqual(self.worker.sessions, {channel: session})
        self.clock.advance(3.9)
        self.assertEqual(self.process.signals, [])
        self.clock.advance(0.1)
        self.assertEqual(self.process.signals, [signal.SIGTERM])
        self.assertEqual(self.worker.state, "signalled")
        self.clock.advance(1.9)
        self.assertEqual(self.process.signals, [signal.SIGTERM])
        self.clock.advance(0.1)
        self.assertEqual(self.process.signals,
                         [signal.SIGTERM, signal.SIGKILL])
        self.assertEqual(self.worker.state, "killed")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.process.end(signal=signal.SIGKILL)
        self.assertEqual(self.events, [
            ("workerLeaving", UUID), ("workerLost", "echo", UUID),
            ("workerGone", UUID)])
        self.assertIs(self.worker.ending.abnormal, False)
        self.assertGone()

    def test_stopLeftInTime(self):
        self.activate()
        self.worker.stop("pool pinned at 0")
        self.clock.advance(1)
        self.process.end(0)
        self.assertEqual(self.process.signals, [])
        self.assertEqual(self.worker.exitStatus, "exit 0")
        self.assertEqual(self.events, [("workerLeaving", UUID),
                                       ("workerGone", UUID)])
        self.assertGone()

    def test_terminatedNormally(self):
        """
        The worker says it leaves (code 1): its sessions are lost, it gets
        the grace to exit, the app stays healthy.
        """
        self.activate()
        self.assign()
        self.worker.received(1, 1, [1, b"bye"])
        self.assertEqual(self.worker.state, "terminating")
        self.assertEqual(self.events, [("workerLeaving", UUID),
                                       ("workerLost", "echo", UUID)])
        ending = self.worker.ending
        self.assertEqual((ending.reason, ending.abnormal),
                         ("worker terminated", False))
        # nothing sent back
        self.assertEqual(self.connection.sent, [[2, 0, ["echo"]]])
        self.clock.advance(4)
        self.assertEqual(self.process.signals, [signal.SIGTERM])
        self.process.end(0)
        self.assertGone()

    def test_terminatedAbnormally(self):
        """
        Terminate with code 2: the engine hears the worker broke (first, so
        the app is broken before anything else happens), then that it
        leaves.
        """
        self.activate()
        self.assign()
        self.worker.received(1, 1, [2, b"state corrupt"])
        self.assertEqual(self.events, [
            ("workerBroken", UUID, "state corrupt"),
            ("workerLeaving", UUID), ("workerLost", "echo", UUID)])
        ending = self.worker.ending
        self.assertEqual(ending.reason,
                         "worker terminated abnormally: state corrupt")
        self.assertIs(ending.abnormal, True)
        self.process.end(0)
        self.assertIs(self.worker.ending.abnormal, True)
        self.assertGone()

    def test_terminateWithoutArguments(self):
        self.activate()
        self.worker.received(1, 1, [])
        self.assertEqual(self.worker.reason, "worker terminated")
        self.assertNotIn("workerBroken", [e[0] for e in self.events])

    def test_terminateCodeNotAnInteger(self):
        self.activate()
        self.worker.received(1, 1, [b"2", b"x"])
        self.assertEqual(self.worker.reason, "worker terminated")
        self.assertIs(self.worker.ending.abnormal, False)

    def test_connectionLost(self):
        """
        Its connection dropped: its sessions are lost at once; it gets the
        grace to exit, then SIGTERM (nothing to send a terminate on).
        """
        self.activate()
        self.assign()
        self.worker.connectionLost()
        self.assertIsNone(self.worker.connection)
        self.assertEqual(self.worker.state, "terminating")
        self.assertEqual(self.events, [("workerLeaving", UUID),
                                       ("workerLost", "echo", UUID)])
        ending = self.worker.ending
        self.assertEqual((ending.reason, ending.abnormal),
                         ("worker lost its connection", True))
        self.assertEqual(self.connection.sent, [[2, 0, ["echo"]]])
        self.clock.advance(4)
        self.assertEqual(self.process.signals, [signal.SIGTERM])
        self.clock.advance(2)
        self.assertEqual(self.process.signals,
                         [signal.SIGTERM, signal.SIGKILL])
        self.process.end(signal=signal.SIGKILL)
        self.assertGone()

    def test_exitZero(self):
        self.activate()
        self.assign()
        self.process.end(0)
        ending = self.worker.ending
        self.assertEqual((ending.reason, ending.abnormal, ending.cameUp),
                         ("process ended (exit 0)", False, True))
        self.assertEqual(self.events, [
            ("workerLeaving", UUID), ("workerLost", "echo", UUID),
            ("workerGone", UUID)])
        self.assertGone()

    def test_exitNonZero(self):
        self.activate()
        self.process.end(3)
        self.assertEqual(self.worker.reason, "process ended (exit 3)")
        self.assertIs(self.worker.ending.abnormal, True)
        self.assertEqual(self.worker.exitStatus, "exit 3")
        self.assertGone()

    def test_killedBySignal(self):
        self.activate()
        self.process.end(exitCode=None, signal=signal.SIGKILL)
        self.assertEqual(self.worker.reason, "process ended (signal 9)")
        self.assertIs(self.worker.ending.abnormal, True)
        self.assertGone()

    def test_outputLogged(self):
        """
        With log-output, each line goes to the engine; it is kept for the
        crashlog either way.
        """
        engine = RecordingEngine([])
        worker = Worker(engine, UUID, self.clock,
                        parseProfile({"log-output": True}, "test"),
                        self.isolate)
        WorkerProcess(worker).outReceived(b"hello\nwor")
        WorkerProcess(worker).errReceived(b"oops\n")
        self.assertEqual(engine.lines, ["hello", "oops"])
        self.worker.output.feed(1, b"kept\n")
        self.assertEqual(self.engine.lines, [])
        self.assertEqual(list(self.worker.output.lines), ["kept"])


class LeavingTests(_WorkerCase):
    """
    A leaving worker (terminating, signalled, killed) still serves what
    it holds but takes nothing new; only its process's end matters.
    """

    def leave(self):
        self.activate()
        self.session, self.channel = self.assign()
        self.worker.stop("pool pinned at 0")
        del self.events[:]
        del self.connection.sent[:]

    def test_stillForwardsClientChunks(self):
        """
        Its sessions' clients still reach it, and it still reaches them, so
        its handlers can finish.
        """
        self.leave()
        self.worker.send(self.channel, 0, [b"more"])
        self.worker.send(self.channel, 2, [])
        self.worker.sendClosing(self.channel, 0, [b"last"], 2)
        self.assertEqual(self.connection.sent,
                         [[2, 0, [b"more"]], [2, 2, []],
                          ("together", [2, 0, [b"last"]], [2, 2, []])])
        self.worker.received(self.channel, 0, [b"answer"])
        self.assertEqual(self.session.received, [[2, 0, [b"answer"]]])

    def test_nothingSentOnceDisconnected(self):
        self.leave()
        self.worker.connectionLost()
        self.worker.send(self.channel, 0, [b"more"])
        self.worker.sendClosing(self.channel, 0, [b"last"], 2)
        self.assertEqual(self.connection.sent, [])

    def test_connectionLostDropsSessions(self):
        """
        Its connection drops while it leaves: its sessions are lost, the
        escalation goes on, the first reason stays.
        """
        self.leave()
        self.worker.connectionLost()
        self.assertEqual(self.events, [("workerLost", "echo", UUID)])
        self.assertEqual(self.worker.state, "terminating")
        self.assertEqual(self.worker.reason, "pool pinned at 0")
        self.assertIs(self.worker.ending.abnormal, False)
        self.clock.advance(4)
        self.assertEqual(self.process.signals, [signal.SIGTERM])

    def test_laterCausesIgnored(self):
        """
        Whatever else happens while it leaves changes nothing: no second
        terminate, no answer, no broken app, no timer.
        """
        self.leave()
        machine = self.worker.machine
        self.worker.stop("again")
        self.worker.received(1, 1, [2, b"broken"])
        machine.startupTimedOut()
        machine.heartbeatTimedOut()
        machine.idleTimedOut()
        self.assertIs(self.worker.handshake(RecordingConnection()), False)
        self.assertEqual(self.connection.sent, [])
        self.assertEqual(self.events, [])
        self.assertEqual(self.worker.state, "terminating")
        self.assertEqual(self.worker.reason, "pool pinned at 0")
        self.assertEqual(self.process.signals, [])
        (grace,) = self.clock.getDelayedCalls()
        self.assertEqual(grace.getTime(), 4)
        # a heartbeat changes nothing either (whether it is answered is
        # not decided here)
        self.beat()
        self.assertEqual(self.worker.state, "terminating")
        self.assertEqual(self.events, [])

    def test_endedInEachLeavingState(self):
        """
        However its process ends while it leaves, that was expected: the
        first reason stays, sessions are lost, the engine hears it is
        gone, no timer remains.
        """
        for steps, state in (([], "terminating"), ([4], "signalled"),
                             ([4, 2], "killed")):
            self.setUp()
            self.leave()
            self.clock.pump(steps)
            self.assertEqual(self.worker.state, state)
            self.process.end(exitCode=None, signal=signal.SIGKILL)
            self.assertEqual(self.events, [("workerLost", "echo", UUID),
                                           ("workerGone", UUID)], state)
            self.assertEqual(self.worker.reason, "pool pinned at 0")
            self.assertIs(self.worker.ending.abnormal, False)
            self.assertEqual(self.worker.exitStatus, "signal 9")
            self.assertGone()

    def test_stateNames(self):
        """
        The names info maps and logs show, along the longest path.
        """
        names = [self.worker.state]
        self.activate()
        names.append(self.worker.state)
        self.worker.stop("app stopped")
        names.append(self.worker.state)
        self.clock.advance(4)
        names.append(self.worker.state)
        self.clock.advance(2)
        names.append(self.worker.state)
        self.process.end(exitCode=None, signal=signal.SIGKILL)
        names.append(self.worker.state)
        self.assertEqual(names, ["starting", "active", "terminating",
                                 "signalled", "killed", "dead"])
        self.assertEqual(self.events, [("workerLeaving", UUID),
                                       ("workerGone", UUID)])

    def test_graceOfOneSecondAtLeast(self):
        """
        After SIGTERM, SIGKILL waits half the grace, but at least a second.
        """
        self.clock = Clock()
        self.worker = Worker(self.engine, UUID, self.clock,
                             parseProfile({"termination-timeout": 1}),
                             self.isolate)
        self.worker.started(self.process)
        self.worker.handshake(self.connection)
        self.worker.stop("app stopped")
        self.clock.advance(1)
        self.assertEqual(self.process.signals, [signal.SIGTERM])
        self.clock.advance(0.9)
        self.assertEqual(self.process.signals, [signal.SIGTERM])
        self.clock.advance(0.1)
        self.assertEqual(self.process.signals,
                         [signal.SIGTERM, signal.SIGKILL])

    def test_killedIgnoresGrace(self):
        self.leave()
        self.clock.pump([4, 2])
        self.assertEqual(self.worker.state, "killed")
        self.worker.machine.graceExpired()
        self.assertEqual(self.process.signals,
                         [signal.SIGTERM, signal.SIGKILL])
        self.assertEqual(self.worker.state, "killed")


class DeadTests(_WorkerCase):
    """
    A dead worker ignores everything.
    """

    def test_everyInputIgnored(self):
        self.activate()
        self.process.end(0)
        del self.events[:]
        machine = self.worker.machine
        self.assertIs(self.worker.handshake(RecordingConnection()), False)
        self.beat()
        self.worker.received(1, 1, [2, b"late"])
        for name in ("startupTimedOut", "heartbeatTimedOut",
                     "idleTimedOut", "graceExpired"):
            getattr(machine, name)()
        self.worker.stop("late")
        self.worker.connectionLost()
        self.process.end(1)
        self.assertEqual(self.events, [])
        self.assertEqual(self.process.signals, [])
        self.assertEqual(self.connection.sent, [])
        self.assertEqual(self.worker.reason, "process ended (exit 0)")
        self.assertIs(self.worker.ending.abnormal, False)
        self.assertGone()


class ConnectionTests(_WorkerCase):
    """
    The handshake's answer decides what L{WorkerConnection} does.
    """

    def connect(self, uuid=UUID):
        connection = WorkerConnection(self.engine)
        transport = StringTransport()
        connection.makeConnection(transport)
        connection.dataReceived(msgpack.packb([1, 0, [uuid]]))
        return connection, transport

    def test_firstTakenSecondClosed(self):
        first, firstTransport = self.connect()
        self.assertIs(first.worker, self.worker)
        self.assertIs(self.worker.connection, first)
        self.assertFalse(firstTransport.disconnecting)
        second, secondTransport = self.connect()
        self.assertIsNone(second.worker)
        self.assertTrue(secondTransport.disconnecting)
        self.assertIs(self.worker.connection, first)

    def test_heartbeatOnTheWire(self):
        connection, transport = self.connect()
        connection.dataReceived(msgpack.packb([1, 0, []]))
        self.assertEqual(transport.value(), msgpack.packb([1, 0, []]))

    def test_lostConnectionForgetsWorker(self):
        connection, transport = self.connect()
        connection.connectionLost(None)
        self.assertIsNone(connection.worker)
        self.assertIsNone(self.worker.connection)
        self.assertEqual(self.worker.state, "terminating")


class InProcessTests(_WorkerCase):
    """
    A worker run in a thread of the node (the thread isolate) is
    "signalled" through its transport, which closes its connection.
    """

    class ThreadTransport:
        inProcess = True
        pid = None

        def __init__(self):
            self.connection = None
            self.signals = []

        def signalGroup(self, signum):
            self.signals.append(signum)

    def test_signalsThroughTransport(self):
        transport = self.ThreadTransport()
        self.clock = Clock()
        worker = Worker(self.engine, UUID, self.clock,
                        parseProfile({"termination-timeout": 2}),
                        self.isolate)
        worker.started(transport)
        worker.handshake(self.connection)
        self.assertIs(transport.connection, self.connection)
        worker.stop("app stopped")
        self.clock.advance(2)
        self.clock.advance(1)
        self.assertEqual(transport.signals, [signal.SIGTERM, signal.SIGKILL])
        self.assertEqual(self.process.signals, [])


class TransitionTableTests(SynchronousTestCase):
    """
    The machine's table as a whole.
    """

    def test_everyInputDefinedWhereItCanHappen(self):
        """
        Inputs left undefined are only those that cannot happen in that
        state: a starting worker has no connection and no grace timer; an
        active one no startup or grace timer.
        """
        from automat import NoTransition
        from cocaine.statemachine import undefined
        self.assertEqual(undefined(WorkerMachine), [
            ("active", "graceExpired"), ("active", "startupTimedOut"),
            ("starting", "connectionLost"), ("starting", "graceExpired"),
            ("starting", "heartbeat"), ("starting", "heartbeatTimedOut"),
            ("starting", "idleTimedOut"), ("starting", "terminated")])
        worker = Worker(RecordingEngine([]), UUID, Clock(), parseProfile({}),
                        FakeIsolate())
        self.assertRaises(NoTransition, worker.machine.graceExpired)
