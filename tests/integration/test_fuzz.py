"""
The protocol fuzzer of L{bench.fuzz} against a real node, bounded for CI:
a fixed seed (derandomized), a few examples of a few steps.

The machine runs in a thread (its raw sockets block); the well-behaved
client it checks with is the SDK on trial's reactor.
"""

import os

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from bench import fuzz
from tests.integration.node import Node

EXAMPLES = int(os.environ.get("COCAINE_FUZZ_EXAMPLES", "100"))
STEPS = int(os.environ.get("COCAINE_FUZZ_STEPS", "20"))


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
