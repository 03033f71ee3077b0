# -*- test-case-name: tests.integration.test_fuzz -*-
"""
A protocol fuzzer for a real node, with Hypothesis stateful testing.

    python -m bench.fuzz [--examples 2000] [--steps 20] [--seed S] [-v]
                         [--auth]

A node (C{twistd cocaine}) serves the echo example. A
L{ProtocolFuzz} state machine opens raw connections (TCP to the locator,
storage and the echo app's endpoint; the app's UNIX worker socket
C{var/run/echo.XXXXXXXX/echo.sock}) fresh or reused, and sends on them:
random bytes; valid msgpack of wrong shapes; valid-looking messages with random
channels, types, args and headers; protocol-aware messages (storage
read/write/remove/find with odd names, locator calls, app enqueue streams
left open or closed, worker handshakes with unknown or real uuids,
heartbeats and terminates); msgpack headers declaring huge lengths
(4 GiB strings, arrays, maps) with only a few bytes behind them;
truncated frames. Nothing sent is ever over a few KiB.

After every step an invariant checks that the node process is alive and
that a well-behaved client (the SDK, connected once and kept connected)
still gets answers: a storage write then read, and an echo C{ping}. After
every example all the fuzzer's connections are closed and the app's
C{info} must come back to C{sessions.pending} 0 and C{queue.depth} 0
within 10 s (no leaked sessions).

What is left out, on purpose: app and node C{control} (a client may pin
the pool to 0, which would rightly starve the probe), app C{slow} events
(a request may rightly sleep for a long time), locator C{publish} under
the names of real services.

With C{--auth} the node checks tokens (C{authentications}, issue 14):
the well-behaved client sends the admin's token, the fuzzer's frames
carry none (or random headers), so the guard must refuse them and the
node must stay up and keep answering the authenticated client.

The same machine runs in CI from C{tests/integration/test_fuzz.py} with a
fixed seed and a few examples, with auth off and on.
"""

import argparse
import glob
import os
import re
import socket
import sys
import threading
import time
from collections import Counter

import msgpack
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis import seed as hypothesisSeed
from hypothesis.stateful import (
    Bundle, RuleBasedStateMachine, initialize, invariant, rule,
    run_state_machine_as_test)
from twisted.internet.defer import Deferred
from twisted.internet.threads import blockingCallFromThread

from tests.integration.node import ROOT

ECHO = os.path.join(ROOT, "examples", "apps", "echo")
APP = "echo"


def nodeConfig(secretFile=None):
    """
    @param secretFile: with a path, token authentication under that
        secret (L{writeSecret}).
    """
    config = {"network": {"locator": 0}, "services": {
        "logging": {"type": "logging"},
        "storage": {"type": "storage"},
        "node": {"type": "node", "args": {
            "local": {APP: {"path": ECHO, "profile": {
                "pool-limit": 2, "concurrency": 20, "queue-limit": 200,
                "idle-timeout": 0}}},
            "drain-timeout": 2}}}}
    if secretFile is not None:
        config["authentications"] = {"core": {"type": "token", "args": {
            "secret-file": secretFile}}}
    return config


def writeSecret(directory):
    """
    A new secret in C{directory} (0600).

    @return: C{(path, admin token valid for a day)}.
    """
    from cocaine.auth.token import issue
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "secret")
    secret = os.urandom(32).hex().encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
    return path, issue(secret, uids=[0], expiry=int(time.time()) + 86400)


class Environment:
    """
    What the machine fuzzes and probes; set by L{prepare}.

    @ivar targets: C{{name: ("tcp", (host, port)) or ("unix", path)}}.
    @ivar stats: a Counter of what was sent and seen.
    """

    def __init__(self, reactor, node, probes, targets, log=None):
        self.reactor = reactor
        self.node = node
        self.probes = probes
        self.targets = targets
        self.stats = Counter()
        self.log = log
        self.connection = {name: probes[name]._connection
                           for name in probes}
        self.drained = []

    def call(self, function, *args, **kw):
        """
        Run C{function} (returning a coroutine or a Deferred) in the reactor
        thread and wait for its result.
        """
        def run():
            result = function(*args, **kw)
            if not isinstance(result, Deferred):
                result = Deferred.fromCoroutine(result)
            return result
        return blockingCallFromThread(self.reactor, run)


ENV = None


def workerSocket(node):
    """
    The app's worker socket, as the node logs it: in a private directory
    made for each start (C{var/run/echo.XXXXXXXX/echo.sock} under the
    node's directory, or under C{/tmp} when that is too long).
    """
    found = re.findall(r"WorkerListener starting on '([^']+)'", node.log())
    if found:
        return found[-1]
    found = glob.glob(os.path.join(node.directory, "var", "run",
                                   APP + ".*", APP + ".sock"))
    return found[0] if found else None


