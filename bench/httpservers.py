# -*- test-case-name: tests.integration.test_bench -*-
"""
The bare HTTP layers side by side, each answering C{b"hello"} with no app
behind it: why the gateway stands on httptools under Twisted rather than on
C{twisted.web}.

    python -m bench.httpservers [--quick] [--seconds S] [--warmup S]
                                [--connections 1,64,256] [--json FILE]
    (the same as python -m bench.http --servers ...)

Servers (L{bench.peers.http_servers}, each one process on CPU 0 unless
said):
  - C{twisted.web}: C{Site} with one leaf resource, as shipped;
  - ours: L{cocaine.http.server} with a handler answering the same (when
    this checkout has it);
  - bare httptools: the smallest keep-alive protocol on httptools' C parser
    (what the parser costs with no framework at all);
  - uWSGI: its C{--http} router (a C event loop, one process) in front of
    one WSGI worker (L{bench.peers.wsgi_echo}C{.hello}), both on CPU 0.
    (uWSGI 2.0's C{--http-socket} closes every connection after one
    answer, so it is not measured.)
Load: C{wrk -t1 -cC} GET on CPU 1 for each C, after a warm-up; requests/s,
p50, p99, errors, and the server's CPU seconds per 10,000 requests.
Default run: 4 x 3 x (1 + 5) s, under 2 minutes.
"""

import argparse
import os
import sys

from bench.compare.processes import Unavailable
from bench.httpload import (PEERS, WSGI_ECHO, HttpServer, WrkError, fmt,
                            freePort, measure, pythonEnvironment, ratio,
                            runAndReport, uwsgiCommand, writeScript)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HTTP_SERVERS = os.path.join(PEERS, "http_servers.py")
#: key: (label, the script's server kind or None for uWSGI)
SERVERS = {"twisted": ("twisted.web Site", "twisted"),
           "cocaine": ("ours: cocaine.http.server", "cocaine"),
           "httptools": ("bare httptools protocol", "httptools"),
           "uwsgi": ("uWSGI --http + 1 worker", None)}
BASE = "twisted"


def available(key):
    """
    @return: why the server cannot run from this checkout, or L{None}.
    """
    if key == "cocaine" and not os.path.exists(
            os.path.join(ROOT, "cocaine", "http", "server.py")):
        return "no cocaine/http/server.py in this checkout"
    return None


def start(key, directory):
    port = freePort()
    url = "http://127.0.0.1:{}/".format(port)
    kind = SERVERS[key][1]
    if kind is None:
        argv = uwsgiCommand(port, 1, callable="hello", wsgiFile=WSGI_ECHO)
    else:
        argv = [sys.executable, HTTP_SERVERS, kind, str(port)]
    server = HttpServer(key, argv, url,
                        os.path.join(directory, key + ".log"),
                        env=pythonEnvironment(), cwd=ROOT).start()
    server.pin()
    return server, url


def run(args, directory):
    script = writeScript(directory)
    servers, urls, skipped, results, pids = {}, {}, {}, {}, []
    try:
        for key in args.only:
            why = available(key)
            try:
                if why:
                    raise Unavailable(why)
                servers[key], urls[key] = start(key, directory)
                results[key] = {}
            except Unavailable as e:
                skipped[key] = str(e)
                print("{} skipped: {}".format(key, e), flush=True)
        for connections in args.connections:
            for key in results:
                try:
                    results[key]["c{}".format(connections)] = measure(
                        servers[key], urls[key], connections, args.seconds,
                        args.warmup, "GET", 0, script)
                except WrkError as e:
                    results[key]["c{}".format(connections)] = {
                        "failed": str(e)[:1000]}
                    print("{} c{} FAILED: {}".format(key, connections, e),
                          flush=True)
    finally:
        for server in servers.values():
            pids.extend(server.stop())
    from bench.http import _alive
    return {"results": results, "skipped": skipped, "pids": pids,
            "left": [pid for pid in pids if _alive(pid)]}


def report(args, found):
    results = found["results"]
    keys = [key for key in SERVERS if key in results]
    base = results.get(BASE, {})
    lines = [
        "machine: " + found["machine"],
        "versions: " + ", ".join("{} {}".format(k, v) for k, v in sorted(
            found["versions"].items())),
        "date: " + found["date"],
        ("command: python -m bench.httpservers " + " ".join(
            args.argv)).rstrip(),
        "per row: wrk -t1 -c C -d {}s GET after a {} s warm-up; server on "
        "CPU 0, wrk on CPU 1; each server answers 200 \"hello\"".format(
            args.seconds, args.warmup),
        "",
        "| server | connections | req/s | x twisted.web | p50 (us) | "
        "p99 (us) | CPU s/10k req | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for connections in args.connections:
        column = "c{}".format(connections)
        for key in keys:
            r = results[key].get(column, {})
            lines.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
                SERVERS[key][0], connections, fmt(r.get("rate")),
                fmt(ratio(r.get("rate"), base.get(column, {}).get("rate")),
                    2),
                fmt(r.get("p50_us")), fmt(r.get("p99_us")),
                fmt(r.get("cpu_s_per_10k"), 2), fmt(r.get("errors"))))
    lines += [
        "",
        "stopped: {} processes (pids {}), left running: {}".format(
            len(found["pids"]), " ".join(map(str, found["pids"])),
            " ".join(map(str, found["left"])) or "none"),
    ]
    print("\n".join(lines), flush=True)


def parser():
    top = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    top.add_argument("--quick", action="store_true",
                     help="a tiny run that only shows it works")
    top.add_argument("--seconds", type=int, default=5)
    top.add_argument("--warmup", type=int, default=1)
    top.add_argument("--connections", default="1,64,256")
    top.add_argument("--only", default=",".join(SERVERS),
                     help="comma-separated: " + ", ".join(SERVERS))
    top.add_argument("--json", metavar="FILE")
    return top


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    args.argv = argv
    args.connections = [int(c) for c in args.connections.split(",") if c]
    args.only = [s for s in args.only.split(",") if s]
    unknown = sorted(set(args.only) - set(SERVERS))
    if unknown or args.seconds < 1 or args.warmup < 0 or \
            not args.connections or min(args.connections) < 1:
        parser().error("bad arguments: --only {} --seconds {} --warmup {} "
                       "--connections {}".format(
                           ",".join(unknown) or "ok", args.seconds,
                           args.warmup, args.connections))
    return runAndReport("bench.httpservers", args, run, report,
                        {})


if __name__ == "__main__":
    sys.exit(main())
