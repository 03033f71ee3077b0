# -*- test-case-name: tests.bench.test_compare,tests.integration.test_bench -*-
"""
Side by side with the field, in one run.

    python -m bench.compare [--quick] [--runs R] [--only ours,cote,...]
                            [--out DIR] [--no-docs]

Systems: ours (a node serving the Python echo example through a pool of
two workers; two hops), ours with token auth (the same node checking a
token on every request, the load generator sending one), zerorpc, Nameko
with RabbitMQ, cote 1.2.0 (in a network namespace with only C{lo}), the
floor (a bare Twisted msgpack echo),
the two-hop floor (a bare Twisted relay in front of two bare workers, ours
without the framework: L{bench.compare.relay}) and C{redis-benchmark} PING
against Redis (the machine's floor). The peers
are installed by L{bench.compare.install} into a scratch directory
(C{$COCAINE_BENCH_HOME}, default C{~/.cache/cocaine-bench}), never into
the repository; a peer that cannot run here is skipped with the reason.

Workloads, each system's own client as the load generator, the server
side pinned to CPU 0 and the load generator to CPU 1, C{R} runs (a fresh
load generator process each), median and spread:
  1. sequential echo, 16 B and 1 KiB: requests/s, p50, p99;
  2. 8, 64 and 256 in flight (16 B): requests/s, p99, errors;
  3. a stream of 10,000 chunks of 1 KiB in one reply: MB/s, first chunk;
  4. elasticity (ours only): cold start, a burst of 50 from an empty pool,
     idle shrink against the idle timeout;
  5. cost: the servers' CPU seconds per 10,000 requests over the 64 in
     flight runs, warm-up included (each load generator's own warm-up:
     sequential for ours, cote and both floors, in flight for zerorpc and
     Nameko) and over the timed requests alone (from the line C{timed}
     the load generator prints when its warm-up ends), and their RSS
     after the runs;
and sequential and 64 in flight once more with nothing pinned.

The sides of issue 17's table (ours, ours with token auth, cote, the
floor and the two-hop floor) are started together and run in turns: each
run of a workload goes round them, so that the host's speed, which drifts
over the minutes of the comparison (by a third on a shared VM), weighs on
their ratios alike. The other peers run afterwards, one at a time.

Writes C{compare.json}, the charts C{bench-throughput.png} and
C{bench-latency.png} into C{--out} (default C{docs/}; a new temporary
directory with C{--quick} or C{--no-docs}, which leave C{docs/} alone),
and, unless C{--quick} or C{--no-docs}, the tables into
C{docs/performance.md} between its C{bench.compare} markers.
"""

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time

from bench.compare import sides as S
from bench.compare.processes import (Unavailable, cpuSeconds, family, pin,
                                     rssMegabytes)

ROOT = S.ROOT

#: (key, workload, size, in flight); the sequential ones use --sequential
ECHO = [("seq16", "echo", 16, 1), ("seq1k", "echo", 1024, 1),
        ("c8", "echo", 16, 8), ("c64", "echo", 16, 64),
        ("c256", "echo", 16, 256)]
STREAM = ("stream", "stream", 1024)
UNPINNED = ("seq16", "c64")
SERVER_CPU, CLIENT_CPU = 0, 1
#: the sides of issue 17's table: they run in turns (L{Runner.inTurns});
#: the others one after another, alone (an idle broker beside them would
#: spend CPU 0 under the others' runs)
TURNS = ("ours", "ours-auth", "cote", "floor", "relay")
SYSTEMS = ["ours", "ours-auth", "zerorpc", "nameko", "cote", "floor", "relay",
           "redis"]


def plan():
    """
    @return: the workloads in the order they run, as C{(key, workload,
        size, in flight, pinned)}: every echo and the stream pinned, then
        the L{UNPINNED} echoes with nothing pinned.
    """
    return ([(key, workload, size, inflight, True)
             for key, workload, size, inflight in ECHO] +
            [(STREAM[0], STREAM[1], STREAM[2], 1, True)] +
            [(key, workload, size, inflight, False)
             for key, workload, size, inflight in ECHO
             if key in UNPINNED])


def readUntilLine(process, line, deadline):
    """
    Read a process's standard output and error (binary pipes) until its
    output holds the line C{line}, keeping everything else it wrote.

    @param deadline: a C{time.monotonic} time to give up at.
    @return: C{(found, out, err)}: whether the line came (L{False} when
        the output ended first), and the bytes of each pipe read so far,
        the line left out.
    @raise subprocess.TimeoutExpired: at the deadline.
    """
    wanted = line.encode()
    pending, kept = b"", []
    err = []
    fds = {process.stdout.fileno(): "out", process.stderr.fileno(): "err"}
    while "out" in fds.values():
        remaining = deadline - time.monotonic()
        ready = select.select(list(fds), [], [], max(remaining, 0))[0] \
            if remaining > 0 else []
        if not ready:
            raise subprocess.TimeoutExpired("load generator", 0)
        for fd in ready:
            data = os.read(fd, 65536)
            if fds[fd] == "err":
                if data:
                    err.append(data)
                else:
                    del fds[fd]
                continue
            if not data:
                del fds[fd]
                kept.append(pending)
                break
            pending += data
            while b"\n" in pending:
                first, _, pending = pending.partition(b"\n")
                if first.strip() == wanted:
                    return True, b"".join(kept) + pending, b"".join(err)
                kept.append(first + b"\n")
    return False, b"".join(kept), b"".join(err)


