# -*- test-case-name: tests.integration.test_bench -*-
"""
The mesh components, side by side with real cote 1.2.0 in the same run.

    python -m bench.mesh [--quick] [--requests N] [--messages M] [--runs R]

The script creates a network namespace (C{cocaine-bench-mesh-<pid>}, only
C{lo} up), runs everything inside it (so discovery, to C{127.255.255.255}
on the default port, never leaves it) and deletes it at the end. For each
side, ours (L{cocaine.mesh}) and cote (Node.js, from
C{~/.cache/cocaine-tests/cote}, installed like the interop tests do), a
server process (a Responder answering C{ping} and C{flood}, a Publisher)
is pinned to CPU 0 and a client process (a Requester, a Subscriber) to
CPU 1; the sides run one after the other. Each run is a fresh client
process, which measures:

  - discovery: from creating the Requester to the first reply (default
    discovery intervals on both sides);
  - Requester/Responder calls/s sequential, and with 8, 64 and 256 in
    flight;
  - pub->sub messages/s with a 16 B and a 1 KiB string payload (the
    client asks C{flood}; the publisher writes M messages; the rate is
    taken at the subscriber until the last arrives).

Prints the machine, then a Markdown table with the median of the runs and
their spread. Needs root (or CAP_SYS_ADMIN) for the namespace, and node;
without them it prints why it skipped and exits 0.
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

from bench.rpc import machine, pin

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COTE_MODULES = os.path.join(os.path.expanduser("~"), ".cache", "cocaine-tests", "cote",
                            "node_modules")
WINDOWS = (8, 64, 256)

COTE_SCRIPT = r"""
const cote = require('cote')
const opts = { broadcast: '127.255.255.255', log: false, statusLogsEnabled: false }
const role = process.argv[2]
const now = () => Number(process.hrtime.bigint()) / 1e9

