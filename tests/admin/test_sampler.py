# -*- test-case-name: tests.admin.test_sampler -*-
"""
Tests for L{cocaine.admin.sampler}.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.admin.sampler import Sampler
from cocaine.testing import MemoryNode
from tests.admin.fakes import StatsNode


class SamplerTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.node = StatsNode()
        self.node.add("echo")
        self.ticks = []
        self.sampler = Sampler(self.clock, lambda: self.node, interval=1.0,
                               keep=3)
        self.sampler.listen(lambda: self.ticks.append(self.clock.seconds()))
        self.sampler.start()
        self.addCleanup(self.sampler.stop)

    def test_points(self):
        """
        A point per interval from the second sample on, over the time
        that really passed; only the last C{keep} are kept.
        """
        self.assertIsNone(self.sampler.latest("echo"))
        for n in range(1, 6):
            self.node.serve("echo", n * 2)
            self.clock.advance(2.0 if n == 1 else 1.0)
        points = list(self.sampler.history["echo"])
        self.assertEqual([p["rps"] for p in points], [6.0, 8.0, 10.0])
        self.assertEqual([p["t"] for p in points], [4.0, 5.0, 6.0])
        self.assertEqual(self.sampler.latest("echo")["rps"], 10.0)
        self.assertEqual(self.ticks, [0, 2.0, 3.0, 4.0, 5.0, 6.0])

    def test_appGone(self):
        """
        An app that stopped is forgotten; started again, it starts a new
        history.
        """
        self.clock.advance(1.0)
        self.node.remove("echo")
        self.clock.advance(1.0)
        self.assertEqual(self.sampler.history, {})
        self.node.add("echo")
        self.node.serve("echo", 4)
        self.clock.advance(1.0)
        self.assertIsNone(self.sampler.latest("echo"))
        self.clock.advance(1.0)
        self.assertEqual(self.sampler.latest("echo")["rps"], 0.0)

    def test_statsFail(self):
        """
        An app whose stats cannot be read is skipped (and logged); the
        others are sampled.
        """
        self.node.add("bad")

        def stats(name, original=self.node.stats):
            if name == "bad":
                raise RuntimeError("no")
            return original(name)
        self.node.stats = stats
        self.clock.advance(1.0)
        self.assertEqual(sorted(self.sampler.history), ["echo"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_nodeWithoutStats(self):
        """
        A node without C{stats} (an older one) gives no points, no error.
        """
        class OldNode(MemoryNode):
            stats = None
        self.node = OldNode()
        self.node.add("echo")
        self.clock.advance(1.0)
        self.clock.advance(1.0)
        self.assertEqual(self.sampler.history, {})
        self.assertEqual(len(self.ticks), 3)
