"""
C{cocaine-tool top}: run as a subprocess against a real node (plain lines,
JSON lines, the full screen in a pseudo-terminal, a node that is not there
or goes away), and its sampling and rendering on their own.
"""

import datetime
import fcntl
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import threading
import time

from twisted.trial.unittest import SkipTest, TestCase

from cocaine.errors import AppNotRunning, CallTimeout, NotConnected
from cocaine.tool.sampler import Sampler
from cocaine.tool.topview import LineOutput, appLine, render
from tests.integration.node import ROOT, Node, environment, freePort

ECHO = os.path.join(ROOT, "examples", "apps", "echo")
HAVE_CLI = os.path.exists(os.path.join(ROOT, "cocaine", "tool", "cli.py"))

#: Runs C{top} with the contract's context when C{cocaine/tool/cli.py} is
#: not there: the same global options, then C{top} and its own.
STAND_IN = textwrap.dedent("""
    import argparse, sys
    from rich.console import Console
    from cocaine.client.blocking import connect
    from cocaine.tool import top

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10053)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    top.register(parser.add_subparsers())
    args = parser.parse_args()

    class Context:
        host, port, timeout, json = args.host, args.port, args.timeout, \\
            args.json
        console = Console(file=sys.stdout)

        def service(self, name):
            return connect(name, self.host, self.port, self.timeout)

    sys.exit(args.func(Context(), args))
""")

#: Sends C{count} pings to the echo app, then one every 20 ms until
#: C{seconds} have passed; prints how many.
REQUESTS = textwrap.dedent("""
    import sys, time
    from cocaine.client.blocking import connect
    port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), \\
        float(sys.argv[3])
    echo = connect("echo", port=port, timeout=20)
    deadline = time.monotonic() + seconds
    sent = 0
    while sent < count or time.monotonic() < deadline:
        channel = echo.enqueue("ping")
        channel.close()
        assert list(channel) == [b"pong"]
        sent += 1
        if sent >= count:
            time.sleep(0.02)
    print(sent)
""")

#: Prints the node's info map of an app as JSON.
INFO = textwrap.dedent("""
    import json, sys
    from cocaine.client.blocking import connect
    info = connect("node", port=int(sys.argv[1]), timeout=20).info(
        sys.argv[2])
    print(json.dumps(info, default=lambda b: b.decode()))
""")

_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d echo running workers=(\d+)/2 "
    r"active=\d+ idle=\d+ starting=\d+ queue=\d+/100 req/s=(\S+) "
    r"accepted=(\d+) rejected=0 rejected/s=(\S+) crashlogs=0$")

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)"
    r"|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


def toolCommand(port, *args):
    """
    The command line of C{cocaine-tool --host 127.0.0.1 --port PORT ARGS}.
    """
    if HAVE_CLI:
        head = [sys.executable, "-m", "cocaine.tool"]
    else:
        head = [sys.executable, "-c", STAND_IN]
    return head + ["--host", "127.0.0.1", "--port", str(port)] + list(args)


def toolEnvironment(home):
    """
    The environment of the tool: this checkout on C{PYTHONPATH}, a HOME of
    its own (no C{~/.cocaine/tools.yml} of the machine), and nothing that
    makes rich take a pipe for a terminal.
    """
    env = environment()
    env["HOME"] = home
    for name in ("FORCE_COLOR", "FORCE_TERMINAL", "TTY_COMPATIBLE",
                 "TTY_INTERACTIVE", "NO_COLOR", "COLUMNS", "LINES", "TMUX",
                 "COCAINE_TOOL_CONFIG"):
        env.pop(name, None)
    env["TERM"] = "xterm-256color"
    return env


