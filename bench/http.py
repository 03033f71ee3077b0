# -*- test-case-name: tests.integration.test_bench -*-
"""
Our HTTP gateway with the Python echo app, side by side with uWSGI, in one
run, with C{wrk} as the load generator.

    python -m bench.http [--quick] [--seconds S] [--warmup S]
                         [--connections 1,8,64,256] [--workers N]
                         [--only ours,uwsgi] [--json FILE]
    python -m bench.http --servers ...   (L{bench.httpservers})

Systems, both serving on 127.0.0.1 with the same number of worker
processes (default 2):
  - ours: a node (C{twistd cocaine}) with the C{http} service and the echo
    example (C{examples/apps/echo}), its pool pinned to N workers with
    C{node.control}; requests go to C{/echo/http/} (gateway -> worker ->
    gateway: two hops);
  - uWSGI (Debian's, with its Python 3 plugin): the C{--http} router in
    front of C{--master --processes N} workers (no threads) running
    L{bench.peers.wsgi_echo} (router -> worker -> router: two hops).
Both answer a GET with a small fixed text and a POST with its body.

Workloads: C{wrk -t1 -cC -dS} for every C in C{--connections}, a GET and a
POST of 1 KiB, after a warm-up run of C{--warmup} seconds; the systems
take turns at each workload. The servers are pinned to CPU 0 and C{wrk} to
CPU 1 (C{taskset}) when there are two CPUs. Figures: requests/s, p50 and
p99 latency (exact, from wrk's Lua C{done} hook), errors (connect, read,
write, timeout, non-2xx), and the server side's CPU seconds per 10,000
requests (psutil: the node and its workers; uWSGI's master, router and
workers). C{wrk}, uWSGI and its plugin are installed with C{apt-get} when
missing. Everything started is stopped by PID at the end, also on errors,
Ctrl-C and SIGTERM.

Default run: 2 x 4 x 2 x (1 + 5) s, under 2 minutes; C{--quick}: 1 and 64
connections, 1 s, no warm-up.
"""

import argparse
import os
import subprocess
import sys

from bench.compare.processes import Unavailable
from bench.httpload import (HttpServer, WrkError, fetch, fmt, freePort,
                            measure, pythonEnvironment, ratio, runAndReport,
                            uwsgiCommand, writeScript)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ECHO = os.path.join(ROOT, "examples", "apps", "echo")
OUR_PATH = "/echo/http/"
POST_BYTES = 1024
WORKLOADS = [("GET", 0), ("POST", POST_BYTES)]
SYSTEMS = {"ours": "ours: gateway + echo app", "uwsgi": "uWSGI --http"}
FLOOR, AIM, FLOOR_CONNECTIONS = 0.5, 1.0, 64


def workloadKey(method, connections):
    return "{} c{}".format(method, connections)


def nodeConfig(httpPort, locatorPort, workers):
    return {
        "network": {"locator": locatorPort},
        "services": {
            "logging": {"type": "logging"},
            "storage": {"type": "storage"},
            "node": {"type": "node", "args": {"local": {
                "echo": {"path": ECHO, "profile": {
                    "pool-limit": workers, "concurrency": 256,
                    "queue-limit": 4096, "idle-timeout": 0}}}}},
            "http": {"type": "http", "args": {"port": httpPort}},
        },
    }


def pinPool(port, app, size):
    """
    In a process of its own (a reactor runs once): C{node.control} the
    app's pool to C{size} workers and wait until they are active.
    """
    from twisted.internet import defer, task

    from bench.apps import control, waitWorkers
    from cocaine.client import Locator, Service

    async def run(reactor):
        locator = Locator(reactor, [("127.0.0.1", port)])
        node, service = Service("node", locator), Service(app, locator)
        await control(node, app, size)
        await waitWorkers(reactor, service, size)
        await service.disconnect()
        await node.disconnect()
        await locator.disconnect()
    task.react(lambda reactor: defer.Deferred.fromCoroutine(run(reactor)))


