"""
Tests for L{cocaine.cluster.load} and L{cocaine.cluster.gateway}'s
load-aware gateway: the score, the load reports on the locator C{connect}
stream (only for a peer that asks), the peering side reading them, and the
choice of a node.
"""

import random
from collections import Counter
from types import SimpleNamespace

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.cluster.gateway import (
    GATEWAYS, AdhocGateway, IGateway, LoadAwareGateway)
from cocaine.cluster.load import (
    BIG_CHANGE, MAX_CAPACITY, MAX_CONCURRENCY, MAX_COUNT, CpuSampler,
    LoadPublisher, bigChange, clampReport, nodeLoad)
from cocaine.protocol.load import CPU_WEIGHT, score
from cocaine.cluster.remote import RemoteTable
from cocaine.locator.registry import Registry
from cocaine.locator.service import LocatorService
from cocaine.testing import FakeUpstream, MemoryNode
from tests.cluster import test_peering

A, B, US = "node-a", "node-b", "us"


def entry(port):
    return [[["127.0.0.1", port]], 1, {}]


def report(cpu=0.0, **apps):
    """
    A load report: C{app=(sessions, queue)} with a pool of 2 x 1.
    """
    return {"cpu": cpu, "apps": {
        name: {"queue": queue, "busy": min(sessions, 2),
               "sessions": sessions, "capacity": 2, "concurrency": 1}
        for name, (sessions, queue) in apps.items()}}


class ScoreTests(SynchronousTestCase):
    def test_score(self):
        """
        Sessions plus queue over pool capacity x concurrency, plus the CPU
        share weighted by L{CPU_WEIGHT}; L{None} without that app.
        """
        self.assertEqual(score(report(app=(0, 0)), "app"), 0.0)
        self.assertEqual(score(report(app=(1, 0)), "app"), 0.5)
        self.assertEqual(score(report(app=(2, 2)), "app"), 2.0)
        self.assertAlmostEqual(score(report(50.0, app=(1, 0)), "app"),
                               0.5 + CPU_WEIGHT * 0.5)
        self.assertIsNone(score(report(app=(1, 0)), "other"))
        self.assertIsNone(score(None, "app"))
        self.assertIsNone(score({"apps": []}, "app"))
        self.assertIsNone(score({"apps": {"app": 3}}, "app"))

    def test_scoreGarbage(self):
        """
        Nonsense numbers count as nothing, a capacity below 1 as 1.
        """
        self.assertEqual(score({"cpu": "x", "apps": {"app": {
            "sessions": -3, "queue": "q", "capacity": 0}}}, "app"), 0.0)
        self.assertEqual(score({"apps": {"app": {"sessions": 3}}}, "app"),
                         3.0)

    def test_bigChange(self):
        old = report(app=(0, 0))
        self.assertTrue(bigChange(None, old))
        self.assertFalse(bigChange(old, report(app=(0, 0))))
        # one of two slots: +0.5
        self.assertTrue(bigChange(old, report(app=(1, 0))))
        self.assertTrue(bigChange(old, report(app=(0, 0), other=(0, 0))))
        self.assertTrue(bigChange(old, report()))
        self.assertFalse(bigChange(old, report(
            100 * (BIG_CHANGE - 0.01) / CPU_WEIGHT / 100, app=(0, 0))))

    def test_nodeLoad(self):
        """
        Every app of the context's node, and the CPU.
        """
        node = MemoryNode()
        node.add("echo")
        context = SimpleNamespace(node=node)
        self.assertEqual(nodeLoad(context, cpu=lambda: 12), {
            "cpu": 12.0, "apps": {"echo": node.load("echo")}})
        self.assertEqual(nodeLoad(None, cpu=lambda: 0),
                         {"cpu": 0.0, "apps": {}})
        self.assertIsInstance(nodeLoad(None)["cpu"], float)


class CpuSamplerTests(SynchronousTestCase):
    def test_cached(self):
        """
        Measured at most once a period.
        """
        clock, values = Clock(), iter([10, 20, 30])
        sampler = CpuSampler(clock, 0.5, cpu=lambda: next(values))
        self.assertEqual((sampler(), sampler()), (10.0, 10.0))
        clock.advance(0.4)
        self.assertEqual(sampler(), 10.0)
        clock.advance(0.1)
        self.assertEqual(sampler(), 20.0)
        self.assertIsInstance(CpuSampler(clock)(), float)


