"""
Tests for L{cocaine.engine.session}: one request's machine, driven with
recording fakes of its engine and worker and a L{FakeUpstream} (which
refuses anything sent after the answer ended).
"""

import errno

import msgpack

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.session import Session, SessionMachine
from cocaine.engine.stats import AppStats
from cocaine.errors import EngineBroken, QueueFull
from cocaine.protocol.worker import CLOSE
from cocaine.protocol.idl import STREAMING
from cocaine.rpc.upstream import Upstream
from cocaine.statemachine import initialState
from cocaine.testing import FakeUpstream

NODE = 0x51FF


class RecordingEngine:
    name = "app"

    def __init__(self, events, clock=None):
        self.events = events
        self.stats = AppStats(clock or Clock())

    def sessionFinished(self, session):
        self.events.append("sessionFinished")

    def sessionAbandoned(self, session):
        self.events.append("sessionAbandoned")


class RecordingWorker:
    """
    Stands where a L{cocaine.engine.worker.Worker} would: records the
    messages of the session's channel.
    """

    reason = "no heartbeat within 3s"

    def __init__(self, events, channel=2):
        self.events = events
        self.channel = channel
        self.sent = []

    def assign(self, session, whole=None):
        self.sent.append([self.channel, 0, [session.event]])
        if whole is not None:
            self.sent.append(("together", [self.channel, 0, whole],
                              [self.channel, 2, []]))
        return self.channel

    def send(self, channel, mtype, args):
        self.sent.append([channel, mtype, args])

    def sendClosing(self, channel, mtype, args, endWith):
        self.sent.append(("together", [channel, mtype, args],
                          [channel, endWith, []]))

    def finished(self, channel):
        self.events.append(("finished", channel))


class _RecordingConnection:
    """
    Stands where a server connection would under an L{Upstream}: records
    what it is asked to send.
    """

    _writeFull = False

    def __init__(self):
        self.sent = []
        self._upstreams = {}
        self._dispatch = {}
        self.waiters = []
        self._pack = msgpack.Packer().pack

    def sendMessage(self, channel, mtype, args):
        self.sent.append(("message", channel, mtype, args))

    def whenWritable(self, callback):
        if self._writeFull:
            self.waiters.append(callback)
        else:
            callback()

    def drained(self):
        self._writeFull = False
        waiters, self.waiters = self.waiters, []
        for callback in waiters:
            callback()

    def sendMessages(self, channel, mtype, argsLists, endWith=None):
        self.sent.append(("messages", channel, mtype, argsLists, endWith))

    def sendFrames(self, data):
        self.sent.append(("frames", data))


class _SessionCase(SynchronousTestCase):

    def setUp(self):
        self.events = []
        self.clock = Clock()
        self.engine = RecordingEngine(self.events)
        self.worker = RecordingWorker(self.events)
        self.upstream = FakeUpstream()

    def queued(self, event="echo"):
        return Session(self.engine, event, self.upstream)

    def running(self, event="echo"):
        return Session(self.engine, event, self.upstream, self.worker)

    def responding(self):
        session = self.running()
        session.close()
        del self.worker.sent[:]
        return session

    def orphaned(self):
        session = self.running()
        session.connectionLost()
        del self.worker.sent[:]
        return session

    def state(self, session):
        return session.machine.stateName()

    def assertEnded(self, session):
        """
        The session is over, its client answered (or gone) and its deadline
        cancelled.
        """
        self.assertEqual(self.state(session), "finished")
        self.assertEqual(self.clock.getDelayedCalls(), [])


