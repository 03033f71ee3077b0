# -*- test-case-name: tests.integration.test_bench -*-
"""
The cluster: joining, two nodes against one, announce traffic.

    python -m bench.cluster [--quick] [--joins N] [--requests N] [--runs R]
                            [--unicorn-joins N] [--calls N]

Workloads:
  1. join: node A (static discovery on 127.0.0.1, B in its peers) runs; B
     (the echo app in its local runlist, A in its peers) is started, and
     A's locator is asked for C{resolve("echo")} every 10 ms until it
     answers with B's endpoint. Two figures, median of N joins: from the
     moment B's process is spawned (this includes starting Python and
     twistd), and from the moment B's locator listens (what discovery
     and peering add). B is stopped between joins; A drops it at once
     (its stream closes).
  2. two nodes vs one: echo C{ping} with 64 requests in flight from this
     process (outside both nodes): against one node, then split round
     robin over two connections, one resolved at each of two nodes (the
     load-aware gateway answers each node's own echo while idle), so
     both nodes serve. Each node: one echo pool of 2 workers.
  3. announce traffic: the announce datagram of a node with one locator
     endpoint, with and without a secret, its size and what one announce
     per interval comes to per minute; and, when C{ip netns add} is
     permitted, three nodes with multicast discovery inside a network
     namespace this benchmark creates and deletes (loopback only, with a
     multicast route on it), the datagrams a listener on the group
     counts per node over a measured window, scaled to a minute.
  4. coordination (L{bench.coordination}; etcd and PostgreSQL started
     throwaway on 127.0.0.1): join time through unicorn (node B spawned
     -> listed in A's C{cluster()}, lease 3 s kept alive every second),
     C{unicorn.get}/C{put} through a node against etcd's JSON gateway
     called directly, and C{postgres} storage C{read}/C{write} through a
     node against the backend's statements on a psycopg connection:
     calls/s one at a time, and the ratios.
Prints the machine, then a table; medians with the spread.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import psutil
from twisted.internet import defer, task

from bench import coordination, joins as joins_
from bench.apps import request
from bench.rpc import inflight, machine, median
from cocaine.cluster.announce import encodeAnnounce
from tests.integration import node as _node
from tests.integration.node import ROOT, Node, environment, freePort

ECHO = os.path.join(ROOT, "examples", "apps", "echo")

TARGETS = {"join": 0.2, "scale": 1.7}

#: The announce interval used for the join and scaling runs.
INTERVAL = 1.0


def nodeConfig(cluster, port, echo):
    local = {"echo": {"path": ECHO, "profile": {
        "pool-limit": 2, "concurrency": 64, "queue-limit": 1000,
        "idle-timeout": 0}}} if echo else {}
    return {"network": {"locator": port}, "cluster": cluster, "services": {
        "logging": {"type": "logging"},
        "storage": {"type": "storage"},
        "node": {"type": "node", "args": {"local": local}}}}


def staticPair(directory, echoA, echoB):
    ports = [freePort(), freePort()]
    nodes = []
    for i, port in enumerate(ports):
        other = ports[1 - i]
        nodes.append(Node(os.path.join(directory, "ab"[i]), nodeConfig(
            {"discovery": "static", "interval": INTERVAL,
             "peers": [["127.0.0.1", other]]}, port,
            (echoA, echoB)[i])))
    return nodes


async def measureJoins(reactor, directory, joins):
    """
    Node B (with echo) joining node A, static peers: A resolves B's echo.

    @return: C{{"spawn": [seconds...], "listening": [seconds...]}}.
    """
    from cocaine.errors import CocaineError

    async def resolvable(locator):
        try:
            endpoints = (await locator.resolve("echo"))[0]
        except CocaineError:
            return False
        return bool(endpoints) and endpoints[0][1] != 0

    async def dropped(locator):
        # A drops B when its stream closes
        try:
            await locator.resolve("echo")
        except CocaineError:
            return True
        return False
    a, b = staticPair(directory, False, True)
    return await joins_.measureJoins(reactor, a, b, joins, resolvable,
                                     dropped)


async def measureScale(reactor, ports, requests, runs, window):
    """
    Requests/s of echo C{ping} through one node, then through both.
    """
    from cocaine.client import Locator, Service
    locators = [Locator(reactor, [("127.0.0.1", p)]) for p in ports]
    apps = [Service("echo", loc) for loc in locators]
    # each connection resolved at its own node: that node's echo
    for app in apps:
        for _ in range(200):
            await request(app, "ping")
    served = [tuple(app.endpoints[0]) for app in apps]
    results = {"one": [], "two": []}
    for _ in range(runs):
        results["one"].append(await inflight(
            lambda: request(apps[0], "ping"), requests, window))
        turn = [0]

        def both():
            turn[0] += 1
            return request(apps[turn[0] % 2], "ping")
        results["two"].append(await inflight(both, requests, window))
    for app in apps:
        await app.disconnect()
    for loc in locators:
        await loc.disconnect()
    results["served"] = served
    return results


_LISTENER = r"""
import json, socket, struct, sys, time
import msgpack
group, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((group, port))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack(
    "4s4s", socket.inet_aton(group), socket.inet_aton("127.0.0.1")))
