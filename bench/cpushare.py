"""
Where the CPU of one app request goes: the node, its workers and the
client, each measured on its own process.

    python -m bench.cpushare [--inflight 1,8,64,256] [--requests 20000]
                             [--pattern request|channel] [--runs 2]

The setup is C{bench.compare}'s: a node with the Python echo app pinned
at 2 workers, the node and its workers on CPU 0, the load generator
(C{bench.compare.loadgen ours}) on CPU 1. For each number of requests in
flight it prints the requests/s and the CPU per request of each side:
the node's and the workers' from C{/proc} (user and system, from the
end of the load generator's warm-up to its end), the client's from its
own C{process_time} over the same requests. Figures are the median of the
runs. A side whose CPU per request times the rate nears 1 s/s is the
bottleneck; when none does, the sides take turns.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import json

import psutil

from bench.compare.ourside import nodeConfig
from bench.compare.processes import family
from bench.rpc import machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cpu(pids):
    """
    @return: C{{pid: (user, system)}} CPU seconds.
    """
    times = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        times[pid] = (t.user, t.system)
    return times


def _pin(pids, cpu):
    for pid in pids:
        try:
            os.sched_setaffinity(pid, {cpu})
        except OSError:
            pass


def measure(endpoint, nodePid, inflight, requests, pattern):
    """
    One timed run.

    @return: a map of req/s and microseconds per request by side.
    """
    pids = family([nodePid])
    _pin(pids, 0)
    client = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, "-m",
         "bench.compare.loadgen", "ours", "--connect", endpoint,
         "--app", "echo", "--requests", str(requests), "--inflight",
         str(inflight), "--pattern", pattern, "--announce"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        # the server's CPU over the timed requests: from the end of the
        # load generator's warm-up to its end
        if client.stdout.readline().strip() != "timed":
            raise RuntimeError("the load generator did not warm up")
        before = _cpu(pids)
        output = client.stdout.read()
        if client.wait(timeout=600):
            raise RuntimeError("the load generator failed")
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    after = _cpu(pids)
    summary = json.loads(output.strip().splitlines()[-1])
    if summary.get("errors"):
        raise RuntimeError("errors: {}".format(summary["first_error"]))
    total = requests

    def per(which, part):
        return 1e6 * sum(after[p][part] - before[p][part]
                         for p in which if p in before) / total
    workers = [p for p in after if p != nodePid]
    return {
        "rate": summary["rate"],
        "node": per([nodePid], 0) + per([nodePid], 1),
        "node_sys": per([nodePid], 1),
        "workers": per(workers, 0) + per(workers, 1),
        "workers_sys": per(workers, 1),
        "client": 1e6 * summary["client_cpu_s"] / requests,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--inflight", default="1,8,64,256")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--pattern", choices=["request", "channel"],
                        default="request")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    from tests.integration.node import Node
    directory = tempfile.mkdtemp(prefix="cocaine-bench-cpushare-")
    node = Node(os.path.join(directory, "node"), nodeConfig()).start()
    try:
        endpoint = "127.0.0.1:{}".format(node.port)
        subprocess.run([sys.executable, "-m", "bench.compare.ourside",
                        "prepare", "--connect", endpoint], cwd=ROOT,
                       check=True, capture_output=True, timeout=120)
        print("Command: python -m bench.cpushare --inflight {} --requests "
              "{} --pattern {} --runs {}".format(
                  args.inflight, args.requests, args.pattern, args.runs))
        print("Machine: " + machine())
        print()
        print("| in flight | req/s | node us/req (system) | workers us/req "
              "(system) | client us/req | CPU 0 busy | CPU 1 busy |")
        print("|---|---|---|---|---|---|---|")
        for inflight in [int(x) for x in args.inflight.split(",")]:
            runs = [measure(endpoint, node.process.pid, inflight,
                            args.requests if inflight > 1
                            else args.requests // 5, args.pattern)
                    for _ in range(args.runs)]
            m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print("| {} | {:,.0f} | {:.1f} ({:.1f}) | {:.1f} ({:.1f}) | "
                  "{:.1f} | {:.0%} | {:.0%} |".format(
                      inflight, m["rate"], m["node"], m["node_sys"],
                      m["workers"], m["workers_sys"], m["client"],
                      m["rate"] * (m["node"] + m["workers"]) / 1e6,
                      m["rate"] * m["client"] / 1e6), flush=True)
    finally:
        node.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