def startOurs(directory, workers):
    """
    A node with the gateway and the echo app, its pool at C{workers}.

    @return: the L{HttpServer} and the URL to load.
    @raise Unavailable: no C{http} service here, or it did not come up.
    """
    if not os.path.exists(os.path.join(ROOT, "services", "http.py")):
        raise Unavailable("no http service (services/http.py) in this "
                          "checkout")
    import json
    from tests.integration.node import twistdCommand
    httpPort, locatorPort = freePort(), freePort()
    home = os.path.join(directory, "node")
    os.makedirs(home)
    config = os.path.join(home, "cocaine.json")
    with open(config, "w") as f:
        json.dump(nodeConfig(httpPort, locatorPort, workers), f)
    base = "http://127.0.0.1:{}".format(httpPort)
    server = HttpServer(
        "ours", twistdCommand("--pidfile=", "-n", "cocaine", "--config",
                              config),
        base + "/ping", os.path.join(home, "node.log"),
        env=pythonEnvironment(), cwd=home).start()
    server.pin()
    try:
        subprocess.run(
            [sys.executable, "-c", "from bench.http import pinPool; "
             "pinPool({}, 'echo', {})".format(locatorPort, workers)],
            env=pythonEnvironment(), cwd=ROOT, check=True, timeout=60,
            capture_output=True)
    except subprocess.SubprocessError as e:
        server.stop()
        raise Unavailable("could not pin the echo pool to {}: {} {!r}"
                          .format(workers, e, (getattr(e, "stderr", None)
                                               or b"")[-1000:]))
    return server, base + OUR_PATH


def startUwsgi(directory, workers):
    port = freePort()
    url = "http://127.0.0.1:{}/".format(port)
    server = HttpServer("uwsgi", uwsgiCommand(port, workers), url,
                        os.path.join(directory, "uwsgi.log"),
                        env=pythonEnvironment()).start()
    server.pin()
    return server, url


STARTS = {"ours": startOurs, "uwsgi": startUwsgi}


def check(name, url):
    """
    The server answers a GET with 200 and a POST with its body.

    @raise Unavailable: it does not.
    """
    status, body = fetch(url)
    if status != 200 or not body:
        raise Unavailable("{}: GET {} answered {} {!r}".format(
            name, url, status, body[:200]))
    sent = bytes(range(256)) * (POST_BYTES // 256)
    status, body = fetch(url, sent)
    if status != 200 or body != sent:
        raise Unavailable("{}: POST {} of {} bytes answered {} with {} "
                          "bytes, not the echo".format(
                              name, url, len(sent), status, len(body)))


def run(args, directory):
    """
    Start the systems, load them in turns, stop them.

    @return: the results document (see L{main}).
    """
    script = writeScript(directory)
    servers, urls, skipped, results = {}, {}, {}, {}
    pids = []
    try:
        for name in args.only:
            try:
                servers[name], urls[name] = STARTS[name](directory,
                                                         args.workers)
                check(name, urls[name])
                results[name] = {}
            except Unavailable as e:
                skipped[name] = str(e)
                print("{} skipped: {}".format(name, e), flush=True)
        for method, body in WORKLOADS:
            for connections in args.connections:
                key = workloadKey(method, connections)
                for name in results:
                    try:
                        results[name][key] = measure(
                            servers[name], urls[name], connections,
                            args.seconds, args.warmup, method, body, script)
                    except WrkError as e:
                        results[name][key] = {"failed": str(e)[:1000]}
                        print("{} {} FAILED: {}".format(name, key, e),
                              flush=True)
    finally:
        for name, server in servers.items():
            pids.extend(server.stop())
    left = [pid for pid in pids if _alive(pid)]
    return {"results": results, "skipped": skipped, "pids": pids,
            "left": left}


def _alive(pid):
    import psutil
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def table(args, found):
    """
    @return: the side-by-side table's lines.
    """
    results = found["results"]
    ours, theirs = results.get("ours", {}), results.get("uwsgi", {})
    lines = [
        "| workload | ours req/s | uWSGI req/s | ours/uWSGI | ours p50 (us) "
        "| uWSGI p50 (us) | ours p99 (us) | uWSGI p99 (us) | p99 ours/uWSGI "
        "| ours CPU s/10k req | uWSGI CPU s/10k req | errors ours/uWSGI |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for method, body in WORKLOADS:
        for connections in args.connections:
            key = workloadKey(method, connections)
            o, u = ours.get(key, {}), theirs.get(key, {})
            name = "{}{}, {} conn".format(
                method, " 1 KiB" if body else "", connections)
            lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} "
                         "| {} | {} / {} |".format(
                             name, fmt(o.get("rate")), fmt(u.get("rate")),
                             fmt(ratio(o.get("rate"), u.get("rate")), 2),
                             fmt(o.get("p50_us")), fmt(u.get("p50_us")),
                             fmt(o.get("p99_us")), fmt(u.get("p99_us")),
                             fmt(ratio(o.get("p99_us"), u.get("p99_us")), 2),
                             fmt(o.get("cpu_s_per_10k"), 2),
                             fmt(u.get("cpu_s_per_10k"), 2),
                             fmt(o.get("errors")), fmt(u.get("errors"))))
    return lines


