# -*- test-case-name: tests.integration.test_bench -*-
"""
The platform services against the tools that measure what they stand on,
in one run:

  - C{cache.get} through the node (the local LRU and the Redis backend)
    beside C{redis-benchmark GET} against the same Redis;
  - C{urlfetch.get} of a 1 KiB page at 64 in flight beside C{wrk -c 64}
    against the same page (uWSGI serves it);
  - C{notifications}: one publisher, 100 subscribers (each its own
    connection), messages delivered per second and the p99 from publish
    to delivery.

    python -m bench.services [--quick] [--requests N]

Bounded: C{requests} calls per workload, C{messages * 100} deliveries.
Every server is ours, on 127.0.0.1, stopped by PID.
"""

import argparse
import os
import sys
import tempfile
import time

from twisted.internet import defer

from bench.auth import inflight, sequential
from bench.compare.processes import Unavailable
from tests.integration.node import Node

#: The subscribers of the fan-out.
SUBSCRIBERS = 100
VALUE = b"0123456789abcdef"


def percentile(values, p):
    values = sorted(values)
    if not values:
        return None
    return values[min(len(values) - 1, int(len(values) * p / 100))]


async def cacheRates(reactor, locator, name, requests):
    from cocaine.client import Service
    cache = Service(name, locator)
    await cache.put("bench", VALUE)

    def call():
        return cache.get("bench")
    await sequential(call, min(requests, 500))
    found = {"sequential": await sequential(call, requests),
             "inflight64": await inflight(call, requests, 64)}
    await cache.disconnect()
    return found


async def urlfetchRates(reactor, locator, url, requests):
    from cocaine.client import Service
    urlfetch = Service("urlfetch", locator)

    async def check():
        success, body, code, _ = await urlfetch.get(url)
        if not success or len(body) != 1024:
            raise RuntimeError("urlfetch.get({}) answered {} with {} "
                               "bytes".format(url, code, len(body)))
    await check()

    def call():
        return urlfetch.get(url)
    await inflight(call, min(requests, 500), 64)
    found = {"inflight64": await inflight(call, requests, 64)}
    await urlfetch.disconnect()
    return found


async def fanOut(reactor, port, messages):
    """
    One publisher, L{SUBSCRIBERS} subscribers on connections of their own;
    each message carries its publish time.

    @return: deliveries per second and the p50/p99 delivery latency (ms).
    """
    from cocaine.client import Locator, Service
    locators, services, channels = [], [], []
    for _ in range(SUBSCRIBERS):
        locator = Locator(reactor, [("127.0.0.1", port)])
        service = Service("notifications", locator)
        channels.append(await service.subscribe(["bench"]))
        locators.append(locator)
        services.append(service)
    latencies = []
    done = defer.Deferred()
    expected = messages * SUBSCRIBERS

    async def listen(channel):
        from cocaine.errors import NotConnected
        from cocaine.rpc.client import ChannelClosed
        try:
            while len(latencies) < expected:
                chunk = await channel.read()
                name, value = chunk[0] if len(chunk) == 1 else chunk
                if isinstance(value, float):
                    latencies.append(time.perf_counter() - value)
        except (ChannelClosed, NotConnected):
            return  # closed once every delivery was counted
        if not done.called:
            done.callback(None)
    for channel in channels:
        defer.Deferred.fromCoroutine(listen(channel))
    publisher = Service("notifications", Locator(reactor, [("127.0.0.1",
                                                            port)]))
    # until every subscriber is counted
    for _ in range(200):
        if await publisher.publish("bench", "ready") >= SUBSCRIBERS:
            break
        await deferLater(reactor, 0.05)
    began = time.perf_counter()
    await inflight(lambda: publisher.publish("bench", time.perf_counter()),
                   messages, 16)
    await done
    elapsed = time.perf_counter() - began
    for channel in channels:
        channel.close()
    for service in services + [publisher]:
        await service.disconnect()
    return {"deliveries_per_s": expected / elapsed,
            "p50_ms": percentile(latencies, 50) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3}


def deferLater(reactor, seconds):
    from twisted.internet.task import deferLater as later
    return later(reactor, seconds, lambda: None)


