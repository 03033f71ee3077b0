"""
The protocol fuzzer of L{bench.fuzz} against a real node, bounded for CI:
a fixed seed (derandomized), a few examples of a few steps; once more
with token authentication on (issue 14's "a run of the existing fuzzer
with auth on").

The machine runs in a thread (its raw sockets block); the well-behaved
client it checks with is the SDK on trial's reactor.
"""

import hashlib
import os

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from bench import fuzz
from tests.integration.node import Node

EXAMPLES = int(os.environ.get("COCAINE_FUZZ_EXAMPLES", "100"))
STEPS = int(os.environ.get("COCAINE_FUZZ_STEPS", "20"))
AUTH_EXAMPLES = int(os.environ.get("COCAINE_FUZZ_AUTH_EXAMPLES", "40"))


def storageFiles(directory):
    """
    C{{path: SHA-256}} of every file under a node's data directory but
    what the well-behaved client and the node itself write (the probe's
    collection and its ACL, crashlogs).
    """
    files = {}
    root = os.path.join(directory, "var", "data")
    for where, _, names in os.walk(root):
        for name in names:
            path = os.path.relpath(os.path.join(where, name), root)
            if "fuzz-probe" in path or "crashlogs" in path:
                continue
            with open(os.path.join(where, name), "rb") as f:
                files[path] = hashlib.sha256(f.read()).hexdigest()
    return files


class ProtocolFuzzTests(TestCase):

    timeout = 120

    def setUp(self):
        self.node = Node(self.mktemp(), fuzz.nodeConfig()).start()
        self.addCleanup(self.node.stop)

    async def test_nodeSurvivesAndServes(self):
        env = await deferToThread(fuzz.prepare, reactor, self.node)
        self.addCleanup(lambda: deferToThread(fuzz.release, env))
        await deferToThread(fuzz.run, EXAMPLES, STEPS, derandomize=True)
        stats = env.stats
        self.assertGreaterEqual(stats["examples"], EXAMPLES)
        self.assertEqual(stats["invariant checks"],
                         stats["invariant checks passed"])
        self.assertGreater(stats["invariant checks"], EXAMPLES)
        self.assertEqual(stats["leak checks passed"], stats["examples"])
        # every kind of target was fuzzed
        for target in fuzz.TARGETS:
            self.assertTrue(any(key.endswith(" to " + target)
                                for key in stats), target)
        lines = []
        info = await deferToThread(fuzz.report, env, lines.append)
        self.assertEqual(info["sessions"]["pending"], 0)
        self.assertEqual(info["queue"]["depth"], 0)
        self.assertIsNone(self.node.process.poll())
        log = self.node.log()
        self.assertNotIn("Traceback", log)
        self.assertNotIn("Unhandled", log)


class AuthFuzzTests(TestCase):
    """
    The fuzzer against a node with token authentication: the
    well-behaved client sends the admin's token, the fuzzer's frames none
    (or random headers). The node stays up, answers the authenticated
    client after every step, and nothing anonymous got past the guard:
    no storage file changed, no enqueue reached the app.
    """

    timeout = 120

    def setUp(self):
        directory = self.mktemp()
        secret, self.token = fuzz.writeSecret(os.path.abspath(directory))
        self.node = Node(os.path.join(directory, "node"),
                         fuzz.nodeConfig(secret)).start()
        self.addCleanup(self.node.stop)

    async def test_guardHolds(self):
        env = await deferToThread(fuzz.prepare, reactor, self.node,
                                  token=self.token)
        self.addCleanup(lambda: deferToThread(fuzz.release, env))
        # what the fuzzer's storage calls aim at (its names), written by
        # the admin: an anonymous write or remove would change them
        for name in ("fuzz", "fuzz-2"):
            await env.probes["storage"].write(name, name, b"admin's",
                                              ["fuzz"])
        before = storageFiles(self.node.directory)
        self.assertIn(os.path.join("storage", "fuzz", "fuzz"), before)
        accepted = (await env.probes["node"].info(fuzz.APP))[
            "requests"]["accepted"]
        await deferToThread(fuzz.run, AUTH_EXAMPLES, STEPS,
                            derandomize=True)
        stats = env.stats
        self.assertGreaterEqual(stats["examples"], AUTH_EXAMPLES)
        self.assertEqual(stats["invariant checks"],
                         stats["invariant checks passed"])
        self.assertGreater(stats["sent storage call to storage"], 0)
        self.assertGreater(sum(count for key, count in stats.items()
                               if key.startswith("sent enqueue/")), 0)
        self.assertIsNone(self.node.process.poll())
        # an authenticated call still answers
        storage = env.probes["storage"]
        await storage.write("fuzz-probe", "after", b"still here")
        self.assertEqual(await storage.read("fuzz-probe", "after"),
                         b"still here")
        # nothing anonymous was written or removed
        self.assertEqual(storageFiles(self.node.directory), before)
        info = await env.probes["node"].info(fuzz.APP)
        # the probe's pings (one per invariant check) are the only
        # requests the app accepted
        self.assertEqual(info["requests"]["accepted"] - accepted,
                         stats["invariant checks passed"])
        self.assertEqual(info["sessions"]["pending"], 0)
        log = self.node.log()
        self.assertIn("refused to anonymous", log)
        self.assertNotIn("Traceback", log)
        self.assertNotIn("Unhandled", log)


class MalformedStreamTests(TestCase):
    """
    What the fuzzer found: a dispatch error on an open C{enqueue} channel
    (an unknown message type, arguments that do not fit, a handler that
    raises) answered the client but left the session to the worker open:
    C{sessions.pending} never came back to 0 and the worker's slot stayed
    taken, so enough of them starved the app.
    """

    timeout = 60

    def setUp(self):
        self.node = Node(self.mktemp(), fuzz.nodeConfig()).start()
        self.addCleanup(self.node.stop)

    async def test_sessionsReleased(self):
        import socket
        import time
        import msgpack
        from twisted.internet.task import deferLater
        from cocaine.client import Locator, Service
        locator = Locator(reactor, [("127.0.0.1", self.node.port)],
                          timeout=10)
        self.addCleanup(locator.disconnect)
        app = Service("echo", locator, timeout=10)
        self.addCleanup(app.disconnect)
        (host, port), = (await locator.resolve("echo"))[0]
        pack = lambda v: msgpack.packb(v, use_bin_type=True)  # noqa: E731
        bad = [[2, 7, [None]],               # no such message
               [2, 0, []],                   # write without its chunk
               [2, 2, [1, 2]]]               # close with arguments
        # more than the pool can take (2 workers x concurrency 20)
        sockets = []
        for index in range(60):
            s = socket.create_connection((host, port))
            s.sendall(pack([2, 0, ["echo"]]) + pack(bad[index % 3]))
            sockets.append(s)
        await deferLater(reactor, 0.5)

        async def call():
            channel = await app.enqueue("ping")
            channel.close()
            return [chunk async for chunk in channel]
        # the sockets are still open: the node released the sessions on
        # the dispatch errors alone
        from twisted.internet.defer import Deferred
        answer = Deferred.fromCoroutine(call()).addTimeout(10, reactor)
        self.assertEqual(await answer, [b"pong"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            info = await app.info()
            if info["sessions"]["pending"] == 0:
                break
            await deferLater(reactor, 0.05)
        self.assertEqual(info["sessions"]["pending"], 0)
        self.assertEqual(info["queue"]["depth"], 0)
        self.assertEqual([w["load"] for w in info["workers"]],
                         [0] * len(info["workers"]))
        for s in sockets:
            s.close()