class _TopTestCase(TestCase):
    """
    A node with the node service and the example echo app (at most two
    workers), called five times so its numbers are not zero.
    """

    timeout = 90

    def setUp(self):
        self.home = os.path.abspath(self.mktemp())
        os.makedirs(self.home)
        self.env = toolEnvironment(self.home)
        node = Node(self.mktemp(), {
            "network": {"locator": 0},
            "services": {
                "logging": {"type": "logging"},
                "storage": {"type": "storage"},
                "node": {"type": "node", "args": {"local": {"echo": {
                    "path": ECHO, "profile": {"pool-limit": 2}}}}}}})
        self.node = node.start()
        self.addCleanup(node.stop)
        self.sendRequests(5)

    def sendRequests(self, count, seconds=0):
        result = subprocess.run(
            [sys.executable, "-c", REQUESTS, str(self.node.port), str(count),
             str(seconds)], env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        return int(result.stdout)

    def info(self, app="echo"):
        result = subprocess.run(
            [sys.executable, "-c", INFO, str(self.node.port), app],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def top(self, *args, timeout=30):
        return subprocess.run(
            toolCommand(self.node.port, *args), env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=timeout)

    def screenScript(self, directory):
        """
        A shell script that records the terminal's settings, runs top full
        screen, then records its exit status and the settings again.
        """
        script = os.path.join(directory, "run.sh")
        command = " ".join("'{}'".format(part.replace("'", "'\\''"))
                           for part in toolCommand(
                               self.node.port, "top", "--interval", "0.5"))
        with open(script, "w") as f:
            f.write(textwrap.dedent("""\
                cd '{directory}'
                stty -g > stty.before
                {command} 2> top.stderr
                echo $? > rc
                stty -g > stty.after
                """).format(directory=directory, command=command))
        return script

    def assertRestored(self, directory, started):
        """
        top exited 0 within 3 s of C{started} and left the terminal as it
        found it.
        """
        rc = os.path.join(directory, "rc")
        after = os.path.join(directory, "stty.after")
        while not os.path.exists(after) and time.monotonic() < started + 3:
            time.sleep(0.02)
        self.assertTrue(os.path.exists(after),
                        "top did not exit within 3 s of q")
        time.sleep(0.05)
        with open(rc) as f:
            status = f.read().strip()
        with open(os.path.join(directory, "top.stderr")) as f:
            stderr = f.read()
        self.assertEqual(status, "0", stderr)
        with open(os.path.join(directory, "stty.before")) as f:
            before = f.read()
        with open(after) as f:
            self.assertEqual(f.read(), before)

    def assertScreen(self, screen, pids):
        self.assertIn("cocaine top", screen)
        self.assertIn("node 127.0.0.1:{}".format(self.node.port), screen)
        self.assertIn("q quits", screen)
        self.assertRegex(screen, r"uuid [0-9a-f-]{36}\n")
        self.assertRegex(screen, r"APP\s+STATE\s+WORKERS\s+QUEUE\s+REQ/S")
        self.assertRegex(
            screen, r"echo\s+running\s+\d+/\d+/\d+ of 2\s+\d+/100")
        self.assertIn("echo workers", screen)
        self.assertRegex(screen, r"PID\s+STATE\s+LOAD\s+CPU %\s+RSS MB")
        self.assertTrue(any(re.search(r"\b{}\b".format(pid), screen)
                            for pid in pids),
                        "no worker pid of {} on the screen".format(pids))
        self.assertTrue(screen.isascii(), "the view needs Unicode")


class PlainTests(_TopTestCase):
    """
    stdout not a terminal: lines.
    """

    def test_plainLines(self):
        """
        One line per app per refresh naming the app, its state, workers,
        queue and requests; the first refresh has no rate yet.
        """
        result = self.top("top", "--iterations", "2", "--interval", "0.5")
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual(len(lines), 2, result.stdout)
        matches = [_LINE.match(line) for line in lines]
        self.assertTrue(all(matches), result.stdout)
        for match in matches:
            self.assertGreaterEqual(int(match.group(1)), 1)
            self.assertGreaterEqual(int(match.group(3)), 5)
        self.assertEqual(matches[0].group(2), "-")
        self.assertEqual(matches[0].group(4), "-")
        self.assertRegex(matches[1].group(2), r"^\d+\.\d$")
        self.assertEqual(result.stderr, "")

    def test_json(self):
        """
        With --json, one JSON object per refresh; requests/s is the change
        of the accepted count over the time between refreshes.
        """
        load = subprocess.Popen(
            [sys.executable, "-c", REQUESTS, str(self.node.port), "1", "4"],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(_reap, load)
        result = self.top("--json", "top", "--app", "echo", "--iterations",
                          "3", "--interval", "1")
        self.assertEqual(result.returncode, 0, result.stderr)
        objects = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertEqual(len(objects), 3, result.stdout)
        for value in objects:
            self.assertEqual(value["node"], "127.0.0.1:{}".format(
                self.node.port))
            self.assertTrue(value["reachable"])
            self.assertIsNone(value["error"])
            self.assertEqual(value["total"], 1)
            self.assertEqual(list(value["apps"]), ["echo"])
            echo = value["apps"]["echo"]
            self.assertEqual(echo["state"], "running")
            self.assertEqual(echo["pool"]["capacity"], 2)
            self.assertEqual(echo["queue"]["capacity"], 100)
            self.assertGreaterEqual(echo["requests"]["accepted"], 5)
            self.assertEqual(echo["requests"]["rejected"], 0)
            self.assertTrue(echo["workers"])
            for worker in echo["workers"]:
                self.assertIsInstance(worker["pid"], int)
            datetime.datetime.fromisoformat(value["time"])
        self.assertEqual(len({value["uuid"] for value in objects}), 1)
        self.assertEqual(objects[0]["apps"]["echo"]["per-second"],
                         {"accepted": None, "rejected": None})
        rates = []
        for before, after in zip(objects, objects[1:]):
            delta = (after["apps"]["echo"]["requests"]["accepted"]
                     - before["apps"]["echo"]["requests"]["accepted"])
            rate = after["apps"]["echo"]["per-second"]["accepted"]
            self.assertEqual(
                after["apps"]["echo"]["per-second"]["rejected"], 0.0)
            # one second apart, give or take the time of the calls
            self.assertGreaterEqual(rate, delta / 2.0)
            self.assertLessEqual(rate, delta / 0.5)
            rates.append(rate)
        self.assertTrue(any(rate > 0 for rate in rates), rates)

    def test_nodeGoesAway(self):
        """
        A node that stops while top runs: one line saying it is unreachable,
        top keeps trying, and Ctrl-C ends it with status 0 (it did reach the
        node).
        """
        # A test run started in the background by a shell without job
        # control inherits SIGINT ignored, and so would top: Ctrl-C is
        # what this test sends, so give it the default disposition back.
        process = subprocess.Popen(
            toolCommand(self.node.port, "top", "--interval", "0.3"),
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, preexec_fn=lambda: signal.signal(
                signal.SIGINT, signal.SIG_DFL))
        self.addCleanup(_reap, process)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(process.stdout))
        reader.start()

        def waitFor(text, timeout=15):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if any(text in line for line in list(lines)):
                    return
                time.sleep(0.05)
            self.fail("no {!r} in {!r}".format(text, lines))

        waitFor(" echo running ")
        self.node.stop()
        waitFor("node unreachable at 127.0.0.1:{}".format(self.node.port))
        time.sleep(1.5)    # several refreshes, all failing
        self.assertIsNone(process.poll())
        process.send_signal(signal.SIGINT)
        self.assertEqual(process.wait(10), 0, process.stderr.read())
        reader.join(10)
        unreachable = [line for line in lines if "unreachable" in line]
        self.assertEqual(len(unreachable), 1, lines)
        # refused, or lost when a refresh was under way as the node went
        self.assertRegex(
            unreachable[0],
            r"^\S+ node unreachable at 127\.0\.0\.1:{} \(.+\); retrying "
            r"every 0\.3s$".format(self.node.port))


class ScreenTests(_TopTestCase):
    """
    stdout a terminal: the full-screen view; q quits.
    """

    def test_tmux(self):
        """
        Under tmux: the screen shows the app table and a worker's pid, in
        the alternate screen; q ends top at once, with status 0, out of the
        alternate screen, the cursor shown and the terminal settings as
        they were.
        """
        tmux = shutil.which("tmux")
        if tmux is None:
            raise SkipTest("tmux is not installed (test_pty covers the same "
                           "with a bare pseudo-terminal)")
        pids = [worker["pid"] for worker in self.info()["workers"]]
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        script = self.screenScript(directory)
        with open(script, "a") as f:
            f.write("sleep 60\n")     # keep the pane for the last look
        socket = "cocaine-test-{}-{}".format(os.getpid(), id(self))
        session = "top-{}".format(os.getpid())

        def run(*args, check=True):
            return subprocess.run(
                [tmux, "-L", socket, "-f", os.devnull] + list(args),
                env=self.env, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, timeout=10, check=check)

        run("new-session", "-d", "-s", session, "-x", "120", "-y", "40",
            "sh " + script)
        self.addCleanup(run, "kill-server", check=False)
        self.addCleanup(run, "kill-session", "-t", session, check=False)

        screen = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            screen = run("capture-pane", "-p", "-t", session).stdout
            if "echo workers" in screen and any(
                    str(pid) in screen for pid in pids):
                break
            time.sleep(0.1)
        with open(os.path.join(directory, "screen.txt"), "w") as f:
            f.write(screen)
        self.assertScreen(screen, pids)
        self.assertEqual(run("display-message", "-p", "-t", session,
                             "#{alternate_on}").stdout.strip(), "1")

        started = time.monotonic()
        run("send-keys", "-t", session, "q")
        self.assertRestored(directory, started)
        flags = run("display-message", "-p", "-t", session,
                    "#{alternate_on} #{cursor_flag}").stdout.split()
        self.assertEqual(flags, ["0", "1"])
        self.assertNotIn("echo workers", run(
            "capture-pane", "-p", "-t", session).stdout)

    def test_pty(self):
        """
        Under a bare pseudo-terminal: the same view, and q ends it with the
        alternate screen left and the cursor shown again.
        """
        pids = [worker["pid"] for worker in self.info()["workers"]]
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        script = self.screenScript(directory)
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack("HHHH", 40, 120, 0, 0))
        process = subprocess.Popen(
            ["sh", script], stdin=slave, stdout=slave, stderr=slave,
            env=self.env, start_new_session=True)
        os.close(slave)
        self.addCleanup(os.close, master)
        self.addCleanup(_reap, process, group=True)

        output = bytearray()

        def readFor(seconds, until=None):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.05)
                if ready:
                    try:
                        data = os.read(master, 65536)
                    except OSError:       # EIO: the other side is gone
                        return
                    if not data:
                        return
                    output.extend(data)
                if until is not None and until():
                    return

        def frame():
            # the text since the last clear of the screen
            text = output.decode("utf-8", "replace")
            text = _ANSI.sub("", text.split("\x1b[H")[-1])
            return "\n".join(line.rstrip() for line in text.split("\n"))

        readFor(20, lambda: "echo workers" in frame() and any(
            str(pid) in frame() for pid in pids))
        screen = frame()
        with open(os.path.join(directory, "screen-pty.txt"), "w") as f:
            f.write(screen)
        self.assertIn(b"\x1b[?1049h", output)    # the alternate screen
        self.assertScreen(screen, pids)

        started = time.monotonic()
        mark = len(output)
        os.write(master, b"q")
        readFor(3, lambda: process.poll() is not None)
        self.assertRestored(directory, started)
        self.assertEqual(process.wait(3), 0)
        tail = bytes(output[mark:])
        self.assertIn(b"\x1b[?1049l", tail)      # left the alternate screen
        self.assertIn(b"\x1b[?25h", tail)        # cursor shown again