def floorLine(args, found):
    """
    @return: the line that says whether the floor of the issue is met.
    """
    results = found["results"]
    if "ours" not in results or "uwsgi" not in results or (
            FLOOR_CONNECTIONS not in args.connections):
        return "floor: not measured (needs ours and uWSGI at {} " \
               "connections)".format(FLOOR_CONNECTIONS)
    ratios = []
    for method, _ in WORKLOADS:
        key = workloadKey(method, FLOOR_CONNECTIONS)
        ratios.append((method, ratio(results["ours"][key].get("rate"),
                                     results["uwsgi"][key].get("rate"))))
    worst = min((r for _, r in ratios if r is not None), default=None)
    verdict = ("MISSED" if worst is None or worst < FLOOR else
               "met, aim met" if worst >= AIM else "met, aim not met")
    return "floor: ours >= {}x uWSGI req/s at {} connections (aim {}x): " \
           "{}: {}".format(FLOOR, FLOOR_CONNECTIONS, AIM, ", ".join(
               "{} {}".format(m, fmt(r, 2)) for m, r in ratios), verdict)


def report(args, found):
    lines = [
        "machine: " + found["machine"],
        "versions: " + ", ".join("{} {}".format(k, v) for k, v in sorted(
            found["versions"].items())),
        "date: " + found["date"],
        ("command: python -m bench.http " + " ".join(args.argv)).rstrip(),
        "per workload: wrk -t1 -c C -d {}s after a {} s warm-up; servers on "
        "CPU 0, wrk on CPU 1; {} workers each; POST body {} bytes".format(
            args.seconds, args.warmup, args.workers, POST_BYTES),
        "",
    ] + table(args, found) + [
        "",
        floorLine(args, found),
        "errors: connect + read + write + timeout + non-2xx, from wrk; "
        "latency lower is better, so a p99 ratio below 1 is ours doing "
        "better",
        "stopped: {} processes (pids {}), left running: {}".format(
            len(found["pids"]), " ".join(map(str, found["pids"])),
            " ".join(map(str, found["left"])) or "none"),
    ]
    print("\n".join(lines), flush=True)


def parser():
    top = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    top.add_argument("--servers", action="store_true",
                     help="compare the bare HTTP layers instead "
                          "(bench.httpservers)")
    top.add_argument("--quick", action="store_true",
                     help="a tiny run that only shows it works")
    top.add_argument("--seconds", type=int, default=5,
                     help="seconds per timed wrk run")
    top.add_argument("--warmup", type=int, default=1,
                     help="seconds of warm-up before each timed run")
    top.add_argument("--connections", default="1,8,64,256",
                     help="comma-separated connection counts")
    top.add_argument("--workers", type=int, default=2,
                     help="worker processes of each system")
    top.add_argument("--only", default=",".join(SYSTEMS),
                     help="comma-separated systems: " + ", ".join(SYSTEMS))
    top.add_argument("--json", metavar="FILE",
                     help="also write the results to FILE")
    return top


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--servers" in argv:
        from bench import httpservers
        return httpservers.main([a for a in argv if a != "--servers"])
    args = parser().parse_args(argv)
    args.argv = argv
    args.connections = [int(c) for c in args.connections.split(",") if c]
    args.only = [s for s in args.only.split(",") if s]
    unknown = sorted(set(args.only) - set(SYSTEMS))
    if unknown or args.seconds < 1 or args.warmup < 0 or args.workers < 1 \
            or not args.connections or min(args.connections) < 1:
        parser().error("bad arguments: --only {} --seconds {} --warmup {} "
                       "--workers {} --connections {}".format(
                           ",".join(unknown) or "ok", args.seconds,
                           args.warmup, args.workers, args.connections))
    return runAndReport("bench.http", args, run, report,
                        {"workers": args.workers, "post_bytes": POST_BYTES})


if __name__ == "__main__":
    sys.exit(main())
