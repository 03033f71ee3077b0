# -*- test-case-name: tests.integration.test_bench -*-
"""
Our side of the comparison: the node's configuration, the pool set-up
before the timed runs, and the elasticity workload (which only we have:
zerorpc, Nameko and cote have no pools).

    python -m bench.compare.ourside prepare --connect HOST:PORT
    python -m bench.compare.ourside elastic --connect HOST:PORT --runs R

C{elastic} prints one JSON line::

    {"cold_ms": [..], "bursts": [{"first_ms", "grown_ms", "answered_ms",
     "errors", "shrunk_ms"}, ..], "idle_timeout_ms": ..}

  - cold: C{node.start_app} of the echo app deployed through storage (the
    way the Cocaine tools do) to its first reply (L{bench.apps});
  - burst: from an empty pool (every worker retired by its idle timeout),
    50 requests of 100 ms at once: the first reply, the pool at its limit
    of 4 active workers, every request answered;
  - shrink: from the last reply until the pool is empty again; the idle
    timeout is C{IDLE} seconds, so C{shrunk_ms - IDLE * 1000} is how late
    the pool shrank.
"""

import argparse
import json
import os
import sys
import time

from twisted.internet import defer, task

from bench.apps import (ECHO, control, measureColdStart, request,
                        waitWorkers)
from bench.compare.stats import hostPort

#: the app the echo and stream workloads call, and its pinned pool size
APP, POOL = "echo", 2
#: the app of the burst and shrink workload
ELASTIC, ELASTIC_LIMIT, BURST, BURST_MS, IDLE = "echo-elastic", 4, 50, 100, 1.0
#: the token secret of a node with auth on (L{withTokenAuth})
SECRET = b"bench-token-auth-secret-0123456789"


def nodeConfig():
    """
    @return: the node's configuration: C{APP} with room for 256 requests
        in flight, C{ELASTIC} scaling by load and retiring idle workers.
    """
    return {
        "network": {"locator": 0},
        "services": {
            "logging": {"type": "logging"},
            "storage": {"type": "storage"},
            "node": {"type": "node", "args": {"local": {
                APP: {"path": ECHO, "profile": {
                    "pool-limit": POOL, "concurrency": 256,
                    "queue-limit": 4096, "idle-timeout": 0}},
                ELASTIC: {"path": ECHO, "profile": {
                    "pool-limit": ELASTIC_LIMIT, "concurrency": 10,
                    "grow-threshold": 10, "queue-limit": 100,
                    "idle-timeout": IDLE}},
            }}},
        },
    }


def withTokenAuth(config, directory, lifetime=3600):
    """
    Turn token auth on in a node's C{config}, its secret in a file of
    C{directory}, for the benchmarks that measure auth on: every call to
    the node then needs a token, and its clients get one in their
    environment.

    @return: a token for the node's clients (their C{COCAINE_TOKEN}): the
        administrator's, so that they may pin the pool too, valid for
        C{lifetime} seconds.
    """
    from cocaine.auth.token import issue
    secret = os.path.join(directory, "secret")
    with open(os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
        f.write(SECRET)
    config["authentications"] = {"core": {"type": "token", "args": {
        "secret-file": secret}}}
    return issue(SECRET, uids=[0], expiry=int(time.time()) + lifetime)


async def prepare(reactor, host, port):
    """
    Pin C{APP}'s pool at C{POOL} workers and wait until they are active.

    @return: the workers' pids.
    """
    from cocaine.client import Locator, Service
    locator = Locator(reactor, [(host, port)])
    node, app = Service("node", locator), Service(APP, locator)
    await control(node, APP, POOL)
    info = await waitWorkers(reactor, app, POOL)
    await app.disconnect()
    await node.disconnect()
    await locator.disconnect()
    return {"workers": [worker["pid"] for worker in info["workers"]]}


async def _workers(app):
    info = await app.info()
    return [w for w in info["workers"] if w["state"] == "active"]


async def _waitEmpty(reactor, app, timeout=30.0):
    deadline = time.monotonic() + timeout
    while (await app.info())["workers"]:
        if time.monotonic() > deadline:
            raise RuntimeError("{}: the pool did not shrink within {} s"
                               .format(app.name, timeout))
        await task.deferLater(reactor, 0.005)


async def burstAndShrink(reactor, app):
    """
    One burst from an empty pool, then its shrink back to empty.
    """
    await _waitEmpty(reactor, app)
    clock = time.perf_counter
    began = clock()
    errors, first = [], []

    def answered(result):
        if not first:
            first.append(clock())
        return result
    pending = [request(app, "slow", str(BURST_MS).encode(), expect=b"done")
               .addCallbacks(answered, errors.append)
               for _ in range(BURST)]
    grown = None
    all_ = defer.gatherResults(pending)
    while grown is None and not all_.called:
        if len(await _workers(app)) >= ELASTIC_LIMIT:
            grown = clock()
        else:
            await task.deferLater(reactor, 0.002)
    await all_
    last = clock()
    await _waitEmpty(reactor, app)
    shrunk = clock()
    return {"first_ms": (first[0] - began) * 1e3 if first else None,
            "grown_ms": (grown - began) * 1e3 if grown else None,
            "answered_ms": (last - began) * 1e3,
            "errors": len(errors), "shrunk_ms": (shrunk - last) * 1e3}


async def elastic(reactor, host, port, runs):
    from cocaine.client import Locator, Service
    cold = await measureColdStart(reactor, port, runs)
    locator = Locator(reactor, [(host, port)])
    app = Service(ELASTIC, locator)
    await request(app, "ping")
    bursts = [await burstAndShrink(reactor, app) for _ in range(runs)]
    await app.disconnect()
    await locator.disconnect()
    return {"cold_ms": cold, "bursts": bursts, "idle_timeout_ms": IDLE * 1e3}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("action", choices=["prepare", "elastic"])
    parser.add_argument("--connect", type=hostPort,
                        default=("127.0.0.1", 10053), metavar="HOST:PORT")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    host, port = args.connect

    async def run(reactor):
        if args.action == "prepare":
            result = await prepare(reactor, host, port)
        else:
            result = await elastic(reactor, host, port, args.runs)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    task.react(lambda reactor: defer.Deferred.fromCoroutine(run(reactor)))


if __name__ == "__main__":
    main()
