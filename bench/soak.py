# -*- test-case-name: tests.integration.test_soak_smoke -*-
"""
Soak and chaos runs against a real node serving the echo app.

    python -m bench.soak [--minutes 10] [--rate 200] [--interval 30]
    python -m bench.soak --chaos [--requests 20000] [--rate 400] [--seed S]

Soak: a node (C{twistd cocaine}) with the echo example whose profile has a
2 s idle timeout and a pool limit of 4. The load runs at a fixed rate in a
cycle of steady load, a burst at three times the rate and a pause longer
than the idle timeout, so bursts may grow the pool and workers are recycled by
idle timeouts all along. Every C{--interval} seconds it prints: elapsed
seconds, requests ok, errors and timeouts, the node's RSS and open file
descriptors (psutil), its worker count, and the workers spawned so far
(from the node's log: each one past the first replaced an idled-out one).
At the end it compares the last sample to the first one after warm-up (the
first interval) and exits 1 if RSS or file descriptors grew by more than
10%, or if any request timed out.

Chaos: the same app with a 2 s heartbeat timeout, the pool pinned at 4
with C{node.control}, C{--requests} requests at C{--rate} while workers
are sent SIGKILL or SIGSTOP at random (a stopped worker gets SIGCONT a
little later, or is left stopped for the heartbeat timeout to kill).
Every request must end with a reply or an error within its client
deadline; prints replies, errors, timeouts and lost (must be 0), then
whether the pool came back to 4 active workers. Exits 1 otherwise.
"""

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter

import psutil
from twisted.internet import defer, task

from tests.integration.node import ROOT, Node

ECHO = os.path.join(ROOT, "examples", "apps", "echo")
APP = "echo"
POOL = 4
#: per-request client deadline (seconds): a request not done by then hangs
DEADLINE = 15.0


def makeApp(directory, heartbeatInterval=0.5):
    """
    A copy of the echo app whose workers heartbeat every
    C{heartbeatInterval} seconds (so a short heartbeat-timeout is safe).

    @return: the app's directory.
    """
    path = os.path.join(directory, "echo-app")
    os.makedirs(path, exist_ok=True)
    shutil.copy(os.path.join(ECHO, "worker.py"), path)
    os.chmod(os.path.join(path, "worker.py"), 0o755)
    with open(os.path.join(path, "manifest.json"), "w") as f:
        f.write('{"slave": "worker.py", "environment": '
                '{"COCAINE_HEARTBEAT_INTERVAL": "%s"}}' % heartbeatInterval)
    return path


def nodeConfig(appPath, **profile):
    base = {"pool-limit": POOL, "concurrency": 2, "queue-limit": 2000,
            "heartbeat-timeout": 2, "idle-timeout": 2,
            "termination-timeout": 1, "startup-timeout": 5}
    base.update(profile)
    return {"network": {"locator": 0}, "services": {
        "logging": {"type": "logging"},
        "storage": {"type": "storage"},
        "node": {"type": "node", "args": {
            "local": {APP: {"path": appPath, "profile": base}},
            "drain-timeout": 2}}}}


class Timeout(Exception):
    """
    A request that did not end within its deadline.
    """


def request(reactor, app, payload, deadline=DEADLINE):
    """
    One echo request: enqueue, one chunk, close, read until close.

    @return: a Deferred of L{None} (the reply was the payload), failing
        with the service's error, or with L{Timeout} past C{deadline}.
    """
    async def run():
        channel = await app.enqueue("echo")
        channel.write(payload)
        channel.close()
        chunks = [chunk async for chunk in channel]
        if chunks != [payload]:
            raise ValueError("wrong reply {!r}".format(chunks[:2]))

    d = defer.Deferred.fromCoroutine(run())
    d.addTimeout(deadline, reactor,
                 onTimeoutCancel=lambda result, seconds: _timeout(seconds))
    return d


def _timeout(seconds):
    raise Timeout("no reply or error within {}s".format(seconds))


class Tally:
    """
    Outcomes of requests: ok, errors by kind, timeouts.
    """

    def __init__(self):
        self.sent = 0
        self.ok = 0
        self.errors = Counter()
        self.timeouts = 0
        self.inflight = 0

    def track(self, d):
        self.sent += 1
        self.inflight += 1

        def done(result):
            self.inflight -= 1
            self.ok += 1

        def failed(failure):
            self.inflight -= 1
            if failure.check(Timeout):
                self.timeouts += 1
            else:
                self.errors[type(failure.value).__name__] += 1
        d.addCallbacks(done, failed)
        return d

    @property
    def errorCount(self):
        return sum(self.errors.values())


async def workers(nodeService, active=False):
    info = await nodeService.info(APP, timeout=10)
    return [w for w in info["workers"]
            if not active or w["state"] == "active"]


