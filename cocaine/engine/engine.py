# -*- test-case-name: tests.engine.test_engine -*-
"""
The app engine: one per running app. It queues sessions, balances them over
its workers, grows and shrinks the pool, and listens on the app's UNIX
socket for its workers (PROTOCOL.md sections 6 and 7).

Balancing: a new session goes to the active worker with the fewest sessions
below C{concurrency}; otherwise it waits in the queue (bounded by
C{queue-limit}, over it: "queue full"). The pool grows toward C{queue depth
/ grow-threshold} workers, at most C{pool-limit}, and shrinks through idle
timeouts. C{control} pins the pool at a size.
"""

import math
import os
import statistics
import time
import uuid as _uuid
from collections import deque

from automat import MethodicalMachine
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from cocaine.engine.manifest import profileWire
from cocaine.engine.session import Session, parseDeadline
from cocaine.engine.worker import Worker, WorkerListener, WorkerProcess
from cocaine.errors import (
    AppNotRunning, EngineBroken, QueueFull, SpawnFailed)
from cocaine.protocol.framing import DEFAULT_MAX_BUFFER, packValue

#: Where crashlogs go (PROTOCOL.md section 7).
CRASHLOGS = "crashlogs"


class AppEngine:
    """
    @ivar name: the app's name.
    @ivar state: C{running}, C{stopping}, C{stopped} or C{broken}.
    @ivar workers: C{{uuid: Worker}} that are not dead.
    @ivar queue: sessions waiting for a worker.
    """

    _machine = MethodicalMachine()

    def __init__(self, reactor, name, manifest, profile, directory, isolate,
                 socketPath, locatorEndpoint, storage=None, environ=None,
                 maxMessage=DEFAULT_MAX_BUFFER):
        """
        @param directory: the app's directory (unpacked archive or a local
            development directory); the worker runs there.
        @param isolate: a L{cocaine.isolate.process.ProcessIsolate}-like
            object with C{spawn} and C{signalGroup}.
        @param locatorEndpoint: a callable returning C{"host:port"} of the
            node's locator, for the worker's C{--locator}.
        @param storage: where crashlogs are written, or L{None}.
        @param environ: the base environment of workers (the node's).
        """
        self._reactor = reactor
        self.name = name
        self.manifest = manifest
        self.profile = profile
        self.directory = directory
        self._isolate = isolate
        self.socketPath = socketPath
        self._locator = locatorEndpoint
        self._storage = storage
        self._environ = dict(os.environ if environ is None else environ)
        self.maxMessage = maxMessage
        self.log = Logger(namespace="cocaine.app." + name)
        self.state = "stopped"
        self.brokenReason = None
        self.workers = {}
        self.queue = deque()
        self.running = set()
        self.pinned = None
        self.accepted = 0
        self.rejected = 0
        self.crashlogs = 0
        self._port = None
        self._drained = None
        self._psutil = {}
        self.drivers = {}
        #: C{monitor(source, field, value)} told of engine events and
        #: driver jobs (app monitoring), or L{None}.
        self.monitor = None

    # -- lifecycle -----------------------------------------------------------

    @_machine.state(initial=True)
    def _stopped(self):
        "Not serving."

    @_machine.state()
    def _running(self):
        "Serving: sessions are accepted and the pool scales."

    @_machine.state()
    def _broken(self):
        "A worker terminated abnormally: requests fail until restarted."

    @_machine.state()
    def _stopping(self):
        "Draining: no new sessions; the running ones finish."

    @_machine.input()
    def start(self):
        "Listen for workers and accept sessions."

    @_machine.input()
    def breaks(self, reason):
        "A worker sent terminate with code 2."

    @_machine.input()
    def stop(self, timeout=None):
        "Drain for at most C{timeout} seconds, then stop the workers."

    @_machine.output()
    def _listen(self):
        directory = os.path.dirname(self.socketPath)
        os.makedirs(directory, exist_ok=True)
        if os.path.exists(self.socketPath):
            os.unlink(self.socketPath)
        self._port = self._reactor.listenUNIX(self.socketPath,
                                              WorkerListener(self))
        self.state = "running"
        self.log.info("app {app} started from {directory}", app=self.name,
                      directory=self.directory)
        if self.pinned:
            self._scale()

    @_machine.output()
    def _markBroken(self, reason):
        self.state = "broken"
        self.brokenReason = reason
        self.log.error("app {app} is broken: {reason}", app=self.name,
                       reason=reason)
        self._failQueue(EngineBroken("app {} is broken: {}".format(
            self.name, reason)))

    @_machine.output()
    def _drain(self, timeout=None):
        # accepted sessions, queued or running, are still served
        self.state = "stopping"
        d = self._drained = Deferred()
        if timeout is not None:
            self._drainTimer = self._reactor.callLater(timeout,
                                                       self._drainDone)
        else:
            self._drainTimer = None
        self._checkDrained()
        return d

    @_machine.output()
    def _alreadyStopped(self, timeout=None):
        d = Deferred()
        d.callback(None)
        return d

    _stopped.upon(start, enter=_running, outputs=[_listen])
    _running.upon(breaks, enter=_broken, outputs=[_markBroken])
    _running.upon(stop, enter=_stopping, outputs=[_drain],
                  collector=lambda outputs: list(outputs)[-1])
    _broken.upon(breaks, enter=_broken, outputs=[])
    _broken.upon(stop, enter=_stopping, outputs=[_drain],
                 collector=lambda outputs: list(outputs)[-1])
    _stopping.upon(breaks, enter=_stopping, outputs=[])
    _stopping.upon(stop, enter=_stopping, outputs=[_alreadyStopped],
                   collector=lambda outputs: list(outputs)[-1])
    _stopped.upon(stop, enter=_stopped, outputs=[_alreadyStopped],
                  collector=lambda outputs: list(outputs)[-1])

    def _checkDrained(self):
        if self._drained is not None and not self.running and not self.queue:
            self._drainDone()

    def _drainDone(self):
        if self._drained is None:
            return
        d, self._drained = self._drained, None
        if self._drainTimer is not None and self._drainTimer.active():
            self._drainTimer.cancel()
        Deferred.fromCoroutine(self._shutdown()).chainDeferred(d)

    async def _shutdown(self):
        self._failQueue(AppNotRunning("app {} stopped before serving the "
                                      "request".format(self.name)))
        waits = []
        for worker in list(self.workers.values()):
            gone = Deferred()
            worker.onGone = gone
            waits.append(gone)
            worker.stop("app stopped")
        for gone in waits:
            await gone
        if self._port is not None:
            port, self._port = self._port, None
            await maybeDeferred(port.stopListening)
        cleanup = getattr(self._isolate, "cleanup", None)
        if cleanup is not None:
            cleanup()
        self.state = "stopped"
        self.log.info("app {app} stopped", app=self.name)
        self._report("stopped")

    # -- sessions ------------------------------------------------------------

    def enqueue(self, upstream, event, tag=None, headers=()):
        """
        Take a new session (the app service's C{enqueue}).

        @return: the L{Session}, the target of the client's stream.
        """
        session = Session(self, event, upstream)
        if self.state != "running":
            self.rejected += 1
            error = EngineBroken("app {} is broken: {}".format(
                self.name, self.brokenReason)) if self.state == "broken" \
                else AppNotRunning("app {} is {}".format(self.name,
                                                         self.state))
            session.fail(error)
            return session
        deadline = parseDeadline(headers)
        if deadline is not None:
            session.setDeadline(self._reactor, deadline)
        worker = self._pickWorker()
        if worker is not None:
            self.accepted += 1
            self.running.add(session)
            session.assigned(worker)
            return session
        if len(self.queue) >= self.profile.queueLimit:
            self.rejected += 1
            self._report("queue-full", depth=len(self.queue))
            session.fail(QueueFull("app {}: queue full ({} requests "
                                   "waiting)".format(self.name,
                                                     len(self.queue))))
            return session
        self.accepted += 1
        session.queuedAt = self._reactor.seconds()
        self.queue.append(session)
        self._scale()
        return session

    def queueFull(self):
        """
        Whether a new session would be refused now (timers skip then).
        """
        return (self.state != "running"
                or (len(self.queue) >= self.profile.queueLimit
                    and self._pickWorker() is None))

    def _pickWorker(self):
        best = None
        limit = self.profile.concurrency
        for worker in self.workers.values():
            if worker.state == "active" and worker.load < limit and (
                    best is None or worker.load < best.load):
                best = worker
        return best

    def _dispatchQueue(self):
        while self.queue:
            worker = self._pickWorker()
            if worker is None:
                break
            session = self.queue.popleft()
            if session.done:
                continue
            self.running.add(session)
            session.assigned(worker)

    def sessionFinished(self, session):
        self.running.discard(session)
        self._dispatchQueue()
        self._checkDrained()

    def sessionAbandoned(self, session):
        if session.worker is None:
            try:
                self.queue.remove(session)
            except ValueError:
                pass
            self._checkDrained()

    def _failQueue(self, error):
        queue, self.queue = self.queue, deque()
        for session in queue:
            session.fail(error)

    # -- the pool ------------------------------------------------------------

    def _count(self, *states):
        return sum(1 for w in self.workers.values() if w.state in states)

    def _target(self):
        if self.pinned is not None:
            return self.pinned
        depth = len(self.queue)
        if not depth:
            return 0
        return min(self.profile.poolLimit,
                   math.ceil(depth / self.profile.growThreshold))

    def _scale(self):
        if self.state not in ("running", "stopping"):
            return
        live = self._count("starting", "active")
        target = self._target()
        while live < target:
            if not self._spawn():
                break
            live += 1
        if self.pinned is not None and live > self.pinned:
            extra = sorted((w for w in self.workers.values()
                            if w.state in ("starting", "active")),
                           key=lambda w: w.load)[:live - self.pinned]
            for worker in extra:
                worker.stop("pool pinned at {}".format(self.pinned))

    def _spawn(self):
        uuid = str(_uuid.uuid4())
        worker = Worker(self, uuid, self._reactor, self.profile,
                        self._isolate)
        executable = os.path.join(self.directory, self.manifest.slave)
        args = ["--app", self.name, "--endpoint", self.socketPath,
                "--locator", self._locator(), "--protocol", "1",
                "--uuid", uuid]
        env = dict(self._environ)
        env.update(self.manifest.environment)
        self.workers[uuid] = worker
        try:
            transport = self._isolate.spawn(
                WorkerProcess(worker), executable, args, env,
                self.directory, self.name)
        except Exception as e:
            del self.workers[uuid]
            self.log.error("app {app}: cannot spawn a worker: {reason}",
                           app=self.name, reason=str(e))
            self._failQueue(SpawnFailed("app {}: cannot spawn a worker: {}"
                                        .format(self.name, e)))
            return False
        worker.started(transport)
        self._report("worker-spawned", uuid=uuid, pid=worker.pid)
        self.log.debug("app {app}: spawned worker {uuid} (pid {pid})",
                       app=self.name, uuid=uuid, pid=worker.pid)
        return True

    def _report(self, event, **fields):
        if self.monitor is not None:
            self.monitor("engine", event, fields)

    def pin(self, size):
        """
        Keep exactly C{size} workers (>= 0) regardless of load; a negative
        size returns to scaling by load.
        """
        self.pinned = None if size < 0 else size
        self._scale()

    def idleAllowed(self, worker):
        return self.pinned is None

    # -- what workers report ---------------------------------------------------

    def workerByUuid(self, uuid):
        worker = self.workers.get(uuid)
        if worker is not None and worker.state == "starting":
            return worker
        return None

    def workerActive(self, worker):
        self._dispatchQueue()

    def workerBroken(self, worker, reason):
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        self.breaks("worker {} terminated abnormally: {}".format(
            worker.uuid, reason))

    def workerOutputLine(self, line):
        self.log.info("{app}: {line}", app=self.name, line=line)

    def workerGone(self, worker):
        self.workers.pop(worker.uuid, None)
        self._psutil.pop(worker.uuid, None)
        self._report("worker-died" if worker.abnormal else "worker-stopped",
                     uuid=worker.uuid, pid=worker.pid, reason=worker.reason)
        if worker.abnormal:
            self.log.warn("app {app}: worker {uuid} (pid {pid}) died: "
                          "{reason}", app=self.name, uuid=worker.uuid,
                          pid=worker.pid, reason=worker.reason)
            self._writeCrashlog(worker)
        release = getattr(self._isolate, "release", None)
        if release is not None and worker.pid is not None:
            release(worker.pid)
        if worker.onGone is not None:
            worker.onGone.callback(None)
        elif self.state in ("running", "stopping"):
            if not worker.handshaken and worker.abnormal and not (
                    self._count("active")):
                # it never came up (no handshake): do not spin; tell the
                # waiting clients. One that was killed after its handshake
                # is simply replaced.
                self._failQueue(SpawnFailed(
                    "app {}: worker failed to start: {}".format(
                        self.name, worker.reason)))
            self._dispatchQueue()
            self._scale()
        self._checkDrained()

    def _writeCrashlog(self, worker):
        if self._storage is None or not self.profile.crashlogLimit:
            return
        key = "{}:{}".format(int(time.time() * 1e6), worker.uuid)
        lines = list(worker.output.lines) + [
            "[cocaine] worker {} (pid {}) ended: {}".format(
                worker.uuid, worker.pid, worker.reason)]
        self.crashlogs += 1
        d = maybeDeferred(self._storage.write, CRASHLOGS, key,
                          packValue(lines), [self.name])
        d.addErrback(lambda f: self.log.warn(
            "app {app}: crashlog not written: {reason}", app=self.name,
            reason=f.getErrorMessage()))

    # -- info ------------------------------------------------------------------

    def info(self):
        """
        The app info map (PROTOCOL.md section 5, app).
        """
        workers = []
        for worker in self.workers.values():
            workers.append(self._workerInfo(worker))
        loads = [w.load for w in self.workers.values()
                 if w.state == "active"]
        live = [w for w in self.workers.values() if w.state == "active"]
        return {
            "state": self.state,
            "queue": {"capacity": self.profile.queueLimit,
                      "depth": len(self.queue)},
            "pool": {"active": sum(1 for w in live if w.load),
                     "idle": sum(1 for w in live if not w.load),
                     "starting": self._count("starting"),
                     "capacity": self.profile.poolLimit,
                     "pinned": self.pinned},
            "sessions": {"pending": len(self.running)},
            "load-median": statistics.median(loads) if loads else 0,
            "profile": profileWire(self.profile),
            "requests": {"accepted": self.accepted,
                         "rejected": self.rejected},
            "crashlogs": self.crashlogs,
            "workers": workers,
            "drivers": {name: driver.info()
                        for name, driver in self.drivers.items()},
        }

    def _workerInfo(self, worker):
        rss = cpu = None
        if worker.pid is not None:
            try:
                import psutil
                process = self._psutil.get(worker.uuid)
                if process is None:
                    process = self._psutil[worker.uuid] = psutil.Process(
                        worker.pid)
                rss = process.memory_info().rss
                cpu = process.cpu_percent(None)
            except Exception:
                pass
        return {"uuid": worker.uuid, "pid": worker.pid,
                "state": worker.state, "load": worker.load, "rss": rss,
                "cpu": cpu, "accepted": worker.accepted}