def warmups(requests):
    """
    The warm-up requests every load generator makes before timing.
    """
    return min(1000, max(requests // 10, 10))


class Runner:
    """
    Runs the workloads of one side and gathers what they print.
    """

    def __init__(self, args):
        self.args = args

    def requests(self, side, inflight):
        count = self.args.sequential if inflight == 1 else self.args.requests
        return max(int(count * self.args.scale.get(side.key, 1.0)), 50)

    def one(self, side, workload, size, requests, inflight, pinned):
        argv = side.client(workload, size, requests, inflight,
                           self.args.count)
        servers = family(sum(side.serverPids().values(), []))
        pin(servers, SERVER_CPU if pinned else None)
        before = cpuSeconds(servers)
        process = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, cwd=ROOT,
                                   env=side.env())
        pin([process.pid], CLIENT_CPU if pinned else None)
        deadline = time.monotonic() + self.args.timeout
        timed = None
        out = err = b""
        try:
            if workload == "echo":
                found, out, err = readUntilLine(process, "timed", deadline)
                if found:
                    timed = cpuSeconds(servers)
            rest, restErr = process.communicate(
                timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return {"failed": "no answer within {} s".format(
                self.args.timeout)}
        except BaseException:
            # stopped (SIGTERM, Ctrl-C): the load generator goes too
            process.kill()
            process.wait()
            raise
        after = cpuSeconds(servers)
        out = (out + rest).decode("utf-8", "replace")
        err = (err + restErr).decode("utf-8", "replace")
        if process.returncode:
            return {"failed": "exit {}: {}".format(
                process.returncode, err.strip()[-300:])}
        try:
            result = S.parseResult(out)
        except ValueError as e:
            return {"failed": "unreadable output ({}): {!r}".format(
                e, out[-200:])}
        used = sum(after.get(pid, 0) - before.get(pid, 0) for pid in before)
        if workload == "echo":
            result["cpu_s_per_10k"] = used / (
                requests + warmups(requests)) * 1e4
            if timed is not None:
                result["cpu_timed_s_per_10k"] = sum(
                    after.get(pid, 0) - timed.get(pid, 0)
                    for pid in timed) / requests * 1e4
        return result

    def inTurns(self, sides):
        """
        Run every workload on C{sides} started together, in turns: each
        run of a workload goes round the sides (starting one further
        round each time), so that a drift of the host's speed over the
        minutes of the comparison falls on all of them alike rather than
        on whichever ran during it. A side that cannot start is skipped.

        @return: C{(results, skipped)}: per side's key its results (per
            workload key a list of runs, C{"unpinned"} likewise,
            C{"rss_mb"}, and C{"elastic"} for ours), and per skipped
            side's key the reason.
        """
        results, skipped, started = {}, {}, []
        try:
            for side in sides:
                print("{} ...".format(side.label), flush=True)
                try:
                    side.start()
                except Unavailable as e:
                    side.stop()
                    skipped[side.key] = str(e)
                    print("  skipped: {}".format(e), flush=True)
                    continue
                started.append(side)
                results[side.key] = {"label": side.label, "unpinned": {}}
            for key, workload, size, inflight, pinned in plan():
                runners = [side for side in started
                           if workload != "stream" or side.streams]
                requests = {side.key: self.requests(side, inflight)
                            for side in runners}
                for turn in range(self.args.runs):
                    shift = turn % len(runners) if runners else 0
                    for side in runners[shift:] + runners[:shift]:
                        result = self.one(side, workload, size,
                                          requests[side.key], inflight,
                                          pinned)
                        where = (results[side.key] if pinned
                                 else results[side.key]["unpinned"])
                        where.setdefault(key, []).append(result)
                        print("  {:<9} {:<6} {:>5} B {:>3} in flight{}: {}"
                              .format(side.key, workload, size, inflight,
                                      "" if pinned else " (unpinned)",
                                      _brief(result)), flush=True)
            for side in started:
                results[side.key]["rss_mb"] = {
                    group: rssMegabytes(family(pids))
                    for group, pids in side.serverPids().items()}
                if side.key == "ours":
                    results["ours"]["elastic"] = self.elastic(side)
        finally:
            for side in started:
                side.stop()
        return results, skipped

    def elastic(self, side):
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.compare.ourside", "elastic",
             "--connect", side.endpoint, "--runs", str(self.args.runs)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=ROOT, env=side.env())
        pin([process.pid], CLIENT_CPU)
        out, err = process.communicate(timeout=600)
        if process.returncode:
            return {"failed": err.strip()[-300:]}
        result = S.parseResult(out)
        print("  ours     elasticity: {}".format(json.dumps(result)),
              flush=True)
        return result

    def redis(self):
        from bench.compare.redis import Redis
        server = Redis().start()
        results = {"label": "Redis PING (redis-benchmark)"}
        try:
            pin(server.pids(), SERVER_CPU)
            for key, _, _, inflight in ECHO:
                if key == "seq1k":
                    continue
                requests = self.requests(S.Side(), inflight) * 2
                results[key] = [server.ping(requests, inflight, CLIENT_CPU)
                                for _ in range(self.args.runs)]
                print("  redis    ping   {:>3} clients: {}".format(
                    inflight, _brief(results[key][-1])), flush=True)
            results["rss_mb"] = {"server": rssMegabytes(server.pids())}
        finally:
            server.stop()
        return results


def _brief(result):
    if "failed" in result:
        return "FAILED " + result["failed"]
    if "rate" in result:
        return "{:,.0f} req/s p50 {:,.0f} us p99 {:,.0f} us{}".format(
            result["rate"], result["p50_us"], result["p99_us"],
            " errors {}".format(result["errors"]) if result["errors"]
            else "")
    return "{:,.1f} MB/s first chunk {:.1f} ms".format(
        result["mb_per_s"], result["ttfb_ms"])


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sequential", type=int, default=5000,
                        help="requests per sequential run")
    parser.add_argument("--requests", type=int, default=20000,
                        help="requests per in-flight run")
    parser.add_argument("--count", type=int, default=10000,
                        help="chunks of the stream")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--only", default="",
                        help="comma-separated: ours,ours-auth,zerorpc,"
                        "nameko,cote,floor,relay,redis")
    parser.add_argument("--out", default=None,
                        help="where compare.json and the charts go: docs/ "
                        "by default, a new temporary directory with "
                        "--no-docs or --quick")
    parser.add_argument("--no-docs", action="store_true",
                        help="leave docs/ alone (performance.md, "
                        "compare.json and the charts)")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run that only shows it works; writes "
                        "into a temporary directory, not docs/")
    args = parser.parse_args(argv)
    unknown = set(filter(None, args.only.split(","))) - set(SYSTEMS)
    if unknown:
        parser.error("--only: no system named {} (there are: {})".format(
            ", ".join(sorted(unknown)), ",".join(SYSTEMS)))
    #: Nameko answers in milliseconds, not microseconds: fewer requests
    #: keep its runs within a minute; rates do not depend on the count.
    args.scale = {"nameko": 0.25}
    if args.quick:
        args.runs, args.sequential, args.requests, args.count = 1, 200, 600, 500
        args.no_docs = True
    if args.out is None:
        args.out = (tempfile.mkdtemp(prefix="cocaine-bench-compare-")
                    if args.no_docs else os.path.join(ROOT, "docs"))
    return args


