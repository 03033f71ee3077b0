"""
The benchmarks run (on a tiny size); their figures are not judged here.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import psutil
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.node import ROOT, environment


def installFirst(install, *errors):
    """
    Run a benchmark's own install of its Debian peers here first, outside
    the benchmark's timed run (it holds the tests' C{apt-get} lock itself,
    L{tests.locks.aptInstalled}). The benchmark then finds its peers
    installed; what failed here it tries again, and says why it cannot
    run.

    @param install: the benchmark's install function.
    @param errors: the exceptions it raises when it cannot install.
    """
    try:
        install()
    except errors:
        pass


def installHttpPeers():
    """
    wrk, uWSGI and its plugin, as C{bench.http}, C{bench.httpservers}
    and C{bench.services} install them.
    """
    from bench.httpload import Unavailable, ensurePeers
    installFirst(ensurePeers, Unavailable)


class _OwnTemporaryDirectory:
    """
    Each benchmark runs with C{TMPDIR} a directory of the test's own,
    removed after it: what a benchmark leaves there for its user (the
    JSON and charts of a C{--quick} run, a node's directory) does not
    pile up in C{/tmp} run after run.
    """

    def environment(self):
        directory = tempfile.mkdtemp(prefix="cocaine-bt-")
        self.addCleanup(shutil.rmtree, directory, True)
        # as /tmp: the servers some benchmarks start run as their own
        # users (PostgreSQL's as postgres) and make their directories here
        os.chmod(directory, 0o1777)
        env = environment()
        env["TMPDIR"] = directory
        return env


class BenchmarkRunsTests(_OwnTemporaryDirectory, TestCase):
    """
    C{python -m bench --quick} prints the machine and the side-by-side
    table.
    """

    #: bench.compare installs its peers the first time (pip, npm, apt)
    timeout = 1500

    def test_quickRun(self):
        result = subprocess.run(
            [sys.executable, "-m", "bench", "--quick"], cwd=ROOT,
            env=self.environment(), capture_output=True, text=True,
            timeout=1400)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("machine: ", result.stdout)
        self.assertIn("| workload | ours: storage.read via node | floor: "
                      "bare Twisted msgpack echo | ours/floor |",
                      result.stdout)
        self.assertIn("| 64 in flight (calls/s) |", result.stdout)
        self.assertIn("in-flight errors: 0", result.stdout)

    def test_pathsQuickRun(self):
        """
        C{python -m bench.paths --quick} prints instructions per request
        for each hot path (or says it skipped, without valgrind).
        """
        result = subprocess.run(
            [sys.executable, "-m", "bench.paths", "--quick"], cwd=ROOT,
            env=self.environment(), capture_output=True, text=True,
            timeout=600)
        self.assertEqual(result.returncode, 0, result.stderr)
        if "skipped" in result.stdout:
            raise SkipTest(result.stdout.strip())
        for path in ("app", "storage", "worker"):
            self.assertTrue(re.search(r"\| {} \| [\d,]+ \|".format(path),
                                      result.stdout), result.stdout)

    def test_appsQuickRun(self):
        """
        C{python -m bench.apps --quick} prints the machine and the app table,
        and no errors.
        """
        result = subprocess.run(
            [sys.executable, "-m", "bench.apps", "--quick"], cwd=ROOT,
            env=self.environment(), capture_output=True, text=True,
            timeout=240)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("machine: ", result.stdout)
        self.assertIn("| workload | ours: echo app via node | floor: bare "
                      "Twisted msgpack echo | ours/floor | target |",
                      result.stdout)
        for row in ("| sequential (req/s) |", "| 64 in flight (req/s) |",
                    "| cold start: start_app to first reply (ms) |",
                    "| burst: pool 1 -> 4 with 50 in flight (ms) |",
                    "| Python worker RSS idle (MB) |"):
            self.assertIn(row, result.stdout)
        self.assertIn("in-flight errors: 0", result.stdout)
        self.assertNotIn("| never |", result.stdout)
        self.assertNotIn("Traceback", result.stdout + result.stderr)

    def test_servicesQuickRun(self):
        """
        C{python -m bench.services --quick} prints the machine, a ratio
        for each workload beside its peer and the fan-out figures, and no
        errors.
        """
        installHttpPeers()
        result = subprocess.run(
            [sys.executable, "-m", "bench.services", "--quick"], cwd=ROOT,
            env=self.environment(), capture_output=True, text=True,
            timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr)
        if "bench.services skipped:" in result.stdout:
            raise SkipTest(result.stdout.strip())
        self.assertIn("machine: ", result.stdout)
        for row in ("cache.get local, sequential",
                    "cache.get redis, 64 in flight",
                    "urlfetch.get 1 KiB, 64 in flight"):
            self.assertTrue(re.search(
                re.escape(row) + r" +[\d,]+ +[\d,]+ +\d+\.\d\d ",
                result.stdout), result.stdout)
        self.assertRegex(result.stdout, r"notifications fan-out to 100: "
                         r"[\d,]+ deliveries/s, p50 [\d.]+ ms, p99")
        self.assertNotIn("Traceback", result.stdout + result.stderr)

    def test_clusterQuickRun(self):
        """
        C{python -m bench.cluster --quick} prints the machine and the
        cluster table (with the figures through unicorn and postgres, and
        their ratios), and no errors.
        """
        result = subprocess.run(
            [sys.executable, "-m", "bench.cluster", "--quick"], cwd=ROOT,
            env=self.environment(), capture_output=True, text=True,
            timeout=240)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("machine: ", result.stdout)
        self.assertIn("| workload | ours | target |", result.stdout)
        for row in ("| join: B's locator listening -> echo resolvable on A "
                    "(ms) |", "| two nodes / one node |",
                    "| announce datagram with secret (bytes, with IP+UDP) |",
                    "| announces measured per node per minute",
                    "| join through unicorn, lease 3 s (kept alive every "
                    "1 s): B's process spawned -> listed by A (ms) | ",
                    "| unicorn.get through the node (calls/s, sequential; "
                    "direct etcd gateway) | ",
                    "| unicorn.put through the node (calls/s, sequential; "
                    "direct etcd gateway) | ",
                    "| postgres storage read through the node (calls/s, "
                    "sequential; direct psycopg) | ",
                    "| postgres storage write through the node (calls/s, "
                    "sequential; direct psycopg) | "):
            self.assertIn(row, result.stdout)
        for ratio in ("unicorn.get", "unicorn.put", "postgres storage read",
                      "postgres storage write"):
            self.assertRegex(result.stdout, r"ratio: {} through the node / "
                             r"direct [\w ]+: \d+\.\d\d".format(ratio))
        self.assertIn("in-flight errors: 0", result.stdout)
        self.assertNotIn("Traceback", result.stdout + result.stderr)

    def test_compareQuickRun(self):
        """
        C{python -m bench.compare --quick} installs its peers, runs every
        system on a tiny size, prints the side-by-side table with every
        column, the elasticity table and the targets, and draws the
        charts; it does not touch docs/.
        """
        with open(os.path.join(ROOT, "docs", "performance.md")) as f:
            before = f.read()
        from bench.compare.processes import Unavailable, aptInstall
        from bench.peers.rabbitmq import BrokerError, ensureInstalled
        installFirst(ensureInstalled, BrokerError)
        installFirst(lambda: aptInstall(["redis-server", "redis-tools"],
                                        ["redis-server", "redis-benchmark"]),
                     Unavailable)
        result = subprocess.run(
            [sys.executable, "-m", "bench.compare", "--quick"], cwd=ROOT,
            env=self.environment(), capture_output=True, text=True,
            timeout=1400)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        out = result.stdout
        self.assertNotIn("Traceback", out + result.stderr)
        self.assertNotIn("skipped:", out)
        self.assertNotIn("FAILED", out)
        self.assertIn("| workload | ours: node + 2 workers | ours with "
                      "token auth | zerorpc | "
                      "Nameko + RabbitMQ | cote 1.2.0 | floor: bare Twisted "
                      "| two-hop floor: bare relay + 2 workers "
                      "| Redis PING | ours/zerorpc | ours/nameko | ours/cote "
                      "| ours/floor | ours/relay | ours-auth/cote "
                      "| ours-auth/ours |", out)
        for row in ("| sequential 16 B (req/s) |", "| 256 in flight (req/s) |",
                    "| stream 10,000 x 1 KiB (MB/s) |",
                    "| unpinned: 64 in flight (req/s) |",
                    "| server CPU s per 10,000 req (64 in flight) |",
                    "| cold start: start_app to first reply |",
                    "| shrink: late against the idle timeout |",
                    "- ours >= 0.5x cote on sequential and concurrent echo:",
                    "- app path, ours with token auth: sequential "):
            self.assertIn(row, out)
        self.assertIn("| errors, all echo runs | 0 | 0 | 0 | 0 | 0 | 0 | 0 "
                      "| 0 |", out)
        self.assertIn("The two-hop floor against cote (relay/cote)", out)
        charts = re.search(r"charts: (\S+), (\S+)", out)
        self.assertIsNotNone(charts, out[-500:])
        for path in charts.groups():
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        with open(os.path.join(ROOT, "docs", "performance.md")) as f:
            self.assertEqual(f.read(), before)

    def test_meshQuickRun(self):
        """
        C{python -m bench.mesh --quick} prints the machine and the table of
        ours beside cote, or says why it skipped.
        """
        result = subprocess.run(
            [sys.executable, "-m", "bench.mesh", "--quick"], cwd=ROOT,
            env=self.environment(), capture_output=True, text=True,
            timeout=240)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("Traceback", result.stdout + result.stderr)
        if "bench.mesh skipped:" in result.stdout:
            from twisted.trial.unittest import SkipTest
            raise SkipTest(result.stdout.strip())
        self.assertIn("machine: ", result.stdout)
        self.assertIn("| workload | ours (cocaine.mesh) | cote 1.2.0 | ours/cote | target |",
                      result.stdout)
        for row in ("| sequential (req/s) |", "| 8 in flight (req/s) |",
                    "| 64 in flight (req/s) |", "| 256 in flight (req/s) |",
                    "| pub->sub 16 B (msg/s) |", "| pub->sub 1 KiB (msg/s) |",
                    "| discovery: start -> first reply (ms) |"):
            self.assertIn(row, result.stdout)


class HttpBenchmarkRunsTests(_OwnTemporaryDirectory, TestCase):
    """
    C{python -m bench.http --quick} and C{python -m bench.httpservers
    --quick} print the machine and their tables with figures, write their
    JSON, and leave none of the processes they started running.
    """

    #: the first run installs wrk and uWSGI with apt-get
    timeout = 1200

    def runQuick(self, module):
        installHttpPeers()
        out = os.path.abspath(self.mktemp())
        result = subprocess.run(
            [sys.executable, "-m", module, "--quick", "--json", out],
            cwd=ROOT, env=self.environment(), capture_output=True, text=True,
            timeout=1100)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        self.assertNotIn("Traceback", result.stdout + result.stderr)
        if "{} skipped:".format(module) in result.stdout:
            raise SkipTest(result.stdout.strip())
        self.assertIn("machine: ", result.stdout)
        self.assertNotIn("FAILED", result.stdout)
        with open(out) as f:
            found = json.load(f)
        self.assertTrue(found["pids"])
        self.assertEqual(found["left"], [])
        self.assertFalse([pid for pid in found["pids"]
                          if psutil.pid_exists(pid) and psutil.Process(
                              pid).status() != psutil.STATUS_ZOMBIE])
        self.assertIn("left running: none", result.stdout)
        return result.stdout, found

    def test_gateway(self):
        """
        uWSGI always has figures; ours too when this checkout has the
        gateway (C{services/http.py}).
        """
        out, found = self.runQuick("bench.http")
        self.assertIn("| workload | ours req/s | uWSGI req/s | ours/uWSGI |",
                      out)
        for row in ("| GET, 1 conn |", "| GET, 64 conn |",
                    "| POST 1 KiB, 64 conn |"):
            self.assertIn(row, out)
        systems = ["uwsgi"]
        if os.path.exists(os.path.join(ROOT, "services", "http.py")):
            systems.append("ours")
            self.assertNotIn("ours skipped", out)
            self.assertRegex(out, r"floor: ours >= 0.5x uWSGI req/s at 64 "
                                  r"connections \(aim 1.0x\): GET [\d.]+, "
                                  r"POST [\d.]+: ")
        self.assertEqual(sorted(found["results"]), sorted(systems))
        for system in systems:
            for key in ("GET c1", "GET c64", "POST c1", "POST c64"):
                figures = found["results"][system][key]
                self.assertGreater(figures["requests"], 0, (system, key))
                self.assertEqual(figures["errors"], 0, (system, key))
                self.assertLessEqual(figures["p50_us"], figures["p99_us"])
                self.assertIsNotNone(figures["cpu_s_per_10k"])

    def test_servers(self):
        """
        Every bare server answers, each row has figures.
        """
        out, found = self.runQuick("bench.httpservers")
        self.assertIn("| server | connections | req/s | x twisted.web |",
                      out)
        servers = {"twisted", "httptools", "uwsgi"}
        if os.path.exists(os.path.join(ROOT, "cocaine", "http",
                                       "server.py")):
            servers.add("cocaine")
        self.assertEqual(set(found["results"]), servers)
        for server in servers:
            for key in ("c1", "c64"):
                figures = found["results"][server][key]
                self.assertGreater(figures["requests"], 0, (server, key))
                self.assertEqual(figures["errors"], 0, (server, key))