if (role === 'server') {
  const rep = new cote.Responder({ name: 'bench-rep' }, opts)
  const pub = new cote.Publisher({ name: 'bench-pub' }, opts)
  rep.on('ping', req => Promise.resolve(req.x))
  rep.on('flood', req => {
    const data = 'x'.repeat(req.size)
    let left = req.n
    const batch = () => {
      for (let i = 0; i < 1000 && left > 0; i++, left--) pub.publish('m', data)
      if (left > 0) setImmediate(batch)
    }
    setImmediate(batch)
    return Promise.resolve(true)
  })
  rep.sock.on('bind', () => process.stdout.write('ready\n'))
} else {
  const args = JSON.parse(process.argv[3])
  const t0 = now()
  const req = new cote.Requester({ name: 'bench-req' }, opts)
  const sub = new cote.Subscriber({ name: 'bench-sub' }, opts)
  let count = 0, target = -1, done = null
  sub.on('m', () => { count++; if (count === target && done) done() })
  const call = () => req.send({ type: 'ping', x: 1 })
  async function inflight(n, window) {
    let sent = 0
    const t = now()
    await new Promise(resolve => {
      let answered = 0
      const one = () => { sent++; call().then(next, next) }
      const next = () => { answered++; if (sent < n) one(); else if (answered === n) resolve() }
      for (let i = 0; i < Math.min(window, n); i++) one()
    })
    return n / (now() - t)
  }
  async function flood(n, size) {
    count = 0; target = n
    const finished = new Promise(resolve => { done = resolve })
    const t = now()
    await req.send({ type: 'flood', n, size })
    await finished
    return n / (now() - t)
  }
  async function main() {
    await call()
    const out = { discovery: (now() - t0) * 1000 }
    for (let i = 0; i < 1000; i++) await call()
    let t = now()
    for (let i = 0; i < args.sequential; i++) await call()
    out.sequential = args.sequential / (now() - t)
    for (const w of args.windows) out['inflight' + w] = await inflight(args.requests, w)
    // wait until the subscriber is connected
    while (true) {
      count = 0; target = -1
      await req.send({ type: 'flood', n: 1, size: 1 })
      await new Promise(r => setTimeout(r, 50))
      if (count > 0) break
    }
    out.pubsub16 = await flood(args.messages, 16)
    out.pubsub1k = await flood(args.messages, 1024)
    process.stdout.write(JSON.stringify(out) + '\n')
    process.exit(0)
  }
  main()
}
"""


# ---------------------------------------------------------------- our side


def ourServer():
    from twisted.internet import defer

    from cocaine.mesh import Publisher, Responder, run

    async def main(reactor):
        rep = Responder("bench-rep")
        pub = Publisher("bench-pub")
        rep.on("ping", lambda req: req.get("x"))

        def flood(req):
            data = "x" * req["size"]
            left = [req["n"]]

            def batch():
                n = min(1000, left[0])
                for _ in range(n):
                    pub.publish("m", data)
                left[0] -= n
                if left[0] > 0:
                    reactor.callLater(0, batch)
            reactor.callLater(0, batch)
            return True
        rep.on("flood", flood)
        rep.startService()
        pub.startService()
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await defer.Deferred()

    run(main)


def ourClient(args):
    from twisted.internet import defer, task

    from bench.rpc import inflight
    from cocaine.mesh import Requester, Subscriber, run

    async def main(reactor):
        t0 = time.perf_counter()
        req = Requester("bench-req", timeout=60, queueLimit=100000)
        sub = Subscriber("bench-sub")
        state = {"count": 0, "target": -1, "done": None}

        def got(data, topic):
            state["count"] += 1
            if state["count"] == state["target"] and state["done"] is not None:
                state["done"].callback(None)
        sub.on("m", got)
        req.startService()
        sub.startService()

        def call():
            return req.send({"type": "ping", "x": 1})
        await call()
        out = {"discovery": (time.perf_counter() - t0) * 1000}
        for _ in range(1000):
            await call()
        t = time.perf_counter()
        for _ in range(args["sequential"]):
            await call()
        out["sequential"] = args["sequential"] / (time.perf_counter() - t)
        for window in args["windows"]:
            result = await inflight(call, args["requests"], window)
            out["inflight%d" % window] = result["rate"]

        async def flood(n, size):
            state["count"], state["target"] = 0, n
            state["done"] = defer.Deferred()
            t = time.perf_counter()
            await req.send({"type": "flood", "n": n, "size": size})
            await state["done"]
            return n / (time.perf_counter() - t)
        while True:
            state["count"], state["target"] = 0, -1
            await req.send({"type": "flood", "n": 1, "size": 1})
            await task.deferLater(reactor, 0.05)
            if state["count"]:
                break
        out["pubsub16"] = await flood(args["messages"], 16)
        out["pubsub1k"] = await flood(args["messages"], 1024)
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
        await req.stopService()
        await sub.stopService()

    run(main)


# ---------------------------------------------------------------- the driver


class Namespace:
    def __init__(self):
        self.name = "cocaine-bench-mesh-%d" % (os.getpid(),)

    def __enter__(self):
        result = subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True)
        if result.returncode:
            raise Unavailable("no network namespace: " + result.stderr.strip())
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)

    def command(self, argv):
        return ["ip", "netns", "exec", self.name] + argv


def side(namespace, kind, script, args, runs):
    env = dict(os.environ, NODE_PATH=COTE_MODULES)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + ([env["PYTHONPATH"]]
                                                  if env.get("PYTHONPATH") else []))
    if kind == "cote":
        server = ["node", script, "server"]
        client = ["node", script, "client", json.dumps(args)]
    else:
        server = [sys.executable, "-m", "bench.mesh", "--role", "server"]
        client = [sys.executable, "-m", "bench.mesh", "--role", "client", "--args",
                  json.dumps(args)]
    process = subprocess.Popen(namespace.command(server), cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, text=True)
    try:
        pin(process.pid, 0)
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("%s server did not start" % (kind,))
        results = []
        for _ in range(runs):
            time.sleep(0.5)
            client_ = subprocess.Popen(namespace.command(client), cwd=ROOT, env=env,
                                       stdout=subprocess.PIPE, text=True)
            pin(client_.pid, 1)
            out, _ = client_.communicate(timeout=600)
            if client_.returncode:
                raise RuntimeError("%s client failed (exit %d)" % (kind, client_.returncode))
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        process.kill()
        process.wait()


ROWS = [
    ("sequential", "sequential (req/s)", "rate"),
    ("inflight8", "8 in flight (req/s)", "rate"),
    ("inflight64", "64 in flight (req/s)", "rate"),
    ("inflight256", "256 in flight (req/s)", "rate"),
    ("pubsub16", "pub->sub 16 B (msg/s)", "rate"),
    ("pubsub1k", "pub->sub 1 KiB (msg/s)", "rate"),
    ("discovery", "discovery: start -> first reply (ms)", "time"),
]


def report(ours, cote, args):
    def med(results, key):
        values = [r[key] for r in results]
        return statistics.median(values), min(values), max(values)

    lines = [
        "machine: " + machine(),
        "date: " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command: python -m bench.mesh " + " ".join(sys.argv[1:]),
        "per run: %d sequential, %d per in-flight window, %d messages per pub/sub size; "
        "runs: %d; cote %s; network namespace with only lo, default discovery; "
        "server on CPU 0, client on CPU 1" % (
            args.requests // 4, args.requests, args.messages, args.runs, cote_version()),
        "",
        "| workload | ours (cocaine.mesh) | cote 1.2.0 | ours/cote | target |",
        "|---|---|---|---|---|",
    ]
    for key, label, kind in ROWS:
        o, olo, ohi = med(ours, key)
        c, clo, chi = med(cote, key)
        if kind == "rate":
            target = ">= 0.5x cote"
            fmt = "{:,.0f} ({:,.0f}-{:,.0f})"
        else:
            target = "<= 200 ms"
            fmt = "{:,.1f} ({:,.1f}-{:,.1f})"
        lines.append("| {} | {} | {} | {:.2f} | {} |".format(
            label, fmt.format(o, olo, ohi), fmt.format(c, clo, chi), o / c if c else 0, target))
    lines += ["", "rates: higher is better; discovery: lower is better (its ours/cote is a "
              "ratio of times)"]
    print("\n".join(lines))


def cote_version():
    try:
        with open(os.path.join(COTE_MODULES, "cote", "package.json")) as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return "?"


class Unavailable(Exception):
    """
    What the benchmark needs is missing here; it says so and exits 0.
    """


def ensureCote():
    for tool in ("node", "ip"):
        if shutil.which(tool) is None:
            raise Unavailable("%s is not installed" % (tool,))
    if cote_version() != "1.2.0":
        from twisted.trial.unittest import SkipTest

        from tests.mesh.test_interop import _installCote
        try:
            _installCote()
        except SkipTest as e:
            raise Unavailable(str(e))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--requests", type=int, default=20000,
                        help="requests per in-flight window (a quarter sequentially)")
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run that only shows it works")
    parser.add_argument("--role", choices=["server", "client"], help=argparse.SUPPRESS)
    parser.add_argument("--args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "server":
        return ourServer()
    if args.role == "client":
        return ourClient(json.loads(args.args))
    if args.quick:
        args.requests, args.messages, args.runs = 1000, 5000, 1
    from bench.peers.processes import exitOnTerm
    exitOnTerm()
    try:
        ensureCote()
        _compare(args)
    except Unavailable as e:
        print("bench.mesh skipped: %s (it needs node, cote 1.2.0 and root or "
              "CAP_SYS_ADMIN for a network namespace)" % (e,))


def _compare(args):
    workload = {"sequential": args.requests // 4, "requests": args.requests,
                "windows": list(WINDOWS), "messages": args.messages}
    directory = tempfile.mkdtemp(prefix="cocaine-bench-mesh-")
    try:
        script = os.path.join(directory, "cote-bench.js")
        with open(script, "w") as f:
            f.write(COTE_SCRIPT)
        with Namespace() as namespace:
            ours = side(namespace, "ours", None, workload, args.runs)
            cote = side(namespace, "cote", script, workload, args.runs)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    report(ours, cote, args)


if __name__ == "__main__":
    main()
