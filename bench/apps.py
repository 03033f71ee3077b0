# -*- test-case-name: tests.integration.test_bench -*-
"""
The echo app through the node, side by side with the floor.

    python -m bench.apps [--quick] [--requests N] [--runs R]

Workloads, against a real node (twistd cocaine) serving the Python echo
example (C{examples/apps/echo}); a request is C{enqueue(event)} plus close
of the request stream, then reading the reply until close:
  1. sequential C{enqueue("ping")}: requests/s, p50, p99;
  2. 64 requests in flight on one connection, the pool pinned at 2 workers
     with C{node.control} (concurrency 64): requests/s, p99;
  both next to the bare Twisted msgpack echo of L{bench.rpc} (one hop, no
  worker), called with the same client connection class;
  3. cold start: C{node.start_app} of the echo app deployed through storage
     the way the Cocaine tools do it, until its first reply; then
     C{pause_app}; median of the repetitions;
  4. burst: 50 requests in flight (C{slow}, 100 ms each) against a pool of
     one worker: the time until the pool has pool-limit (4) active workers,
     and until all 50 are answered;
  5. RSS when idle: the node, and each Python worker (psutil).
The node is pinned to CPU 0 (its workers inherit that) and this client to
CPU 1 when the machine has two CPUs. Prints the machine, then a table;
median of the runs, with the spread.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import psutil
from twisted.internet import defer, task

from cocaine.client.deploy import upload
from bench.rpc import inflight, machine, median, pin, sequential, startFloor
from bench.rpc import measure as measureRpc
from tests.integration.node import ROOT, Node

ECHO = os.path.join(ROOT, "examples", "apps", "echo")

TARGETS = {"sequential": 5000, "inflight": 15000, "cold": 300,
           "workerRss": 25}

#: the app deployed through storage for the cold start
COLD = "echo-cold"
#: local app for the burst, and its pool limit
BURST, BURST_LIMIT, BURST_REQUESTS, BURST_MS = "echo-burst", 4, 50, 100


def nodeConfig():
    return {
        "network": {"locator": 0},
        "services": {
            "logging": {"type": "logging"},
            "storage": {"type": "storage"},
            "node": {"type": "node", "args": {"local": {
                "echo": {"path": ECHO, "profile": {
                    "pool-limit": 2, "concurrency": 64,
                    "queue-limit": 1000, "idle-timeout": 0}},
                # one worker takes 10 (concurrency); the 40 queued ask for
                # ceil(40 / grow-threshold 10) = 4 workers
                BURST: {"path": ECHO, "profile": {
                    "pool-limit": BURST_LIMIT, "concurrency": 10,
                    "grow-threshold": 10, "queue-limit": 100,
                    "idle-timeout": 0}},
            }}},
        },
    }


class BadReply(Exception):
    """
    The app answered something else than expected.
    """


def request(app, event, chunk=None, expect=b"pong"):
    """
    One app request: enqueue, (one chunk,) close, read until close.

    @return: a Deferred that fires with L{None} once the reply is closed.
    """
    def opened(channel):
        if chunk is not None:
            channel.write(chunk)
        channel.close()
        return channel.recv().addCallback(first, channel)

    def first(event, channel):
        name, args = event
        if name == "error":
            raise args
        if name != "write" or args[0] != expect:
            raise BadReply("{}: {!r}".format(name, args))
        return channel.recv().addCallback(rest, channel)

    def rest(event, channel):
        name, args = event
        if name == "close":
            return None
        if name == "error":
            raise args
        return channel.recv().addCallback(rest, channel)

    return app.enqueue(event).addCallback(opened)


async def control(node, name, size):
    channel = await node.control(name)
    channel.write(size)
    channel.close()
    await channel.read()


async def waitWorkers(reactor, app, count, timeout=30.0):
    """
    Wait until the app has exactly C{count} workers, all active.

    @return: the last info map.
    """
    deadline = time.monotonic() + timeout
    while True:
        info = await app.info()
        workers = info["workers"]
        if len(workers) == count and all(w["state"] == "active"
                                         for w in workers):
            return info
        if time.monotonic() > deadline:
            raise RuntimeError("{}: wanted {} active workers, have {}".format(
                app.name, count, [(w["pid"], w["state"]) for w in workers]))
        await task.deferLater(reactor, 0.01)


async def measureEcho(reactor, port, requests, runs, window, warmup):
    from cocaine.client import Locator, Service
    locator = Locator(reactor, [("127.0.0.1", port)])
    node = Service("node", locator)
    app = Service("echo", locator)
    await control(node, "echo", 2)
    await waitWorkers(reactor, app, 2)

    def call():
        return request(app, "ping")
    for _ in range(warmup):
        await call()
    results = {"sequential": [], "inflight": []}
    for _ in range(runs):
        results["sequential"].append(await sequential(
            call, max(requests // 5, 200)))
        results["inflight"].append(await inflight(call, requests, window))
    info = await app.info()
    results["workers"] = [w["pid"] for w in info["workers"]]
    await app.disconnect()
    await node.disconnect()
    await locator.disconnect()
    return results


async def measureFloor(reactor, port, requests, runs, window, warmup):
    """
    The floor, measured as L{bench.rpc} measures it.
    """
    return await measureRpc(reactor, {"kind": "floor", "port": port},
                            requests, runs, window, warmup)


async def measureColdStart(reactor, port, repetitions):
    """
    C{start_app} of an app deployed through storage until its first reply,
    then C{pause_app}.

    @return: the times in milliseconds.
    """
    from cocaine.client import Locator, Service
    locator = Locator(reactor, [("127.0.0.1", port)])
    node = Service("node", locator)
    storage = Service("storage", locator)
    await upload(storage, COLD, path=ECHO, profileName="bench-cold",
                 profile={"pool-limit": 1, "idle-timeout": 0})
    times = []
    for _ in range(repetitions):
        app = Service(COLD, locator)
        began = time.perf_counter()
        await node.start_app(COLD, "bench-cold")
        await request(app, "ping")
        times.append((time.perf_counter() - began) * 1e3)
        await app.disconnect()
        await node.pause_app(COLD)
    await storage.disconnect()
    await node.disconnect()
    await locator.disconnect()
    return times


async def measureBurst(reactor, port, repetitions):
    """
    From one idle worker, C{BURST_REQUESTS} slow requests at once: the time
    until the pool has C{BURST_LIMIT} active workers, and until every
    request is answered.

    @return: C{[{"grown": ms, "answered": ms, "errors": n}]}.
    """
    from cocaine.client import Locator, Service
    locator = Locator(reactor, [("127.0.0.1", port)])
    node = Service("node", locator)
    app = Service(BURST, locator)
    results = []
    for _ in range(repetitions):
        await control(node, BURST, 1)           # back to one worker
        await waitWorkers(reactor, app, 1)
        await control(node, BURST, -1)          # scale by load again
        await request(app, "ping")
        clock = time.perf_counter
        began = clock()
        errors = []
        pending = [request(app, "slow", str(BURST_MS).encode(),
                           expect=b"done").addErrback(errors.append)
                   for _ in range(BURST_REQUESTS)]
        grown = None
        while grown is None:
            info = await app.info()
            active = sum(1 for w in info["workers"]
                         if w["state"] == "active")
            if active >= BURST_LIMIT:
                grown = (clock() - began) * 1e3
            elif clock() - began > 20:
                break
            else:
                await task.deferLater(reactor, 0.002)
        await defer.gatherResults(pending)
        answered = (clock() - began) * 1e3
        results.append({"grown": grown, "answered": answered,
                        "errors": len(errors)})
    await app.disconnect()
    await node.disconnect()
    await locator.disconnect()
    return results


def rss(pid):
    try:
        return psutil.Process(pid).memory_info().rss / 1e6
    except psutil.Error:
        return float("nan")


def _mark(ok):
    return "ok" if ok else "MISSED"


def report(ours, floor, cold, burst, memory, args):
    rows = []
    for workload, metric, unit in (
            ("sequential", "rate", "req/s"), ("sequential", "p50", "us"),
            ("sequential", "p99", "us"), ("inflight", "rate", "req/s"),
            ("inflight", "p99", "us")):
        o, (olo, ohi) = median(ours[workload], metric)
        f, (flo, fhi) = median(floor[workload], metric)
        name = "{} {}".format("sequential" if workload == "sequential"
                              else "{} in flight".format(args.window),
                              metric if metric != "rate" else "")
        target = ""
        if metric == "rate":
            goal = TARGETS[workload]
            target = ">= {:,} {}".format(goal, _mark(o >= goal))
        rows.append("| {} ({}) | {:,.0f} ({:,.0f}-{:,.0f}) | {:,.0f} "
                    "({:,.0f}-{:,.0f}) | {:.2f} | {} |".format(
                        name.strip(), unit, o, olo, ohi, f, flo, fhi,
                        o / f if f else 0, target))
    c = statistics.median(cold)
    rows.append("| cold start: start_app to first reply (ms) | {:,.0f} "
                "({:,.0f}-{:,.0f}) | - | - | <= {} {} |".format(
                    c, min(cold), max(cold), TARGETS["cold"],
                    _mark(c <= TARGETS["cold"])))
    grown = [b["grown"] for b in burst if b["grown"] is not None]
    answered = [b["answered"] for b in burst]
    if grown:
        rows.append("| burst: pool 1 -> {} with {} in flight (ms) | {:,.0f} "
                    "({:,.0f}-{:,.0f}) | - | - | |".format(
                        BURST_LIMIT, BURST_REQUESTS,
                        statistics.median(grown), min(grown), max(grown)))
    else:
        rows.append("| burst: pool 1 -> {} with {} in flight (ms) | never "
                    "| - | - | |".format(BURST_LIMIT, BURST_REQUESTS))
    rows.append("| burst: all {} answered, {} ms each (ms) | {:,.0f} "
                "({:,.0f}-{:,.0f}) | - | - | |".format(
                    BURST_REQUESTS, BURST_MS, statistics.median(answered),
                    min(answered), max(answered)))
    rows.append("| node RSS idle, after the runs (MB) | {:.1f} (before: "
                "{:.1f}) | - | - | |".format(memory["nodeAfter"],
                                            memory["nodeBefore"]))
    workers = memory["workers"]
    worst = max(workers) if workers else float("nan")
    rows.append("| Python worker RSS idle (MB) | {} | - | - | <= {} {} |"
                .format(", ".join("{:.1f}".format(w) for w in workers),
                        TARGETS["workerRss"],
                        _mark(worst <= TARGETS["workerRss"])))
    errors = sum(r["errors"] for r in ours["inflight"]) + sum(
        b["errors"] for b in burst)
    lines = [
        "machine: " + machine(),
        "date: " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        ("command: python -m bench.apps " + " ".join(args.argv)).rstrip(),
        "requests per run: {} in flight, {} sequential; runs: {}; cold "
        "starts: {}; bursts: {}; node and its workers on CPU 0, client on "
        "CPU 1".format(args.requests, max(args.requests // 5, 200),
                       args.runs, args.cold, args.bursts),
        "",
        "| workload | ours: echo app via node | floor: bare Twisted msgpack "
        "echo | ours/floor | target |",
        "|---|---|---|---|---|",
    ] + rows + [
        "",
        "in-flight errors: {}".format(errors),
        "a request: enqueue + close, reply read until close (client -> "
        "node -> worker and back); the floor is one hop to a bare echo",
    ]
    print("\n".join(lines), flush=True)
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--requests", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--cold", type=int, default=5,
                        help="cold start repetitions")
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run that only shows it works")
    args = parser.parse_args(argv)
    args.argv = argv
    warmup = 2000
    if args.quick:
        args.requests, args.runs, args.cold, args.bursts = 2000, 1, 2, 1
        warmup = 200
    pin(0, 1)
    directory = tempfile.mkdtemp(prefix="cocaine-bench-apps-")
    node = Node(os.path.join(directory, "node"), nodeConfig()).start()
    results = {}
    try:
        pin(node.process.pid, 0)
        floor, floorPort = startFloor()
        try:
            pin(floor.pid, 0)
            time.sleep(0.5)

            async def run(reactor):
                results["ours"] = await measureEcho(
                    reactor, node.port, args.requests, args.runs,
                    args.window, warmup)
                results["floor"] = await measureFloor(
                    reactor, floorPort, args.requests, args.runs,
                    args.window, warmup)
                results["cold"] = await measureColdStart(
                    reactor, node.port, args.cold)
                results["burst"] = await measureBurst(
                    reactor, node.port, args.bursts)
                memory = results["memory"] = {}
                memory["nodeBefore"] = results["nodeBefore"]
                await task.deferLater(reactor, 1.0)
                memory["nodeAfter"] = rss(node.process.pid)
                memory["workers"] = [rss(pid)
                                     for pid in results["ours"]["workers"]]

            results["nodeBefore"] = rss(node.process.pid)
            try:
                task.react(lambda reactor: defer.Deferred.fromCoroutine(
                    run(reactor)), [])
            except SystemExit as e:
                if e.code:
                    raise
        finally:
            floor.terminate()
            floor.wait()
    finally:
        node.stop()
        shutil.rmtree(directory, ignore_errors=True)
    return report(results["ours"], results["floor"], results["cold"],
                  results["burst"], results["memory"], args)


if __name__ == "__main__":
    main()
