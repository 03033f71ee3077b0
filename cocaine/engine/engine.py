# -*- test-case-name: tests.engine.test_engine -*-
"""
The app engine: one per running app. It listens on the app's UNIX socket
for its workers, queues sessions, balances them over its workers, grows and
shrinks the pool (PROTOCOL.md sections 6 and 7). Its lifecycle is one
machine, L{EngineMachine}: it can be started, drained, stopped and started
again.

Balancing: a new session goes to the active worker with the fewest sessions
below C{concurrency}; otherwise it waits in the queue (bounded by
C{queue-limit}, over it: "queue full"). The pool grows toward C{queue depth
/ grow-threshold} workers, at most C{pool-limit}, and shrinks through idle
timeouts. C{control} pins the pool at a size.
"""

import os
from typing import Protocol

from automat import TypeMachineBuilder
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from cocaine.engine.admission import Admission
from cocaine.engine.connection import WorkerListener
from cocaine.engine import plainunix, sockets
from cocaine.engine.pool import Pool
from cocaine.engine.stalls import StallSweep
from cocaine.errors import AppNotRunning, EngineBroken
from cocaine.protocol.framing import DEFAULT_MAX_BUFFER
from cocaine.statemachine import build, nameStates


class EngineInputs(Protocol):
    """
    What happens to an engine.
    """

    def start(self) -> None:
        "Listen for workers and accept sessions."

    def breaks(self, reason: str) -> None:
        "A worker sent terminate with code 2."

    def drain(self, waiter: Deferred, timeout: object) -> None:
        "Accept no more sessions; fire C{waiter} once the accepted ones end."

    def stop(self, waiter: Deferred) -> None:
        "Fail what waits, stop the workers, close the socket; then fire."

    def stopped(self) -> None:
        "Every worker is gone and the socket is closed."

    def workerGone(self, worker: object) -> None:
        "A worker's process ended."

    def pin(self, size: object) -> None:
        "Keep exactly this many workers (None: scale by load)."

    def stateName(self) -> str:
        "The name of the state it is in."


