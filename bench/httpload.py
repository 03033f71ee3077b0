# -*- test-case-name: tests.bench.test_http,tests.bench.test_installs -*-
"""
What the HTTP benchmarks share (L{bench.http}, L{bench.httpservers}):
C{wrk} and uWSGI installed from Debian, the machine and the versions,
servers started and stopped by PID, and C{wrk} runs pinned to a CPU whose
figures come from a Lua C{done} hook as one JSON line.

    found = ensurePeers()           # or raises Unavailable
    server = HttpServer("uwsgi", argv, port).start()
    figures = runWrk(url, connections=64, seconds=5, method="POST",
                     body=1024)
    server.stop()
"""

import contextlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import psutil

from bench.compare.processes import Unavailable, cpuSeconds, family, pin
from bench.peers.processes import endTree, termWithParent
# re-exported: the HTTP benchmarks' servers and nodes take their ports here
from tests.integration.node import freePort  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")
WSGI_ECHO = os.path.join(PEERS, "wsgi_echo.py")
SERVER_CPU, CLIENT_CPU = 0, 1

#: Debian packages and what each must leave on the machine
PACKAGES = {"wrk": "/usr/bin/wrk", "uwsgi": "/usr/bin/uwsgi",
            "uwsgi-plugin-python3":
                "/usr/lib/uwsgi/plugins/python3_plugin.so"}

