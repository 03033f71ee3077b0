# -*- test-case-name: tests.worker.test_worker,tests.worker.test_eager -*-
"""
The worker process: connects to the runtime, keeps the control channel
alive and runs the handler of each invoked session (PROTOCOL.md section
6), in a task of its own, or for an eager worker started at once and in
a task only if it has to wait.

Built on L{asyncio}, not Twisted, to keep an idle worker small.
"""

import asyncio
import inspect
import os
import sys
import threading
import time
import traceback
from contextvars import copy_context

from cocaine.errors import FramingError
from cocaine.heap import settle
from cocaine.protocol.framing import Decoder, Encoder, packMessage
from cocaine.protocol.worker import (
    CLOSE, CONTROL_CHANNEL, CHUNK, ERROR, HANDSHAKE, HEARTBEAT, INVOKE,
    NO_HANDLER, TERMINATE, TERMINATING, UNCAUGHT_EXCEPTION, launched,
    parseArguments, parseLocators, text)
from cocaine.worker.connection import _Connection
from cocaine.worker.control import EXIT_FAILURE, EXIT_OK, ControlChannel
from cocaine.worker.eager import (
    EAGER_START, ENV_EAGER, ResumedHandler, eagerWanted)
from cocaine.worker.loop import ENV_LOOP, loopFactory, runLoop
from cocaine.worker.settings import (
    DEFAULT_DISOWN_TIMEOUT, DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_TERMINATE_GRACE, ENV_DISOWN_TIMEOUT, ENV_HEARTBEAT_INTERVAL,
    ENV_TERMINATE_GRACE, appAuthorization, seconds)
from cocaine.worker.stream import Request, RequestError, Response

# kept importable from here, where they were first
__all__ = ["Worker", "appAuthorization", "ENV_EAGER", "ENV_LOOP",
           "EAGER_START", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE",
           "loopFactory", "runLoop", "_Connection"]

#: Exit status of a bad command line (the others: L{EXIT_OK},
#: L{EXIT_FAILURE}).
EXIT_USAGE = 2

USAGE = ("usage: {} --app NAME --endpoint /path/to/app.sock "
         "--locator HOST:PORT --protocol 1 --uuid UUID")