def prepare(reactor, node, log=None, token=None):
    """
    Resolve the fuzzed endpoints and connect the well-behaved client.
    Call from a thread other than the reactor's.

    @param token: the well-behaved client's token (a node with auth on).
    """
    from cocaine.client import Locator, Service
    global ENV

    async def setUp():
        locator = Locator(reactor, [("127.0.0.1", node.port)], timeout=10,
                          token=token)
        probes = {"locator": locator}
        for name in ("storage", APP, "node"):
            probes[name] = Service(name, locator, timeout=10)
            await probes[name].ready()
        targets = {"locator": ("tcp", ("127.0.0.1", node.port))}
        for name in ("storage", APP):
            endpoints, _, _ = await locator.resolve(name)
            host, port = endpoints[0]
            targets[name] = ("tcp", (host, port))
        targets["worker"] = ("unix", workerSocket(node))
        return probes, targets

    probes, targets = blockingCallFromThread(reactor, lambda: Deferred
                                             .fromCoroutine(setUp()))
    ENV = Environment(reactor, node, probes, targets, log)
    return ENV


def release(env):
    async def tearDown():
        for probe in env.probes.values():
            await probe.disconnect()
    env.call(tearDown)


# -- strategies ------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-2 ** 63, max_value=2 ** 64 - 1),
    st.floats(allow_nan=True), st.text(max_size=20),
    st.binary(max_size=40))
values = st.recursive(
    scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.integers(-5, 5), st.text(max_size=5)),
                        inner, max_size=4)),
    max_leaves=12)
channels = st.one_of(st.integers(min_value=0, max_value=12),
                     st.integers(min_value=-2 ** 63, max_value=2 ** 64 - 1))
types = st.one_of(st.integers(min_value=0, max_value=8),
                  st.integers(min_value=-2 ** 63, max_value=2 ** 64 - 1))
headers = st.one_of(
    st.none(), st.lists(st.one_of(
        st.integers(-3, 200),
        st.tuples(st.booleans(), st.one_of(st.integers(-3, 200),
                                           st.binary(max_size=20)),
                  st.one_of(st.binary(max_size=20), values))),
        max_size=4))
names = st.one_of(
    st.sampled_from(["fuzz", "fuzz-2", "", ".", "..", "../x", "a/b",
                     ".tags", ".tmp", "x" * 300, "\x00", "é"]),
    st.text(min_size=1, max_size=12).map(lambda t: "fuzz-" + t))
events = st.one_of(st.sampled_from(["echo", "ping", "fail", "http",
                                    "nosuch", ""]),
                   st.binary(max_size=10))
TARGETS = ["locator", "storage", APP, "worker"]
HUGE = [b"\xc6", b"\xdb", b"\xdd", b"\xdf", b"\xc9", b"\xc5", b"\xda",
        b"\xdc", b"\xde"]


def pack(value):
    try:
        return msgpack.packb(value, use_bin_type=True)
    except (OverflowError, ValueError, TypeError):
        return msgpack.packb(repr(value).encode())


class Connection:
    """
    A raw connection of the fuzzer.
    """

    def __init__(self, target):
        self.target = target
        kind, address = ENV.targets[target]
        if kind == "tcp":
            self.sock = socket.create_connection(address, timeout=2)
        else:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(2)
            self.sock.connect(address)
        self.sock.setblocking(False)
        self.alive = True
        self.channel = 1 if target != "worker" else 2

    def nextChannel(self):
        self.channel += 1
        return self.channel

    def send(self, data, kind):
        ENV.stats["sent {} to {}".format(kind, self.target)] += 1
        ENV.stats["bytes sent"] += len(data)
        if ENV.log:
            ENV.log("{:8} {:14} {!r}".format(self.target, kind, data[:80]))
        if not self.alive:
            return
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(2)
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, socket.timeout,
                OSError):
            self.closedByPeer()
        finally:
            if self.alive:
                self.sock.setblocking(False)
        self.drain()

    def drain(self):
        """
        Read what the node answered, without waiting.
        """
        if not self.alive:
            return
        for _ in range(64):
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.closedByPeer()
                return
            if not data:
                self.closedByPeer()
                return
            ENV.stats["bytes received"] += len(data)

    def closedByPeer(self):
        if self.alive:
            self.alive = False
            ENV.stats["connections closed by the node"] += 1
            self.sock.close()

    def close(self):
        if self.alive:
            self.alive = False
            self.sock.close()


