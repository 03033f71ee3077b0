"""
The comparison harness: its load loop, its table, its verdicts and the
section of the docs it rewrites.
"""

import itertools
import os
import subprocess
import sys
import time

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from bench.compare import report, sides
from bench.compare.__main__ import readUntilLine
from bench.compare.stats import keepInFlight, percentile, streamSummary


class KeepInFlightTests(SynchronousTestCase):
    """
    L{keepInFlight} keeps a window of calls going and counts their ends.
    """

    def test_windowAndCount(self):
        """
        At most C{window} calls are pending at once, exactly C{requests}
        are made, and failures are counted with the first one named.
        """
        pending, made = [], itertools.count(1)
        ticks = itertools.count()

        def call():
            d = defer.Deferred()
            pending.append((next(made), d))
            return d
        result = keepInFlight(call, 10, 3, clock=lambda: next(ticks))
        self.assertEqual(len(pending), 3)
        while pending:
            number, d = pending.pop(0)
            self.assertLessEqual(len(pending), 3)
            if number in (4, 7):
                d.errback(ValueError("bad {}".format(number)))
            else:
                d.callback(None)
        summary = self.successResultOf(result)
        self.assertEqual(next(made), 11)
        self.assertEqual(summary["requests"], 10)
        self.assertEqual(summary["errors"], 2)
        self.assertEqual(summary["first_error"], "ValueError: bad 4")
        self.assertGreater(summary["rate"], 0)

    def test_sequential(self):
        """
        A window of one never has two calls pending.
        """
        pending = []

        def call():
            self.assertEqual(pending, [])
            d = defer.Deferred()
            pending.append(d)
            return d
        result = keepInFlight(call, 4, 1)
        while pending:
            pending.pop().callback(None)
        self.assertEqual(self.successResultOf(result)["errors"], 0)

    def test_answeredAtOnce(self):
        """
        Calls answered at once (each sends the next itself) are made
        exactly C{requests} times, not the window's count more.
        """
        made = []

        def call():
            made.append(None)
            return defer.succeed(None)
        summary = self.successResultOf(keepInFlight(call, 4, 2))
        self.assertEqual((len(made), summary["requests"], summary["errors"]),
                         (4, 4, 0))

    def test_manyAnsweredAtOnce(self):
        """
        Thousands of calls answered at once do not recurse through one
        another's callbacks.
        """
        summary = self.successResultOf(keepInFlight(
            lambda: defer.succeed(None), 5000, 2))
        self.assertEqual((summary["requests"], summary["errors"]),
                         (5000, 0))

    def test_callRaising(self):
        """
        A call that raises instead of returning a Deferred is counted as
        a failed request, and the run goes on to its end.
        """
        calls = []

        def call():
            calls.append(None)
            if len(calls) % 2:
                raise ValueError("bad argument")
            return defer.succeed(None)
        summary = self.successResultOf(keepInFlight(call, 3000, 4))
        self.assertEqual((len(calls), summary["errors"]), (3000, 1500))
        self.assertEqual(summary["first_error"], "ValueError: bad argument")

    def test_percentile(self):
        ordered = list(range(100))
        self.assertEqual(percentile(ordered, 0.5), 50)
        self.assertEqual(percentile(ordered, 0.99), 99)
        self.assertEqual(percentile([7], 0.99), 7)

    def test_streamSummary(self):
        summary = streamSummary(1000, 1000, 0.5, 0.002)
        self.assertEqual(summary["bytes"], 10 ** 6)
        self.assertAlmostEqual(summary["mb_per_s"], 2.0)
        self.assertAlmostEqual(summary["ttfb_ms"], 2.0)


def echo(rate, p99=100.0, errors=0):
    return {"requests": 100, "errors": errors, "elapsed": 100 / rate,
            "rate": rate, "p50_us": p99 / 2, "p99_us": p99,
            "first_error": None, "cpu_s_per_10k": 1e4 / rate}


def side(rates, stream=None, label="x"):
    found = {"label": label, "rss_mb": {"server": 30.0}}
    for key, rate in rates.items():
        found[key] = [echo(rate * 0.9), echo(rate), echo(rate * 1.2)]
    if stream:
        found["stream"] = [{"chunks": 10, "bytes": 10240, "elapsed": 1,
                            "mb_per_s": stream, "ttfb_ms": 1.0}]
    found["unpinned"] = {"seq16": [echo(rates["seq16"])]}
    return found