async def pinPool(nodeService, size):
    """
    Pin the pool with C{node.control}; the channel stays open.
    """
    channel = await nodeService.control(APP)
    channel.write(size)
    return channel


async def waitPool(reactor, nodeService, size, timeout=30.0):
    """
    @return: True once the app has C{size} active workers (all alive).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = await workers(nodeService)
        if len(current) == size and all(
                w["state"] == "active" and w["pid"]
                and psutil.pid_exists(w["pid"])
                and psutil.Process(w["pid"]).status()
                != psutil.STATUS_STOPPED for w in current):
            return True
        await task.deferLater(reactor, 0.2)
    return False


async def chaos(reactor, locator, total, rate, rng, log=print,
                interval=0.25):
    """
    Send C{total} echo requests at C{rate} per second while a killer sends
    SIGKILL or SIGSTOP to a random worker every C{interval} seconds on
    average; stopped workers get SIGCONT after 0.1-3 s, or never.

    @return: (tally, faults Counter, recovered: bool)
    """
    from cocaine.client import Service
    app = Service(APP, locator, timeout=DEADLINE)
    nodeService = Service("node", locator, timeout=DEADLINE)
    control = await pinPool(nodeService, POOL)
    await waitPool(reactor, nodeService, POOL)
    tally = Tally()
    faults = Counter()
    stopped = set()
    later = []
    running = [True]

    async def killer():
        while running[0]:
            await task.deferLater(reactor, rng.uniform(0.5, 1.5) * interval)
            if not running[0]:
                break
            try:
                pids = [w["pid"] for w in await workers(nodeService)
                        if w["pid"] and w["pid"] not in stopped]
            except Exception as e:
                faults["info-error " + type(e).__name__] += 1
                continue
            if not pids:
                continue
            pid = rng.choice(pids)
            # a kill and a stop first, so that a short load sees both
            # (a run once ended with every pick a stop); then at random
            first = [h for h in ("kill", "stop") if not faults[h]]
            how = first[0] if first else rng.choice(
                ["kill", "stop", "stop-forever"])
            try:
                if how == "kill":
                    os.kill(pid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGSTOP)
                    stopped.add(pid)
                    if how == "stop":
                        later.append(reactor.callLater(
                            rng.uniform(0.1, 3.0), _cont, pid))
            except ProcessLookupError:
                continue
            faults[how] += 1

    def _cont(pid):
        stopped.discard(pid)
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    killing = defer.Deferred.fromCoroutine(killer())
    pending = []
    began = time.monotonic()
    tick = 0.02
    perTick = rate * tick
    credit = 0.0
    while tally.sent < total:
        credit += perTick
        while credit >= 1 and tally.sent < total:
            credit -= 1
            payload = b"%d" % tally.sent
            pending.append(tally.track(request(reactor, app, payload)))
        await task.deferLater(reactor, tick)
        if tally.sent % 2000 < perTick:
            log("  {:6.1f}s sent {} ok {} errors {} timeouts {}".format(
                time.monotonic() - began, tally.sent, tally.ok,
                tally.errorCount, tally.timeouts))
    await defer.DeferredList(pending, consumeErrors=True)
    running[0] = False
    await killing
    for call in later:
        if call.active():
            call.cancel()
    for pid in list(stopped):
        _cont(pid)
    recovered = await waitPool(reactor, nodeService, POOL, timeout=30)
    control.close()
    await nodeService.disconnect()
    await app.disconnect()
    return tally, faults, recovered


def sample(node, began, tally, workerCount):
    process = psutil.Process(node.process.pid)
    return {"elapsed": time.monotonic() - began, "ok": tally.ok,
            "errors": tally.errorCount, "timeouts": tally.timeouts,
            "rss": process.memory_info().rss, "fds": process.num_fds(),
            "workers": workerCount,
            "spawned": node.log().count("spawned worker")}


HEADER = "{:>8} {:>9} {:>7} {:>8} {:>9} {:>5} {:>7} {:>7}".format(
    "elapsed", "ok", "errors", "timeouts", "rss MiB", "fds", "workers",
    "spawned")


def row(s):
    return "{:>8.1f} {:>9} {:>7} {:>8} {:>9.1f} {:>5} {:>7} {:>7}".format(
        s["elapsed"], s["ok"], s["errors"], s["timeouts"],
        s["rss"] / 2 ** 20, s["fds"], s["workers"], s["spawned"])


async def soak(reactor, node, locator, minutes, rate, interval, rng,
               log=print):
    """
    The soak load; prints a row every C{interval} seconds.

    @return: (tally, samples)
    """
    from cocaine.client import Service
    app = Service(APP, locator, timeout=DEADLINE)
    nodeService = Service("node", locator, timeout=DEADLINE)
    tally = Tally()
    samples = []
    began = time.monotonic()
    end = began + minutes * 60
    nextSample = began
    # steady 8 s at rate, 2 s burst at 3x rate, 3 s pause (> idle-timeout)
    cycle = [(8.0, rate), (2.0, 3 * rate), (3.0, 0)]
    phase, phaseEnd = 0, began + cycle[0][0]
    tick, credit = 0.02, 0.0
    pending = set()
    log(HEADER)
    while True:
        now = time.monotonic()
        if now >= nextSample or now >= end:
            count = len(await workers(nodeService))
            s = sample(node, began, tally, count)
            samples.append(s)
            log(row(s))
            nextSample += interval
            if now >= end:
                break
        if now >= phaseEnd:
            phase = (phase + 1) % len(cycle)
            phaseEnd = now + cycle[phase][0]
        credit += cycle[phase][1] * tick
        while credit >= 1:
            credit -= 1
            d = tally.track(request(reactor, app, b"x" * rng.randint(1, 512)))
            pending.add(d)
            d.addBoth(lambda _, d=d: pending.discard(d))
        await task.deferLater(reactor, tick)
    await defer.DeferredList(list(pending), consumeErrors=True)
    await nodeService.disconnect()
    await app.disconnect()
    return tally, samples


def growth(samples, interval):
    """
    @return: (first sample after warm-up, last sample), or L{None} when the
        run was too short to judge.
    """
    warm = [s for s in samples if s["elapsed"] >= interval - 1]
    if len(warm) < 2:
        return None
    return warm[0], warm[-1]


async def main(reactor, argv):
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--chaos", action="store_true")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true",
                        help="keep the node's directory")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2 ** 32)
    rng = random.Random(seed)
    directory = tempfile.mkdtemp(prefix="cocaine-soak-")
    from cocaine.client import Locator
    node = Node(os.path.join(directory, "node"),
                nodeConfig(makeApp(directory)))
    print("{} {} (seed {}) dir {}".format(
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "chaos" if args.chaos else "soak", seed, directory), flush=True)
    node.start()
    locator = Locator(reactor, [("127.0.0.1", node.port)], timeout=20)
    failed = []
    try:
        if args.chaos:
            print("chaos: {} requests at {}/s, pool pinned at {}, "
                  "heartbeat-timeout 2s, deadline {}s".format(
                      args.requests, args.rate, POOL, DEADLINE), flush=True)
            tally, faults, recovered = await chaos(
                reactor, locator, args.requests, args.rate, rng,
                log=lambda line: print(line, flush=True))
            lost = tally.sent - tally.ok - tally.errorCount
            print("faults injected: {}".format(dict(faults)))
            print("requests {} replies {} errors {} {} timeouts {} lost {}"
                  .format(tally.sent, tally.ok, tally.errorCount,
                          dict(tally.errors), tally.timeouts, lost))
            print("pool recovered to {}: {}".format(POOL, recovered))
            if lost or tally.timeouts or not recovered:
                failed.append("lost requests or pool not recovered")
        else:
            print("soak: {} min at {}/s (cycle 8 s steady, 2 s burst x3, "
                  "3 s pause), pool-limit {}, idle-timeout 2s".format(
                      args.minutes, args.rate, POOL), flush=True)
            tally, samples = await soak(
                reactor, node, locator, args.minutes, args.rate,
                args.interval, rng, log=lambda line: print(line, flush=True))
            print("requests {} ok {} errors {} {} timeouts {}".format(
                tally.sent, tally.ok, tally.errorCount, dict(tally.errors),
                tally.timeouts))
            judged = growth(samples, args.interval)
            if judged is None:
                print("growth: run too short to judge (needs two samples "
                      "after the {:g} s warm-up)".format(args.interval))
            else:
                first, last = judged
                for key in ("rss", "fds"):
                    change = (last[key] - first[key]) / first[key]
                    print("growth {}: {} -> {} ({:+.1f}%)".format(
                        key, first[key], last[key], 100 * change))
                    if change > 0.10:
                        failed.append("{} grew {:.1f}%".format(
                            key, 100 * change))
            if tally.timeouts:
                failed.append("{} requests timed out".format(tally.timeouts))
    finally:
        await locator.disconnect()
        status, _ = node.stop()
        print("node stopped (exit status {})".format(status))
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    if failed:
        print("FAILED: " + "; ".join(failed), flush=True)
        sys.exit(1)
    print("PASSED", flush=True)


if __name__ == "__main__":
    task.react(lambda reactor: defer.Deferred.fromCoroutine(
        main(reactor, sys.argv[1:])))