class GatewayTests(SynchronousTestCase):
    def setUp(self):
        self.remote = RemoteTable()
        self.local = report(app=(0, 0))
        self.gateway = LoadAwareGateway(self.remote, lambda: self.local,
                                        bias=0.25, rng=random.Random(3))
        for uuid, port in ((A, 1), (B, 2)):
            self.remote.link(uuid, ("127.0.0.1", port * 100),
                             {"app": entry(port), "storage": entry(port)})
        self.providers = {A: "a-entry", B: "b-entry"}

    def test_interface(self):
        self.assertTrue(verifyObject(IGateway, self.gateway))
        self.assertIs(GATEWAYS["load-aware"], LoadAwareGateway)

    def test_localWhileNotBusier(self):
        """
        The local node answers while its score is at most the best peer's
        plus the bias.
        """
        self.remote.setLoad(A, report(app=(0, 0)))
        self.remote.setLoad(B, report(app=(1, 0)))
        self.assertEqual(self.gateway.choose("app", self.providers, "mine"),
                         "mine")
        self.local = report(app=(0, 0), cpu=100.0)
        self.assertEqual(self.gateway.choose("app", self.providers, "mine"),
                         "mine")

    def test_peerWhenBusier(self):
        """
        Busier than a peer by more than the bias: the least-loaded peer.
        """
        self.remote.setLoad(A, report(app=(1, 0)))
        self.remote.setLoad(B, report(app=(0, 0)))
        self.local = report(app=(1, 0))
        self.assertEqual(self.gateway.choose("app", self.providers, "mine"),
                         "b-entry")
        self.remote.setLoad(B, report(app=(2, 3)))
        self.assertEqual(self.gateway.choose("app", self.providers, "mine"),
                         "mine")
        self.local = report(app=(2, 0))
        self.assertEqual(self.gateway.choose("app", self.providers, "mine"),
                         "a-entry")

    def test_bias(self):
        """
        A bias of 0 leaves the local node as soon as a peer is less busy.
        """
        self.gateway.bias = 0
        self.remote.setLoad(A, report(app=(0, 0)))
        self.local = report(app=(0, 0), cpu=10.0)
        self.assertEqual(self.gateway.choose("app", {A: "a"}, "mine"), "a")

    def test_onlyRemote(self):
        """
        Without a local entry, the least-loaded peer; ties and peers
        without reports are spread at random.
        """
        self.remote.setLoad(A, report(app=(2, 0)))
        self.remote.setLoad(B, report(app=(0, 0)))
        self.assertEqual(self.gateway.choose("app", self.providers),
                         "b-entry")
        self.remote.setLoad(A, report(app=(0, 0)))
        counts = Counter(self.gateway.choose("app", self.providers)
                         for _ in range(100))
        self.assertEqual(set(counts), {"a-entry", "b-entry"})
        counts = Counter(self.gateway.choose("storage", self.providers)
                         for _ in range(100))
        self.assertEqual(set(counts), {"a-entry", "b-entry"})

    def test_unreportedPeerSkipped(self):
        """
        A peer without a report for the name is not chosen while another
        has one.
        """
        self.remote.setLoad(A, report(app=(1, 1)))
        self.local = report(app=(2, 2))
        self.assertEqual(set(self.gateway.choose(
            "app", self.providers, "mine") for _ in range(20)), {"a-entry"})

    def test_notAnApp(self):
        """
        A name without a local report (not an app) or without any peer
        report stays local.
        """
        self.remote.setLoad(A, report(storage=(0, 0)))
        self.assertEqual(self.gateway.choose("storage", {A: "a"}, "mine"),
                         "mine")
        self.assertEqual(self.gateway.choose("app", {B: "b"}, "mine"),
                         "mine")

    def test_localLoadFails(self):
        def broken():
            raise RuntimeError("no")
        gateway = LoadAwareGateway(self.remote, broken)
        self.remote.setLoad(A, report(app=(0, 0)))
        self.assertEqual(gateway.choose("app", {A: "a"}, "mine"), "mine")

    def test_adhocKeepsLocal(self):
        self.assertEqual(AdhocGateway().choose("app", {A: "a"}, "mine"),
                         "mine")

    def test_locatorResolve(self):
        """
        The locator asks the gateway with its own entry when peers publish
        the name too.
        """
        registry = Registry()
        registry.publish("app", [["127.0.0.1", 9]], 1, {})
        locator = LocatorService(registry, US, remote=self.remote,
                                 gateway=self.gateway)
        self.remote.setLoad(A, report(app=(0, 0)))
        self.remote.setLoad(B, report(app=(2, 0)))
        self.assertEqual(locator.resolve("app")[0], [["127.0.0.1", 9]])
        self.local = report(app=(2, 0))
        self.assertEqual(locator.resolve("app")[0], [["127.0.0.1", 1]])