s.settimeout(0.2)
print("ready", flush=True)
counts = {}
sys.stdin.readline()
while True:
    try:
        s.recvfrom(65536)
    except socket.timeout:
        break
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        data, _ = s.recvfrom(65536)
    except socket.timeout:
        continue
    uuid = msgpack.unpackb(data, raw=False)[0]
    entry = counts.setdefault(uuid, [0, 0])
    entry[0] += 1
    entry[1] += len(data) + 28
print(json.dumps(counts), flush=True)
"""


def measureAnnounces(directory, seconds, interval):
    """
    Three multicast nodes in a namespace made for this, a listener on the
    group counting per node.

    @return: C{{uuid: [datagrams, bytes]}} over C{seconds}, or a string
        saying why it could not run.
    """
    if shutil.which("ip") is None:
        return "no `ip` command"
    name = "cocaine-bench-{}".format(os.getpid())
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True,
                          text=True)
    if made.returncode:
        return "`ip netns add` not permitted: " + made.stderr.strip()
    nodes = []
    listener = None
    original = _node.twistdCommand
    try:
        for command in (["link", "set", "lo", "up"],
                        ["route", "add", "224.0.0.0/4", "dev", "lo"]):
            subprocess.run(["ip", "-n", name] + command, check=True,
                           capture_output=True)
        prefix = ["ip", "netns", "exec", name]
        _node.twistdCommand = lambda *args: prefix + original(*args)
        group, port = "239.0.200.1", 10099
        listener = subprocess.Popen(
            prefix + [sys.executable, "-c", _LISTENER, group, str(port),
                      str(seconds)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env=environment())
        listener.stdout.readline()
        for i in range(3):
            nodes.append(Node(os.path.join(directory, "m{}".format(i)),
                              nodeConfig({
                                  "discovery": "multicast",
                                  "group": group, "port": port,
                                  "interval": interval,
                                  "interface": "127.0.0.1", "ttl": 0,
                                  "secret": "bench"}, 0, False)).start())
        # count once all three run and have met (their first answers
        # to each other are not the steady rate)
        time.sleep(interval + 0.5)
        listener.stdin.write("go\n")
        listener.stdin.flush()
        out = listener.stdout.readline()
        listener.wait(10)
        counts = json.loads(out)
        return {uuid: value for uuid, value in counts.items()}
    finally:
        _node.twistdCommand = original
        for node in nodes:
            node.stop()
        if listener is not None and listener.poll() is None:
            listener.kill()
            listener.wait()
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def report(joins, scale, computed, measured, window, args,
           coordinated=None):
    spawn, (slo, shi) = statistics.median(joins["spawn"]), (
        min(joins["spawn"]), max(joins["spawn"]))
    listen, (llo, lhi) = statistics.median(joins["listening"]), (
        min(joins["listening"]), max(joins["listening"]))
    one, (olo, ohi) = median(scale["one"], "rate")
    two, (tlo, thi) = median(scale["two"], "rate")
    errors = sum(r["errors"] for r in scale["one"] + scale["two"])
    rows = [
        "| join: B's locator listening -> echo resolvable on A (ms) | "
        "{:.0f} ({:.0f}-{:.0f}) | <= {:.0f} |".format(
            listen * 1e3, llo * 1e3, lhi * 1e3, TARGETS["join"] * 1e3),
        "| join: B's process spawned -> echo resolvable on A (ms) | "
        "{:.0f} ({:.0f}-{:.0f}) | - |".format(
            spawn * 1e3, slo * 1e3, shi * 1e3),
        "| echo ping, {} in flight, one node (req/s) | {:,.0f} "
        "({:,.0f}-{:,.0f}) | - |".format(window, one, olo, ohi),
        "| echo ping, {} in flight, two nodes (req/s) | {:,.0f} "
        "({:,.0f}-{:,.0f}) | - |".format(window, two, tlo, thi),
        "| two nodes / one node | {:.2f} | >= {} |".format(
            two / one if one else 0, TARGETS["scale"]),
    ]
    for secret, (size, perMinute) in computed.items():
        rows.append("| announce datagram {} secret (bytes, with IP+UDP) | "
                    "{} ({:.0f} B/min per node at interval {} s, "
                    "60 / interval datagrams) | - |".format(
                        "with" if secret else "without", size, perMinute,
                        args.interval))
    if isinstance(measured, dict):
        datagrams = sorted(v[0] * 60.0 / args.window_s
                           for v in measured.values())
        volume = sorted(v[1] * 60.0 / args.window_s
                        for v in measured.values())
        rows.append("| announces measured per node per minute (datagrams; "
                    "bytes) | {:.0f} ({:.0f}-{:.0f}); {:,.0f} B | - |".format(
                        statistics.median(datagrams), datagrams[0],
                        datagrams[-1], statistics.median(volume)))
        measuredLine = ("announce traffic measured: {} nodes, interval "
                        "{} s, {:.0f} s window in a network namespace "
                        "(loopback), scaled to a minute".format(
                            len(measured), args.interval, args.window_s))
    else:
        rows.append("| announces measured per node per minute | not run: "
                    "{} | - |".format(measured))
        measuredLine = "announce traffic not measured: " + measured
    ratios = []
    if coordinated is not None:
        extra, ratios = coordination.rows(coordinated, args.calls)
        rows += extra
    lines = [
        "machine: " + machine(),
        "date: " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command: python -m bench.cluster " + " ".join(sys.argv[1:]),
        "joins: {}; scaling: {} requests per run, {} runs, {} in flight; "
        "static discovery on 127.0.0.1, interval {} s; nothing pinned "
        "(this machine has {} CPUs: the two nodes, their workers and "
        "this load generator share them)".format(
            args.joins, args.requests, args.runs, window, INTERVAL,
            psutil.cpu_count()),
        "two-node connections served by: {}".format(
            ", ".join("{}:{}".format(*s) for s in scale["served"])),
        measuredLine,
        "",
        "| workload | ours | target |",
        "|---|---|---|",
    ] + rows + [
        "",
        "in-flight errors: {}".format(errors),
    ] + (["coordination: {} unicorn joins, {} calls per figure, one at a "
          "time".format(args.unicorn_joins, args.calls)] + [
              "ratio: " + ratio for ratio in ratios]
         if coordinated is not None else [])
    print("\n".join(lines))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--joins", type=int, default=15)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--interval", type=float, default=5.0,
                        help="announce interval for the traffic figures")
    parser.add_argument("--window-s", type=float, default=30.0,
                        help="seconds the announce listener counts")
    parser.add_argument("--unicorn-joins", type=int, default=15,
                        help="joins through unicorn measured")
    parser.add_argument("--calls", type=int, default=2000,
                        help="unicorn and postgres calls per figure")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run that only shows it works")
    args = parser.parse_args(argv)
    if args.quick:
        args.joins, args.requests, args.runs = 3, 1000, 1
        args.interval, args.window_s = 1.0, 3.0
        args.unicorn_joins, args.calls = 3, 200
    directory = tempfile.mkdtemp(prefix="cocaine-bench-cluster-")
    results = {}
    computed = {}
    for secret in (None, "a cluster secret"):
        size = len(encodeAnnounce("6b1d3f0e-8f5a-4c1e-9d2b-3a4c5d6e7f80",
                                  [("10.0.0.1", 10053)], secret,
                                  0.0)) + 28
        computed[secret] = (size, size * 60.0 / args.interval)
    try:
        async def joins(reactor):
            results["joins"] = await measureJoins(
                reactor, os.path.join(directory, "join"), args.joins)
            a, b = staticPair(os.path.join(directory, "scale"), True, True)
            started = []
            try:
                for node in (a, b):
                    node.start()
                    started.append(node)
                time.sleep(2 * INTERVAL)
                results["scale"] = await measureScale(
                    reactor, [a.port, b.port], args.requests, args.runs,
                    args.window)
            finally:
                for node in started:
                    node.stop()
            results["coordination"] = await coordination.measure(
                reactor, os.path.join(directory, "coordination"),
                args.unicorn_joins, args.calls)
        task.react(lambda reactor: defer.Deferred.fromCoroutine(
            joins(reactor)), [])
    except SystemExit as e:
        if e.code:
            raise
    measured = measureAnnounces(os.path.join(directory, "announce"),
                                args.window_s, args.interval)
    shutil.rmtree(directory, ignore_errors=True)
    return report(results["joins"], results["scale"], computed, measured,
                  args.window, args, results.get("coordination"))


if __name__ == "__main__":
    main()
