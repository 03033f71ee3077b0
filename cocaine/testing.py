# -*- test-case-name: tests.test_testing -*-
"""
Fakes for testing code that runs in a Cocaine node, shipped with the
package (as C{treq.testing} is) for plugin authors and for our own tests.

Nothing here opens a socket or spawns a process:

  - L{FakeReactor}: a C{MemoryReactorClock} whose listening ports record
    that they were stopped and where chosen ports can be "taken";
  - L{RecordingService}: a service that records its start and stop and
    returns what the test chooses;
  - L{FakeUpstream}: stands where a client's upstream would and records
    what was sent on it;
  - L{FakeDatagramTransport}: records datagrams and multicast set-up;
  - L{FakeIsolate}: "spawns" workers as L{FakeProcess} records the test
    ends itself;
  - L{FakeEngine}: what an app's drivers submit jobs to, recording
    them, for driver authors;
  - L{runtimeDirectory}: a short directory for an engine's or a node's
    runtime paths, removed after the test;
  - L{MemoryNode}: an in-memory L{cocaine.interfaces.INode} whose apps
    are Python functions, to test a service that calls apps without a
    node;
  - L{memoryContext}: the context a service plugin is built with, all in
    memory (a memory storage, a registry, a L{MemoryNode});
  - L{ServiceHarness}: serves a service over an in-memory connection and
    decodes its answers, to test a plugin through its declared protocol
    without sockets.
"""

import errno
import os
import shutil
import tempfile

from twisted.application.service import Service
from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.defer import fail, maybeDeferred, succeed
from twisted.internet.error import (
    CannotListenError, ProcessDone, ProcessTerminated)
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from zope.interface import implementer

from cocaine.config import DEFAULTS, parse
from cocaine.context import Context
from cocaine.engine.stats import AppStats
from cocaine.errors import (
    AppAlreadyRunning, AppNotRunning, QueueFull, SpawnFailed, toWire)
from cocaine.interfaces import INode
from cocaine.locator.registry import Registry
from cocaine.observers import Observers
from cocaine.plugins import loadPlugins
from cocaine.rpc.memory import ServiceHarness
from cocaine.storage.memory import MemoryStorage


class RecordingService(Service):
    """
    A service that records its calls in a shared list and returns (or
    raises) whatever the test put in C{startResult} / C{stopResult}.
    """

    def __init__(self, name, events, startResult=None, stopResult=None):
        self.setName(name)
        self.events = events
        self.startResult = startResult
        self.stopResult = stopResult

    def startService(self):
        Service.startService(self)
        self.events.append(("start", self.name))
        if isinstance(self.startResult, Exception):
            raise self.startResult
        return self.startResult

    def stopService(self):
        Service.stopService(self)
        self.events.append(("stop", self.name))
        if isinstance(self.stopResult, Exception):
            raise self.stopResult
        return self.stopResult


class RecordingPort:
    """
    A listening port of L{FakeReactor}.

    @ivar stopped: whether C{stopListening} was called.
    """

    def __init__(self, port, events=None, address=None):
        self.port = port
        self.stopped = False
        self._events = events if events is not None else []
        self._address = address

    def getHost(self):
        if self._address is not None:
            return self._address
        return IPv4Address("TCP", "127.0.0.1", self.port)

    def stopListening(self):
        self.stopped = True
        self._events.append(("stop", self.port))


class FakeReactor(MemoryReactorClock):
    """
    A memory reactor where some TCP ports are taken and listening ports
    record that they were stopped.

    @ivar taken: ports whose C{listenTCP} fails as in use.
    @ivar ports: the L{RecordingPort}s handed out.
    @ivar events: C{("listen", port or path)} and C{("stop", port or
        path)} in order, TCP and UNIX alike.
    """

    def __init__(self, taken=(), socketErrno=errno.EADDRINUSE):
        MemoryReactorClock.__init__(self)
        self.taken = set(taken)
        self.socketErrno = socketErrno
        self.ports = []
        self.events = []
        self._nextPort = 40000

    def listenTCP(self, port, factory, backlog=50, interface=""):
        if port in self.taken:
            raise CannotListenError(interface, port, OSError(
                self.socketErrno, os.strerror(self.socketErrno)))
        MemoryReactorClock.listenTCP(self, port, factory, backlog, interface)
        if port == 0:
            # what the OS would do: a port of its choice
            self._nextPort += 1
            port = self._nextPort
        listening = RecordingPort(port, self.events)
        self.ports.append(listening)
        self.events.append(("listen", port))
        return listening

    def listenUNIX(self, address, factory, backlog=50, mode=0o666,
                   wantPID=0):
        MemoryReactorClock.listenUNIX(self, address, factory, backlog, mode,
                                      wantPID)
        listening = RecordingPort(address, self.events,
                                  UNIXAddress(address))
        self.ports.append(listening)
        self.events.append(("listen", address))
        return listening


