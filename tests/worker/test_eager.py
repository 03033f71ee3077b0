# -*- test-case-name: tests.worker.test_eager -*-
"""
Tests for how L{cocaine.worker.worker.Worker} starts coroutine handlers:
stepped outside any task once the read that invoked them is dispatched,
and on in a task only once they suspend.

The worker is fed reads from loop callbacks, outside any task, as its
connection's C{buffer_updated} is; its messages are recorded in memory.
"""

import asyncio
import contextvars
import io
import sys

import msgpack
from twisted.trial.unittest import SynchronousTestCase

from cocaine.protocol.framing import Decoder
from cocaine.worker.eager import ResumedHandler
from cocaine.worker.worker import (
    EAGER_START, ENV_EAGER, Worker, runLoop)

TERMINATED = [[42, 300], "worker is terminating: the handler did not finish"]

#: for the tests of how the worker steps handlers itself (before 3.12)
ownStep = "Python 3.12 and later: asyncio starts the handler's task eagerly"
#: for the tests of asyncio's eager start
eagerStart = "Python before 3.12: the worker steps the handler itself"


def waitsForAChunk(ends):
    """
    @return: a handler that waits for a chunk and appends C{"cancelled"}
        to C{ends} when that wait is cancelled.
    """
    async def waits(request, response):
        try:
            await request.read()
        except asyncio.CancelledError:
            ends.append("cancelled")
            raise
    return waits


class Recorder:
    """
    A worker's connection: keeps what the worker sends, decoded.
    """

    def __init__(self):
        self.sent = []

    def send(self, channel, kind, args):
        self.sent.append([channel, kind, args])

    def write(self, data):
        self.sent.append(msgpack.unpackb(data))

    async def drain(self):
        pass

    def channel(self, channel):
        return [message for message in self.sent if message[0] == channel]


def pack(*messages):
    return b"".join(msgpack.packb(message) for message in messages)