class AppEngine(Admission, StallSweep):
    """
    Its sessions (queue, running set, admission and end) are its
    L{Admission}'s.

    @ivar pool: its L{Pool} of workers.
    @ivar machine: its L{EngineMachine}.
    @ivar monitor: C{monitor(source, field, value)} told of engine events
        and driver jobs (app monitoring), or L{None}.
    """

    #: Reads a worker connection's peer credentials from its transport
    #: (L{cocaine.engine.sockets.peerCredentials}); tests replace it.
    credentialsOf = staticmethod(sockets.peerCredentials)

    def __init__(self, reactor, name, manifest, profile, directory, isolate,
                 runtimeDirectory, locatorEndpoint, storage=None,
                 environ=None, maxMessage=DEFAULT_MAX_BUFFER,
                 crashlogNode=None):
        """
        @param directory: the app's directory (unpacked archive or a local
            development directory); the worker runs there.
        @param isolate: a L{cocaine.isolate.process.ProcessIsolate}-like
            object with C{spawn} and C{signalGroup}; its C{workerUid}, when
            it has one, is the uid its workers run as (this process's
            otherwise).
        @param runtimeDirectory: where each start makes the private
            directory of the app's socket (L{cocaine.engine.sockets}).
        @param locatorEndpoint: a callable returning C{"host:port"} of the
            node's locator, for the worker's C{--locator}.
        @param storage: where crashlogs are written, or L{None}.
        @param crashlogNode: the node's name in its crashlogs' keys (a
            shared storage), or L{None} for 0.12's keys
            (L{cocaine.protocol.crashlogs.crashlogKey}).
        @param environ: the base environment of workers (the node's).
        """
        Admission.__init__(self, reactor, name, profile)
        self.manifest = manifest
        self.directory = directory
        self.runtimeDirectory = runtimeDirectory
        #: the socket workers connect to while it runs (a new private
        #: directory each start), else L{None}
        self.socketPath = None
        self._socketDirectory = None
        self.maxMessage = maxMessage
        self.log = Logger(namespace="cocaine.app." + name)
        self.monitor = None
        self._port = None
        self._stopWaiters = []
        self.pool = Pool(self, reactor, isolate, locatorEndpoint, storage,
                         environ, crashlogNode=crashlogNode)
        self.machine = EngineMachine(self)

    # -- the lifecycle, delegated to the machine ------------------------------

    def start(self):
        """
        Listen for workers and accept sessions.
        """
        self.machine.start()

    def drain(self, timeout=None):
        """
        Accept no more sessions.

        @return: a Deferred that fires once the accepted ones (queued or
            running) finished, or after C{timeout} seconds.
        """
        waiter = Deferred()
        self.machine.drain(waiter, timeout)
        return waiter

    def stop(self, timeout=0):
        """
        Drain for at most C{timeout} seconds, then fail what still waits,
        stop the workers and close the socket.

        @return: a Deferred that fires once all of it is done.
        """
        return Deferred.fromCoroutine(self._stop(timeout))

    async def _stop(self, timeout):
        if timeout:
            await self.drain(timeout)
        waiter = Deferred()
        # no input returns a value: one that arrives while the machine is
        # in a transition (a drain fired from inside one) waits its turn
        self.machine.stop(waiter)
        await waiter

    @property
    def state(self):
        """
        The app's state as its info map says it: C{running}, C{broken},
        C{stopping} or C{stopped}.
        """
        name = self.machine.stateName()
        return "stopping" if name == "draining" else name

    def pin(self, size):
        """
        Keep exactly C{size} workers (>= 0) regardless of load; a negative
        size returns to scaling by load. A size above the profile's
        C{pool-limit} is clamped to it, as Cocaine 0.12 clamps its pool
        target, with a log line naming both.
        """
        if size < 0:
            self.machine.pin(None)
            return
        limit = self.profile.poolLimit
        if size > limit:
            self.log.warn("app {app}: control asked for {size} workers; "
                          "clamped to the pool-limit {limit}",
                          app=self.name, size=size, limit=limit)
            size = limit
        self.machine.pin(size)

    # -- sessions (the rest is Admission's) ---------------------------------

    def workerBusyPeriod(self, seconds, served, events):
        """
        A worker went idle after serving C{served} sessions of C{events}
        in C{seconds} (L{cocaine.engine.pool.Pool.busyPeriod}).
        """
        self.pool.busyPeriod(seconds, served, events)

    def _whenIdle(self, waiter, timeout):
        if not self.running and not self.queue:
            waiter.callback(None)
            return
        self._idleWaiters.append(waiter)
        if timeout is not None:
            timer = self._reactor.callLater(timeout, self._giveUp, waiter)
            waiter.addBoth(_cancelling(timer))

    def _giveUp(self, waiter):
        if waiter in self._idleWaiters:
            self._idleWaiters.remove(waiter)
            waiter.callback(None)

    # -- what workers report, through the pool ------------------------------

    def workerByUuid(self, uuid):
        return self.pool.workers.get(uuid)

    def admits(self, worker, transport):
        """
        Whether the process at the other end of C{transport} may handshake
        as C{worker}: the uuid alone admits nobody (it is on the worker's
        command line); the peer's credentials must match the process the
        node spawned (L{sockets.admits}).
        """
        credentials = self.credentialsOf(transport)
        uid = getattr(self.pool.isolate, "workerUid", None)
        ok = sockets.admits(
            credentials, worker.pid, os.geteuid() if uid is None else uid,
            inProcess=getattr(worker.transport, "inProcess", False))
        if not ok:
            self.log.warn(
                "app {app}: refused a handshake as worker {uuid} (pid "
                "{pid}) from {peer}", app=self.name, uuid=worker.uuid,
                pid=worker.pid, peer=credentials)
        return ok

    def workerActive(self, worker):
        self.pool.workerActive(worker)
        self.dispatchQueue()

    def workerLeaving(self, worker):
        self.pool.workerLeaving(worker)

    def workerBroken(self, worker, reason):
        self.machine.breaks("worker {} terminated abnormally: {}".format(
            worker.uuid, reason))

    def workerGone(self, worker):
        self.pool.workerGone(worker)
        self.machine.workerGone(worker)

    def workerOutputLine(self, line):
        self.log.info("{app}: {line}", app=self.name, line=line)

    def idleAllowed(self, worker):
        return self.pool.pinned is None

    def _report(self, event, **fields):
        if self.monitor is not None:
            self.monitor("engine", event, fields)

    # -- info -----------------------------------------------------------------

    def info(self):
        """
        The app info map (PROTOCOL.md section 5, app).
        """
        info = self.pool.info()
        info.update({
            "state": self.state,
            "queue": {"capacity": self.profile.queueLimit,
                      "depth": len(self.queue)},
            "sessions": {"pending": len(self.running)},
            "requests": {"accepted": self.accepted,
                         "rejected": self.stats.rejected},
        })
        return info

    def load(self):
        """
        The app's load record for the cluster's load report
        (L{cocaine.protocol.load}).
        """
        return {"queue": len(self.queue), "busy": self.pool.busy(),
                "sessions": len(self.running),
                "capacity": self.profile.poolLimit,
                "concurrency": self.profile.concurrency}

    # -- what the outputs do -------------------------------------------------

    def _listen(self):
        for stale in sockets.removeStale(self.runtimeDirectory, self.name):
            self.log.info("app {app}: removed the stale socket directory "
                          "{directory}", app=self.name, directory=stale)
        directory, path = sockets.makeSocketDirectory(self.runtimeDirectory,
                                                      self.name)
        isolate = self.pool.isolate
        uid = getattr(isolate, "workerUid", None)
        gid = getattr(isolate, "workerGid", None)
        try:
            listener = WorkerListener(self, self._reactor)
            self._port = plainunix.usePlainTransport(
                self._reactor.listenUNIX(path, listener, mode=0o600))
            if (uid, gid) != (None, None):
                sockets.shareWith(directory, path, uid, gid)
        except BaseException:
            sockets.removeSocketDirectory(directory, path,
                                          self.runtimeDirectory, self.name)
            raise
        self._socketDirectory, self.socketPath = directory, path

    async def _shutdown(self):
        try:
            self.failQueue(AppNotRunning("app {} stopped before serving the "
                                         "request".format(self.name)))
            await self.pool.stopAll("app stopped")
            if self._port is not None:
                port, self._port = self._port, None
                await maybeDeferred(port.stopListening)
                # this start's own private directory: nobody else's
                directory, self._socketDirectory = (self._socketDirectory,
                                                    None)
                if directory is not None:
                    sockets.removeSocketDirectory(
                        directory, self.socketPath, self.runtimeDirectory,
                        self.name)
            self.pool.cleanup()
        except Exception:
            # stopped all the same: what failed is in the log
            self.log.failure("app {app}: stopping failed", app=self.name)
        self.log.debug("app {app}: workers gone, socket closed",
                       app=self.name)
        self._report("stopped")
        self.machine.stopped()