class UnreachableTests(TestCase):
    """
    No node at the address.
    """

    timeout = 60

    def setUp(self):
        self.home = os.path.abspath(self.mktemp())
        os.makedirs(self.home)
        self.env = toolEnvironment(self.home)
        self.port = freePort()

    def top(self, *args):
        return subprocess.run(
            toolCommand(self.port, *args), env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=30)

    def test_plain(self):
        """
        One line, not one per refresh, and status 1: it never reached the
        node.
        """
        result = self.top("top", "--iterations", "2", "--interval", "0.2")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertRegex(
            result.stdout,
            r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d node unreachable at "
            r"127\.0\.0\.1:" + str(self.port) + r" \(connection refused\); "
            r"retrying every 0\.2s\n$")

    def test_json(self):
        """
        With --json, an object per refresh saying so.
        """
        result = self.top("--json", "top", "--iterations", "2",
                          "--interval", "0.2")
        self.assertEqual(result.returncode, 1, result.stderr)
        objects = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertEqual(len(objects), 2)
        for value in objects:
            self.assertFalse(value["reachable"])
            self.assertEqual(value["apps"], {})
            self.assertIsNone(value["uuid"])
            self.assertIn("node unreachable at 127.0.0.1:{}".format(
                self.port), value["error"])