class FakeUpstream:
    """
    Stands where a client's upstream would (L{cocaine.rpc.upstream.Upstream}
    and C{send(name, *args)}): records what was sent and lets the test
    close it.

    @ivar sent: C{(name, *args)} tuples in order; an error is recorded as
        C{("error", [category, code], message)}.
    @ivar closed: nothing more can be sent.
    """

    def __init__(self):
        self.sent = []
        self.closed = False
        self._onClose = []

    def send(self, name, *args):
        assert not self.closed, "sent after the end: {} {}".format(name,
                                                                    args)
        self.sent.append((name,) + args)
        if name in ("value", "close", "error"):
            self.close()

    def write(self, *args):
        self.send("write", *args)

    def value(self, *args):
        self.send("value", *args)

    def error(self, reason):
        self.send("error", *toWire(reason))

    def notifyClose(self, callback):
        if self.closed:
            callback()
        else:
            self._onClose.append(callback)

    def close(self):
        if self.closed:
            return
        self.closed = True
        callbacks, self._onClose = self._onClose, []
        for callback in callbacks:
            callback()


class FakeDatagramTransport:
    """
    A UDP transport (multicast included) that records what it was asked.

    @ivar written: C{(data, address)} of every datagram written.
    @ivar calls: the multicast set-up calls, C{("joinGroup", group,
        interface)} and the like, in order.
    @ivar host: what C{getHost} returns.
    """

    def __init__(self, host=None):
        self.written = []
        self.calls = []
        self.host = host

    def write(self, data, address):
        self.written.append((data, address))

    def getHost(self):
        return self.host

    def setTTL(self, ttl):
        self.calls.append(("setTTL", ttl))

    def setLoopbackMode(self, mode):
        self.calls.append(("setLoopbackMode", mode))

    def setOutgoingInterface(self, address):
        self.calls.append(("setOutgoingInterface", address))
        return succeed(1)

    def joinGroup(self, group, interface):
        self.calls.append(("joinGroup", group, interface))
        return succeed(1)


class FakeProcess:
    """
    A worker "process" of L{FakeIsolate}: its protocol, command line and
    the signals it got; the test ends it.
    """

    def __init__(self, pid, protocol, executable, args, env, cwd):
        self.pid = pid
        self.protocol = protocol
        self.executable = executable
        self.args = args
        self.env = env
        self.cwd = cwd
        self.signals = []

    @property
    def uuid(self):
        """
        The C{--uuid} it was given.
        """
        return self.args[self.args.index("--uuid") + 1]

    def end(self, exitCode=0, signal=None):
        """
        End it: its process protocol hears C{processEnded}.
        """
        if exitCode == 0 and signal is None:
            reason = ProcessDone(0)
        else:
            reason = ProcessTerminated(exitCode=exitCode, signal=signal)
        self.protocol.processEnded(Failure(reason))


def admitAnyPeer(engine):
    """
    Let C{engine} take a handshake from any peer: for tests of everything
    but the peer credential check (their connections are
    L{StringTransport}s, with no peer to ask the kernel about).

    @return: C{engine}.
    """
    engine.admits = lambda worker, transport: True
    return engine


def runtimeDirectory(testCase):
    """
    A short private directory for an engine's or a node's runtime paths,
    removed when C{testCase} ends.

    An app's UNIX socket path must fit in 108 bytes. Trial's C{mktemp()}
    paths do not, and an engine given one makes its socket's directory in
    the system's temporary directory instead, which only the engine's
    stop removes: a test that never stops its engine left one behind.

    @return: the directory's absolute path.
    """
    directory = tempfile.mkdtemp(prefix="cocaine-test-")
    testCase.addCleanup(shutil.rmtree, directory, True)
    return directory