def settleHeap():
    """
    The app's imports and the SDK live as long as the worker: freeze them
    out of the garbage collector's way before it serves
    (L{cocaine.heap.settle}), when the worker is a process of its own. A
    worker in a thread of the node (the C{thread} isolate) leaves the
    node's collector to the node.

    @raise SystemExit: with L{EXIT_USAGE}, when C{COCAINE_GC_FREEZE} is
        neither 0 nor 1 (said on standard error).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        settle()
    except ValueError as e:
        sys.stderr.write("{}\n".format(e))
        raise SystemExit(EXIT_USAGE)


class Worker(ControlChannel):
    """
    A worker: serves named events with handlers.

        >>> async def echo(request, response):
        ...     async for chunk in request:
        ...         response.write(chunk)
        >>> Worker().run({"echo": echo})

    A handler is called as C{handler(request, response)} with a
    L{cocaine.worker.Request} and a L{cocaine.worker.Response}. It may be a
    coroutine function (a session that waits goes on in a task of its own,
    so a worker serves many sessions at once) or a plain function, which
    runs on the event loop and so must not block for long: heartbeats wait
    for it. Handlers start once the read that brought their invokes is
    dispatched, in the order of the invokes (a request holds what that
    read brought for it). A plain function is called without a task; an
    awaitable it returns is awaited in a task. A coroutine handler runs in
    a task of its own from its start, unless the worker is eager: then it
    runs at once until it ends or first waits for something not there
    yet, and only then goes on in a task (as Python 3.12's eager tasks
    do). From Python 3.12 on, workers are eager by default, with
    asyncio's own eager start of the handler's task. Before 3.12 the
    worker can only step the coroutine outside any task, so in an eager
    worker C{asyncio.current_task()} is L{None} until the first wait and
    C{asyncio.timeout()}, C{asyncio.TaskGroup} and the libraries built on
    them (aiohttp, anyio) refuse to start there; that is why eager is
    opt-in there (C{asyncio.wait_for}, C{request.read(timeout)} and
    L{cocaine.worker.Service} calls work either way).

    When a handler returns, its response is closed if it is still open;
    when it raises, the response is failed with C{[[42, 100],
    "<ExceptionType>: <message>"]} and the traceback goes to stderr only.
    An event without a handler is answered C{[[42, 200], "no handler for
    event '<name>'"]}.

    @ivar app: the app name (C{--app}).
    @ivar endpoint: the runtime's UNIX socket (C{--endpoint}).
    @ivar uuid: this worker's id (C{--uuid}).
    @ivar locator: the C{--locator} value, or L{None}.
    @ivar locators: C{locator} parsed into C{(host, port)} pairs.
    @ivar authorization: the C{authorization} header value of the app's
        token (C{"TYPE BODY"}) the node gave it, or L{None}: what a client
        of the node's services sends (L{cocaine.worker.Service} and
        L{cocaine.client} do by themselves).
    @ivar protocol: the C{--protocol} value, or L{None}.
    @ivar heartbeatInterval: seconds between heartbeats.
    @ivar disownTimeout: seconds the runtime may leave a heartbeat
        unanswered before the worker considers itself disowned and exits
        with status 1.
    @ivar terminateGrace: seconds running handlers get to finish after the
        runtime asked the worker to terminate.
    """

    def __init__(self, heartbeatInterval=None, disownTimeout=None,
                 terminateGrace=None, app=None, endpoint=None, uuid=None,
                 locator=None, argv=None, heartbeat_timeout=None,
                 disown_timeout=None, eager=None):
        """
        Every argument left to L{None} comes from the command line (C{argv},
        by default C{sys.argv[1:]}), or for the timings from the
        environment (C{COCAINE_HEARTBEAT_INTERVAL}, C{COCAINE_DISOWN_TIMEOUT},
        C{COCAINE_TERMINATE_GRACE}), or from the defaults (10, 30 and 1 s).

        @param heartbeat_timeout: the real framework's name for
            C{heartbeatInterval}.
        @param disown_timeout: the real framework's name for
            C{disownTimeout}.
        @param eager: whether coroutine handlers are stepped at once and
            get a task only if they wait (see above); L{None}: yes from
            Python 3.12 on and no before. C{COCAINE_WORKER_EAGER}, when
            set (C{1} or C{0}), decides instead.
        @raise ValueError: C{COCAINE_WORKER_EAGER} is neither C{0} nor
            C{1}.
        """
        if heartbeatInterval is None:
            heartbeatInterval = heartbeat_timeout
        if disownTimeout is None:
            disownTimeout = disown_timeout
        if argv is None:
            # a worker run by the thread isolate gets its own command line
            argv = getattr(launched, "argv", None)
        arguments = parseArguments(sys.argv[1:] if argv is None else argv)
        self.app = app if app is not None else arguments.get("app", "app")
        self.endpoint = (endpoint if endpoint is not None
                         else arguments.get("endpoint"))
        self.uuid = uuid if uuid is not None else arguments.get("uuid")
        self.locator = (locator if locator is not None
                        else arguments.get("locator"))
        self.locators = parseLocators(self.locator)
        self.protocol = arguments.get("protocol")
        self.authorization = appAuthorization()
        self.heartbeatInterval = seconds(
            heartbeatInterval, ENV_HEARTBEAT_INTERVAL,
            DEFAULT_HEARTBEAT_INTERVAL)
        self.disownTimeout = seconds(
            disownTimeout, ENV_DISOWN_TIMEOUT, DEFAULT_DISOWN_TIMEOUT)
        self.terminateGrace = seconds(
            terminateGrace, ENV_TERMINATE_GRACE, DEFAULT_TERMINATE_GRACE)
        #: whether coroutine handlers start without a task (L{ENV_EAGER})
        self._eager = eagerWanted(eager)
        #: event name -> (handler, whether it is a coroutine function to
        #: step eagerly)
        self._handlers = {}
        #: channel -> (request, response, task); the task is L{None} until
        #: the handler is started (L{_start}), and stays L{None} for one
        #: that ended there
        self._sessions = {}
        #: the handlers the read being dispatched invoked, started once
        #: its messages are dispatched: C{((handler, coroutine), request,
        #: response)}
        self._starting = None
        self._loop = None
        self._maxChannel = CONTROL_CHANNEL
        self._pack = Encoder().pack
        self._decoder = None
        self._connection = None
        #: what a session's response sends through: the connection itself
        #: once it is made (a call fewer per message), else this worker
        self._sender = self
        self._done = None
        self._heartbeatTimer = None
        self._disownTimer = None
        self._terminating = False

    # -- registration and running -----------------------------------------

    def on(self, event, handler):
        """
        Serve C{event} with C{handler}, replacing any previous handler.

        @param event: the event name (L{str}, or UTF-8 L{bytes}).
        """
        self._handlers[text(event)] = (
            handler, self._eager and inspect.iscoroutinefunction(handler))

    def run(self, handlers=None):
        """
        Register C{handlers}, serve until terminated, disowned or
        disconnected, and exit the process. Never returns.

        Exit status: 0 after a terminate from the runtime, 1 when disowned
        or disconnected, 2 when the command line lacks C{--endpoint} or
        C{--uuid} or C{COCAINE_GC_FREEZE} is neither 0 nor 1.

        @param handlers: a mapping of event names to handlers.
        @raise SystemExit: always.
        """
        for event, handler in (handlers or {}).items():
            self.on(event, handler)
        # The runtime keeps the last lines of a worker's output as its
        # crashlog: do not lose printed lines in a buffer when it dies.
        reconfigure = getattr(sys.stdout, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(line_buffering=True)
            except (OSError, ValueError):
                pass
        settleHeap()
        raise SystemExit(runLoop(self.serve()))

    async def serve(self):
        """
        Serve on the running event loop until the worker stops.

        @return: the exit status (see L{run}).
        """
        if not self.endpoint or not self.uuid:
            sys.stderr.write(USAGE.format(os.path.basename(sys.argv[0]))
                             + "\n")
            return EXIT_USAGE
        loop = self._loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self._decoder = Decoder()
        try:
            _, connection = await loop.create_unix_connection(
                lambda: _Connection(self, self._connected), self.endpoint)
        except OSError as error:
            self.log("cannot connect to the runtime at {}: {}".format(
                self.endpoint, error))
            return EXIT_FAILURE
        self.log("connected to {}, handshake sent as {}".format(
            self.endpoint, self.uuid))
        try:
            status = await self._done
        finally:
            self._stopTimers()
            for request, response, task in list(self._sessions.values()):
                if task is not None:
                    task.cancel()
            await connection.shutdown()
            self._loop = None
        return status

    def stop(self, status):
        """
        Stop serving: L{serve} returns C{status}. Only the first call
        counts.
        """
        if self._done is not None and not self._done.done():
            self._done.set_result(status)

    def log(self, message):
        """
        Write one line to stderr, which the runtime captures.
        """
        now = time.time()
        try:
            sys.stderr.write("{}.{:03d} worker {} {}: {}\n".format(
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)),
                int(now % 1 * 1000), self.app, os.getpid(),
                message.replace("\n", " | ")))
        except (OSError, ValueError):
            pass  # stderr is gone: nobody is listening anyway

    # -- the connection ---------------------------------------------------

    def _connected(self, connection):
        """
        The stream to the runtime is up: the handshake goes first, before
        any answer to what the first read may bring (a plain function
        handler answers within the read).
        """
        self._connection = self._sender = connection
        self.send(CONTROL_CHANNEL, HANDSHAKE, [self.uuid])
        self._heartbeat()

    def send(self, channel, kind, args):
        """
        Send C{[channel, kind, args]} to the runtime; dropped silently once
        the connection is gone.
        """
        connection = self._connection
        if connection is not None:
            connection.write(packMessage(self._pack, channel, kind, args))

    async def drain(self):
        """
        Wait until the send buffer is below its high-water mark.
        """
        if self._connection is not None:
            await self._connection.drain()

    def _lost(self, reason):
        """
        The connection to the runtime is gone.
        """
        self._connection = None
        self._sender = self
        if self._done is not None and not self._done.done():
            if self._terminating:
                self.log("connection to the runtime lost while terminating")
            else:
                self.log("connection to the runtime lost ({}); exiting"
                         .format(reason or "closed by the runtime"))
            self.stop(EXIT_FAILURE)

    def _received(self, data):
        """
        Bytes arrived from the runtime.

        The messages of one read are dispatched in order, then the
        handlers they invoked are started in order (each sees what the
        read brought for its session, as a task started by the read
        would): a plain function is called, a coroutine handler of an
        eager worker runs to its end or first suspension, then on in a
        task, any other in a task from its start (L{_start}).

        @param data: the L{bytes} read.
        @return: L{False} when the read started or woke no task (a
            handler that suspended, a handler waiting for its request, the
            termination) that may write in the loop's next turn: what it
            wrote can leave at once.
        """
        broken = None
        try:
            messages = self._decoder.feed(data)
        except FramingError as error:
            # the stream can no longer be trusted (PROTOCOL.md section 1):
            # serve what came before, then leave
            messages, broken = error.messages, error
        later = False
        session = self._sessions.get
        for channel, kind, args, _ in messages:
            try:
                # the messages of a request, inline: a call fewer each
                current = session(channel)
                if current is None:
                    if kind == INVOKE and channel > self._maxChannel:
                        self._maxChannel = channel
                        event = args[0] if args else ""
                        if self._invoke(
                                channel,
                                event.decode("utf-8", "replace")
                                if type(event) is bytes else text(event)):
                            later = True
                        continue
                elif kind == CHUNK:
                    request = current[0]
                    if request._waiter is not None:
                        later = True
                    request._push(args[0] if args else b"")
                    continue
                elif kind == CLOSE:
                    request = current[0]
                    if request._waiter is not None:
                        later = True
                    request._close()
                    continue
                later = True
                self._dispatch(channel, kind, args)
            except Exception as error:
                self.log("failed to dispatch [{}, {}, ...]: {}: {}".format(
                    channel, kind, type(error).__name__, error))
        starting = self._starting
        if starting is not None:
            self._starting = None
            if self._start(starting):
                later = True
        if broken is not None:
            self.log("broken stream from the runtime: {}; exiting".format(
                broken))
            self.stop(EXIT_FAILURE)
        return later

    # -- dispatch ---------------------------------------------------------

    def _dispatch(self, channel, kind, args):
        if channel == CONTROL_CHANNEL:
            if kind == HEARTBEAT:
                if self._disownTimer is not None:
                    self._disownTimer.cancel()
                    self._disownTimer = None
            elif kind == TERMINATE:
                self._terminate(args)
            else:
                self.log("ignoring message type {} on the control channel"
                         .format(kind))
            return
        session = self._sessions.get(channel)
        if session is not None:
            request = session[0]
            if kind == CHUNK:
                request._push(args[0] if args else b"")
            elif kind == CLOSE:
                request._close()
            elif kind == ERROR:
                request._fail(RequestError.fromWire(args))
            else:
                self.log("ignoring message type {} on channel {}".format(
                    kind, channel))
            return
        if channel > self._maxChannel:
            if kind != INVOKE:
                self.log("ignoring message type {} on new channel {}: a "
                         "session starts with an invoke".format(
                             kind, channel))
                return
            self._maxChannel = channel
            self._invoke(channel, text(args[0]) if args else "")
        # else: a session that already finished, or a stale channel id

    def _invoke(self, channel, event):
        """
        Start a session.

        @return: whether it started a task.
        """
        request = Request(channel, event)
        response = Response(channel, self._sender)
        if self._terminating:
            self.log("refusing event {!r} on channel {}: terminating".format(
                event, channel))
            response._fail(TERMINATING, "worker is terminating")
            return False
        entry = self._handlers.get(event)
        if entry is None:
            self.log("no handler for event {!r} (channel {})".format(
                event, channel))
            response._fail(NO_HANDLER, "no handler for event {!r}".format(
                event))
            return False
        # no task yet: the handler is called (a coroutine handler is
        # stepped) once the read's messages are dispatched (L{_received})
        self._sessions[channel] = (request, response, None)
        if self._starting is None:
            self._starting = [(entry, request, response)]
        else:
            self._starting.append((entry, request, response))
        return False

    def _start(self, starting):
        """
        Start the handlers of the sessions a read invoked, outside any task.

        An eager coroutine handler's coroutine is stepped once, as Python
        3.12's eager tasks do: one that ends there needs no task; one that
        suspends goes on in a task (L{ResumedHandler}). From Python 3.12
        on, it is started in an eagerly started task instead
        (L{EAGER_START}). A plain function is called; one that returns an
        awaitable (as a coroutine function of a worker that is not eager
        does) goes on in a task.

        @param starting: C{((handler, eager), request, response)}
            triples, C{eager} telling whether C{handler} is a coroutine
            function to start eagerly.
        @return: whether it started a task.
        """
        tasks = False
        sessions = self._sessions
        for (handler, coroutine), request, response in starting:
            if coroutine and not EAGER_START:
                # in a context of its own, which its task, if it needs
                # one, goes on in: its context variables are its own, as
                # a task's
                context = copy_context()
                # (inline, not through ResumedHandler: most handlers end in
                # this step, and the calls and deeper unwinding cost the
                # echo 9% more instructions a request)
                ended = False
                try:
                    started = handler(request, response)
                    yielded = context.run(started.send, None)
                except StopIteration:
                    # (only a flag here: an except clause that does more
                    # has the compiled module build a traceback entry,
                    # ~630 instructions a request)
                    ended = True
                except asyncio.CancelledError:
                    self._cancelled(request, response)
                except Exception as error:
                    self._raised(request, response, error)
                else:
                    loop = self._loop or asyncio.get_running_loop()
                    sessions[request.channel] = (
                        request, response, loop.create_task(
                            ResumedHandler(self, started, yielded, request,
                                           response), context=context))
                    tasks = True
                    continue
                if ended and not response._closed:
                    response.close()
                sessions.pop(request.channel, None)
                continue
            try:
                result = handler(request, response)
                if result is not None and inspect.isawaitable(result):
                    loop = self._loop or asyncio.get_running_loop()
                    if coroutine:
                        # Python 3.12 and later: asyncio's own eager
                        # start, the handler in its task from the start
                        task = asyncio.Task(
                            self._runHandler(request, response, result),
                            loop=loop, eager_start=True)
                        if task.done():
                            continue  # it ended: its session is gone
                    else:
                        task = loop.create_task(
                            self._runHandler(request, response, result))
                    sessions[request.channel] = (request, response, task)
                    tasks = True
                    continue
            except asyncio.CancelledError:
                self._cancelled(request, response)
            except Exception as error:
                self._raised(request, response, error)
            else:
                if not response._closed:
                    response.close()
            sessions.pop(request.channel, None)
        return tasks

    async def _runHandler(self, request, response, result):
        """
        Await C{result}, what a plain function handler returned, and make
        sure its response ends.
        """
        try:
            await result
        except asyncio.CancelledError:
            self._cancelled(request, response)
        except Exception as error:
            self._raised(request, response, error)
        else:
            if not response._closed:
                response.close()
        finally:
            self._sessions.pop(request.channel, None)

    def _cancelled(self, request, response):
        """
        A handler was cancelled (at termination): fail its response.
        """
        if response._fail(
                TERMINATING,
                "worker is terminating: the handler did not finish"):
            self.log("cancelled the handler of event {!r} on channel {}"
                     .format(request.event, request.channel))

    def _raised(self, request, response, error):
        """
        A handler raised C{error}: fail its response and log the traceback
        (called in the C{except} clause).
        """
        message = type(error).__name__
        if str(error):
            message += ": " + str(error)
        sent = response._fail(UNCAUGHT_EXCEPTION, message)
        self.log("handler of event {!r} on channel {} raised {}{}"
                 .format(request.event, request.channel, message,
                         "" if sent else
                         " after closing its response"))
        try:
            traceback.print_exc(file=sys.stderr)
        except (OSError, ValueError):
            pass