class QueuedTests(_SessionCase):
    """
    Until a worker takes it, what the client sends is kept, in order.
    """

    def test_initialState(self):
        self.assertEqual(initialState(SessionMachine), "queued")
        session = self.queued()
        self.assertEqual(self.state(session), "queued")
        self.assertIsNone(session.worker)
        self.assertIsNone(session.channel)
        self.assertIn("queued", repr(session))

    def test_bufferedThenFlushedInOrder(self):
        """
        Chunks and the close wait; a worker then gets the invoke, the
        chunks and the close, in that order.
        """
        session = self.queued("upload")
        session.write(b"a")
        session.write(b"b")
        self.assertEqual(self.state(session), "queued")
        session.close()
        self.assertEqual(self.state(session), "queuedEnded")
        self.assertEqual(self.worker.sent, [])
        session.assigned(self.worker)
        self.assertEqual(self.state(session), "responding")
        self.assertEqual(self.worker.sent, [
            [2, 0, ["upload"]], [2, 0, [b"a"]], [2, 0, [b"b"]], [2, 2, []]])
        self.assertIs(session.worker, self.worker)
        self.assertEqual(session.channel, 2)
        self.assertEqual(self.upstream.sent, [])
        self.assertEqual(self.events, [])

    def test_bufferedErrorFlushed(self):
        session = self.queued()
        session.write(b"a")
        session.error([43, 1], "changed my mind")
        session.assigned(self.worker)
        self.assertEqual(self.worker.sent, [
            [2, 0, ["echo"]], [2, 0, [b"a"]],
            [2, 1, [[43, 1], "changed my mind"]]])
        self.assertEqual(self.state(session), "responding")

    def test_lastChunkAndCloseBuffered(self):
        """
        A chunk and the close taken together (C{writeClose}) wait as the
        two would, and follow the invoke one by one.
        """
        session = self.queued()
        session.write(b"a")
        session.writeClose(b"b")
        self.assertEqual((self.state(session), session.chunks),
                         ("queuedEnded", 2))
        session.assigned(self.worker)
        self.assertEqual(self.worker.sent, [
            [2, 0, ["echo"]], [2, 0, [b"a"]], [2, 0, [b"b"]], [2, 2, []]])
        self.assertEqual(self.state(session), "responding")

    def test_wholeQueued(self):
        """
        A whole request (its one chunk and the end of its stream) waits
        as a chunk and a close would, and follows the invoke one by one.
        """
        session = Session(self.engine, "echo", self.upstream, None, [b"b"])
        self.assertEqual((self.state(session), session.chunks),
                         ("queuedEnded", 1))
        session.assigned(self.worker)
        self.assertEqual(self.worker.sent, [
            [2, 0, ["echo"]], [2, 0, [b"b"]], [2, 2, []]])
        self.assertEqual(self.state(session), "responding")

    def test_wholeRunning(self):
        """
        A whole request on a worker goes to it with the invoke (one write,
        L{cocaine.engine.worker.Worker.assign}); the session waits for the
        answer and ends as any other.
        """
        session = Session(self.engine, "echo", self.upstream, self.worker,
                          [b"all"])
        self.assertEqual(self.worker.sent, [
            [2, 0, ["echo"]], ("together", [2, 0, [b"all"]], [2, 2, []])])
        self.assertEqual((self.state(session), session.chunks),
                         ("responding", 1))
        session.fromWorker(self.worker, 2, 0, [b"reply"])
        session.fromWorker(self.worker, 2, CLOSE, [])
        self.assertEqual(self.upstream.sent, [("write", b"reply"), ("close",)])
        self.assertEqual(self.state(session), "finished")

    def test_assignedWithStreamOpen(self):
        """
        Assigned before the client closed: what it sent so far is flushed,
        the rest is forwarded as it comes.
        """
        session = self.queued()
        session.write(b"a")
        session.assigned(self.worker)
        self.assertEqual(self.state(session), "running")
        session.write(b"b")
        session.close()
        self.assertEqual(self.worker.sent, [
            [2, 0, ["echo"]], [2, 0, [b"a"]], [2, 0, [b"b"]], [2, 2, []]])
        self.assertEqual(self.state(session), "responding")

    def test_clientLost(self):
        """
        A queued session whose client went away is abandoned: it leaves
        the queue, nothing is sent anywhere.
        """
        for end in (None, "close"):
            self.setUp()
            session = self.queued()
            if end:
                session.close()
            session.setDeadline(self.clock, 5)
            session.connectionLost()
            self.assertEqual(self.events, ["sessionAbandoned"])
            self.assertEqual(self.upstream.sent, [])
            self.assertEnded(session)

    def test_deadline(self):
        for end in (None, "close"):
            self.setUp()
            session = self.queued("slow")
            if end:
                session.close()
            session.setDeadline(self.clock, 1.5)
            self.clock.advance(1.4)
            self.assertEqual(self.upstream.sent, [])
            self.clock.advance(0.1)
            self.assertEqual(self.upstream.sent, [(
                "error", [NODE, 1],
                "app app: request 'slow' not answered within 1.5s")])
            self.assertEqual(self.events, ["sessionAbandoned"])
            self.assertEnded(session)

    def test_fail(self):
        """
        The engine cannot serve it: the client gets the error; the engine,
        which decided it, is not told again.
        """
        for end in (None, "close"):
            self.setUp()
            session = self.queued()
            if end:
                session.close()
            session.setDeadline(self.clock, 5)
            session.fail(QueueFull("app app: queue full"))
            self.assertEqual(self.upstream.sent,
                             [("error", [NODE, 2], "app app: queue full")])
            self.assertEqual(self.events, [])
            self.assertEnded(session)

    def test_failOnlyOnce(self):
        session = self.queued()
        session.fail(QueueFull("first"))
        session.fail(EngineBroken("second"))
        self.assertEqual(self.upstream.sent,
                         [("error", [NODE, 2], "first")])

    def test_failedSessionIgnoresItsClient(self):
        session = self.queued()
        session.fail(QueueFull("full"))
        session.write(b"late")
        session.close()
        session.connectionLost()
        self.assertEqual(self.upstream.sent, [("error", [NODE, 2], "full")])
        self.assertEqual(self.events, [])
        self.assertEqual(session._pending, [])