class FakeIsolate:
    """
    An isolate that "spawns" L{FakeProcess} records and records signals.

    @ivar processes: every process spawned, in order.
    @ivar fail: an exception C{spawn} raises, or L{None}.
    """

    def __init__(self):
        self.processes = []
        self.fail = None

    def spawn(self, protocol, executable, args, env, cwd, name):
        if self.fail:
            raise self.fail
        process = FakeProcess(1000 + len(self.processes), protocol,
                              executable, args, env, cwd)
        self.processes.append(process)
        return process

    def signalGroup(self, pid, signum):
        for process in self.processes:
            if process.pid == pid:
                process.signals.append(signum)
        return True


class FakeSession:
    """
    A session of L{FakeEngine}: records the request; the test answers it
    with L{answer}.
    """

    def __init__(self, upstream, event):
        self.upstream = upstream
        self.event = event
        self.request = []
        self.closed = False

    def write(self, chunk):
        self.request.append(chunk)

    def close(self):
        self.closed = True

    def answer(self, *chunks):
        for chunk in chunks:
            self.upstream.send("write", chunk)
        self.upstream.send("close")


class FakeEngine:
    """
    What an app's drivers submit jobs to (C{enqueue}, C{queueFull}),
    recording the sessions.

    @ivar sessions: the L{FakeSession}s accepted, in order.
    @ivar full: what C{queueFull} answers.
    @ivar reject: refuse new sessions with "queue full".
    """

    def __init__(self):
        self.sessions = []
        self.full = False
        self.reject = False

    def enqueue(self, upstream, event, tag=None, headers=()):
        session = FakeSession(upstream, event)
        if self.reject:
            upstream.error(QueueFull("queue full"))
            return session
        self.sessions.append(session)
        return session

    def queueFull(self):
        return self.full


@implementer(INode)
class MemoryNode:
    """
    An in-memory L{INode}: its apps are Python functions, so a service
    that calls apps (a gateway, a bridge, a driver) is tested without
    processes or sockets.

        node = MemoryNode()
        node.add("echo", lambda event, chunks: chunks)

    A handler is called with the event and the request's chunks once the
    request stream closes; it returns the response's chunks (or a Deferred
    of them), or raises a L{cocaine.errors.CocaineError} to answer with
    it. C{startApp} and C{startLocal} add an app with the default handler.
    Each app counts its sessions in an L{AppStats} (ok, error,
    disconnected; timed on C{clock}), which a test may also change
    directly through L{appStats} to fake any figures C{stats} gives.

    @ivar clock: the clock sessions are timed on.
    @ivar calls: C{(method, *args)} of every change asked for.
    @ivar failure: an exception C{startApp}/C{startLocal} raise, or
        L{None}.
    """

    running = True

    def __init__(self, handler=None, clock=None):
        """
        @param handler: the handler of apps started through C{startApp}
            and C{startLocal}; by default an echo.
        @param clock: an C{IReactorTime}; a new L{Clock} by default.
        """
        self.clock = Clock() if clock is None else clock
        self._defaultHandler = handler or (lambda event, chunks: chunks)
        self._apps = {}
        self._runlist = {}
        self._watchers = Observers("app")
        self.calls = []
        self.failure = None

    def add(self, name, handler=None, info=None, local=False, path=None,
            profile=None):
        """
        Make app C{name} run.

        @param info: extra keys of its info map.
        """
        self._apps[name] = {
            "handler": handler or self._defaultHandler,
            "info": dict(info or {}), "pinned": None,
            "stats": AppStats(self.clock),
            "origin": dict({"local": local, "profile": profile},
                           **({"path": path} if local else {}))}
        self._watchers.notify(name, True)

    def remove(self, name):
        """
        Make app C{name} stop running.
        """
        if self._apps.pop(name, None) is not None:
            self._watchers.notify(name, False)

    def _app(self, name):
        app = self._apps.get(name)
        if app is None:
            raise AppNotRunning("app {!r} is not running".format(name))
        return app

    def apps(self):
        return sorted(self._apps)

    def info(self, name):
        app = self._app(name)
        info = {"state": "running", "pool": {"pinned": app["pinned"]}}
        info.update(app["info"])
        return info

    def stats(self, name):
        return self._app(name)["stats"].snapshot()

    def appStats(self, name):
        """
        @return: the L{AppStats} of app C{name}, to change in a test.
        @raise AppNotRunning: no such app runs.
        """
        return self._app(name)["stats"]

    def load(self, name):
        self._app(name)
        return {"queue": 0, "busy": 0, "sessions": 0, "capacity": 1,
                "concurrency": 1}

    def enqueue(self, name, upstream, event, tag=None, headers=()):
        try:
            app = self._app(name)
        except Exception as e:
            upstream.error(e)
            return _MemorySession(None, event, upstream, None)
        return _MemorySession(app["handler"], event, upstream, app["stats"])

    def pin(self, name, size):
        self._app(name)["pinned"] = None if size < 0 else size

    def trigger(self, name, driver, request=None):
        try:
            self._app(name)
        except Exception:
            return fail()
        return fail(SpawnFailed("app {!r} has no manual driver {!r}".format(
            name, driver)))

    def startApp(self, name, profile):
        self.calls.append(("startApp", name, profile))
        return self._start(name, dict(profile=profile))

    def startLocal(self, name, path, profile=None):
        self.calls.append(("startLocal", name, path, profile))
        return self._start(name, dict(local=True, path=path,
                                      profile=profile))

    def _start(self, name, how):
        if self.failure is not None:
            return fail(self.failure)
        if name in self._apps:
            return fail(AppAlreadyRunning("app {!r} is already running"
                                          .format(name)))
        self.add(name, **how)
        if not how.get("local"):
            self._runlist[name] = how["profile"]
        return succeed(None)

    def pauseApp(self, name):
        self.calls.append(("pauseApp", name))
        try:
            self._app(name)
        except Exception:
            return fail()
        self.remove(name)
        self._runlist.pop(name, None)
        return succeed(None)

    def origin(self, name):
        return dict(self._app(name)["origin"])

    def runlist(self):
        return succeed(dict(self._runlist))

    def watch(self, callback):
        return self._watchers.add(callback)