def main(argv=None):
    from bench.compare import install, report
    from bench.peers.processes import exitOnTerm
    from bench.rpc import machine
    args = parse(argv)
    exitOnTerm()
    only = set(filter(None, args.only.split(",")))
    wanted = (lambda key: not only or key in only)
    print("machine: " + machine(), flush=True)
    peers = install.ensureAll(wanted)
    runner = Runner(args)
    results = {}
    skipped = dict(peers["skipped"])
    began = time.time()
    sides = peers["sides"]
    groups = [[side for side in sides if side.key in TURNS]] + [
        [side] for side in sides if side.key not in TURNS]
    for group in groups:
        found, missing = runner.inTurns(group)
        results.update(found)
        skipped.update(missing)
    if wanted("redis") and "redis" not in skipped:
        print("Redis ...", flush=True)
        try:
            results["redis"] = runner.redis()
        except Unavailable as e:
            skipped["redis"] = str(e)
            print("  skipped: {}".format(e), flush=True)
    document = {
        "machine": machine(), "command": "python -m bench.compare " +
        " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(began)),
        "minutes": (time.time() - began) / 60, "versions": peers["versions"],
        "settings": {"runs": args.runs, "sequential": args.sequential,
                     "requests": args.requests, "count": args.count,
                     "scale": args.scale, "turns": list(TURNS)},
        "skipped": skipped, "results": results}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "compare.json"), "w") as f:
        json.dump(document, f, indent=1)
    print("results: {}".format(os.path.join(args.out, "compare.json")))
    tables = report.markdown(document)
    print()
    print(tables)
    charts = report.charts(document, args.out, peers.get("charts"))
    print(charts)
    if not args.no_docs:
        report.updateDocs(os.path.join(ROOT, "docs", "performance.md"),
                          tables)
        print("docs/performance.md updated")


if __name__ == "__main__":
    main()
