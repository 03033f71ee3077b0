# -*- test-case-name: tests.bench.test_cpushare -*-
"""
Where the CPU of one app request goes: the node, its workers and the
client, each measured on its own process.

    python -m bench.cpushare [--inflight 1,8,64,256] [--requests 20000]
                             [--pattern request|channel] [--runs 2]
                             [--auth] [--scheduling batch,normal]

The setup is C{bench.compare}'s: a node with the Python echo app pinned
at 2 workers, the node and its workers on CPU 0, the load generator
(C{bench.compare.loadgen ours}) on CPU 1. For each number of requests in
flight it prints the requests/s and the CPU per request of each side:
the node's and the workers' from C{/proc} (user and system, from the
end of the load generator's warm-up to its end), the client's from its
own C{process_time} over the same requests. Figures are the median of the
runs. A side whose CPU per request times the rate nears 1 s/s is the
bottleneck; when none does, the sides take turns. C{--auth} turns token
auth on in the node and gives the client a token (every request's
opening message carries it; the node verifies it once per connection
while it stays the same). C{--scheduling} names the workers' scheduling
policies to compare (the profile's C{scheduling}; C{batch} alone by
default): one node per policy, their runs taken in turn.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import json
import tempfile

import psutil

from bench.arguments import positive, positives
from bench.compare.ourside import APP, nodeConfig, withTokenAuth
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


def measure(endpoint, nodePid, inflight, requests, pattern, env=None):
    """
    One timed run.

    @return: a map of req/s, microseconds of CPU per request by side,
        and the requests' 99th percentile latency (C{p99_us}).
    """
    pids = family([nodePid])
    _pin(pids, 0)
    client = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, "-m",
         "bench.compare.loadgen", "ours", "--connect", endpoint,
         "--app", "echo", "--requests", str(requests), "--inflight",
         str(inflight), "--pattern", pattern, "--announce"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
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
        "p99_us": summary.get("p99_us"),
    }


def _policies(text):
    """
    @return: the comma-separated scheduling policies of C{text}.
    """
    from cocaine.isolate.scheduling import validateScheduling
    try:
        policies = [validateScheduling(field) for field in text.split(",")]
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    # each once, in the order given: one node per policy
    return list(dict.fromkeys(policies))


def withScheduling(config, policy):
    """
    @return: C{config} with C{policy} in the benchmark app's profile.
    """
    local = config["services"]["node"]["args"]["local"]
    local[APP]["profile"]["scheduling"] = policy
    return config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--inflight", type=positives, default="1,8,64,256")
    parser.add_argument("--requests", type=positive, default=20000)
    parser.add_argument("--pattern", choices=["request", "channel"],
                        default="request")
    parser.add_argument("--runs", type=positive, default=2)
    parser.add_argument("--auth", action="store_true",
                        help="token auth on, the client with a token")
    parser.add_argument("--scheduling", type=_policies, default="batch",
                        help="the workers' scheduling policies to compare, "
                        "one node each, runs in turn")
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    from tests.integration.node import Node
    directory = tempfile.mkdtemp(prefix="cocaine-bench-cpushare-")
    config, env = nodeConfig(), None
    if args.auth:
        env = dict(os.environ,
                   COCAINE_TOKEN=withTokenAuth(config, directory))
    nodes = {}
    try:
        for policy in args.scheduling:
            node = Node(os.path.join(directory, "node-" + policy),
                        withScheduling(json.loads(json.dumps(config)),
                                       policy)).start()
            nodes[policy] = node
            subprocess.run([sys.executable, "-m", "bench.compare.ourside",
                            "prepare", "--connect", _endpoint(node)],
                           cwd=ROOT, check=True, capture_output=True,
                           timeout=120, env=env)
        print("Command: python -m bench.cpushare --inflight {} --requests "
              "{} --pattern {} --runs {}{} --scheduling {}".format(
                  ",".join(str(n) for n in args.inflight), args.requests,
                  args.pattern, args.runs, " --auth" if args.auth else "",
                  ",".join(args.scheduling)))
        print("Machine: " + machine())
        print()
        print("| in flight | scheduling | req/s | node us/req (system) | "
              "workers us/req (system) | client us/req | CPU 0 busy | "
              "CPU 1 busy |")
        print("|---|---|---|---|---|---|---|---|")
        for inflight in args.inflight:
            runs = {policy: [] for policy in nodes}
            for _ in range(args.runs):
                for policy, node in nodes.items():
                    runs[policy].append(measure(
                        _endpoint(node), node.process.pid, inflight,
                        args.requests if inflight > 1
                        else args.requests // 5, args.pattern, env))
            for policy, results in runs.items():
                m = {k: statistics.median(r[k] for r in results)
                     for k in results[0]}
                print("| {} | {} | {:,.0f} | {:.1f} ({:.1f}) | "
                      "{:.1f} ({:.1f}) | {:.1f} | {:.0%} | {:.0%} |".format(
                          inflight, policy, m["rate"], m["node"],
                          m["node_sys"], m["workers"], m["workers_sys"],
                          m["client"],
                          m["rate"] * (m["node"] + m["workers"]) / 1e6,
                          m["rate"] * m["client"] / 1e6), flush=True)
    finally:
        for node in nodes.values():
            node.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _endpoint(node):
    return "127.0.0.1:{}".format(node.port)


if __name__ == "__main__":
    main()