class _MemorySession:
    """
    A session of a L{MemoryNode} app: gathers the request, then answers
    with what the handler gives.
    """

    finishedWithUpstream = True

    def __init__(self, handler, event, upstream, stats):
        self._handler = handler
        self._event = event
        self._upstream = upstream
        self._chunks = []
        self._stats = stats
        self._start = None if stats is None else stats.now()

    def write(self, chunk):
        self._chunks.append(chunk)

    def close(self):
        if self._handler is None:
            return
        handler, self._handler = self._handler, None
        d = maybeDeferred(handler, self._event, self._chunks)
        d.addCallbacks(self._answer, self._failed)

    def _answer(self, chunks):
        if self._stats is not None:
            stats, self._stats = self._stats, None
            stats.succeeded(self._start)
        for chunk in chunks:
            self._upstream.send("write", chunk)
        self._upstream.send("close")

    def _failed(self, failure):
        if self._stats is not None:
            stats, self._stats = self._stats, None
            stats.failed(self._start)
        self._upstream.error(failure)

    def error(self, *args):
        self._handler = None

    def connectionLost(self):
        self._handler = None
        if self._stats is not None:
            self._stats.disconnected += 1
            self._stats = None



def memoryContext(node=None, reactor=None, config=None):
    """
    The context a service plugin is given (L{cocaine.context.Context}),
    in memory: a L{FakeReactor}, the embedded default config, a registry,
    a memory storage as C{core} and a L{MemoryNode}.

        context = memoryContext()
        service = myPlugin.makeService(context, "mine", {"x": 1})

    @param node: the node's L{INode}; a new L{MemoryNode} by default.
    """
    context = Context(reactor or FakeReactor(), config or parse(DEFAULTS),
                      Registry(), loadPlugins())
    context.storages["core"] = MemoryStorage()
    context.node = MemoryNode() if node is None else node
    context.uuid = "memory-node"
    return context


__all__ = ["FakeDatagramTransport", "FakeEngine", "FakeIsolate", "FakeProcess",
           "FakeReactor", "FakeSession", "FakeUpstream", "MemoryNode",
           "RecordingPort", "RecordingService", "ServiceHarness",
           "memoryContext"]