def _reap(process, group=False):
    """
    Kill C{process} if it still runs (with C{group}: its whole process
    group, which it leads), and wait for it.
    """
    if group and process.poll() is None:
        # still unreaped, so the group id is still this process's
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


# -- sampling and rendering without a node ------------------------------------


class _FakeService:
    def __init__(self, methods):
        self.methods = methods

    def __getattr__(self, name):
        method = self.methods[name]

        def call(*args, timeout=None):
            return method(*args)
        return call


class _FakeContext:
    host = "127.0.0.1"
    port = 10053
    timeout = 10.0
    json = False

    def __init__(self):
        self.uuid = "u-1"
        self.apps = {}
        self.error = None

    def _check(self):
        if self.error is not None:
            raise self.error

    def _uuid(self):
        self._check()
        return self.uuid

    def _list(self):
        self._check()
        return sorted(self.apps)

    def _info(self, name):
        self._check()
        if name not in self.apps:
            raise AppNotRunning("app {!r} is not running".format(name))
        return self.apps[name]

    def service(self, name):
        if name == "locator":
            return _FakeService({"uuid": self._uuid})
        return _FakeService({"list": self._list, "info": self._info})


def _info(accepted, rejected=0, workers=()):
    return {"state": "running", "queue": {"capacity": 100, "depth": 3},
            "pool": {"active": 1, "idle": 1, "starting": 0, "capacity": 4,
                     "pinned": None},
            "sessions": {"pending": 3}, "load-median": 1.5, "profile": {},
            "requests": {"accepted": accepted, "rejected": rejected},
            "crashlogs": 2, "workers": list(workers)}


