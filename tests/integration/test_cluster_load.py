"""
Real nodes (twistd subprocesses, static discovery on 127.0.0.1) with the
echo app on two of three: the load-aware gateway sends resolves away from
a node made busy with slow requests, and losing a node with requests in
flight fails those requests while new ones go to the survivor.
"""

import json
import os
import signal
import time

from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, readBody

from cocaine.client import Locator, Service
from cocaine.config.cluster import Cluster
from cocaine.errors import CocaineError
from tests.integration import test_cluster
from tests.integration.node import Node, freePort

INTERVAL = test_cluster.INTERVAL
SLACK = test_cluster.SLACK

#: Slow requests pinned on the busy node, and how long each takes.
PINNED, PINNED_MS = 4, 15000

#: How much busier than the least-loaded peer a peer may be and still
#: share resolves (C{cluster.bias}, not set here: its default).
BIAS = Cluster.bias


class LoadAwareClusterTests(TestCase):
    """
    A and B run echo (one worker, concurrency 10), C runs no app and has
    the dashboard, which shows the load reports C holds of its peers.
    """

    timeout = 120

    def setUp(self):
        self.ports = [freePort() for _ in range(3)]
        self.adminPort = freePort()
        while self.adminPort in self.ports:
            self.adminPort = freePort()
        self.nodes = []
        base = self.mktemp()
        for i, port in enumerate(self.ports):
            peers = [["127.0.0.1", p] for p in self.ports if p != port]
            config = test_cluster.nodeConfig(
                {"discovery": "static", "interval": INTERVAL,
                 "peers": peers}, port, echo=(i < 2))
            if i == 2:
                config["services"]["admin"] = {
                    "type": "admin", "args": {"port": self.adminPort}}
            self.nodes.append(Node(os.path.join(base, "abc"[i]), config))
        self.locators = []
        for port in self.ports:
            locator = Locator(reactor, [("127.0.0.1", port)], timeout=10)
            self.addCleanup(locator.disconnect)
            self.locators.append(locator)
        for node in self.nodes:
            node.start()
            self.addCleanup(node.stop)

    waitFor = test_cluster.StaticClusterTests.waitFor
    uuids = test_cluster.StaticClusterTests.uuids
    fullMesh = test_cluster.StaticClusterTests.fullMesh

    async def clusterOf(self, i):
        return await self.locators[i].cluster()

    async def echoScoresSeenByC(self):
        """
        What C's load-aware gateway compares: the echo score of each peer's
        last load report that C holds (its dashboard's overview).

        @return: C{{uuid: score}} of C's linked peers, L{None} for one
            whose report C does not have or that has no echo.
        """
        response = await Agent(reactor).request(
            b"GET", "http://127.0.0.1:{}/api/overview".format(
                self.adminPort).encode("ascii"))
        body = await readBody(response)
        self.assertEqual(response.code, 200, body)
        return {node["uuid"]: ((node["apps"] or {}).get("echo") or {}).get(
            "score") for node in json.loads(body)["nodes"]
            if not node["self"]}

    async def resolved(self, i, times=1):
        """
        @return: the echo endpoints node C{i} answers, C{times} times.
        """
        return [(await self.locators[i].resolve("echo"))[0]
                for _ in range(times)]

    async def ready(self):
        """
        Wait for the full mesh and for echo to resolve on each node.
        """
        uuids = self.uuids()
        await self.waitFor(lambda: self.fullMesh(uuids, self.ports),
                           INTERVAL + 2 * SLACK)
        self.echo = [(await self.resolved(i))[0] for i in (0, 1)]
        self.assertNotEqual(self.echo[0], self.echo[1])
        return uuids

    def slow(self, i, milliseconds, service=None):
        """
        Start one slow request on node C{i}'s echo (resolved there: its
        own while it is idle). Pass the C{service} of an earlier call to
        send it over the same connection: once node C{i} is busy, a fresh
        resolve there may send the request to a peer instead.

        @return: a Deferred of its chunks, and the client to close.
        """
        if service is None:
            service = Service("echo", self.locators[i], timeout=60)
            self.addCleanup(service.disconnect)

        async def run():
            channel = await service.enqueue("slow")
            channel.write(str(milliseconds).encode())
            channel.close()
            return [chunk async for chunk in channel]
        return Deferred.fromCoroutine(run()), service

    def echoThrough(self, i):
        return test_cluster.echoThrough(self.locators[i], b"spread")

    async def test_busyNodeSendsToIdlePeer(self):
        """
        Idle, A answers echo with its own; with slow requests pinned on
        A's worker, resolves through A (and C) answer B's echo within an
        interval, and calls through that answer are served at once by B;
        when A is idle again it answers with its own again.
        """
        uuids = await self.ready()
        # idle: the local node is kept (bias)
        self.assertEqual([a for a in await self.resolved(0, 10)
                          if a != self.echo[0]], [])

        pinned, service = [], None
        for _ in range(PINNED):
            # one connection: every pinned request lands on A itself
            d, service = self.slow(0, PINNED_MS, service)
            pinned.append(d)
        pinnedAt = time.monotonic()

        seen = {}

        def scores():
            return "echo scores C holds: A {}, B {}".format(
                seen.get(uuids[0]), seen.get(uuids[1]))

        async def movedAway():
            # A knows at once; C once it holds A's report of the pinned
            # requests, sent at A's next load check (interval / 10) or
            # at the latest with the next periodic one (interval / 2).
            # Until then A and B are within the bias for C, which picks
            # either at random, so C's answers cannot show that it knows:
            # five all B come 1 poll in 32, and C then answered A to
            # about half of the 20 below (the CI failure of 2026-12-05).
            # What C's gateway compares can.
            seen.clear()
            seen.update(await self.echoScoresSeenByC())
            a, b = seen.get(uuids[0]), seen.get(uuids[1])
            return (set(map(str, await self.resolved(0, 5)))
                    == {str(self.echo[1])}
                    and a is not None and b is not None and a > b + BIAS)
        try:
            took = await self.waitFor(movedAway, INTERVAL + SLACK)
        except self.failureException as e:
            self.fail("{} (A's own answers: {!r}, B's echo: {!r}); {}".format(
                e, await self.resolved(0, 5), self.echo[1], scores()))
        self.assertLess(took, INTERVAL + SLACK)
        # through A and through C apart, so a failure says which node
        # chose A
        throughA, throughC = await self.resolved(0, 20), await self.resolved(
            2, 20)
        seen.clear()
        seen.update(await self.echoScoresSeenByC())
        self.assertEqual(
            ([a for a in throughA if a != self.echo[1]],
             [a for a in throughC if a != self.echo[1]]), ([], []),
            "answered by other than B through A, through C; cluster seen "
            "by A: {!r}, by C: {!r}; {}".format(
                await self.clusterOf(0), await self.clusterOf(2), scores()))
        started = time.monotonic()
        chunks, used = await self.echoThrough(0)
        self.assertEqual(chunks, [b"spread"])
        self.assertEqual(used, self.echo[1])
        self.assertLess(time.monotonic() - started, PINNED_MS / 2000.0)
        # the pinned requests were still running all along
        self.assertLess(time.monotonic() - pinnedAt, PINNED_MS / 1000.0)

        results = await DeferredList(pinned, consumeErrors=True)
        self.assertEqual([r for r in results], [(True, [b"done"])] * PINNED)

        async def back():
            return (await self.resolved(0))[0] == self.echo[0]
        await self.waitFor(back, INTERVAL + SLACK)

    async def test_lostNodeInFlight(self):
        """
        SIGKILL of B with slow requests in flight on it: they fail on the
        client side (none hangs); resolves through A and C answer A's echo
        at once (the stream closing drops B) and calls through them work.
        """
        uuids = await self.ready()
        inFlight = [self.slow(1, PINNED_MS)[0] for _ in range(2)]
        await deferLater(reactor, 0.5)
        b = self.nodes[1]
        b.process.send_signal(signal.SIGKILL)
        b.process.wait()
        killed = time.monotonic()
        results = await DeferredList(inFlight, consumeErrors=True)
        self.assertLess(time.monotonic() - killed, 5.0)
        for ok, result in results:
            self.assertFalse(ok, result)
            self.assertIsInstance(result.value, CocaineError)

        async def gone():
            for i in (0, 2):
                if uuids[1] in await self.clusterOf(i):
                    return False
            return True
        await self.waitFor(gone, 3 * INTERVAL + SLACK)
        answers = await self.resolved(0, 10) + await self.resolved(2, 10)
        self.assertEqual([a for a in answers if a != self.echo[0]], [])
        chunks, used = await self.echoThrough(2)
        self.assertEqual((chunks, used), ([b"spread"], self.echo[0]))
