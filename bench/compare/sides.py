# -*- test-case-name: tests.bench.test_compare,tests.bench.test_relay -*-
"""
The systems compared, each as a side: how its server starts (and which
processes to pin and to account), and the command of its load generator.

Every load generator speaks the contract of L{bench.compare.stats}; every
server but ours prints C{ready [ENDPOINT]} when it serves.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from bench.compare.processes import Unavailable, family

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEERS = os.path.join(ROOT, "bench", "peers")


def _environment(**extra):
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


class Side:
    """
    One system under test.

    @ivar key: a short name (the JSON key).
    @ivar label: its name in tables and charts.
    @ivar streams: whether it has streaming replies.
    """
    key = label = ""
    streams = False

    def start(self):
        """
        Start the server side; L{Unavailable} when it cannot run here.
        """

    def stop(self):
        """
        Stop everything L{start} started.
        """

    def serverPids(self):
        """
        @return: the processes that serve, as C{{group: [pid, ...]}}
            (descendants are added by the caller).
        """
        return {}

    def client(self, workload, size, requests, inflight, count):
        """
        @return: the argv of one load generator run.
        """
        raise NotImplementedError()

    def wrap(self, argv):
        """
        @return: C{argv} as it must be run (in a namespace, say).
        """
        return argv

    def env(self):
        return _environment()


class _Spawned(Side):
    """
    A side whose server is one process we spawn and which says ready
    (L{bench.peers.processes.PeerServer}: its stderr goes to a log in a
    temporary directory, named in the error when it does not start).
    """
    server = None
    endpoint = None

    def spawn(self, argv):
        from bench.peers.processes import PeerError, PeerServer
        self.logs = tempfile.mkdtemp(prefix="cocaine-bench-compare-")
        try:
            self.server = PeerServer(self.wrap(argv), self.key, self.logs,
                                     env=self.env(), cwd=ROOT)
        except PeerError as e:
            raise Unavailable(str(e))   # its log stays, named in the error
        self.endpoint = self.server.endpoint

    def serverPids(self):
        return {"server": [self.server.pid]} if self.server else {}

    def stop(self):
        if self.server is not None:
            self.server.stop()
            self.server = None
            shutil.rmtree(self.logs, ignore_errors=True)


class Ours(Side):
    """
    A node (C{twistd cocaine}) serving the Python echo example with a pool
    of two workers; our client SDK as the load generator.
    """
    key, label, streams = "ours", "ours (node + 2 workers)", True

    def __init__(self):
        self.node = None
        self.directory = None

    def configure(self, config):
        """
        Change the node's C{config} before it starts (nothing here).
        """

    def start(self):
        from bench.compare.ourside import nodeConfig
        from tests.integration.node import Node
        self.directory = tempfile.mkdtemp(prefix="cocaine-bench-compare-")
        config = nodeConfig()
        self.configure(config)
        self.node = Node(os.path.join(self.directory, "node"),
                         config).start()
        self.endpoint = "127.0.0.1:{}".format(self.node.port)
        result = subprocess.run(
            [sys.executable, "-m", "bench.compare.ourside", "prepare",
             "--connect", self.endpoint], cwd=ROOT, env=self.env(),
            capture_output=True, text=True, timeout=120)
        if result.returncode:
            raise Unavailable("the echo pool did not start: " +
                              result.stderr.strip()[-400:])

    def serverPids(self):
        return {"server": [self.node.process.pid]} if self.node else {}

    def client(self, workload, size, requests, inflight, count):
        return [sys.executable, "-m", "bench.compare.loadgen", "ours",
                "--connect", self.endpoint, "--app", "echo",
                "--workload", workload, "--size", str(size),
                "--requests", str(requests), "--inflight", str(inflight),
                "--count", str(count)] + announce(workload)

    def stop(self):
        if self.node is not None:
            self.node.stop()
            self.node = None
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)


class OursAuth(Ours):
    """
    L{Ours} with token auth on: the node checks a token on every request
    (L{bench.compare.ourside.withTokenAuth}), and the load generator sends
    one with each (what the issue asks to be measured beside auth off).
    """
    key, label = "ours-auth", "ours with token auth"

    token = None

    def configure(self, config):
        from bench.compare.ourside import withTokenAuth
        self.token = withTokenAuth(config, self.directory)

    def env(self):
        return _environment(COCAINE_TOKEN=self.token)


class Floor(_Spawned):
    """
    A bare Twisted msgpack echo and a bare client: Python on Twisted at
    its best (L{bench.compare.loadgen}).
    """
    key, label, streams = "floor", "floor (bare Twisted)", True
    #: the load generator's target (L{bench.compare.loadgen})
    target = "floor"

    def start(self):
        self.spawn([sys.executable, "-m", "bench.compare.loadgen",
                    "floor-server"])

    def client(self, workload, size, requests, inflight, count):
        return [sys.executable, "-m", "bench.compare.loadgen", self.target,
                "--connect", self.endpoint, "--workload", workload,
                "--size", str(size), "--requests", str(requests),
                "--inflight", str(inflight), "--count", str(count)
                ] + announce(workload)


class Relay(Floor):
    """
    The two-hop floor: a bare Twisted relay in front of two bare worker
    processes and a bare client, with the messages of ours (the event,
    the chunk and the close; a chunk and the close back):
    L{bench.compare.relay}. What the client -> node -> worker shape costs
    in Python on Twisted before any of our code.
    """
    key, label = "relay", "two-hop floor (bare relay + 2 workers)"
    target = "relay"

    def start(self):
        from bench.compare.ourside import POOL
        self.spawn([sys.executable, "-m", "bench.compare.relay", "server",
                    "--workers", str(POOL)])


class ZeroRPC(_Spawned):
    """
    zerorpc (PyPI) in its own virtualenv: L{bench.peers.zerorpc_peer}.
    """
    key, label, streams = "zerorpc", "zerorpc", True

    def __init__(self, python):
        self.python = python

    def start(self):
        self.spawn([self.python, os.path.join(PEERS, "zerorpc_peer.py"),
                    "server"])

    def client(self, workload, size, requests, inflight, count):
        return [self.python, os.path.join(PEERS, "zerorpc_peer.py"),
                "client", "--connect", self.endpoint,
                "--workload", workload, "--size", str(size),
                "--requests", str(requests), "--inflight", str(inflight),
                "--count", str(count)] + announce(workload)


class Nameko(_Spawned):
    """
    Nameko (PyPI) in its own virtualenv, with a private RabbitMQ broker on
    127.0.0.1 (L{bench.peers.rabbitmq}): L{bench.peers.nameko_peer}.
    """
    key, label = "nameko", "Nameko + RabbitMQ"

    def __init__(self, python):
        self.python = python
        self.broker = None

    def start(self):
        from bench.peers.rabbitmq import Broker, BrokerError
        try:
            self.broker = Broker()
            self.broker.start()
        except BrokerError as e:
            self.broker = None
            raise Unavailable("RabbitMQ: {}".format(e))
        self.spawn([self.python, os.path.join(PEERS, "nameko_peer.py"),
                    "server", "--amqp", self.broker.amqpUri])

    def serverPids(self):
        pids = super().serverPids()
        if self.broker is not None:
            pids["broker"] = list(self.broker.pids())
        return pids

    def client(self, workload, size, requests, inflight, count):
        return [self.python, os.path.join(PEERS, "nameko_peer.py"),
                "client", "--connect", self.broker.amqpUri,
                "--workload", workload, "--size", str(size),
                "--requests", str(requests), "--inflight", str(inflight)
                ] + announce(workload)

    def stop(self):
        super().stop()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None


class Cote(_Spawned):
    """
    cote 1.2.0 (npm, Node.js) in a network namespace we create with only
    C{lo} up, discovery broadcast to C{127.255.255.255}.
    """
    key, label = "cote", "cote 1.2.0"

    def __init__(self, modules):
        self.modules = modules
        self.namespace = None

    def env(self):
        return _environment(NODE_PATH=self.modules)

    def wrap(self, argv):
        return self.namespace.command(argv) if self.namespace else argv

    def start(self):
        from bench.mesh import Namespace
        from bench.mesh import Unavailable as NoNamespace
        namespace = Namespace()
        namespace.name = "cocaine-bench-compare-{}".format(os.getpid())
        try:
            self.namespace = namespace.__enter__()
        except NoNamespace as e:
            raise Unavailable(str(e))
        self.spawn(["node", os.path.join(HERE, "cote_peer.js"), "server"])

    def client(self, workload, size, requests, inflight, count):
        return self.wrap(["node", os.path.join(HERE, "cote_peer.js"),
                          "client", "--size", str(size),
                          "--requests", str(requests),
                          "--inflight", str(inflight)] + announce(workload))

    def stop(self):
        super().stop()
        if self.namespace is not None:
            self.namespace.__exit__(None, None, None)
            self.namespace = None


def announce(workload):
    """
    @return: the option that has a load generator print C{timed} at the
        end of its warm-up, for an echo run (the server's CPU is then
        sampled over the timed requests alone).
    """
    return ["--announce"] if workload == "echo" else []


def parseResult(out):
    """
    @return: the JSON map of a load generator's last line.
    """
    lines = [line for line in out.strip().splitlines() if line.strip()]
    if not lines:
        raise ValueError("no output")
    return json.loads(lines[-1])


__all__ = ["Side", "Ours", "Floor", "Relay", "ZeroRPC", "Nameko", "Cote",
           "parseResult", "family"]