class ProtocolFuzz(RuleBasedStateMachine):
    """
    Random and mutated frames to the node; the node keeps serving.
    """

    connections = Bundle("connections")

    def __init__(self):
        super().__init__()
        self.open = []
        ENV.stats["examples"] += 1

    def _connect(self, target):
        connection = Connection(target)
        self.open.append(connection)
        ENV.stats["connections opened"] += 1
        return connection

    def _pick(self, target, fresh):
        """
        An open connection to C{target} (a fresh one if asked or none).
        """
        if not fresh:
            for connection in reversed(self.open):
                if connection.target == target and connection.alive:
                    return connection
        return self._connect(target)

    @initialize(target=connections, where=st.sampled_from(TARGETS))
    def first(self, where):
        return self._connect(where)

    @rule(target=connections, where=st.sampled_from(TARGETS))
    def connect(self, where):
        return self._connect(where)

    @rule(connection=connections, data=st.binary(min_size=1, max_size=300))
    def randomBytes(self, connection, data):
        connection.send(data, "bytes")

    @rule(where=st.sampled_from(TARGETS),
          data=st.binary(min_size=1, max_size=300),
          keep=st.booleans())
    def oneShot(self, where, data, keep):
        connection = self._connect(where)
        connection.send(data, "one-shot")
        if not keep:
            connection.close()

    @rule(connection=connections, value=values)
    def wrongShape(self, connection, value):
        connection.send(pack(value), "wrong shape")

    @rule(connection=connections, channel=channels, mtype=types,
          args=st.one_of(st.lists(values, max_size=4), values),
          extra=headers)
    def message(self, connection, channel, mtype, args, extra):
        if connection.target == APP and mtype == 2:
            mtype = 1  # control could pin the pool to 0: not a fault
        frame = [channel, mtype, args]
        if extra is not None:
            frame.append(extra)
        connection.send(pack(frame), "message")

    @rule(connection=connections, prefix=st.sampled_from(HUGE),
          size=st.integers(min_value=2 ** 20, max_value=2 ** 32 - 1),
          tail=st.binary(max_size=64), wrap=st.booleans())
    def hugeLength(self, connection, prefix, size, tail, wrap):
        width = 2 if prefix in (b"\xc5", b"\xda", b"\xdc", b"\xde") else 4
        header = prefix + (size % (2 ** (8 * width))).to_bytes(width, "big")
        if wrap:
            # inside a valid-looking message: [channel, 0, [<huge>]]
            header = b"\x93" + pack(connection.nextChannel()) + b"\x00\x91" \
                + header
        connection.send(header + tail, "huge length")

    @rule(connection=connections, value=values,
          cut=st.floats(min_value=0.0, max_value=0.99))
    def truncated(self, connection, value, cut):
        data = pack([connection.nextChannel(), 0, [value]])
        connection.send(data[:max(1, int(len(data) * cut))], "truncated")

    @rule(fresh=st.booleans(), method=st.integers(0, 3),
          collection=names, key=names, blob=st.binary(max_size=200),
          tags=st.lists(st.one_of(st.text(max_size=8), values), max_size=3))
    def storageCall(self, fresh, method, collection, key, blob, tags):
        connection = self._pick("storage", fresh)
        args = [[collection, key], [collection, key, blob, tags],
                [collection, key], [collection, tags]][method]
        connection.send(pack([connection.nextChannel(), method, args]),
                        "storage call")

    @rule(fresh=st.booleans(), method=st.sampled_from([0, 1, 2, 3, 5, 6]),
          name=st.one_of(st.sampled_from(["echo", "storage", "nosuch"]),
                         values))
    def locatorCall(self, fresh, method, name):
        connection = self._pick("locator", fresh)
        connection.send(pack([connection.nextChannel(), method, [name]]),
                        "locator call")

    @rule(fresh=st.booleans(), event=events,
          chunks=st.lists(st.one_of(st.binary(max_size=64), values),
                          max_size=4),
          end=st.sampled_from(["close", "error", "open", "garbage"]))
    def enqueue(self, fresh, event, chunks, end):
        connection = self._pick(APP, fresh)
        channel = connection.nextChannel()
        frames = [pack([channel, 0, [event]])]
        frames += [pack([channel, 0, [chunk]]) for chunk in chunks]
        if end == "close":
            frames.append(pack([channel, 2, []]))
        elif end == "error":
            frames.append(pack([channel, 1, [[1, 2], "client gave up"]]))
        elif end == "garbage":
            frames.append(pack([channel, 7, [None]]))
        connection.send(b"".join(frames), "enqueue/" + end)

    @rule(fresh=st.booleans(),
          uuid=st.one_of(st.just("real"), st.text(max_size=40),
                         st.binary(max_size=16), values),
          after=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3),
                                   st.lists(values, max_size=2)),
                         max_size=4))
    def handshake(self, fresh, uuid, after):
        connection = self._pick("worker", fresh)
        if uuid == "real":
            info = ENV.call(ENV.probes["node"].info, APP)
            uuid = info["workers"][0]["uuid"] if info["workers"] else "x"
            kind = "handshake/real uuid"
        else:
            kind = "handshake/fake"
        frames = [pack([1, 0, [uuid]])]
        frames += [pack(list(message)) for message in after]
        connection.send(b"".join(frames), kind)

    @rule(connection=connections)
    def close(self, connection):
        connection.close()

    @invariant()
    def nodeServes(self):
        ENV.stats["invariant checks"] += 1
        assert ENV.node.process.poll() is None, "the node died"
        blob = os.urandom(16)
        storage = ENV.probes["storage"]
        ENV.call(storage.write, "fuzz-probe", "probe", blob)
        assert ENV.call(storage.read, "fuzz-probe", "probe") == blob
        assert ping() == [b"pong"]
        for name, connection in ENV.connection.items():
            assert ENV.probes[name]._connection is connection, \
                "the well-behaved client to {} was disconnected".format(name)
        ENV.stats["invariant checks passed"] += 1

    def teardown(self):
        for connection in self.open:
            connection.close()
        waited = noLeaks()
        ENV.stats["leak checks passed"] += 1
        ENV.drained.append(waited)