def redisBenchmark(redis, requests, clients):
    """
    C{redis-benchmark -t get} with a 16-byte value (C{SET} first).

    @return: GETs per second.
    """
    import csv
    import io
    import subprocess
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(redis.port),
            "-t", "set,get", "-n", str(requests), "-c", str(clients),
            "-d", str(len(VALUE)), "-P", "1", "--csv"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise Unavailable("redis-benchmark failed: " + done.stderr.strip())
    rows = {row["test"]: row for row in csv.DictReader(io.StringIO(
        done.stdout))}
    return float(rows["GET"]["rps"])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.services")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--requests", type=int, default=None)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    requests = args.requests or (1000 if args.quick else 10000)
    messages = 100 if args.quick else 500
    from bench.compare.redis import Redis
    from bench.httpload import (
        HttpServer, ensurePeers, freePort, machine, runWrk, uwsgiCommand,
        writeScript)
    try:
        ensurePeers()
        redis = Redis().start()
    except Unavailable as e:
        print("bench.services skipped: {}".format(e), flush=True)
        return 0
    base = tempfile.mkdtemp(prefix="bench-services-")
    page = pageUrl = node = None
    try:
        pagePort = freePort()
        pageUrl = "http://127.0.0.1:{}/page".format(pagePort)
        page = HttpServer("uwsgi", uwsgiCommand(pagePort, 2, "page"),
                          pageUrl, os.path.join(base, "uwsgi.log")).start()
        redisUrl = "redis://127.0.0.1:{}/0".format(redis.port)
        node = Node(os.path.join(base, "node"), {
            "network": {"locator": 0},
            "services": {
                "logging": {"type": "logging"},
                "cache": {"type": "cache"},
                "dcache": {"type": "cache", "args": {
                    "backend": "redis", "url": redisUrl}},
                "urlfetch": {"type": "urlfetch"},
                "notifications": {"type": "notifications"}}}).start()

        async def ours(reactor):
            from cocaine.client import Locator
            locator = Locator(reactor, [("127.0.0.1", node.port)])
            found = {
                "cache": await cacheRates(reactor, locator, "cache",
                                          requests),
                "dcache": await cacheRates(reactor, locator, "dcache",
                                           requests),
                "urlfetch": await urlfetchRates(reactor, locator, pageUrl,
                                                requests),
                "fanout": await fanOut(reactor, node.port, messages)}
            await locator.disconnect()
            return found
        results = []
        from twisted.internet import reactor
        d = defer.Deferred.fromCoroutine(ours(reactor))
        d.addBoth(lambda r: (results.append(r), reactor.stop()))
        reactor.run()
        found = results[0]
        if not isinstance(found, dict):
            found.raiseException()
        theirs = {
            "get1": redisBenchmark(redis, requests, 1),
            "get64": redisBenchmark(redis, requests, 64),
            "wrk64": runWrk(pageUrl, 64, 2 if args.quick else 5,
                            writeScript(base))["rate"]}
    finally:
        for server in (node, page):
            if server is not None:
                server.stop()
        redis.stop()
        import shutil
        shutil.rmtree(base, ignore_errors=True)
    report(argv, requests, messages, found, theirs, machine())
    return 0


def report(argv, requests, messages, found, theirs, machine):
    print("machine: " + machine)
    print("command: python -m bench.services" + (" " + " ".join(argv)
                                                 if argv else ""))
    print("{} calls per workload; fan-out: {} messages x {} subscribers"
          .format(requests, messages, SUBSCRIBERS))
    print("{:<34} {:>10} {:>12} {:>7}".format("workload", "ours/s",
                                               "peer/s", "ratio"))
    rows = [
        ("cache.get local, sequential", found["cache"]["sequential"],
         "redis-benchmark GET -c 1", theirs["get1"]),
        ("cache.get local, 64 in flight", found["cache"]["inflight64"],
         "redis-benchmark GET -c 64", theirs["get64"]),
        ("cache.get redis, sequential", found["dcache"]["sequential"],
         "redis-benchmark GET -c 1", theirs["get1"]),
        ("cache.get redis, 64 in flight", found["dcache"]["inflight64"],
         "redis-benchmark GET -c 64", theirs["get64"]),
        ("urlfetch.get 1 KiB, 64 in flight",
         found["urlfetch"]["inflight64"], "wrk -c 64, same page",
         theirs["wrk64"])]
    for name, ours, peer, rate in rows:
        print("{:<34} {:>10,.0f} {:>12,.0f} {:>7.2f}   ({})".format(
            name, ours, rate, ours / rate, peer))
    fan = found["fanout"]
    print("notifications fan-out to {}: {:,.0f} deliveries/s, p50 {:.1f} "
          "ms, p99 {:.1f} ms".format(SUBSCRIBERS, fan["deliveries_per_s"],
                                     fan["p50_ms"], fan["p99_ms"]))


if __name__ == "__main__":
    sys.exit(main())