class RunningTests(_SessionCase):
    """
    On a worker, both streams flow independently.
    """

    def test_takenAtOnce(self):
        session = self.running("hello")
        self.assertEqual(self.state(session), "running")
        self.assertEqual(self.worker.sent, [[2, 0, ["hello"]]])

    def test_forwarding(self):
        session = self.running()
        session.write(b"one")
        session.write(b"two")
        self.assertEqual(self.worker.sent[1:],
                         [[2, 0, [b"one"]], [2, 0, [b"two"]]])

    def test_requestEnd(self):
        for end, message in (((), [2, 2, []]),
                             (([43, 5], "bad"),
                              [2, 1, [[43, 5], "bad"]])):
            self.setUp()
            session = self.running()
            if end:
                session.error(*end)
            else:
                session.close()
            self.assertEqual(self.worker.sent[1:], [message])
            self.assertEqual(self.state(session), "responding")
            self.assertEqual(self.events, [])

    def test_lastChunkAndClose(self):
        """
        On a worker, a chunk and the close taken together go to it in one
        write; the session then waits for the answer.
        """
        session = self.running()
        session.writeClose(b"all")
        self.assertEqual(self.worker.sent[1:], [
            ("together", [2, 0, [b"all"]], [2, 2, []])])
        self.assertEqual((self.state(session), session.chunks),
                         ("responding", 1))
        self.assertEqual(self.events, [])

    def test_lastChunkAndCloseWhenOrphaned(self):
        """
        Once the client is gone (here: its deadline passed), a chunk and
        close taken together go nowhere, as they would one by one.
        """
        session = self.running()
        session.setDeadline(self.clock, 1)
        self.clock.advance(1)
        sent = list(self.worker.sent)
        session.writeClose(b"late")
        self.assertEqual(self.worker.sent, sent)
        self.assertEqual(self.state(session), "orphaned")

    def test_answerBeforeRequestEnds(self):
        """
        The worker may answer and close while the client still streams:
        the session is over, the client's further chunks go nowhere.
        """
        session = self.running()
        session.fromWorker(self.worker, 2, 0, [b"early"])
        session.fromWorker(self.worker, 2, 2, [])
        self.assertEqual(self.upstream.sent, [("write", b"early"),
                                              ("close",)])
        self.assertEqual(self.events, [("finished", 2), "sessionFinished"])
        session.write(b"ignored")
        session.close()
        self.assertEqual(self.worker.sent, [[2, 0, ["echo"]]])
        self.assertEnded(session)

    def test_workerChunksToClient(self):
        session = self.responding()
        for chunk in (b"a", b"", b"c"):
            session.fromWorker(self.worker, 2, 0, [chunk])
        self.assertEqual(self.upstream.sent,
                         [("write", b"a"), ("write", b""), ("write", b"c")])

    def test_chunksInARow(self):
        """
        Chunks the worker sent in a row reach an upstream without
        C{writeChunks} one by one, in order.
        """
        session = self.responding()
        session.chunksFromWorker([[b"a"], [b""], [b"c"]])
        session.chunksFromWorker([[b"d"]])
        self.assertEqual(self.upstream.sent, [
            ("write", b"a"), ("write", b""), ("write", b"c"),
            ("write", b"d")])

    def test_chunksInARowToUpstream(self):
        """
        A client connection's L{Upstream} takes chunks in a row in one
        write of the connection (one alone as before).
        """
        connection = _RecordingConnection()
        self.upstream = Upstream(connection, 7, STREAMING)
        session = self.responding()
        session.chunksFromWorker([[b"a"], [b"b"]])
        session.chunksFromWorker([[b"c"]])
        self.assertEqual(connection.sent, [
            ("messages", 7, 0, [[b"a"], [b"b"]], None),
            ("message", 7, 0, [b"c"])])

    def test_endAfterToUpstream(self):
        """
        The worker's last chunks and its close, from one read, reach a
        client connection's L{Upstream} in one write, and end the session
        as a close does.
        """
        connection = _RecordingConnection()
        self.upstream = Upstream(connection, 7, STREAMING)
        session = self.responding()
        session.endAfter([[b"a"], [b"b"]], 2, [])
        self.assertEqual(connection.sent, [
            ("messages", 7, 0, [[b"a"], [b"b"]], 2)])
        self.assertTrue(self.upstream.closed)
        self.assertEqual(self.state(session), "finished")
        self.assertEqual(self.engine.stats.ok, 1)
        self.assertIn(("finished", 2), self.events)

    def test_endFramesToUpstream(self):
        """
        The worker's last chunk frames and its close, relayed undecoded,
        reach a client connection's L{Upstream} in one write with their
        channel changed, and end the session as a close does.
        """
        connection = _RecordingConnection()
        self.upstream = Upstream(connection, 7, STREAMING)
        session = self.responding()
        data = b"xx" + msgpack.packb([2, 0, [b"a"]]) + msgpack.packb(
            [2, 2, []])
        self.assertTrue(session.endFrames(data, 2, len(data) - 4))
        self.assertEqual(connection.sent, [
            ("frames", msgpack.packb([7, 0, [b"a"]])
             + msgpack.packb([7, 2, []]))])
        self.assertTrue(self.upstream.closed)
        self.assertEqual(self.state(session), "finished")
        self.assertEqual(self.engine.stats.ok, 1)
        self.assertIn(("finished", 2), self.events)

    def test_endFramesRefused(self):
        """
        A session whose client is not a client connection, or whose
        upstream can send no chunk now, takes no frames and does nothing:
        its worker's connection decodes them.
        """
        data = msgpack.packb([2, 0, [b"a"]]) + msgpack.packb([2, 2, []])
        session = self.responding()
        self.assertFalse(session.endFrames(data, 0, len(data) - 4))
        self.assertEqual(self.upstream.sent, [])
        self.assertEqual(self.state(session), "responding")
        connection = _RecordingConnection()
        self.upstream = Upstream(connection, 7, STREAMING)
        session = self.responding()
        self.upstream.closed = True
        self.assertFalse(session.endFrames(data, 0, len(data) - 4))
        self.assertEqual((connection.sent, self.state(session)),
                         ([], "responding"))

    def test_endAfterWithError(self):
        """
        The worker's last chunks then an error reach the client in that
        order; the session counts as failed.
        """
        connection = _RecordingConnection()
        self.upstream = Upstream(connection, 7, STREAMING)
        session = self.responding()
        session.endAfter([[b"a"]], 1, [[1, 2], b"bad"])
        self.assertEqual(connection.sent[0], ("message", 7, 0, [b"a"]))
        self.assertEqual(connection.sent[1][:3], ("message", 7, 1))
        self.assertEqual(self.state(session), "finished")
        self.assertEqual(self.engine.stats.ok, 0)

    def test_endAfterSendAlone(self):
        """
        An upstream with C{send} alone gets the last chunks one by one,
        then the close.
        """
        session = self.responding()
        session.endAfter([[b"a"], [b"b"]], 2, [])
        self.assertEqual(self.upstream.sent,
                         [("write", b"a"), ("write", b"b"), ("close",)])

    def test_endAfterChunkFails(self):
        """
        When the client's upstream fails on the last chunks (a driver's or
        the gateway's callback raising), the end still reaches it, the
        worker's slot is freed and the session is over; the failure goes
        on to the worker connection, which logs it.
        """
        class Failing:
            def __init__(self):
                self.sent = []

            def send(self, name, *args):
                if name == "write":
                    raise ValueError("boom")
                self.sent.append((name,) + args)

        self.upstream = Failing()
        session = self.responding()
        self.assertRaises(ValueError, session.endAfter, [[b"a"]], 2, [])
        self.assertEqual(self.upstream.sent, [("close",)])
        self.assertEqual(self.state(session), "finished")
        self.assertIn(("finished", 2), self.events)
        self.assertIn("sessionFinished", self.events)

    def test_endFails(self):
        """
        When the client's upstream fails on the end itself, the worker's
        slot is freed and the session is over all the same.
        """
        class Failing:
            def send(self, name, *args):
                raise ValueError("boom")

        self.upstream = Failing()
        session = self.responding()
        self.assertRaises(ValueError, session.fromWorker, self.worker, 2, 2,
                          [])
        self.assertEqual(self.state(session), "finished")
        self.assertIn(("finished", 2), self.events)
        self.assertIn("sessionFinished", self.events)

    def test_endAfterErrorSendAlone(self):
        """
        An upstream with C{send} alone gets the last chunks, then the
        error.
        """
        session = self.responding()
        session.endAfter([[b"a"]], 1, [[1, 2], b"bad"])
        self.assertEqual(self.upstream.sent[0], ("write", b"a"))
        self.assertEqual(self.upstream.sent[1][0], "error")
        self.assertEqual(self.state(session), "finished")

    def test_endAfterClientGone(self):
        """
        Once the client is gone, the last chunks go nowhere; the worker's
        slot is freed.
        """
        session = self.orphaned()
        del self.upstream.sent[:]
        session.endAfter([[b"late"]], 2, [])
        self.assertEqual(self.upstream.sent, [])
        self.assertEqual(self.state(session), "finished")
        self.assertIn(("finished", 2), self.events)

    def test_chunksInARowAnswered(self):
        """
        Once the client has its answer, chunks in a row go nowhere.
        """
        session = self.running()
        session.fromWorker(self.worker, 2, 2, [])
        del self.upstream.sent[:]
        session.chunksFromWorker([[b"late"], [b"later"]])
        self.assertEqual(self.upstream.sent, [])

    def test_upstreamWithSendAlone(self):
        """
        A session answers through its upstream's C{send} and C{error}
        alone: a driver's or a gateway's upstream has no C{write}.
        """
        class SendOnly:
            def __init__(self):
                self.sent = []

            def send(self, name, *args):
                self.sent.append((name,) + args)

            def error(self, reason):
                self.sent.append(("error", reason))

        self.upstream = SendOnly()
        session = self.responding()
        session.fromWorker(self.worker, 2, 0, [b"a"])
        session.fromWorker(self.worker, 2, 0, [])
        session.fromWorker(self.worker, 2, 2, [])
        self.assertEqual(self.upstream.sent,
                         [("write", b"a"), ("write", b""), ("close",)])

    def test_workerClose(self):
        session = self.responding()
        session.setDeadline(self.clock, 5)
        session.fromWorker(self.worker, 2, 2, [])
        self.assertEqual(self.upstream.sent, [("close",)])
        # the worker's slot first, then the engine
        self.assertEqual(self.events, [("finished", 2), "sessionFinished"])
        self.assertEnded(session)

    def test_workerError(self):
        session = self.responding()
        session.fromWorker(self.worker, 2, 1, [[42, 100], b"boom"])
        self.assertEqual(self.upstream.sent, [("error", [42, 100], "boom")])
        self.assertEqual(self.events, [("finished", 2), "sessionFinished"])
        self.assertEnded(session)

    def test_workerErrorWithoutMessage(self):
        session = self.responding()
        session.fromWorker(self.worker, 2, 1, [[43, 7]])
        self.assertEqual(self.upstream.sent, [("error", [43, 7], "")])

    def test_malformedWorkerError(self):
        """
        A worker's error that is not C{[[category, code], message]} goes
        through the one error mapping: invalid argument, naming what came.
        """
        for bad in ([[42], "x"], ["oops"], [], [[b"a", 1], "m"], [None]):
            self.setUp()
            session = self.responding()
            session.fromWorker(self.worker, 2, 1, bad)
            (reply,) = self.upstream.sent
            self.assertEqual(reply[:2], ("error", [7, 2]), bad)
            self.assertIn("malformed error message", reply[2])
            self.assertEqual(self.events,
                             [("finished", 2), "sessionFinished"])
            self.assertEnded(session)

    def test_unknownMessageTypeIgnored(self):
        session = self.responding()
        session.fromWorker(self.worker, 2, 9, [b"?"])
        self.assertEqual(self.upstream.sent, [])
        self.assertEqual(self.state(session), "responding")

    def test_clientLostWhileRunning(self):
        """
        The worker is told with an error on the request stream so its
        handler can stop; the session waits for the worker's end, sending
        nothing to the gone client.
        """
        session = self.running()
        session.setDeadline(self.clock, 5)
        session.connectionLost()
        self.assertEqual(self.worker.sent[1:], [
            [2, 1, [[1, errno.ECONNRESET], "client disconnected"]]])
        self.assertEqual(self.state(session), "orphaned")
        self.assertEqual(self.events, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        session.fromWorker(self.worker, 2, 0, [b"nobody listens"])
        session.fromWorker(self.worker, 2, 2, [])
        self.assertEqual(self.upstream.sent, [])
        self.assertEqual(self.events, [("finished", 2), "sessionFinished"])
        self.assertEnded(session)

    def test_clientLostWhileResponding(self):
        """
        The client already ended its stream: nothing more goes to the
        worker.
        """
        session = self.responding()
        session.connectionLost()
        self.assertEqual(self.worker.sent, [])
        self.assertEqual(self.state(session), "orphaned")
        session.fromWorker(self.worker, 2, 1, [[42, 100], b"late"])
        self.assertEqual(self.upstream.sent, [])
        self.assertEqual(self.events, [("finished", 2), "sessionFinished"])
        self.assertEnded(session)

    def test_deadlineWhileRunning(self):
        """
        Both sides are told: the worker with an error on the request
        stream, the client with the same error; the worker's slot stays
        taken until it ends the response.
        """
        session = self.running("slow")
        session.setDeadline(self.clock, 2)
        self.clock.advance(2)
        message = "app app: request 'slow' not answered within 2s"
        self.assertEqual(self.worker.sent[1:],
                         [[2, 1, [[NODE, 1], message]]])
        self.assertEqual(self.upstream.sent, [("error", [NODE, 1], message)])
        self.assertEqual(self.state(session), "orphaned")
        self.assertEqual(self.events, [])
        session.write(b"too late")
        session.fromWorker(self.worker, 2, 0, [b"too late"])
        session.fromWorker(self.worker, 2, 2, [])
        self.assertEqual(self.worker.sent[2:], [])
        self.assertEqual(self.events, [("finished", 2), "sessionFinished"])
        self.assertEnded(session)

    def test_deadlineWhileResponding(self):
        session = self.responding()
        session.setDeadline(self.clock, 2)
        self.clock.advance(2)
        self.assertEqual(self.worker.sent, [])
        self.assertEqual(self.upstream.sent, [(
            "error", [NODE, 1],
            "app app: request 'echo' not answered within 2s")])
        self.assertEqual(self.state(session), "orphaned")
        session.fromWorker(self.worker, 2, 2, [])
        self.assertEqual(self.events, [("finished", 2), "sessionFinished"])

    def test_deadlineAfterAnswerCancelled(self):
        session = self.running()
        session.setDeadline(self.clock, 2)
        session.fromWorker(self.worker, 2, 2, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEnded(session)

    def test_workerLost(self):
        """
        The worker died: the client gets "worker lost" with the worker's
        reason; the engine is told; the worker, which dropped its
        sessions itself, is not.
        """
        for make in (self.running, self.responding):
            self.setUp()
            session = make()
            session.setDeadline(self.clock, 5)
            session.workerLost(self.worker)
            self.assertEqual(self.upstream.sent, [(
                "error", [NODE, 3], "app app: the worker serving 'echo' was "
                "lost (no heartbeat within 3s)")])
            self.assertEqual(self.events, ["sessionFinished"])
            self.assertEnded(session)

    def test_workerLostWithoutReason(self):
        session = self.running()
        self.worker.reason = None
        session.workerLost(self.worker)
        self.assertIn("(unknown)", self.upstream.sent[0][2])

    def test_workerLostWhileOrphaned(self):
        session = self.orphaned()
        session.workerLost(self.worker)
        self.assertEqual(self.upstream.sent, [])
        self.assertEqual(self.events, ["sessionFinished"])
        self.assertEnded(session)

    def test_failIgnoredOnAWorker(self):
        for make in (self.running, self.responding, self.orphaned):
            self.setUp()
            session = make()
            before = self.state(session)
            session.fail(EngineBroken("broken"))
            self.assertEqual(self.upstream.sent, [])
            self.assertEqual(self.state(session), before)


class FinishedTests(_SessionCase):
    """
    A finished session ignores whatever still comes.
    """

    def everything(self, session):
        session.write(b"late")
        session.close()
        session.writeClose(b"late")
        session.error([1, 2], "late")
        session.fromWorker(self.worker, 2, 0, [b"late"])
        session.fromWorker(self.worker, 2, 2, [])
        session.fromWorker(self.worker, 2, 1, [[1, 2], "late"])
        session.workerLost(self.worker)
        session.connectionLost()
        session.machine.expired(1.0)
        session.fail(QueueFull("late"))

    def test_lateMessagesIgnored(self):
        """
        Every way to finish, then everything again: the client's answer
        stays the one it got, the engine is not told twice, the worker
        gets nothing more.
        """
        ways = {
            "closed": lambda s: s.fromWorker(self.worker, 2, 2, []),
            "errored": lambda s: s.fromWorker(self.worker, 2, 1,
                                              [[42, 1], "x"]),
            "lost": lambda s: s.workerLost(self.worker),
        }
        for name, finish in ways.items():
            self.setUp()
            session = self.running()
            finish(session)
            upstream, events = list(self.upstream.sent), list(self.events)
            sent = list(self.worker.sent)
            self.everything(session)
            self.assertEqual(self.upstream.sent, upstream, name)
            self.assertEqual(self.events, events, name)
            self.assertEqual(self.worker.sent, sent, name)
            self.assertEnded(session)

    def test_queuedWaysIgnoreLateMessages(self):
        for finish in (lambda s: s.connectionLost(),
                       lambda s: s.fail(QueueFull("full"))):
            self.setUp()
            session = self.queued()
            finish(session)
            upstream, events = list(self.upstream.sent), list(self.events)
            self.everything(session)
            self.assertEqual(self.upstream.sent, upstream)
            self.assertEqual(self.events, events)
            self.assertEnded(session)


class ExactlyOnceTests(_SessionCase):
    """
    Whatever happens, the client gets one end (close or error), unless it
    went away; the engine hears of the session once.
    """

    def test_everyPath(self):
        w = self.worker

        def end(session):
            session.fromWorker(w, 2, 2, [])

        paths = [
            # (name, steps, client end, engine calls)
            ("queued fail", [lambda s: s.fail(QueueFull("x"))],
             "error", []),
            ("queued lost", [lambda s: s.connectionLost()],
             None, ["sessionAbandoned"]),
            ("queued expired", [lambda s: self.clock.advance(9)],
             "error", ["sessionAbandoned"]),
            ("served", [lambda s: s.assigned(w), lambda s: s.close(), end],
             "close", ["sessionFinished"]),
            ("client lost", [lambda s: s.assigned(w),
                             lambda s: s.connectionLost(), end],
             None, ["sessionFinished"]),
            ("expired running", [lambda s: s.assigned(w),
                                 lambda s: self.clock.advance(9), end],
             "error", ["sessionFinished"]),
            ("worker lost", [lambda s: s.assigned(w), lambda s: s.close(),
                             lambda s: s.workerLost(w)],
             "error", ["sessionFinished"]),
            ("orphan lost", [lambda s: s.assigned(w),
                             lambda s: s.connectionLost(),
                             lambda s: s.workerLost(w)],
             None, ["sessionFinished"]),
        ]
        for name, steps, clientEnd, engineCalls in paths:
            self.setUp()
            w = self.worker
            session = self.queued()
            session.setDeadline(self.clock, 9)
            for step in steps:
                step(session)
            # and once more everything that could still come
            FinishedTests.everything(self, session)
            ends = [m[0] for m in self.upstream.sent
                    if m[0] in ("close", "error")]
            self.assertEqual(ends, [clientEnd] if clientEnd else [], name)
            self.assertEqual([e for e in self.events
                              if isinstance(e, str)], engineCalls, name)
            self.assertEnded(session)


class TransitionTableTests(SynchronousTestCase):

    def test_undefinedOnlyWhereImpossible(self):
        """
        A queued session is on no worker (no response, no worker loss); a
        session is assigned only from the queue. A second end of the
        client's stream is ignored in every state (the server never sends
        one, an in-process caller might).
        """
        from cocaine.statemachine import undefined
        self.assertEqual(undefined(SessionMachine), [
            ("finished", "assigned"), ("orphaned", "assigned"),
            ("queued", "responseEnded"), ("queued", "workerLost"),
            ("queuedEnded", "responseEnded"), ("queuedEnded", "workerLost"),
            ("responding", "assigned"), ("running", "assigned")])


class _HoldingConnection:
    """
    Stands where a L{cocaine.engine.connection.WorkerConnection} would,
    with its C{holds}: records holds and releases.
    """

    def __init__(self):
        self.held = []
        self.holds = self

    def hold(self, session):
        self.held.append(("hold", session))

    def release(self, session):
        self.held.append(("release", session))


class HoldTests(_SessionCase):
    """
    A streaming session whose client does not take its replies (its
    connection's write buffer is full) holds its worker's connection
    (L{cocaine.engine.pacing.WorkerHolds.hold}) until the client
    reads or the session ends.
    """

    def setUp(self):
        _SessionCase.setUp(self)
        self.client = _RecordingConnection()
        self.upstream = Upstream(self.client, 7, STREAMING)
        self.worker.connection = self.held = _HoldingConnection()

    def test_holdWhileFull(self):
        """
        Chunks written while the client reads cost no hold; the first
        written once its buffer is full hold the worker, once, until the
        client has read.
        """
        session = self.responding()
        session.chunksFromWorker([[b"a"], [b"b"]])
        self.assertEqual(self.held.held, [])
        self.client._writeFull = True
        session.chunksFromWorker([[b"c"], [b"d"]])
        session.chunksFromWorker([[b"e"]])
        self.assertEqual(self.held.held, [("hold", session)])
        self.client.drained()
        self.assertEqual(self.held.held, [("hold", session),
                                          ("release", session)])
        self.client._writeFull = True
        session.chunksFromWorker([[b"f"]])
        self.assertEqual(self.held.held[-1], ("hold", session))
        self.assertEqual(len(self.client.sent), 4)

    def test_releasedAtTheEnd(self):
        """
        A session that ends while it holds the worker releases it: its
        stream will not add to what waits for the client.
        """
        session = self.responding()
        self.client._writeFull = True
        session.chunksFromWorker([[b"a"], [b"b"]])
        session.fromWorker(self.worker, 2, CLOSE, [])
        self.assertEqual(self.held.held, [("hold", session),
                                          ("release", session)])
        self.client.drained()
        self.assertEqual(len(self.held.held), 2)

    def test_releasedWhenTheClientGoes(self):
        session = self.responding()
        self.client._writeFull = True
        session.chunksFromWorker([[b"a"], [b"b"]])
        session.connectionLost()
        self.assertEqual(self.held.held, [("hold", session),
                                          ("release", session)])

    def test_noCallbackOnTheUpstream(self):
        """
        However often a session holds its worker, it leaves nothing on its
        upstream to be called: a client that goes away tells the session
        through the server (its C{connectionLost}, whether or not it had
        ended its request: L{cocaine.rpc.server}), and the session lets go
        then.
        """
        session = self.responding()
        for _ in range(3):
            self.client._writeFull = True
            session.chunksFromWorker([[b"a"], [b"b"]])
            self.client.drained()
        self.assertEqual(len(self.held.held), 6)
        self.assertIsNone(self.upstream._onClose)
        self.client._writeFull = True
        session.chunksFromWorker([[b"c"]])
        session.connectionLost()
        self.assertEqual(self.held.held[-2:], [("hold", session),
                                               ("release", session)])
        self.assertEqual(self.engine.stats.disconnected, 1)

    def test_expired(self):
        """
        After its hold ran out, the session does not hold the worker
        again until its client has read.
        """
        session = self.responding()
        self.client._writeFull = True
        session.chunksFromWorker([[b"a"], [b"b"]])
        session.holdExpired()
        session.chunksFromWorker([[b"c"], [b"d"]])
        self.assertEqual(self.held.held, [("hold", session)])
        self.client.drained()
        self.assertEqual(self.held.held, [("hold", session)])
        self.client._writeFull = True
        session.chunksFromWorker([[b"e"], [b"f"]])
        self.assertEqual(self.held.held, [("hold", session),
                                          ("hold", session)])


class _PacedUpstream(FakeUpstream):
    """
    An upstream of its own (the HTTP gateway's) that says whether its
    client reads.
    """

    writable = True

    def __init__(self):
        FakeUpstream.__init__(self)
        self.waiters = []

    def whenWritable(self, callback):
        self.waiters.append(callback)


class PacedHoldTests(_SessionCase):
    """
    An upstream other than a client connection's that says whether its
    client reads (the HTTP gateway's) holds the worker the same way.
    """

    def setUp(self):
        _SessionCase.setUp(self)
        self.upstream = _PacedUpstream()
        self.worker.connection = self.held = _HoldingConnection()

    def test_hold(self):
        session = self.responding()
        session.chunksFromWorker([[b"a"]])
        self.assertEqual(self.held.held, [])
        self.upstream.writable = False
        session.chunksFromWorker([[b"b"], [b"c"]])
        self.assertEqual(self.held.held, [("hold", session)])
        self.assertEqual(self.upstream.sent, [
            ("write", b"a"), ("write", b"b"), ("write", b"c")])
        self.upstream.writable = True
        [callback] = self.upstream.waiters
        callback()
        self.assertEqual(self.held.held, [("hold", session),
                                          ("release", session)])

    def test_otherUpstreams(self):
        """
        An upstream that cannot say (a driver's) never holds.
        """
        self.upstream = FakeUpstream()
        session = self.responding()
        session.chunksFromWorker([[b"a"]])
        self.assertEqual(self.held.held, [])