def ping():
    async def call():
        channel = await ENV.probes[APP].enqueue("ping")
        channel.close()
        return [chunk async for chunk in channel]
    return ENV.call(call)


def noLeaks(timeout=10.0):
    """
    Wait until the app has no pending session and an empty queue.

    @return: the seconds it took.
    """
    started = time.monotonic()
    while True:
        info = ENV.call(ENV.probes["node"].info, APP)
        if info["sessions"]["pending"] == 0 and info["queue"]["depth"] == 0:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(
                "leaked: sessions.pending {} queue.depth {} after {}s".format(
                    info["sessions"]["pending"], info["queue"]["depth"],
                    timeout))
        time.sleep(0.05)


def run(examples, steps, seed=None, derandomize=False):
    """
    Run the machine (from a thread other than the reactor's).
    """
    machine = ProtocolFuzz
    if seed is not None:
        machine = hypothesisSeed(seed)(type(
            "ProtocolFuzz", (ProtocolFuzz,), {}))
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None,
        derandomize=derandomize, database=None, print_blob=True,
        suppress_health_check=list(HealthCheck)))


def report(env, out=print):
    out("what was sent and seen:")
    for key, count in sorted(env.stats.items()):
        out("  {:40} {}".format(key, count))
    if env.drained:
        out("  {:40} {:.2f}".format("slowest return to no pending (s)",
                                     max(env.drained)))
    info = env.call(env.probes["node"].info, APP)
    out("app info after the fuzz: sessions.pending {} queue.depth {} "
        "requests {} workers {}".format(
            info["sessions"]["pending"], info["queue"]["depth"],
            info["requests"], [(w["pid"], w["state"])
                               for w in info["workers"]]))
    return info


def main(argv):
    import shutil
    import tempfile
    from twisted.internet import reactor
    from tests.integration.node import Node
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz")
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every frame sent")
    parser.add_argument("--keep", action="store_true",
                        help="keep the node's directory")
    parser.add_argument("--auth", action="store_true",
                        help="token authentication on (the probe sends "
                        "the admin's token, the fuzzer none)")
    args = parser.parse_args(argv)
    directory = tempfile.mkdtemp(prefix="cocaine-fuzz-")
    secret, token = writeSecret(directory) if args.auth else (None, None)
    node = Node(os.path.join(directory, "node"), nodeConfig(secret))
    print("{} fuzz: {} examples of up to {} steps, seed {}, dir {}".format(
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        args.examples, args.steps, args.seed, directory), flush=True)
    node.start()
    thread = threading.Thread(target=reactor.run,
                              kwargs={"installSignalHandlers": False},
                              daemon=True)
    thread.start()
    failed = None
    began = time.monotonic()
    try:
        env = prepare(reactor, node, log=print if args.verbose else None,
                      token=token)
        try:
            run(args.examples, args.steps, seed=args.seed)
        except Exception as e:
            failed = e
            import traceback
            traceback.print_exc()
        print("ran {:.1f}s".format(time.monotonic() - began))
        alive = node.process.poll() is None
        print("node alive: {}".format(alive))
        if alive:
            report(env)
            release(env)
        errors = [line for line in node.log().splitlines()
                  if "Traceback" in line or "Unhandled" in line]
        print("tracebacks in the node's log: {}".format(len(errors)))
        if errors and failed is None:
            failed = "tracebacks in the node's log"
    finally:
        status, _ = node.stop()
        print("node stopped (exit status {})".format(status))
        reactor.callFromThread(reactor.stop)
        thread.join(10)
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    if failed is not None:
        print("FAILED: {}".format(failed))
        sys.exit(1)
    print("PASSED: node alive, probe answered after every step, "
          "no leaked sessions")


if __name__ == "__main__":
    main(sys.argv[1:])
