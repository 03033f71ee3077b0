# -*- test-case-name: tests.bench.test_gcpause -*-
"""
The node's garbage collector under load: start-up frozen out of
collection (the default, L{cocaine.heap}) side by side with the
collector as Python has it (C{COCAINE_GC_FREEZE=0}), in one run.

    python -m bench.gcpause [--inflight 1,8,64,256] [--requests 20000]
                            [--runs 3]

Two nodes set up as C{bench.cpushare}'s (the echo app pinned at 2
workers, node and workers on CPU 0, the load generator on CPU 1), one per
setting (the setting reaches the node and its workers), loaded in turn
(every depth of C{--inflight} in each run, a fifth of the requests when
sequential). Each node's pauses are read from its metrics (the C{metrics}
service: C{cocaine_node_gc_pause_seconds}, by generation) before the
first run and after the last. It prints, per setting: the requests it
served, and per generation the collections, the time paused over all
runs and their mean; then, per depth, each setting's median requests/s
and 99th percentile latency (what a pause of the collector reaches).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from bench.arguments import positive, positives
from bench.rpc import machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: the settings compared: (label, the value of COCAINE_GC_FREEZE)
SETTINGS = (("frozen (default)", "1"), ("not frozen", "0"))


def pauses(endpoint):
    """
    @return: C{{generation: (collections, seconds)}} the node at
        C{endpoint} has counted so far.
    """
    result = subprocess.run(
        [sys.executable, "-m", "bench.gcpause", "fetch", endpoint],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    plain = json.loads(result.stdout)
    return {generation: (
        plain["node_gc_pause_seconds_count.{}".format(generation)],
        plain["node_gc_pause_seconds_sum.{}".format(generation)])
        for generation in range(3)}


def _fetch(endpoint):
    """
    Print the node's metrics (C{metrics.fetch()}) as JSON, through the
    worker SDK's asyncio client.
    """
    import asyncio
    from cocaine.worker.service import Service
    host, _, port = endpoint.rpartition(":")

    async def fetch():
        metrics = Service("metrics", [(host, int(port))], timeout=30)
        try:
            return await metrics.fetch()
        finally:
            metrics.close()
    value = asyncio.run(fetch())
    print(json.dumps({(k.decode() if isinstance(k, bytes) else k): v
                      for k, v in value.items()}))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fetch"]:
        return _fetch(argv[1])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--inflight", type=positives, default="1,8,64,256")
    parser.add_argument("--requests", type=positive, default=20000)
    parser.add_argument("--runs", type=positive, default=3)
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    from bench.compare.ourside import nodeConfig
    from bench.cpushare import measure
    from cocaine.heap import ENV_FREEZE
    from tests.integration.node import Node
    directory = tempfile.mkdtemp(prefix="cocaine-bench-gcpause-")
    config = nodeConfig()
    config["services"]["metrics"] = {"type": "metrics"}
    nodes = {}
    saved = os.environ.get(ENV_FREEZE)
    try:
        for label, value in SETTINGS:
            # the node, and the workers it spawns, take the setting from
            # its environment
            os.environ[ENV_FREEZE] = value
            node = Node(os.path.join(directory, value), config).start()
            endpoint = "127.0.0.1:{}".format(node.port)
            nodes[label] = (node, endpoint)
            subprocess.run([sys.executable, "-m", "bench.compare.ourside",
                            "prepare", "--connect", endpoint], cwd=ROOT,
                           check=True, capture_output=True, timeout=120)
        _restore(ENV_FREEZE, saved)
        print("Command: python -m bench.gcpause --inflight {} --requests {} "
              "--runs {}".format(",".join(map(str, args.inflight)),
                                 args.requests, args.runs))
        print("Machine: " + machine())
        print()
        before = {label: pauses(endpoint)
                  for label, (_, endpoint) in nodes.items()}
        served = dict.fromkeys(nodes, 0)
        results = {(label, inflight): [] for label in nodes
                   for inflight in args.inflight}
        for _ in range(args.runs):
            for label, (node, endpoint) in nodes.items():
                for inflight in args.inflight:
                    requests = (args.requests if inflight > 1
                                else args.requests // 5)
                    results[label, inflight].append(measure(
                        endpoint, node.process.pid, inflight, requests,
                        "request"))
                    served[label] += requests
        after = {label: pauses(endpoint)
                 for label, (_, endpoint) in nodes.items()}
        print("| node | requests | generation | collections | paused "
              "in all (ms) | mean pause (ms) |")
        print("|---|---|---|---|---|---|")
        for label in nodes:
            for generation in range(3):
                count = after[label][generation][0] - (
                    before[label][generation][0])
                paused = after[label][generation][1] - (
                    before[label][generation][1])
                print("| {} | {:,.0f} | {} | {:,.0f} | {:.2f} | {} |".format(
                    label, served[label], generation,
                    count, paused * 1e3, "{:.3f}".format(
                        paused * 1e3 / count) if count else "-"),
                    flush=True)
        print()
        print("| node | in flight | req/s (median) | p99 (us, median) |")
        print("|---|---|---|---|")
        for label in nodes:
            for inflight in args.inflight:
                runs = results[label, inflight]
                print("| {} | {} | {:,.0f} | {:,.0f} |".format(
                    label, inflight,
                    statistics.median(r["rate"] for r in runs),
                    statistics.median(r["p99_us"] for r in runs)),
                    flush=True)
    finally:
        _restore(ENV_FREEZE, saved)
        for node, _ in nodes.values():
            node.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _restore(name, value):
    """
    Set the environment variable C{name} back to C{value} (unset when
    L{None}).
    """
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


if __name__ == "__main__":
    main()