def _cancelling(timer):
    def cancel(result):
        if timer.active():
            timer.cancel()
        return result
    return cancel


_builder = TypeMachineBuilder(EngineInputs, AppEngine)
_stopped = _builder.state("stopped")
_running = _builder.state("running")
_broken = _builder.state("broken")
_draining = _builder.state("draining")
_stopping = _builder.state("stopping")

nameStates([_stopped, _running, _broken, _draining, _stopping],
           EngineInputs.stateName)


@_stopped.upon(EngineInputs.start).to(_running)
def _begin(inputs, engine):
    engine._listen()
    engine.brokenReason = None
    engine._admit = engine._accept
    engine.log.info("app {app} started from {directory}", app=engine.name,
                    directory=engine.directory)
    engine.pool.scale()


@_running.upon(EngineInputs.breaks).to(_broken)
def _markBroken(inputs, engine, reason):
    engine.brokenReason = reason
    engine._admit = engine._refuseBroken
    engine.log.error("app {app} is broken: {reason}", app=engine.name,
                     reason=reason)
    engine.failQueue(EngineBroken("app {} is broken: {}".format(
        engine.name, reason)))


@_running.upon(EngineInputs.drain).to(_draining)
@_broken.upon(EngineInputs.drain).to(_draining)
def _startDraining(inputs, engine, waiter, timeout):
    # accepted sessions, queued or running, are still served
    engine._admit = engine._refuseStopped
    engine._whenIdle(waiter, timeout)


@_draining.upon(EngineInputs.drain).loop()
def _drainAgain(inputs, engine, waiter, timeout):
    engine._whenIdle(waiter, timeout)


@_running.upon(EngineInputs.stop).to(_stopping)
@_broken.upon(EngineInputs.stop).to(_stopping)
@_draining.upon(EngineInputs.stop).to(_stopping)
def _startStopping(inputs, engine, waiter):
    engine._admit = engine._refuseStopped
    engine._stopWaiters.append(waiter)
    Deferred.fromCoroutine(engine._shutdown())


@_stopping.upon(EngineInputs.stop).loop()
def _alreadyStopping(inputs, engine, waiter):
    engine._stopWaiters.append(waiter)


@_stopping.upon(EngineInputs.stopped).to(_stopped)
def _ended(inputs, engine):
    timer, engine._stallTimer = engine._stallTimer, None
    if timer is not None and timer.active():
        timer.cancel()
    waiters, engine._stopWaiters = engine._stopWaiters, []
    for waiter in waiters:
        waiter.callback(None)


@_stopped.upon(EngineInputs.stop).loop()
@_stopped.upon(EngineInputs.drain).loop()
@_stopping.upon(EngineInputs.drain).loop()
def _nothingToDo(inputs, engine, waiter, timeout=None):
    waiter.callback(None)


@_running.upon(EngineInputs.workerGone).loop()
@_draining.upon(EngineInputs.workerGone).loop()
def _replace(inputs, engine, worker):
    engine.pool.replace(worker)


@_running.upon(EngineInputs.pin).loop()
@_draining.upon(EngineInputs.pin).loop()
def _pinAndScale(inputs, engine, size):
    engine.pool.pinned = size
    engine.pool.scale()


@_stopped.upon(EngineInputs.pin).loop()
@_broken.upon(EngineInputs.pin).loop()
@_stopping.upon(EngineInputs.pin).loop()
def _pinLater(inputs, engine, size):
    # applied when it runs (again)
    engine.pool.pinned = size


for _state in (_broken, _draining, _stopping, _stopped):
    _state.upon(EngineInputs.breaks).loop().returns(None)
for _state in (_broken, _stopping, _stopped):
    _state.upon(EngineInputs.workerGone).loop().returns(None)

#: The lifecycle of one app's engine.
EngineMachine = build(_builder)
