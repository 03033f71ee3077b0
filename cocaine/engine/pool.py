# -*- test-case-name: tests.engine.test_engine -*-
"""
An app's pool of workers: spawning, picking the worker for a session,
growing toward the queue's needs, shrinking to a pin, crashlogs.

The pool keeps two views its engine decides with: C{workers}, every worker
whose process has not ended, and C{ready}, the ones that can take sessions
now; each worker's machine tells the pool when one enters or leaves
C{ready} (its C{active} state).
"""

import math
import os
import statistics
import time
import uuid as _uuid

from twisted.internet.defer import Deferred, gatherResults, maybeDeferred

from cocaine.engine.connection import WorkerProcess
from cocaine.engine.manifest import profileWire
from cocaine.engine.worker import Worker
from cocaine.errors import SpawnFailed
from cocaine.isolate.scheduling import policyOf
from cocaine.protocol.crashlogs import CRASHLOGS, crashlogKey, crashlogTags
from cocaine.protocol.framing import packValue
from cocaine.protocol.worker import workerArguments
from cocaine.rpc import writes

#: While fewer sessions than this run in the app, the cheap sessions
#: (L{CHEAP}) one read opens go to one worker (L{Pool.pick}).
GROUP_BELOW = 16

#: A request of an event costs a worker less than this many seconds
#: (L{Pool.costs}): handing a client's read of them to one worker, one
#: wake-up, beats waking two for them. Grouping k such requests delays
#: the last by at most k - 1 times this where idle cores could have run
#: them in parallel.
CHEAP = 0.0002

#: How far one busy period's measure moves an event's cost down (up, it
#: moves all the way at once).
COST_WEIGHT = 0.25

#: The most events whose cost is kept (event names are the clients'):
#: past it, the one measured longest ago is forgotten.
MAX_COSTS = 256