class EagerTests(SynchronousTestCase):
    """
    Coroutine handlers on asyncio's own event loop.
    """

    loopFactory = staticmethod(asyncio.new_event_loop)

    def setUp(self):
        self.stderr = io.StringIO()
        self.patch(sys, "stderr", self.stderr)

    def serve(self, handlers, *reads, turns=4, environ=None, stop=False,
              **kwargs):
        """
        Serve C{handlers}, feeding each of C{reads} from a loop callback,
        outside any task, and letting the loop run C{turns} turns after
        each; a read that is a callable is called instead (with the
        worker).

        @param stop: wait (5 s at most) for the worker to stop serving
            after the last read.
        @return: C{(worker, recorder, tasks)}: the messages the worker
            sent are in C{recorder.sent}; C{tasks} lists the coroutines of
            the tasks created meanwhile.
        """
        recorder = Recorder()
        tasks = []
        if environ is not None:
            self.patch(sys.modules["os"], "environ", environ)
        # eager unless a test says otherwise (the default depends on the
        # Python version: test_defaultEager)
        kwargs.setdefault("eager", True)
        worker = Worker(app="app", endpoint="/nonexistent", uuid="uuid",
                        argv=[], heartbeatInterval=60, terminateGrace=0.01,
                        **kwargs)
        for event, handler in handlers.items():
            worker.on(event, handler)

        async def main():
            loop = worker._loop = asyncio.get_running_loop()
            worker._connection = worker._sender = recorder
            worker._decoder = Decoder()
            worker._done = loop.create_future()

            def factory(loop, coro, **kwargs):
                tasks.append(coro)
                return asyncio.Task(coro, loop=loop, **kwargs)

            loop.set_task_factory(factory)
            for read in reads:
                if callable(read):
                    loop.call_soon(read, worker)
                else:
                    loop.call_soon(worker._received, read)
                for _ in range(turns):
                    await asyncio.sleep(0)
            if stop:
                await asyncio.wait_for(worker._done, 5)
            loop.set_task_factory(None)

        runLoop(main(), self.loopFactory)
        return worker, recorder, tasks

    def test_noSuspensionNoTask(self):
        """
        A coroutine handler that ends without suspending (the read brought
        its chunks and close) runs without a task: no task is created and
        C{asyncio.current_task()} is L{None} in it; its response is closed
        for it.
        """
        seen = []

        async def echo(request, response):
            seen.append(asyncio.current_task())
            async for chunk in request:
                response.write(chunk)

        worker, recorder, tasks = self.serve(
            {"echo": echo},
            pack([2, 0, ["echo"]], [2, 0, [b"a"]], [2, 0, [b"b"]],
                 [2, 2, []], [3, 0, ["echo"]], [3, 2, []]))
        self.assertEqual(tasks, [])
        self.assertEqual(seen, [None, None])
        self.assertEqual(recorder.sent, [
            [2, 0, [b"a"]], [2, 0, [b"b"]], [2, 2, []], [3, 2, []]])
        self.assertEqual(worker._sessions, {})

    if EAGER_START:
        test_noSuspensionNoTask.skip = ownStep

    def test_receivedSaysNoTask(self):
        """
        A read whose coroutine handlers all end in it tells the connection
        that nothing will write in the loop's next turn; one whose handler
        suspends tells it something may.
        """
        async def echo(request, response):
            async for chunk in request:
                response.write(chunk)

        results = []
        self.serve({"echo": echo},
                   lambda worker: results.append(worker._received(pack(
                       [2, 0, ["echo"]], [2, 2, []]))),
                   lambda worker: results.append(worker._received(pack(
                       [3, 0, ["echo"]]))))
        self.assertEqual(results, [False, True])

    def test_suspendedGetsLaterChunk(self):
        """
        A coroutine handler that waits for a chunk a later read brings goes
        on in a task, the one its session holds, and gets the chunk;
        C{asyncio.current_task()} is that task after its first suspension.
        """
        seen = []

        async def echo(request, response):
            seen.append(asyncio.current_task())
            response.write(b"first")
            chunk = await request.read()
            seen.append(asyncio.current_task())
            response.write(chunk)
            self.assertIsNone(await request.read())

        worker, recorder, tasks = self.serve(
            {"echo": echo},
            pack([2, 0, ["echo"]]),
            lambda worker: seen.append(worker._sessions[2][2]),
            pack([2, 0, [b"later"]], [2, 2, []]))
        self.assertEqual(len(tasks), 1)
        self.assertIsInstance(tasks[0], ResumedHandler)
        self.assertIsNone(seen[0])
        self.assertIsInstance(seen[1], asyncio.Task)
        self.assertIs(seen[2], seen[1])
        self.assertTrue(seen[1].done())
        self.assertIsNone(seen[1].result())
        self.assertEqual(recorder.sent, [
            [2, 0, [b"first"]], [2, 0, [b"later"]], [2, 2, []]])
        self.assertEqual(worker._sessions, {})

    if EAGER_START:
        test_suspendedGetsLaterChunk.skip = ownStep

    def test_eagerStart(self):
        """
        From Python 3.12 on, a coroutine handler runs in a task from its
        start, the one its session holds once it waits, started eagerly:
        C{asyncio.timeout()} works before its first wait, and a handler
        that ends in its first step leaves no session behind.
        """
        seen = []

        async def echo(request, response):
            seen.append(asyncio.current_task())
            async with asyncio.timeout(5):
                chunk = await request.read()
            seen.append(asyncio.current_task())
            response.write(chunk)

        worker, recorder, tasks = self.serve(
            {"echo": echo},
            pack([2, 0, ["echo"]], [3, 0, ["echo"]], [3, 0, [b"now"]]),
            lambda worker: seen.append(
                (list(worker._sender.sent), list(worker._sessions))),
            lambda worker: seen.append(worker._sessions[2][2]),
            pack([2, 0, [b"later"]]))
        self.assertIsInstance(seen[0], asyncio.Task)
        self.assertIsInstance(seen[1], asyncio.Task)
        self.assertIsNot(seen[0], seen[1])
        self.assertIs(seen[2], seen[1])
        self.assertEqual(seen[3], ([[3, 0, [b"now"]], [3, 2, []]], [2]))
        self.assertIs(seen[4], seen[0])
        self.assertIs(seen[5], seen[0])
        self.assertEqual(recorder.channel(2), [[2, 0, [b"later"]],
                                               [2, 2, []]])
        self.assertEqual(worker._sessions, {})

    if not EAGER_START:
        test_eagerStart.skip = eagerStart

    def test_contextOfItsOwn(self):
        """
        A coroutine handler runs in a context of its own, as in a task: a
        context variable it sets is not seen by the next handler, nor by
        the worker after the read, and is still set after it waited.
        """
        variable = contextvars.ContextVar("variable", default="unset")
        seen = []

        async def sets(request, response):
            seen.append(variable.get())
            variable.set(request.channel)
            await request.read()
            seen.append(variable.get())

        worker, recorder, tasks = self.serve(
            {"sets": sets},
            pack([2, 0, ["sets"]], [3, 0, ["sets"]], [3, 2, []]),
            lambda worker: seen.append(variable.get()),
            pack([2, 0, [b"a"]]))
        self.assertEqual(seen, ["unset", "unset", 3, "unset", 2])

    def test_sessionsInOrder(self):
        """
        The handlers a read invoked start in the order of their invokes,
        plain and coroutine alike, and each session's messages keep their
        order whether its handler suspends or not.
        """
        async def echo(request, response):
            async for chunk in request:
                response.write(chunk)

        def ping(request, response):
            response.write(b"pong")

        worker, recorder, tasks = self.serve(
            {"echo": echo, "ping": ping},
            pack([2, 0, ["echo"]], [3, 0, ["ping"]], [4, 0, ["echo"]],
                 [4, 0, [b"x"]], [2, 0, [b"y"]], [4, 2, []]),
            pack([2, 0, [b"z"]], [2, 2, []]))
        self.assertEqual(recorder.sent, [
            [2, 0, [b"y"]], [3, 0, [b"pong"]], [3, 2, []], [4, 0, [b"x"]],
            [4, 2, []], [2, 0, [b"z"]], [2, 2, []]])

    def assertFailedWithBoom(self, recorder, log):
        self.assertEqual(recorder.sent, [
            [2, 0, [b"before"]], [2, 1, [[42, 100], "ValueError: boom"]]])
        self.assertIn("handler of event 'fails' on channel 2 raised "
                      "ValueError: boom", log)
        self.assertIn('raise ValueError("boom")', log)

    def test_raisesBeforeSuspending(self):
        """
        A coroutine handler that raises before it suspends fails its
        response with C{[[42, 100], "<type>: <message>"]}, the traceback
        on stderr, without a task.
        """
        async def fails(request, response):
            response.write(b"before")
            raise ValueError("boom")

        worker, recorder, tasks = self.serve(
            {"fails": fails}, pack([2, 0, ["fails"]]))
        self.assertFailedWithBoom(recorder, self.stderr.getvalue())
        self.assertEqual(worker._sessions, {})

    def test_raisesAfterSuspending(self):
        """
        A coroutine handler that raises after it suspended fails its
        response the same way.
        """
        async def fails(request, response):
            response.write(b"before")
            await request.read()
            raise ValueError("boom")

        worker, recorder, tasks = self.serve(
            {"fails": fails}, pack([2, 0, ["fails"]]),
            pack([2, 0, [b"a"]]))
        self.assertFailedWithBoom(recorder, self.stderr.getvalue())
        self.assertEqual(worker._sessions, {})

    def test_cancelledAtTermination(self):
        """
        A handler still suspended when the terminate grace runs out is
        cancelled: the cancellation reaches its coroutine, its response is
        failed as the terminating worker fails it, and the terminate is
        answered.
        """
        ends = []
        waits = waitsForAChunk(ends)

        worker, recorder, tasks = self.serve(
            {"waits": waits}, pack([2, 0, ["waits"]]),
            pack([1, 1, [1, "bye"]]), stop=True)
        self.assertEqual(worker._done.result(), 0)
        self.assertEqual(ends, ["cancelled"])
        self.assertEqual(recorder.channel(2), [[2, 1, TERMINATED]])
        self.assertIn([1, 1, [1, "bye"]], recorder.sent)
        self.assertIn("cancelled the handler of event 'waits' on channel 2",
                      self.stderr.getvalue())

    def test_cancelledBeforeItsTaskRuns(self):
        """
        A suspended handler's task cancelled before its first step still
        throws the cancellation into the handler's coroutine.
        """
        ends = []
        waits = waitsForAChunk(ends)

        def invokeAndCancel(worker):
            worker._received(pack([2, 0, ["waits"]]))
            worker._sessions[2][2].cancel()

        # what it was before the loop's end would cancel what is left
        before = []
        worker, recorder, tasks = self.serve(
            {"waits": waits}, invokeAndCancel,
            lambda worker: before.append(
                (list(ends), list(worker._sender.sent),
                 dict(worker._sessions))))
        self.assertEqual(before, [(["cancelled"], [[2, 1, TERMINATED]], {})])

    def test_terminatingWorkerCancelsSession(self):
        """
        The task a suspended handler goes on in is in the session, where a
        stopping worker cancels it (L{Worker.serve}'s end).
        """
        ends = []

        async def waits(request, response):
            try:
                await asyncio.sleep(3600)
            finally:
                ends.append("ended")

        def cancelAll(worker):
            for _, _, task in list(worker._sessions.values()):
                task.cancel()

        before = []
        worker, recorder, tasks = self.serve(
            {"waits": waits}, pack([2, 0, ["waits"]]), cancelAll,
            lambda worker: before.append(
                (list(ends), list(worker._sender.sent),
                 dict(worker._sessions))))
        self.assertEqual(before, [(["ended"], [[2, 1, TERMINATED]], {})])

    def test_timeoutBeforeSuspending(self):
        """
        Before its first suspension a coroutine handler has no task:
        C{asyncio.timeout()} refuses to start there, and the response is
        failed with what it raised; C{asyncio.wait_for} and
        C{request.read(timeout)} work.
        """
        async def timeout(request, response):
            async with asyncio.timeout(5):
                await request.read()

        async def waitFor(request, response):
            response.write(await asyncio.wait_for(request.read(), 5))

        async def read(request, response):
            response.write(await request.read(5))

        worker, recorder, tasks = self.serve(
            {"timeout": timeout, "waitFor": waitFor, "read": read},
            pack([2, 0, ["timeout"]], [3, 0, ["waitFor"]],
                 [4, 0, ["read"]]),
            pack([3, 0, [b"three"]], [4, 0, [b"four"]]))
        self.assertEqual(recorder.channel(2), [[2, 1, [
            [42, 100], "RuntimeError: Timeout should be used inside a "
            "task"]]])
        self.assertEqual(recorder.channel(3), [[3, 0, [b"three"]],
                                               [3, 2, []]])
        self.assertEqual(recorder.channel(4), [[4, 0, [b"four"]],
                                               [4, 2, []]])

    if EAGER_START:
        test_timeoutBeforeSuspending.skip = ownStep

    def test_timeoutAfterSuspending(self):
        """
        After its first suspension (C{await asyncio.sleep(0)} makes one), a
        coroutine handler is in a task: C{asyncio.timeout()} works.
        """
        async def timeout(request, response):
            await asyncio.sleep(0)
            try:
                async with asyncio.timeout(0):
                    await request.read()
            except TimeoutError:
                response.write(b"timed out")

        worker, recorder, tasks = self.serve(
            {"timeout": timeout}, pack([2, 0, ["timeout"]]), turns=10)
        self.assertEqual(recorder.sent, [[2, 0, [b"timed out"]],
                                         [2, 2, []]])

    def test_notEager(self):
        """
        With C{COCAINE_WORKER_EAGER=0} every coroutine handler runs in a
        task of its own from its start, as before eager handlers:
        C{asyncio.timeout()} works there.
        """
        async def timeout(request, response):
            async with asyncio.timeout(5):
                response.write(await request.read())

        self.assertEqual(ENV_EAGER, "COCAINE_WORKER_EAGER")
        worker, recorder, tasks = self.serve(
            {"timeout": timeout},
            pack([2, 0, ["timeout"]], [2, 0, [b"a"]]),
            environ={ENV_EAGER: "0"}, eager=None)
        self.assertEqual(len(tasks), 1)
        self.assertEqual(recorder.sent, [[2, 0, [b"a"]], [2, 2, []]])

    def test_notEagerArgument(self):
        """
        C{Worker(eager=False)} does the same when the variable is unset;
        C{COCAINE_WORKER_EAGER=0} does it whatever the app's code asks.
        """
        async def timeout(request, response):
            async with asyncio.timeout(5):
                response.write(await request.read())

        for environ, eager in [({}, False), ({ENV_EAGER: "0"}, True)]:
            worker, recorder, tasks = self.serve(
                {"timeout": timeout},
                pack([2, 0, ["timeout"]], [2, 0, [b"a"]]),
                environ=environ, eager=eager)
            self.assertFalse(worker._eager)
            self.assertEqual(len(tasks), 1)
            self.assertEqual(recorder.sent, [[2, 0, [b"a"]], [2, 2, []]])

    def test_taskNamesTheHandler(self):
        """
        The task of a handler that waits shows the handler in its repr
        and its stack, as a task of the handler's own coroutine would.
        """
        seen = []

        async def waits(request, response):
            await asyncio.sleep(0)
            task = asyncio.current_task()
            seen.append((repr(task), [frame.f_code.co_name
                                      for frame in task.get_stack()]))

        self.serve({"waits": waits}, pack([2, 0, ["waits"]]))
        [(text, stack)] = seen
        self.assertIn("waits()", text)
        self.assertEqual(stack[-1], "waits")

    def test_tokenResetAfterWaiting(self):
        """
        A context variable set before the first wait can be reset after
        it: the handler's task goes on in the context its first step ran
        in.
        """
        variable = contextvars.ContextVar("variable", default="unset")

        async def handler(request, response):
            token = variable.set("mine")
            await asyncio.sleep(0)
            variable.reset(token)
            response.write(variable.get())

        worker, recorder, tasks = self.serve(
            {"h": handler}, pack([2, 0, ["h"]]))
        self.assertEqual(recorder.sent, [[2, 0, [b"unset"]], [2, 2, []]])
        self.assertEqual(worker._sessions, {})

    def test_cancelledBeforeItsTaskRunsCancelsWhatItWaitsFor(self):
        """
        A handler's task cancelled before its first step cancels what the
        handler waits for, as a task cancelled while it waits does.
        """
        ends = []

        async def child():
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                ends.append("child cancelled")
                raise
            ends.append("child finished")

        async def handler(request, response):
            inner = asyncio.ensure_future(child())
            try:
                await inner
            except asyncio.CancelledError:
                ends.append("handler cancelled, child done: {}".format(
                    inner.done()))
                raise

        def invokeAndCancel(worker):
            worker._received(pack([2, 0, ["h"]]))
            worker._sessions[2][2].cancel()

        worker, recorder, tasks = self.serve(
            {"h": handler}, invokeAndCancel, turns=6)
        self.assertEqual(ends, ["child cancelled",
                                "handler cancelled, child done: True"])
        self.assertEqual(recorder.channel(2), [[2, 1, TERMINATED]])
        self.assertEqual(worker._sessions, {})

    def test_defaultEager(self):
        """
        Without the argument or the variable, coroutine handlers are
        eager from Python 3.12 on (asyncio's eager start: a task from
        their start) and get a task from their start before, where
        stepping them without one would refuse C{asyncio.timeout()}.
        """
        seen = []

        async def timeout(request, response):
            seen.append(asyncio.current_task())
            async with asyncio.timeout(5):
                response.write(await request.read())

        worker, recorder, tasks = self.serve(
            {"timeout": timeout},
            pack([2, 0, ["timeout"]], [2, 0, [b"a"]]),
            environ={}, eager=None)
        self.assertEqual(worker._eager, EAGER_START)
        self.assertEqual(len(tasks), 1)
        self.assertIsNotNone(seen[0])
        self.assertEqual(recorder.sent, [[2, 0, [b"a"]], [2, 2, []]])

    def test_eagerFromEnvironment(self):
        """
        C{COCAINE_WORKER_EAGER=1} makes coroutine handlers eager: one that
        ends in its read needs no task.
        """
        async def echo(request, response):
            async for chunk in request:
                response.write(chunk)

        worker, recorder, tasks = self.serve(
            {"echo": echo}, pack([2, 0, ["echo"]], [2, 0, [b"a"]],
                                 [2, 2, []]),
            environ={ENV_EAGER: "1"}, eager=None)
        self.assertTrue(worker._eager)
        if not EAGER_START:
            self.assertEqual(tasks, [])
        self.assertEqual(recorder.sent, [[2, 0, [b"a"]], [2, 2, []]])

    def test_badEnvironment(self):
        """
        A C{COCAINE_WORKER_EAGER} that is neither 0 nor 1 stops the worker
        at its start with an error naming the value.
        """
        self.patch(sys.modules["os"], "environ", {ENV_EAGER: "yes"})
        error = self.assertRaises(
            ValueError, Worker, app="app", endpoint="/nonexistent",
            uuid="uuid", argv=[])
        self.assertEqual(str(error),
                         "COCAINE_WORKER_EAGER must be 0 or 1, not 'yes'")

    if not hasattr(asyncio, "timeout"):
        test_timeoutBeforeSuspending.skip = test_timeoutAfterSuspending.skip \
            = test_notEager.skip = test_notEagerArgument.skip \
            = test_defaultEager.skip = (
                "Python before 3.11: no asyncio.timeout")


class UVLoopEagerTests(EagerTests):
    """
    The same on uvloop's event loop.
    """

    def setUp(self):
        try:
            import uvloop
        except ImportError:
            raise self.skipTest("uvloop is not installed")
        self.loopFactory = uvloop.new_event_loop
        EagerTests.setUp(self)
