"""
A short run of the peers, by hand, to see that all of it works:

    .venv/bin/python -m bench.peers.selftest [--size BYTES]

Installs what is missing (L{python_peers.ensure}, the Debian broker),
starts a private RabbitMQ, the zerorpc server and the Nameko server, then
runs each client: 1000 echo calls one at a time, 2000 with 64 in flight,
and for zerorpc a stream of 1000 chunks of 1 KiB. Prints each JSON result
and the CPU seconds each server side used, then stops everything by PID.
Exits 1 if anything failed or any request erred. No CPU pinning.
"""

import argparse
import json
import os
import sys
import time

import psutil

from bench.peers import NAMEKO_PEER, ZERORPC_PEER, benchHome, python_peers
from bench.peers.processes import PeerServer, runClient
from bench.peers.rabbitmq import Broker


def cpuSeconds(pids):
    """
    @return: user + system CPU seconds of the processes still there.
    @rtype: L{float}
    """
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def workloads(size):
    """
    @param size: echo payload bytes.
    @return: (label, peer, client arguments) for each run.
    @rtype: L{list}
    """
    echo = ["--workload", "echo", "--size", str(size)]
    return [
        ("zerorpc echo seq", "zerorpc",
         echo + ["--requests", "1000", "--inflight", "1"]),
        ("zerorpc echo 64", "zerorpc",
         echo + ["--requests", "2000", "--inflight", "64"]),
        ("zerorpc stream", "zerorpc",
         ["--workload", "stream", "--count", "1000", "--size", "1024"]),
        ("nameko echo seq", "nameko",
         echo + ["--requests", "1000", "--inflight", "1"]),
        ("nameko echo 64", "nameko",
         echo + ["--requests", "2000", "--inflight", "64"]),
    ]


def measure(label, argv, watched):
    """
    Run one client; print its result and the server side's CPU seconds.

    @param watched: PIDs of the server side to account.
    @return: the result.
    @rtype: L{dict}
    """
    before = cpuSeconds(watched)
    started = time.monotonic()
    result = runClient(argv, timeout=300)
    wall = time.monotonic() - started
    result["server_cpu_s"] = round(cpuSeconds(watched) - before, 3)
    print("{:<18} {}  (client wall {:.1f} s)".format(
        label, json.dumps(result), wall), flush=True)
    return result


def run(size, home):
    """
    Start the broker and both servers, run every workload, stop them.

    @return: whether every run answered every request.
    @rtype: L{bool}
    """
    pythons = python_peers.ensure(home)
    print("versions: " + json.dumps(pythons["versions"], sort_keys=True))
    logDir = os.path.join(home, "logs")
    ok = True
    servers = []
    with Broker(home) as broker:
        print("broker {} PIDs {}".format(broker.amqpUri, broker.pids()))
        try:
            zerorpc = PeerServer([pythons["zerorpc"], ZERORPC_PEER, "server"],
                                 "zerorpc", logDir)
            servers.append(zerorpc)
            nameko = PeerServer([pythons["nameko"], NAMEKO_PEER, "server",
                                 "--amqp", broker.amqpUri], "nameko", logDir)
            servers.append(nameko)
            print("zerorpc server {} PID {}; nameko server PID {}".format(
                zerorpc.endpoint, zerorpc.pid, nameko.pid), flush=True)
            targets = {
                "zerorpc": ([pythons["zerorpc"], ZERORPC_PEER, "client",
                             "--connect", zerorpc.endpoint], zerorpc.pids()),
                "nameko": ([pythons["nameko"], NAMEKO_PEER, "client",
                            "--connect", broker.amqpUri],
                           nameko.pids() + broker.pids()),
            }
            for label, peer, args in workloads(size):
                command, watched = targets[peer]
                result = measure(label, command + args, watched)
                ok = ok and not result.get("errors")
        finally:
            for server in servers:
                server.stop()
    return ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--size", type=int, default=64,
                        help="echo payload bytes (default 64)")
    options = parser.parse_args(argv)
    if options.size < 0:
        parser.error("--size must be >= 0, got {}".format(options.size))
    home = benchHome()
    started = time.monotonic()
    ok = run(options.size, home)
    print("selftest {} in {:.1f} s".format("passed" if ok else "FAILED",
                                            time.monotonic() - started))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