class Pool:
    """
    @ivar workers: C{{uuid: Worker}} whose process has not ended.
    @ivar ready: C{{uuid: Worker}} that can take sessions.
    @ivar leaving: uuids of workers asked to go or failed, not yet ended.
    @ivar pinned: the pinned pool size, or L{None} to scale by load.
    @ivar crashlogs: crashlogs written.
    @ivar costs: C{{event: seconds}}, what a request of each event costs
        a worker, measured over the workers' busy periods (from a
        session taken while idle to idle again, divided by the sessions
        served, for each event served in it): a higher measure at once;
        a lower one a quarter of the way, and only from a period that
        served that event alone (a costly event among many cheap ones
        measures low). At most L{MAX_COSTS} events, the most recently
        measured.
    """

    def __init__(self, engine, reactor, isolate, locatorEndpoint, storage,
                 environ, crashlogNode=None):
        """
        @param crashlogNode: the node's name in crashlog keys, or L{None}.
        """
        self._engine = engine
        self._crashlogNode = crashlogNode
        self._reactor = reactor
        self._isolate = isolate
        self._locator = locatorEndpoint
        self._storage = storage
        self._environ = dict(environ or {})
        self.workers = {}
        self.ready = {}
        self.leaving = set()
        self.pinned = None
        self.costs = {}
        self.crashlogs = 0
        self._gone = {}
        self._psutil = {}
        #: C{(writes.batches.generation, worker)}: the worker of the last
        #: cheap session picked in a batch
        self._lastPick = None

    @property
    def isolate(self):
        """
        The isolate that spawns this pool's workers.
        """
        return self._isolate

    @property
    def _profile(self):
        return self._engine.profile

    def pick(self, event=None):
        """
        The worker for a new session: the ready one with the fewest
        sessions below C{concurrency}.

        While few sessions run (L{GROUP_BELOW}), a cheap session
        (L{CHEAP}: its event's measured cost) opened in the same batch of
        writes as the cheap one before it (one read of a client, or a
        turn the HTTP gateway holds) goes to that one's worker, while it
        has room: a client's pipelined cheap requests then wake one
        worker, not every worker, and their answers leave in one send.
        Where the node and its workers share a CPU, waking a second
        worker for a few cheap requests costs more than it runs in
        parallel: with 8 in flight the server's CPU a request fell by a
        third (docs/performance.md, ninth round). Costly requests, those
        of an event not measured yet, and many at once, are spread.

        A worker a slow client holds (L{Worker.held}: its connection is
        not read until that client reads) is picked only when no other
        worker has room, the least loaded of those held then.

        @param event: the session's event; L{None} to ask without a
            session (nothing is grouped).
        @return: the worker, or L{None} when none can take a session.
        """
        limit = self._profile.concurrency
        group = 0
        if event is not None and len(self._engine.running) < GROUP_BELOW:
            cost = self.costs.get(event)
            if cost is not None and cost < CHEAP:
                group = writes.batches.generation
                last = self._lastPick
                if group and last is not None and last[0] == group:
                    worker = last[1]
                    if (len(worker.sessions) < limit and not worker.held
                            and self.ready.get(worker.uuid) is worker):
                        return worker
        best = None
        least = None
        for worker in self.ready.values():
            load = len(worker.sessions)
            if load < limit:
                if worker.held:
                    # its answers wait behind a slow client's stream
                    load += limit
                if best is None or load < least:
                    best = worker
                    least = load
        if event is not None:
            # a costly session ends the group
            self._lastPick = (group, best) if group and best else None
        return best

    def busyPeriod(self, seconds, served, events):
        """
        A worker went idle after serving C{served} sessions of C{events}
        in C{seconds} since it took the first of them while idle: one
        measure of L{costs} for each of those events (lowering one only
        when it was served alone). A negative period (the clock stepped
        back) measures nothing.
        """
        if served <= 0 or seconds < 0:
            return
        sample = seconds / served
        alone = len(events) == 1
        costs = self.costs
        for event in events:
            cost = costs.pop(event, None)
            if cost is None or sample > cost:
                cost = sample
            elif alone:
                cost += COST_WEIGHT * (sample - cost)
            # last in the map: the most recently measured
            costs[event] = cost
        while len(costs) > MAX_COSTS:
            del costs[next(iter(costs))]

    def busy(self):
        return sum(1 for w in self.ready.values() if w.sessions)

    def _live(self):
        return len(self.workers) - len(self.leaving)

    def _target(self):
        if self.pinned is not None:
            return min(self.pinned, self._profile.poolLimit)
        depth = len(self._engine.queue)
        if not depth:
            return 0
        return min(self._profile.poolLimit,
                   math.ceil(depth / self._profile.growThreshold))

    def scale(self):
        """
        Grow toward what the queue needs (or the pin), and shrink to the
        pin, stopping the least loaded.
        """
        live = self._live()
        target = self._target()
        # Workers still leaving count against pool-limit: pinning up and
        # down in a loop must never hold more processes than the limit.
        ceiling = self._profile.poolLimit
        while live < target and len(self.workers) < ceiling:
            if not self._spawn():
                break
            live += 1
        if self.pinned is not None and live > self.pinned:
            extra = sorted((w for u, w in self.workers.items()
                            if u not in self.leaving),
                           key=lambda w: w.load)[:live - self.pinned]
            for worker in extra:
                worker.stop("pool pinned at {}".format(self.pinned))

    def _spawn(self):
        engine = self._engine
        uuid = str(_uuid.uuid4())
        worker = Worker(engine, uuid, self._reactor, self._profile,
                        self._isolate)
        executable = os.path.join(engine.directory, engine.manifest.slave)
        args = workerArguments(engine.name, engine.socketPath,
                               self._locator(), uuid)
        env = dict(self._environ)
        env.update(engine.manifest.environment)
        # the operator's profile over the app's manifest
        env.update(self._profile.environment)
        self.workers[uuid] = worker
        try:
            transport = self._isolate.spawn(
                WorkerProcess(worker), executable, args, env,
                engine.directory, engine.name)
        except Exception as e:
            del self.workers[uuid]
            engine.log.error("app {app}: cannot spawn a worker: {reason}",
                             app=engine.name, reason=str(e))
            engine.failQueue(SpawnFailed("app {}: cannot spawn a worker: {}"
                                         .format(engine.name, e)))
            return False
        worker.started(transport)
        engine.stats.spawned += 1
        engine._report("worker-spawned", uuid=uuid, pid=worker.pid)
        engine.log.debug("app {app}: spawned worker {uuid} (pid {pid})",
                         app=engine.name, uuid=uuid, pid=worker.pid)
        return True

    def _forgetPick(self, worker):
        last = self._lastPick
        if last is not None and last[1] is worker:
            self._lastPick = None

    def workerActive(self, worker):
        self.ready[worker.uuid] = worker

    def workerLeaving(self, worker):
        self.ready.pop(worker.uuid, None)
        self._forgetPick(worker)
        if worker.uuid in self.workers:
            self.leaving.add(worker.uuid)

    def workerGone(self, worker):
        """
        A worker's process ended: forget it, write its crashlog if it
        crashed, release what the isolate holds for it.
        """
        engine = self._engine
        self.workers.pop(worker.uuid, None)
        self.ready.pop(worker.uuid, None)
        self._forgetPick(worker)
        self.leaving.discard(worker.uuid)
        self._psutil.pop(worker.uuid, None)
        ending = worker.ending
        abnormal = ending is not None and ending.abnormal
        engine._report("worker-died" if abnormal else "worker-stopped",
                       uuid=worker.uuid, pid=worker.pid, reason=worker.reason)
        if abnormal:
            engine.stats.crashed += 1
            engine.log.warn("app {app}: worker {uuid} (pid {pid}) died: "
                            "{reason}", app=engine.name, uuid=worker.uuid,
                            pid=worker.pid, reason=worker.reason)
            self._writeCrashlog(worker)
        release = getattr(self._isolate, "release", None)
        if release is not None and worker.pid is not None:
            release(worker.pid)
        waiter = self._gone.pop(worker.uuid, None)
        if waiter is not None:
            waiter.callback(None)

    def replace(self, worker):
        """
        While the app serves: a worker that never came up fails what waits
        (no spinning); any other is simply replaced as the queue needs.
        """
        ending = worker.ending
        if (ending is not None and ending.abnormal and not ending.cameUp
                and not self.ready):
            self._engine.failQueue(SpawnFailed(
                "app {}: worker failed to start: {}".format(
                    self._engine.name, ending.reason)))
        self._engine.dispatchQueue()
        self.scale()

    def stopAll(self, reason):
        """
        Stop every worker.

        @return: a Deferred that fires once all their processes ended.
        """
        waits = []
        for worker in list(self.workers.values()):
            waiter = self._gone[worker.uuid] = Deferred()
            waits.append(waiter)
            worker.stop(reason)
        return gatherResults(waits)

    def cleanup(self):
        cleanup = getattr(self._isolate, "cleanup", None)
        if cleanup is not None:
            cleanup()

    def _writeCrashlog(self, worker):
        engine = self._engine
        if self._storage is None or not self._profile.crashlogLimit:
            return
        now = time.time()
        key = crashlogKey(now, worker.uuid, self._crashlogNode)
        lines = list(worker.output.lines) + [
            "[cocaine] worker {} (pid {}) ended: {}".format(
                worker.uuid, worker.pid, worker.reason)]
        self.crashlogs += 1
        d = maybeDeferred(self._storage.write, CRASHLOGS, key,
                          packValue(lines), crashlogTags(engine.name, now))
        d.addErrback(lambda f: engine.log.warn(
            "app {app}: crashlog not written: {reason}", app=engine.name,
            reason=f.getErrorMessage()))

    # -- info -----------------------------------------------------------------

    def info(self):
        """
        The pool's part of the app info map.
        """
        ready = list(self.ready.values())
        loads = [w.load for w in ready]
        return {
            "pool": {"active": sum(1 for w in ready if w.load),
                     "idle": sum(1 for w in ready if not w.load),
                     "starting": self._live() - len(ready),
                     "capacity": self._profile.poolLimit,
                     "pinned": self.pinned},
            "load-median": statistics.median(loads) if loads else 0,
            # Pool.costs, which decide whether a read's sessions go to
            # one worker (pick)
            "request-cost-us": {event: round(cost * 1e6, 1)
                                for event, cost in self.costs.items()},
            "profile": profileWire(self._profile),
            "crashlogs": self.crashlogs,
            "workers": [self._workerInfo(w) for w in self.workers.values()],
        }

    def _workerInfo(self, worker):
        rss = cpu = policy = None
        if worker.pid is not None:
            try:
                import psutil
                process = self._psutil.get(worker.uuid)
                if process is None:
                    process = self._psutil[worker.uuid] = psutil.Process(
                        worker.pid)
                rss = process.memory_info().rss
                cpu = process.cpu_percent(None)
                policy = policyOf(worker.pid)
            except Exception:
                # gone between the check and the read, or not permitted:
                # the figures are simply unknown
                rss = cpu = policy = None
        return {"uuid": worker.uuid, "pid": worker.pid,
                "state": worker.state, "load": worker.load, "rss": rss,
                "cpu": cpu, "scheduling": policy,
                "accepted": worker.accepted}