KEYS = ["seq16", "seq1k", "c8", "c64", "c256"]


def document():
    ours = side(dict(zip(KEYS, [6000, 5000, 20000, 40000, 40000])), 200.0)
    ours["elastic"] = {"cold_ms": [50, 60, 70], "idle_timeout_ms": 1000.0,
                       "bursts": [{"first_ms": 100, "grown_ms": 150,
                                   "answered_ms": 300, "errors": 0,
                                   "shrunk_ms": 1010}]}
    return {
        "machine": "test", "command": "python -m bench.compare",
        "date": "2026-11-23 00:00 UTC", "minutes": 1.0,
        "versions": {"cote": "1.2.0"},
        "settings": {"runs": 3, "sequential": 100, "requests": 100,
                     "count": 10, "scale": {"nameko": 0.25}},
        "skipped": {"nameko": "no broker"},
        "results": {
            "ours": ours,
            "zerorpc": side(dict(zip(KEYS, [3000, 3000, 5000, 50000,
                                            5000])), 100.0),
            "cote": side(dict(zip(KEYS, [10000, 9000, 30000, 70000,
                                         60000]))),
            "floor": side(dict(zip(KEYS, [12000, 11000, 30000, 200000,
                                          150000])), 500.0),
        }}


class ReportTests(SynchronousTestCase):
    """
    L{report.markdown} shows the medians with their spread, the ratios
    and a verdict per target computed from them.
    """

    def test_medianSpreadAndRatio(self):
        text = report.markdown(document())
        self.assertIn("| sequential 16 B (req/s) | 6,000 (5,400-7,200) | "
                      "3,000 (2,700-3,600) | 10,000 (9,000-12,000) | "
                      "12,000 (10,800-14,400) | 2.00 | 0.60 | 0.50 |", text)
        self.assertIn("| stream 10,000 x 1 KiB (MB/s) | 200.0 | 100.0 | - "
                      "| 500.0 | 2.00 | - | 0.40 |", text)
        self.assertIn("Skipped: nameko: no broker", text)
        self.assertNotIn("took turns", text)
        self.assertIn("| shrink: late against the idle timeout | 10 "
                      "(10-10) |", text)

    def test_turns(self):
        """
        The sides that took turns are named, those that ran left out.
        """
        found = document()
        found["settings"]["turns"] = ["ours", "ours-auth", "cote", "floor"]
        self.assertIn("ours, cote and floor took turns at each run (each "
                      "run of a workload went round them); the others ran "
                      "alone, after them.", report.markdown(found))

    def test_targets(self):
        lines = report.targets(document()["results"])
        self.assertEqual(lines, [
            "- ours >= zerorpc on every workload: MISSED on c64 0.80 "
            "(lowest ratio 0.80)",
            "- ours >= Nameko on every workload: not measured (nameko did "
            "not run)",
            "- ours >= 0.5x cote on sequential and concurrent echo: met "
            "(lowest ratio 0.56)",
            "- ours within 2x of the Twisted floor: MISSED on seq1k 0.45, "
            "c64 0.20, c256 0.27, stream 0.40 (lowest ratio 0.20)",
            "- app path, ours: node + 2 workers: sequential 0.60, 8 in "
            "flight 0.67, 64 in flight 0.57 MISSED (>= 0.8), 256 in flight "
            "0.67 MISSED (>= 0.8), server CPU at 64 1.75 MISSED (<= 1.5), "
            "stream of the floor 0.40 MISSED (>= 0.6)",
        ])

    def test_appPathTargets(self):
        """
        The app path's targets are judged for ours and for ours with token
        auth, each ratio named and the missed ones marked with the bound.
        """
        found = document()["results"]
        found["ours-auth"] = side(dict(zip(KEYS, [5000, 4000, 15000, 40000,
                                                  40000])), 400.0)
        for name, seconds in (("ours", 0.2), ("ours-auth", 0.24),
                              ("cote", 0.15)):
            for run in found[name]["c64"]:
                run["cpu_s_per_10k"] = seconds
        lines = report.targets(found)
        self.assertEqual(lines[-2:], [
            "- app path, ours: node + 2 workers: sequential 0.60, 8 in "
            "flight 0.67, 64 in flight 0.57 MISSED (>= 0.8), 256 in flight "
            "0.67 MISSED (>= 0.8), server CPU at 64 1.33, stream of the "
            "floor 0.40 MISSED (>= 0.6)",
            "- app path, ours with token auth: sequential 0.50 MISSED (>= "
            "0.6), 8 in flight 0.50, 64 in flight 0.57 MISSED (>= 0.8), "
            "256 in flight 0.67 MISSED (>= 0.8), server CPU at 64 1.60 "
            "MISSED (<= 1.5), stream of the floor 0.80"])

    def test_authColumns(self):
        """
        Ours with token auth gets a column, and ratios against cote and
        against ours with auth off.
        """
        found = document()
        found["results"]["ours-auth"] = side(
            dict(zip(KEYS, [4800, 4000, 15000, 40000, 40000])), 400.0)
        text = report.markdown(found)
        self.assertIn("| workload | ours: node + 2 workers | ours with "
                      "token auth | zerorpc | cote 1.2.0 | floor: bare "
                      "Twisted | ours/zerorpc | ours/cote | ours/floor | "
                      "ours-auth/cote | ours-auth/ours |", text)
        self.assertIn("| sequential 16 B (req/s) | 6,000 (5,400-7,200) | "
                      "4,800 (4,320-5,760) | 3,000 (2,700-3,600) | 10,000 "
                      "(9,000-12,000) | 12,000 (10,800-14,400) | 2.00 | 0.60 "
                      "| 0.50 | 0.48 | 0.80 |", text)

    def test_targetsWithoutOurs(self):
        """
        Without our side no target is judged.
        """
        results = document()["results"]
        del results["ours"]
        self.assertEqual(report.targets(results)[0],
                         "- ours >= zerorpc on every workload: not measured "
                         "(ours did not run)")

    def test_relay(self):
        """
        The two-hop floor gets a column and a ratio, and a line says what
        the shape costs against cote, workload by workload.
        """
        found = document()
        found["results"]["relay"] = side(dict(zip(KEYS, [5000, 4500, 15000,
                                                         100000, 120000])),
                                         400.0)
        text = report.markdown(found)
        self.assertIn("| workload | ours: node + 2 workers | zerorpc | "
                      "cote 1.2.0 | floor: bare Twisted | two-hop floor: "
                      "bare relay + 2 workers | ours/zerorpc | ours/cote | "
                      "ours/floor | ours/relay |", text)
        self.assertIn("| sequential 16 B (req/s) | 6,000 (5,400-7,200) | "
                      "3,000 (2,700-3,600) | 10,000 (9,000-12,000) | "
                      "12,000 (10,800-14,400) | 5,000 (4,500-6,000) | "
                      "2.00 | 0.60 | 0.50 | 1.20 |", text)
        self.assertIn("The two-hop floor against cote (relay/cote), what "
                      "the client -> node -> worker shape costs before any "
                      "of our code: sequential 16 B 0.50, sequential 1 KiB "
                      "0.50, 8 in flight 0.50, 64 in flight 1.43, 256 in "
                      "flight 2.00.", text)

    def test_noRelayLine(self):
        """
        Without the two-hop floor, or without cote, there is no such line.
        """
        results = document()["results"]
        self.assertEqual(report.architecture(results), [])
        results["relay"] = side(dict(zip(KEYS, [1, 1, 1, 1, 1])))
        del results["cote"]
        self.assertEqual(report.architecture(results), [])

    def test_failedRunsShown(self):
        found = document()
        found["results"]["zerorpc"]["c8"] = [{"failed": "exit 1: boom"}]
        text = report.markdown(found)
        self.assertIn("| 8 in flight (req/s) | 20,000 (18,000-24,000) | "
                      "failed |", text)

    def test_updateDocs(self):
        """
        The tables replace what lies between the markers; the first time
        the block is appended.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("# Performance\n\nbefore\n")
        report.updateDocs(path, "table one")
        report.updateDocs(path, "table two")
        with open(path) as f:
            text = f.read()
        self.assertEqual(text, "# Performance\n\nbefore\n\n{}\ntable two\n"
                         "{}\n".format(report.BEGIN, report.END))
        self.assertTrue(os.path.exists(path))


class ArgumentTests(SynchronousTestCase):
    """
    The comparison's command lines refuse bad values by name.
    """

    def test_hostPort(self):
        import argparse
        from bench.compare.stats import hostPort
        self.assertEqual(hostPort("127.0.0.1:10053"), ("127.0.0.1", 10053))
        for bad in ("nonsense", ":80", "h:", "h:0", "h:70000", "h:x"):
            self.assertRaises(argparse.ArgumentTypeError, hostPort, bad)

    def test_unknownSystem(self):
        from bench.compare.__main__ import parse
        self.assertRaises(SystemExit, parse, ["--only", "ours,kote"])
        self.assertEqual(parse(["--only", "ours,cote"]).only, "ours,cote")

    def test_outputs(self):
        """
        A full run writes into docs/; --no-docs and --quick into a new
        temporary directory each, leaving docs/ alone; --out wins.
        """
        from bench.compare.__main__ import ROOT, parse
        self.assertEqual(parse([]).out, os.path.join(ROOT, "docs"))
        for flag in ("--no-docs", "--quick"):
            out = parse([flag]).out
            self.addCleanup(os.rmdir, out)
            self.assertTrue(os.path.isdir(out))
            self.assertFalse(out.startswith(ROOT))
        self.assertEqual(parse(["--no-docs", "--out", "/tmp/x"]).out,
                         "/tmp/x")


class TimedCpuTests(SynchronousTestCase):
    """
    The server's CPU over the timed requests alone: each echo load
    generator is asked to print C{timed} when its warm-up ends, and the
    harness samples the servers' CPU at that line.
    """

    def test_announcedForEcho(self):
        self.assertEqual(sides.announce("echo"), ["--announce"])
        self.assertEqual(sides.announce("stream"), [])
        ours = sides.Ours.__new__(sides.Ours)
        ours.endpoint = "127.0.0.1:1"
        self.assertEqual(ours.client("echo", 16, 10, 1, 1)[-1],
                         "--announce")
        self.assertNotIn("--announce", ours.client("stream", 16, 10, 1, 1))

    def _spawn(self, code):
        process = subprocess.Popen([sys.executable, "-c", code],
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        self.addCleanup(process.wait)
        self.addCleanup(process.kill)
        return process

    def _untilTimed(self, code):
        """
        @return: the process running C{code} and what L{readUntilLine}
            gave: C{(process, found, out, err)}.
        """
        process = self._spawn(code)
        return (process,) + readUntilLine(process, "timed",
                                          time.monotonic() + 10)

    def test_lineInOneWrite(self):
        """
        The line found in one write with what comes before and after it:
        the rest is kept, the line left out, and what follows stays to be
        read.
        """
        process, found, out, err = self._untilTimed(
            "import sys, time\n"
            "sys.stdout.write('warming\\ntimed\\n{\"a\": 1}\\n')\n"
            "sys.stdout.flush(); time.sleep(0.5); print('{\"b\": 2}')")
        self.assertTrue(found)
        self.assertEqual(out, b'warming\n{"a": 1}\n')
        rest, _ = process.communicate(timeout=10)
        self.assertEqual(rest, b'{"b": 2}\n')

    def test_stderrReadMeanwhile(self):
        """
        A generator that writes more to its standard error than a pipe
        holds before the line is not stalled: what it wrote is kept.
        """
        process, found, out, err = self._untilTimed(
            "import sys\n"
            "sys.stderr.write('e' * 300000); sys.stderr.flush()\n"
            "print('timed', flush=True)")
        self.assertTrue(found)
        _, restErr = process.communicate(timeout=10)
        self.assertEqual(len(err + restErr), 300000)

    def test_endWithoutLine(self):
        """
        A load generator that ends without the line (a peer without the
        option) is not waited for, and its output is all kept.
        """
        process, found, out, err = self._untilTimed(
            "print('{\"rate\": 1}')")
        self.assertFalse(found)
        self.assertEqual(out, b'{"rate": 1}\n')

    def test_deadline(self):
        process = self._spawn("import time; print('warming', flush=True); "
                            "time.sleep(30)")
        self.assertRaises(subprocess.TimeoutExpired, readUntilLine,
                          process, "timed", time.monotonic() + 0.3)

    def test_row(self):
        found = document()
        for name, seconds in (("ours", 0.3), ("cote", 0.15)):
            for run in found["results"][name]["c64"]:
                run["cpu_timed_s_per_10k"] = seconds
        text = report.markdown(found)
        self.assertIn("| server CPU s per 10,000 req (64 in flight, timed "
                      "requests only) | 0.30 (0.30-0.30) |", text)
        self.assertIn("| 2.00 |", text.split("timed requests only")[1]
                      .splitlines()[0])


class FakeSide(sides.Side):
    """
    A side that records its life and starts only when told it can.
    """

    def __init__(self, key, streams=True, unavailable=None):
        self.key, self.label, self.streams = key, key + " label", streams
        self.unavailable = unavailable
        self.life = []

    def start(self):
        self.life.append("start")
        if self.unavailable:
            raise sides.Unavailable(self.unavailable)

    def stop(self):
        self.life.append("stop")


class InTurnsTests(SynchronousTestCase):
    """
    L{Runner.inTurns} starts its sides together and goes round them for
    each run of each workload.
    """

    def runner(self, runs=3, failOn=None):
        from bench.compare.__main__ import Runner, parse
        args = parse(["--no-docs", "--runs", str(runs)])
        self.addCleanup(os.rmdir, args.out)
        runner = Runner(args)
        runner.calls = []

        def one(side, workload, size, requests, inflight, pinned):
            runner.calls.append((side.key, workload, size, inflight, pinned))
            if (side.key, inflight) == failOn:
                raise KeyboardInterrupt()
            return {"rate": float(len(runner.calls)), "p50_us": 1.0,
                    "p99_us": 2.0, "errors": 0}
        runner.one = one
        runner.elastic = lambda side: {"elastic": side.key}
        return runner

    def test_roundRobin(self):
        """
        Each workload's runs go round the sides, one further round each
        time; the stream goes to the sides that stream; every side's runs
        land under its own key, the unpinned ones under C{unpinned}.
        """
        runner = self.runner(runs=3)
        a, b, c = FakeSide("ours"), FakeSide("cote", streams=False), \
            FakeSide("floor")
        results, skipped = runner.inTurns([a, b, c])
        self.assertEqual(skipped, {})
        seq16 = [call[0] for call in runner.calls
                 if call[1:] == ("echo", 16, 1, True)]
        self.assertEqual(seq16, ["ours", "cote", "floor",
                                 "cote", "floor", "ours",
                                 "floor", "ours", "cote"])
        streams = [call[0] for call in runner.calls if call[1] == "stream"]
        self.assertEqual(streams, ["ours", "floor", "floor", "ours",
                                   "ours", "floor"])
        self.assertEqual(sorted(results["ours"]["unpinned"]), ["c64", "seq16"])
        self.assertEqual(len(results["cote"]["c256"]), 3)
        self.assertNotIn("stream", results["cote"])
        self.assertEqual(results["ours"]["elastic"], {"elastic": "ours"})
        self.assertNotIn("elastic", results["floor"])
        self.assertEqual(results["floor"]["label"], "floor label")
        for side in (a, b, c):
            self.assertEqual(side.life, ["start", "stop"])

    def test_unavailableSkipped(self):
        """
        A side that cannot start is stopped (what it started goes), named
        with its reason, and left out of the turns.
        """
        runner = self.runner(runs=1)
        a, b = FakeSide("ours"), FakeSide("cote", unavailable="no netns")
        results, skipped = runner.inTurns([a, b])
        self.assertEqual(skipped, {"cote": "no netns"})
        self.assertEqual(b.life, ["start", "stop"])
        self.assertEqual(set(results), {"ours"})
        self.assertEqual({call[0] for call in runner.calls}, {"ours"})

    def test_stoppedWhenInterrupted(self):
        """
        Stopped midway (SIGTERM, Ctrl-C), every side started is stopped.
        """
        runner = self.runner(runs=2, failOn=("floor", 8))
        a, b = FakeSide("ours"), FakeSide("floor")
        self.assertRaises(KeyboardInterrupt, runner.inTurns, [a, b])
        self.assertEqual(a.life, ["start", "stop"])
        self.assertEqual(b.life, ["start", "stop"])