class SamplerTests(TestCase):
    """
    L{Sampler}, L{appLine} and L{render} with a fake context and clock.
    """

    def setUp(self):
        from cocaine.tool import top
        self.top = top
        self.ctx = _FakeContext()
        self.now = [100.0]
        self.sampler = Sampler(
            self.ctx, clock=lambda: self.now[0],
            now=lambda: datetime.datetime(2026, 11, 23, 15, 0, 0, 123))

    def sample(self, after=0.0):
        self.now[0] += after
        return self.sampler.sample()

    def test_rates(self):
        """
        Rates are the change of the counters over the time between the two
        info calls; none on the first refresh.
        """
        self.ctx.apps["echo"] = _info(10, 1)
        first = self.sample()
        self.assertEqual(first.apps[0][1]["per-second"],
                         {"accepted": None, "rejected": None})
        self.ctx.apps["echo"] = _info(35, 6)
        second = self.sample(2.5)
        self.assertEqual(second.apps[0][1]["per-second"],
                         {"accepted": 10.0, "rejected": 2.0})
        self.assertEqual(
            appLine(second, "echo", second.apps[0][1]),
            "2026-11-23T15:00:00 echo running workers=2/4 active=1 idle=1 "
            "starting=0 queue=3/100 req/s=10.0 accepted=35 rejected=6 "
            "rejected/s=2.0 crashlogs=2")

    def test_counterStartsAgain(self):
        """
        A counter that went down (the app restarted) or a node with another
        uuid gives no rate rather than a wrong one.
        """
        self.ctx.apps["echo"] = _info(50)
        self.sample()
        self.assertIsNone(self._rateAfter(1, _info(3)))     # went down
        self.assertEqual(self._rateAfter(2, _info(9)), 3.0)
        self.ctx.uuid = "u-2"                               # another node
        self.assertIsNone(self._rateAfter(1, _info(100)))
        self.assertEqual(self._rateAfter(1, _info(104)), 4.0)

    def _rateAfter(self, seconds, info):
        self.ctx.apps["echo"] = info
        return self.sample(seconds).apps[0][1]["per-second"]["accepted"]

    def test_oneApp(self):
        """
        With an app name, only that app; one the node does not run is shown
        as not running.
        """
        self.ctx.apps = {"echo": _info(1), "other": _info(2)}
        sampler = Sampler(self.ctx, app="ghost")
        snapshot = sampler.sample()
        self.assertEqual(snapshot.total, 2)
        self.assertEqual(snapshot.apps, [("ghost", {"state": "not running"})])
        self.assertTrue(snapshot.time)
        self.assertRegex(appLine(snapshot, "ghost",
                                          snapshot.apps[0][1]),
                         r"^\S+ ghost not running$")
        sampler = Sampler(self.ctx, app="other")
        self.assertEqual([name for name, _ in sampler.sample().apps],
                         ["other"])

    def test_unreachable(self):
        """
        A node that cannot be reached is a snapshot saying so, not an
        exception; the plain output says it once, and again when the node
        is back.
        """
        import io
        self.ctx.apps["echo"] = _info(1)
        output = LineOutput(io.StringIO(), asJSON=False)
        output.show(self.sample(), 1.0)
        self.ctx.error = NotConnected(
            "cannot connect to locator at 127.0.0.1:10053: Connection was "
            "refused by other side: 111: Connection refused.")
        for _ in range(3):
            snapshot = self.sample(1)
            self.assertFalse(snapshot.reachable)
            output.show(snapshot, 1.0)
        self.assertEqual(snapshot.error, "node unreachable at "
                         "127.0.0.1:10053 (connection refused)")
        self.ctx.error = CallTimeout("node.list did not answer within 5s")
        self.assertEqual(self.sample(1).error, "node unreachable at "
                         "127.0.0.1:10053 (node.list did not answer "
                         "within 5s)")
        self.ctx.error = None
        output.show(self.sample(1), 1.0)
        self.assertTrue(self.sampler.reached)
        lines = output.stream.getvalue().splitlines()
        self.assertEqual(len(lines), 4, lines)
        self.assertIn(" echo running ", lines[0])
        self.assertIn("node unreachable at 127.0.0.1:10053 (connection "
                      "refused); retrying every 1.0s", lines[1])
        self.assertIn("node reachable again at 127.0.0.1:10053 (uuid u-1)",
                      lines[2])
        self.assertIn(" echo running ", lines[3])

    def test_render(self):
        """
        The view: header, app table, a worker table with pid, CPU and RSS in
        MB; all ASCII; the app name and state kept on a narrow terminal.
        """
        from rich.console import Console
        self.ctx.apps["echo"] = _info(7, workers=[
            {"uuid": "43797394-52d4-4f3c", "pid": 24868, "state": "active",
             "load": 3, "rss": 22343680, "cpu": 12.5, "accepted": 5},
            {"uuid": "9abcdef0-0000", "pid": None, "state": "starting",
             "load": 0, "rss": None, "cpu": None, "accepted": 0}])
        snapshot = self.sample()
        console = Console(width=120, record=True, file=open(os.devnull, "w"),
                          color_system=None)
        self.addCleanup(console.file.close)
        console.print(render(snapshot, 1.0))
        text = console.export_text()
        self.assertTrue(text.isascii())
        self.assertIn("cocaine top  node 127.0.0.1:10053  2026-11-23 "
                      "15:00:00  apps 1  uuid u-1\n", text)
        self.assertIn("refresh 1.0s; q quits", text)
        self.assertRegex(text, r"echo\s+running\s+1/1/0 of 4\s+3/100\s+-\s+7"
                         r"\s+0\s+-\s+2")
        self.assertRegex(text, r"43797394\s+24868\s+active\s+3\s+12\.5\s+"
                         r"21\.3\s+5")
        self.assertRegex(text, r"9abcdef0\s+-\s+starting\s+0\s+-\s+-\s+0")

        narrow = Console(width=40, record=True, file=open(os.devnull, "w"),
                         color_system=None)
        self.addCleanup(narrow.file.close)
        narrow.print(render(snapshot, 1.0))
        text = narrow.export_text()
        self.assertRegex(text, r"\necho\s+running\s")
        self.assertTrue(all(len(line) <= 40 for line in text.splitlines()))

        self.ctx.error = NotConnected("cannot connect to locator at x: "
                                      "Connection refused")
        gone = self.sample(1)
        console.print(render(gone, 1.0, last=snapshot))
        text = console.export_text()
        self.assertIn("node unreachable at 127.0.0.1:10053 (connection "
                      "refused); retrying every 1.0s", text)
        self.assertIn("last seen at 15:00:00", text)
        self.assertIn("24868", text)

    def test_arguments(self):
        """
        The top parser: defaults, and bad values refused.
        """
        import argparse
        parser = argparse.ArgumentParser()
        self.top.register(parser.add_subparsers())
        args = parser.parse_args(["top"])
        self.assertEqual((args.interval, args.iterations, args.app),
                         (1.0, 0, None))
        self.assertIs(args.func, self.top.run)
        args = parser.parse_args(["top", "--interval", "0.5", "--iterations",
                                  "3", "--app", "echo"])
        self.assertEqual((args.interval, args.iterations, args.app),
                         (0.5, 3, "echo"))
        for bad in (["--interval", "0"], ["--interval", "-1"],
                    ["--interval", "x"], ["--iterations", "-1"]):
            with open(os.devnull, "w") as devnull:
                stderr, sys.stderr = sys.stderr, devnull
                try:
                    self.assertRaises(SystemExit, parser.parse_args,
                                      ["top"] + bad)
                finally:
                    sys.stderr = stderr
