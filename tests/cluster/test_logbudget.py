"""
Tests for L{cocaine.cluster.logbudget}: so many lines of a kind a period,
then one summary of the rest.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.cluster.logbudget import LogBudget


class LogBudgetTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.summaries = []
        self.budget = LogBudget(
            self.clock, lambda *summary: self.summaries.append(summary),
            lines=3, period=10.0)

    def test_firstLinesThenSummary(self):
        """
        The first lines of a period pass; the rest are counted and told in
        one summary at the period's end.
        """
        allowed = [self.budget.allow("a") for _ in range(8)]
        self.assertEqual(allowed, [True] * 3 + [False] * 5)
        self.clock.advance(9.9)
        self.assertEqual(self.summaries, [])
        self.clock.advance(0.1)
        self.assertEqual(self.summaries, [("a", 5, 10.0)])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_newPeriod(self):
        """
        After a period, lines pass again.
        """
        for _ in range(4):
            self.budget.allow("a")
        self.clock.advance(10)
        self.assertTrue(self.budget.allow("a"))
        self.clock.advance(30)
        self.assertEqual(self.summaries, [("a", 1, 10.0)])

    def test_quietPeriodHasNoSummary(self):
        """
        A period whose lines all passed leaves no summary and no timer.
        """
        for _ in range(3):
            self.assertTrue(self.budget.allow("a"))
        self.clock.advance(11)
        self.assertTrue(self.budget.allow("a"))
        self.assertEqual(self.summaries, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_kindsApart(self):
        """
        Each kind has a budget of its own.
        """
        for _ in range(3):
            self.budget.allow("a")
        self.assertTrue(self.budget.allow("b"))
        self.assertFalse(self.budget.allow("a"))

    def test_stopTellsWhatWasHeld(self):
        """
        Stopping logs the summaries held so far and leaves no timer.
        """
        for _ in range(5):
            self.budget.allow("a")
        self.budget.stop()
        self.assertEqual(self.summaries, [("a", 2, 10.0)])
        self.assertEqual(self.clock.getDelayedCalls(), [])
