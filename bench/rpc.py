# -*- test-case-name: tests.integration.test_bench -*-
"""
Storage read through our client SDK, side by side with the floor.

    python -m bench.rpc [--quick] [--requests N] [--runs R]

Workloads, each against
  - ours: a real node (twistd cocaine, files storage, a 16-byte value),
    client calls C{storage.read} through L{cocaine.client.Service};
  - floor: a bare Twisted msgpack echo server (one Unpacker, one write per
    reply, no framework), called with the same client connection class;
  1. sequential calls: calls/s, p50, p99;
  2. 64 calls in flight on one connection: calls/s, p99;
and the node's RSS when idle. The server is pinned to CPU 0 and this
client to CPU 1 when the machine has two CPUs. Prints the machine, then a
table; median of the runs, with the spread.
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import psutil
from twisted.internet import defer, task

from tests.integration.node import Node, environment

FLOOR_SERVER = r"""
import sys
import msgpack
from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol

class Echo(Protocol):
    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.unpacker = msgpack.Unpacker(raw=True, strict_map_key=False)
        self.pack = msgpack.Packer(use_bin_type=True).pack
    def dataReceived(self, data):
        self.unpacker.feed(data)
        out = []
        for channel, mtype, args, *rest in self.unpacker:
            out.append(self.pack([channel, 0, [b"0123456789abcdef"]]))
        self.transport.write(b"".join(out))

port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
print(port.getHost().port, flush=True)
reactor.run()
"""

TARGETS = {"sequential": 8000, "inflight": 30000, "rss": 60}


def machine():
    freq = psutil.cpu_freq()
    return "{} | {} | {} CPUs{} | {:.1f} GiB | Python {} | {}".format(
        platform.node(), platform.processor() or platform.machine(),
        psutil.cpu_count(), " @ {:.0f} MHz".format(freq.current)
        if freq else "", psutil.virtual_memory().total / 2 ** 30,
        platform.python_version(), platform.platform())


def pin(pid, cpu):
    if psutil.cpu_count() >= 2:
        try:
            os.sched_setaffinity(pid, {cpu})
        except OSError:
            pass


async def sequential(call, count):
    latencies = []
    clock = time.perf_counter
    began = clock()
    for _ in range(count):
        start = clock()
        await call()
        latencies.append(clock() - start)
    elapsed = clock() - began
    latencies.sort()
    return {"rate": count / elapsed,
            "p50": latencies[len(latencies) // 2] * 1e6,
            "p99": latencies[int(len(latencies) * 0.99)] * 1e6}


def inflight(call, count, window):
    """
    Keep C{window} calls in flight until C{count} have answered
    (L{bench.compare.stats.keepInFlight}).

    @return: a Deferred firing with C{{"rate", "errors", "p99"}} (p99 in
        microseconds).
    """
    from bench.compare.stats import keepInFlight
    return keepInFlight(call, count, window).addCallback(
        lambda found: {"rate": found["rate"], "errors": found["errors"],
                       "p99": found["p99_us"]})


async def measure(reactor, target, requests, runs, window, warmup=2000):
    from cocaine.client import Locator, Service
    from cocaine.protocol.idl import Protocol
    from cocaine.protocol.services import STORAGE
    from cocaine.rpc.client import connect

    results = {"sequential": [], "inflight": []}
    if target["kind"] == "ours":
        locator = Locator(reactor, [("127.0.0.1", target["port"])])
        storage = Service("storage", locator)
        await storage.write("bench", "key", b"0123456789abcdef")

        def call():
            return storage.read("bench", "key")
    else:
        conn = await connect(reactor, ("127.0.0.1", target["port"]),
                             "floor", Protocol("floor", STORAGE.messages))
        args = ["bench", "key"]

        def call():
            return conn.call(0, args)
    for _ in range(warmup):
        await call()
    for _ in range(runs):
        results["sequential"].append(await sequential(
            call, max(requests // 5, 200)))
        results["inflight"].append(await inflight(call, requests, window))
    if target["kind"] == "ours":
        await storage.disconnect()
        await locator.disconnect()
    else:
        conn.transport.loseConnection()
    return results


def startFloor():
    process = subprocess.Popen([sys.executable, "-c", FLOOR_SERVER],
                               stdout=subprocess.PIPE, text=True,
                               env=environment())
    port = int(process.stdout.readline())
    return process, port


def median(values, key):
    numbers = [v[key] for v in values]
    return statistics.median(numbers), (min(numbers), max(numbers))


def report(ours, floor, rss, args):
    rows = []
    for workload, metric, unit in (
            ("sequential", "rate", "calls/s"), ("sequential", "p50", "us"),
            ("sequential", "p99", "us"), ("inflight", "rate", "calls/s"),
            ("inflight", "p99", "us")):
        o, (olo, ohi) = median(ours[workload], metric)
        f, (flo, fhi) = median(floor[workload], metric)
        name = "{} {}".format("sequential" if workload == "sequential"
                              else "{} in flight".format(args.window),
                              metric if metric != "rate" else "")
        rows.append("| {} ({}) | {:,.0f} ({:,.0f}-{:,.0f}) | {:,.0f} "
                    "({:,.0f}-{:,.0f}) | {:.2f} |".format(
                        name.strip(), unit, o, olo, ohi, f, flo, fhi,
                        o / f if f else 0))
    errors = sum(r["errors"] for r in ours["inflight"])
    lines = [
        "machine: " + machine(),
        "date: " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command: python -m bench.rpc " + " ".join(sys.argv[1:]),
        "requests per run: {} in flight, {} sequential; runs: {}; "
        "server on CPU 0, client on CPU 1".format(
            args.requests, max(args.requests // 5, 200), args.runs),
        "",
        "| workload | ours: storage.read via node | floor: bare Twisted "
        "msgpack echo | ours/floor |",
        "|---|---|---|---|",
    ] + rows + [
        "",
        "node RSS when idle: {:.1f} MB (target <= {} MB); in-flight errors: "
        "{}".format(rss, TARGETS["rss"], errors),
        "targets: sequential >= {:,} calls/s, {} in flight >= {:,} calls/s"
        .format(TARGETS["sequential"], args.window, TARGETS["inflight"]),
    ]
    print("\n".join(lines))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run that only shows it works")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.runs = 2000, 1
    pin(0, 1)
    directory = tempfile.mkdtemp(prefix="cocaine-bench-")
    node = Node(os.path.join(directory, "node")).start()
    pin(node.process.pid, 0)
    floor, floorPort = startFloor()
    pin(floor.pid, 0)
    try:
        time.sleep(1.0)
        rss = psutil.Process(node.process.pid).memory_info().rss / 1e6
        results = {}

        async def run(reactor):
            results["ours"] = await measure(
                reactor, {"kind": "ours", "port": node.port}, args.requests,
                args.runs, args.window)
            results["floor"] = await measure(
                reactor, {"kind": "floor", "port": floorPort},
                args.requests, args.runs, args.window)
        task.react(lambda reactor: defer.Deferred.fromCoroutine(
            run(reactor)), [])
    except SystemExit as e:
        if e.code:
            raise
    finally:
        node.stop()
        floor.terminate()
        floor.wait()
        shutil.rmtree(directory, ignore_errors=True)
    return report(results["ours"], results["floor"], rss, args)


if __name__ == "__main__":
    main()