class RemoteLoadTests(SynchronousTestCase):
    def test_setLoad(self):
        """
        Reports are kept for linked nodes only, with text keys, and
        dropped with the node or a new link.
        """
        table = RemoteTable()
        table.setLoad(A, report())
        self.assertIsNone(table.load(A))
        table.link(A, ("127.0.0.1", 1), {})
        table.setLoad(A, {b"cpu": 1.0, b"apps": {b"app": {b"queue": 2}}})
        self.assertEqual(table.load(A), {"cpu": 1.0, "apps": {"app": {
            "queue": 2.0, "busy": 0.0, "sessions": 0.0, "capacity": 1.0,
            "concurrency": 1.0}}})
        self.assertEqual(table.loads(), {A: table.load(A)})
        self.assertRaises(ValueError, table.setLoad, A, [1])
        table.link(A, ("127.0.0.1", 1), {})
        self.assertIsNone(table.load(A))
        table.setLoad(A, report())
        table.drop(A)
        self.assertIsNone(table.load(A))


class ClampTests(SynchronousTestCase):
    """
    A peer's report is clamped to sane ranges (issue 14, finding 6).
    """

    def test_ranges(self):
        """
        Counts within 0-MAX_COUNT, capacity and concurrency within 1 and
        their caps, CPU within 0-100; garbage counts as busy (CPU) or the
        safe default; other fields are dropped.
        """
        inf = float("inf")
        clamped = clampReport({"cpu": -50, "apps": {
            "a": {"queue": -1, "busy": 1e30, "sessions": float("nan"),
                  "capacity": inf, "concurrency": 1e12, "extra": "x"},
            "b": {"capacity": 0, "concurrency": -3},
            "c": "not a map", "": {}, 7: {}, "x" * 256: {}}})
        self.assertEqual(clamped, {"cpu": 0.0, "apps": {
            "a": {"queue": 0.0, "busy": float(MAX_COUNT), "sessions": 0.0,
                  "capacity": float(MAX_CAPACITY),
                  "concurrency": float(MAX_CONCURRENCY)},
            "b": {"queue": 0.0, "busy": 0.0, "sessions": 0.0,
                  "capacity": 1.0, "concurrency": 1.0}}})
        self.assertEqual(clampReport({"cpu": 1e9})["cpu"], 100.0)
        self.assertEqual(clampReport({"cpu": "0"}), {"cpu": 100.0,
                                                     "apps": {}})
        self.assertEqual(clampReport({}), {"cpu": 100.0, "apps": {}})
        self.assertRaises(ValueError, clampReport, [])

    def test_appsCapped(self):
        """
        At most C{maxApps} apps of a report are kept.
        """
        apps = {"app{}".format(i): {} for i in range(10000)}
        self.assertEqual(len(clampReport({"apps": apps}, 5)["apps"]), 5)
        table = RemoteTable(maxReportApps=3)
        table.link(A, ("127.0.0.1", 1), {})
        table.setLoad(A, {"cpu": 0.0, "apps": apps})
        self.assertEqual(len(table.load(A)["apps"]), 3)


class ZeroLoadLiarTests(SynchronousTestCase):
    """
    A peer claiming zero load whatever it is sent does not draw every
    resolve while an honest peer is within C{bias} of idle.
    """

    def choices(self, honestSessions):
        table = RemoteTable()
        for uuid in (A, B):
            table.link(uuid, ("127.0.0.1", 1), {})
        table.setLoad(A, {"cpu": 5.0, "apps": {"app": {
            "sessions": honestSessions, "queue": 0, "capacity": 20,
            "concurrency": 1}}})
        table.setLoad(B, {"cpu": 0.0, "apps": {"app": {
            "sessions": 0, "queue": 0, "capacity": 10000,
            "concurrency": 10000}}})
        gateway = LoadAwareGateway(table, lambda: None, bias=0.1,
                                   rng=random.Random(4))
        return Counter(gateway.choose("app", {A: "a", B: "b"})
                       for _ in range(200))

    def test_liarShares(self):
        """
        An honest peer with one session of twenty (score 0.055) shares
        the resolves with the liar (score 0).
        """
        counts = self.choices(1)
        self.assertGreater(counts["a"], 60)
        self.assertGreater(counts["b"], 60)

    def test_busyHonestPeer(self):
        """
        An honest peer busier than C{bias} is left for the idle one, liar
        or not: that is what the load-aware gateway is for.
        """
        self.assertEqual(self.choices(5), {"b": 200})