#: wrk's script: the request from the environment, the summary as JSON
WRK_SCRIPT = r"""
local method = os.getenv("BENCH_HTTP_METHOD") or "GET"
local size = tonumber(os.getenv("BENCH_HTTP_BODY") or "0")
wrk.method = method
if size > 0 then
  wrk.body = string.rep("x", size)
  wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-WRK {"requests": %.0f, "duration_us": %.0f, "bytes": %.0f, ' ..
    '"connect": %.0f, "read": %.0f, "write": %.0f, "status": %.0f, ' ..
    '"timeout": %.0f, "p50_us": %.0f, "p90_us": %.0f, "p99_us": %.0f, ' ..
    '"max_us": %.0f, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.status, e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""
MARK = "BENCH-WRK "


def _peersFound():
    return all(os.path.exists(path) for path in PACKAGES.values())


def ensurePeers():
    """
    Install C{wrk}, uWSGI and its Python 3 plugin from Debian when one is
    missing (services held stopped, L{bench.peers.debian}), holding the
    tests' C{apt-get} lock (L{tests.locks.aptInstalled}): C{apt-get}
    fails beside another, a test's or another benchmark's.

    @raise Unavailable: they are missing and cannot be installed.
    """
    if _peersFound():
        return
    from bench.peers.debian import AptError
    from tests.locks import aptInstalled
    try:
        aptInstalled(_peersFound, sorted(PACKAGES))
    except AptError as e:
        raise Unavailable(str(e))
    missing = [path for path in PACKAGES.values() if not os.path.exists(path)]
    if missing:
        raise Unavailable("installed, but no " + ", ".join(missing))


def _output(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (done.stdout + done.stderr).strip()


def cpuModel():
    """
    @return: the CPU's model name from C{/proc/cpuinfo}, or the machine.
    """
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine():
    """
    @return: one line: CPU model, CPUs, memory, kernel, Python.
    @rtype: L{str}
    """
    freq = psutil.cpu_freq()
    return "{} | {} CPUs{} | {:.1f} GiB | Linux {} | Python {}".format(
        cpuModel(), psutil.cpu_count(), " @ {:.0f} MHz".format(freq.current)
        if freq else "", psutil.virtual_memory().total / 2 ** 30,
        platform.release(), platform.python_version())


def versions():
    """
    @return: C{{name: version}} of what the HTTP benchmarks run.
    """
    import cocaine
    import httptools
    import twisted
    found = {"cocaine": cocaine.__version__, "twisted": twisted.__version__,
             "httptools": httptools.__version__,
             "python": platform.python_version()}
    wrk = _output(["wrk", "-v"]).split()
    if len(wrk) > 1:
        found["wrk"] = wrk[1]
    found["uwsgi"] = _output(["uwsgi", "--version"])
    return found


def fetch(url, body=None, timeout=5.0):
    """
    One request with the standard library.

    @return: C{(status, body)}.
    """
    request = urllib.request.Request(url, data=body, method="POST"
                                     if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class HttpServer:
    """
    A server we start, ready when C{GET url} answers 200; stopped by the
    PIDs it and its children had.

    @ivar name: its name in messages.
    @ivar url: where it serves.
    """

    def __init__(self, name, argv, url, logPath, env=None, cwd=None):
        self.name, self.argv, self.url = name, argv, url
        self.logPath, self.env, self.cwd = logPath, env, cwd
        self.process = None
        self.known = {}

    def start(self, timeout=30.0):
        """
        @return: C{self}, once C{GET url} answers 200.
        @raise Unavailable: it exited or did not answer in time (it is
            stopped; the message has its log's tail).
        """
        with open(self.logPath, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
                preexec_fn=termWithParent)
        self.adopt([self.process.pid])
        deadline = time.monotonic() + timeout
        why = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                why = "exited {}".format(self.process.returncode)
                break
            try:
                status, _ = fetch(self.url, timeout=2.0)
                if status == 200:
                    return self
                why = "answered {}".format(status)
            except OSError as e:
                why = str(e)
            time.sleep(0.1)
        self.stop()
        raise Unavailable("{} did not serve {} in {:.0f} s ({}):\n{}".format(
            self.name, self.url, timeout, why, self.log()[-2000:]))

    def log(self):
        with open(self.logPath, errors="replace") as f:
            return f.read()

    def adopt(self, pids):
        """
        Remember processes (and their descendants) to stop at the end.
        """
        for pid in family(pids):
            with contextlib.suppress(psutil.Error):
                if pid not in self.known:
                    self.known[pid] = psutil.Process(pid)

    def pids(self):
        """
        @return: its PID and its descendants', while they run.
        """
        if self.process is None or self.process.poll() is not None:
            return []
        found = family([self.process.pid])
        self.adopt(found)
        return found

    def pin(self, cpu=SERVER_CPU):
        pin(self.pids(), cpu)

    def cpu(self):
        """
        @return: the CPU seconds (user + system) of its processes so far.
        """
        return sum(cpuSeconds(self.pids()).values())

    def stop(self, timeout=10.0):
        """
        TERM it and everything it started, KILL what lingers; safe twice.

        @return: the PIDs it had, all gone.
        """
        self.pids()
        endTree(list(self.known.values()), timeout)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        return sorted(self.known)


class WrkError(Exception):
    """
    C{wrk} failed or printed no figures.
    """


def writeScript(directory):
    """
    @return: the path of C{wrk}'s Lua script, written into C{directory}.
    """
    script = os.path.join(directory, "bench-wrk.lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT)
    return script


def runWrk(url, connections, seconds, script, method="GET", body=0,
           cpu=CLIENT_CPU):
    """
    One C{wrk -t1} run, pinned to C{cpu} when there are two CPUs.

    @param script: from L{writeScript}.
    @param body: request body bytes (C{x}s); 0 for none.
    @return: the figures of the Lua C{done} hook: C{requests},
        C{duration_us}, C{bytes}, the error counts C{connect}, C{read},
        C{write}, C{status} (non-2xx/3xx), C{timeout}, latencies C{p50_us},
        C{p90_us}, C{p99_us}, C{max_us}, C{mean_us}; plus C{rate}
        (requests/s) and C{errors} (their sum).
    @raise WrkError: it failed or printed no figures.
    """
    argv = ["wrk", "-t1", "-c", str(connections), "-d",
            "{}s".format(int(seconds)), "--timeout", "5s", "-s", script, url]
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        argv = ["taskset", "-c", str(cpu)] + argv
    env = dict(os.environ, BENCH_HTTP_METHOD=method,
               BENCH_HTTP_BODY=str(body))
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env,
                              timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        raise WrkError("wrk ran over {} s: {}".format(seconds + 30, url))
    found = None
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            found = json.loads(line[len(MARK):])
    if done.returncode or found is None:
        raise WrkError("wrk exited {}: {}\n{}".format(
            done.returncode, " ".join(argv),
            (done.stdout + done.stderr)[-2000:]))
    found["errors"] = sum(found[k] for k in ("connect", "read", "write",
                                             "status", "timeout"))
    found["rate"] = (found["requests"] / (found["duration_us"] / 1e6)
                     if found["duration_us"] else 0.0)
    return found


def measure(server, url, connections, seconds, warmup, method, body,
            script):
    """
    Warm up, then one timed C{wrk} run with the server pinned to
    C{SERVER_CPU}; the server's CPU time is read around the timed run.

    @return: the figures of L{runWrk} and C{cpu_s_per_10k}.
    """
    server.pin()
    if warmup:
        runWrk(url, connections, warmup, script, method, body)
    server.pin()
    before = server.cpu()
    found = runWrk(url, connections, seconds, script, method, body)
    used = server.cpu() - before
    found["cpu_s"] = round(used, 3)
    found["cpu_s_per_10k"] = (used / found["requests"] * 1e4
                              if found["requests"] else None)
    return found


def uwsgiCommand(port, processes, callable="application",
                 wsgiFile=WSGI_ECHO):
    """
    uWSGI with its HTTP router on 127.0.0.1:C{port} in front of
    C{processes} workers (master, no threads, keep-alive, no request log).
    """
    return ["uwsgi", "--plugins", "http,python3",
            "--http", "127.0.0.1:{}".format(port), "--http-keepalive",
            "--wsgi-file", wsgiFile, "--callable", callable,
            "--master", "--processes", str(processes), "--listen", "1024",
            "--die-on-term", "--disable-logging", "--need-app",
            "--chdir", os.path.dirname(wsgiFile)]


def pythonEnvironment():
    """
    @return: the environment for our Python servers: this checkout first
        on C{PYTHONPATH}.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("COCAINE_CONFIG", None)
    return env


def stopOnTerm():
    """
    Turn SIGTERM into L{SystemExit}, so that C{finally} blocks stop the
    servers.
    """
    import signal

    def handler(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


def fmt(value, digits=0):
    if value is None:
        return "-"
    return "{:,.{}f}".format(value, digits)


def ratio(ours, theirs):
    if ours is None or not theirs:
        return None
    return ours / theirs


def writeJson(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")


def runAndReport(name, args, run, report, settings):
    """
    The body of an HTTP benchmark's C{main}: install the peers (or say
    why it skipped), C{run(args, directory)} in a temporary directory,
    add the machine, versions, date and C{settings} to what it found,
    C{report(args, found)} and write C{--json}.

    @return: the exit status: 0, 1 when a server was left running, 130
        when interrupted.
    """
    if args.quick:
        args.seconds, args.warmup, args.connections = 1, 0, [1, 64]
    stopOnTerm()
    try:
        ensurePeers()
    except Unavailable as e:
        print("{} skipped: wrk or uWSGI cannot be installed: {}".format(
            name, e), flush=True)
        return 0
    directory = tempfile.mkdtemp(prefix="cocaine-{}-".format(
        name.replace(".", "-")))
    began = time.monotonic()
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        found = run(args, directory)
    except KeyboardInterrupt:
        print("interrupted; every server it started was stopped",
              flush=True)
        return 130
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    found.update({
        "machine": machine(), "versions": versions(), "date": date,
        "seconds_total": round(time.monotonic() - began, 1),
        "settings": dict(settings, seconds=args.seconds,
                         warmup=args.warmup,
                         connections=args.connections)})
    report(args, found)
    if args.json:
        writeJson(args.json, found)
    return 1 if found["left"] else 0
