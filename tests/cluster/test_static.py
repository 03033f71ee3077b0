"""
Tests for L{cocaine.cluster.static}: peers probed with a fake prober and a
L{Clock}.
"""

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.cluster.static import StaticDiscovery

P1, P2, OWN = ("127.0.0.1", 1001), ("127.0.0.1", 1002), ("127.0.0.1", 1000)


class StaticDiscoveryTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.heard = []
        self.probes = []
        self.closed = []
        self.discovery = StaticDiscovery(
            self.clock, "us", [P1, P2, OWN], 2.0,
            lambda *a: self.heard.append(a), self.probe,
            lambda: self.closed.append(True), own=lambda: [OWN])

    def probe(self, peer):
        d = Deferred()
        self.probes.append((peer, d))
        return d

    def test_probesEveryInterval(self):
        """
        Every peer but ourselves is probed at start and every interval;
        each answer is reported as heard at that peer's endpoint.
        """
        self.discovery.startService()
        self.assertEqual([p for p, _ in self.probes], [P1, P2])
        self.probes[0][1].callback("node-1")
        self.probes[1][1].callback(b"node-2")
        self.assertEqual(self.heard, [("node-1", [P1]), ("node-2", [P2])])
        self.clock.advance(2.0)
        self.assertEqual(len(self.probes), 4)
        for _, d in self.probes[2:]:
            d.callback("node-x")
        self.clock.advance(2.0)
        self.assertEqual(len(self.probes), 6)
        self.discovery.stopService()
        self.assertEqual(self.closed, [True])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_outstandingNotRepeated(self):
        """
        A peer that has not answered yet is not asked again; a failure is
        counted and the next interval tries again.
        """
        self.discovery.startService()
        self.clock.advance(2.0)
        self.assertEqual(len(self.probes), 2)
        self.probes[0][1].errback(ConnectionError("refused"))
        self.assertEqual(self.discovery.stats["failures"], 1)
        self.clock.advance(2.0)
        self.assertEqual([p for p, _ in self.probes], [P1, P2, P1])
        self.assertEqual(self.heard, [])
        self.discovery.stopService()
        self.assertEqual(self.discovery.stats["failures"], 3)

    def test_ourselvesByUuid(self):
        """
        A peer that turns out to be us is not reported.
        """
        self.discovery.startService()
        self.probes[0][1].callback("us")
        self.assertEqual(self.heard, [])
        self.discovery.stopService()

    def test_poke(self):
        """
        A poke probes at once, at most once per poke gap.
        """
        self.discovery.startService()
        for _, d in self.probes:
            d.errback(ConnectionError("refused"))
        self.clock.advance(0.1)
        self.discovery.poke()
        self.assertEqual(len(self.probes), 4)
        for _, d in self.probes[2:]:
            d.callback("x")
        self.discovery.poke()
        self.assertEqual(len(self.probes), 4)
        self.clock.advance(self.discovery.pokeGap)
        self.discovery.poke()
        self.assertEqual(len(self.probes), 6)
        self.discovery.stopService()

    def test_pokeWhenStopped(self):
        self.discovery.poke()
        self.assertEqual(self.probes, [])

    def test_probeRaising(self):
        """
        A prober that raises counts as a failure.
        """
        def broken(peer):
            raise RuntimeError("no")
        discovery = StaticDiscovery(self.clock, "us", [P1], 2.0,
                                    lambda *a: None, broken)
        discovery.startService()
        self.assertEqual(discovery.stats["failures"], 1)
        discovery.stopService()