class PublisherTests(SynchronousTestCase):
    """
    L{LoadPublisher} and the locator's C{connect} with and without the
    load option.
    """

    def setUp(self):
        self.clock = Clock()
        self.load = report(app=(0, 0))
        self.measured = 0
        self.publisher = LoadPublisher(self.clock, US, self.source, 1.0)
        self.registry = Registry()
        self.registry.publish("app", [["127.0.0.1", 9]], 1, {})
        self.locator = LocatorService(self.registry, US)
        self.locator.loads = self.publisher

    def source(self):
        self.measured += 1
        return self.load

    def loads(self, upstream):
        return [sent[3]["load"] for sent in upstream.sent
                if len(sent) == 4]

    def test_cocaineConnectUnchanged(self):
        """
        C{connect(uuid)} with one argument (Cocaine 0.12) gets the table
        and its changes only, always two-element chunks.
        """
        upstream = FakeUpstream()
        self.locator.connect(upstream, b"peer")
        self.clock.advance(5)
        self.registry.withdraw("app")
        self.assertEqual(upstream.sent, [
            ("write", US, {"app": [[["127.0.0.1", 9]], 1, {}]}),
            ("write", US, {"app": [[], 0, {}]})])
        self.assertEqual(self.measured, 0)
        upstream = FakeUpstream()
        self.locator.connect(upstream, b"peer", {"load": False})
        self.locator.connect(upstream, b"peer", "load")
        self.assertEqual(self.measured, 0)

    def test_connectWithLoad(self):
        """
        C{connect(uuid, {"load": true})}: the table, then a load chunk
        C{[uuid, {}, {"load": report}]}, then one every interval.
        """
        upstream = FakeUpstream()
        self.locator.connect(upstream, b"peer", {b"load": True})
        self.assertEqual(upstream.sent[0], ("write", US, {
            "app": [[["127.0.0.1", 9]], 1, {}]}))
        self.assertEqual(upstream.sent[1], ("write", US, {}, {
            "load": self.load}))
        self.clock.advance(0.2)
        self.assertEqual(len(upstream.sent), 2)
        self.load = report(app=(0, 0), cpu=1.0)
        for _ in range(4):
            self.clock.advance(0.2)
        self.assertEqual(self.loads(upstream), [report(app=(0, 0)),
                                                self.load])

    def test_bigChangeAtOnce(self):
        """
        A big change goes out at the next check (interval / 5), not
        waiting for the interval.
        """
        upstream = FakeUpstream()
        self.publisher.subscribe(upstream)
        self.load = report(app=(2, 0))
        self.clock.advance(0.2)
        self.assertEqual(self.loads(upstream)[-1], self.load)

    def test_closedStopsTimer(self):
        """
        A closed stream gets nothing more; with no stream left the timer
        stops; a new subscriber gets a fresh measure.
        """
        upstream = FakeUpstream()
        self.publisher.subscribe(upstream)
        upstream.closed = True
        for callback in upstream._onClose:
            callback()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.load = report(app=(1, 1))
        other = FakeUpstream()
        self.publisher.subscribe(other)
        self.assertEqual(self.loads(other), [self.load])
        self.assertEqual(len(upstream.sent), 1)
        self.publisher.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_sourceFails(self):
        def broken():
            raise RuntimeError("no")
        publisher = LoadPublisher(self.clock, US, broken, 1.0)
        upstream = FakeUpstream()
        publisher.subscribe(upstream)
        self.assertEqual(upstream.sent, [("write", US, {}, {
            "load": {"cpu": 0.0, "apps": {}}})])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class PeeringLoadTests(SynchronousTestCase):
    """
    The peering side: load chunks fill the remote table's reports and
    change no service.
    """

    setUp = test_peering.PeeringTests.setUp
    openStream = test_peering.PeeringTests.openStream
    link = test_peering.PeeringTests.link

    def test_loadChunk(self):
        stream = self.link()
        changes = len(self.changes)
        stream.chunks.append((A, {}, {b"load": report(app=(1, 0))}))
        d, stream.pending = stream.pending, None
        d.callback(stream.chunks.pop(0))
        self.assertEqual(self.remote.load(A), report(app=(1, 0)))
        self.assertEqual(list(self.remote.services(A)), ["app"])
        self.assertEqual(len(self.changes), changes)
        # odd extras are ignored, later chunks still read
        d, stream.pending = stream.pending, None
        d.callback((A, {"other": entry(2)}, "junk"))
        self.assertEqual(sorted(self.remote.services(A)), ["app", "other"])
        self.assertEqual(self.peering.isLinked(A), True)
        self.assertEqual(self.opens[0][0], test_peering.EP_A)
