# -*- test-case-name: tests.cluster.test_logbudget -*-
"""
Log lines of one kind at most so many a period, the rest as one summary.

Cluster discovery logs a line for each node it cannot link to and each it
drops for silence. One line a node is right for a few nodes; a flood of
announces of made-up nodes (each unreachable, each forgotten seconds later)
made it two lines a uuid, twenty thousand for ten thousand, so the
operator's log showed the flood, not the node. A L{LogBudget} lets the
first lines of a period through and, at the period's end, one line says
how many more there were.
"""

#: Lines of one kind logged one by one in a period.
LINES = 10

#: The period, in seconds.
PERIOD = 10.0


class _Kind:
    __slots__ = ("start", "used", "held", "timer")

    def __init__(self, start):
        self.start = start
        self.used = 0
        self.held = 0
        self.timer = None


class LogBudget:
    """
    How many lines of each kind may still be logged in this period.
    """

    def __init__(self, clock, summarize, lines=LINES, period=PERIOD):
        """
        @param clock: an C{IReactorTime}.
        @param summarize: C{(kind, count, period)}, called to log the one
            line about C{count} lines of C{kind} not logged one by one in
            the last C{period} seconds.
        @param lines: lines of one kind logged one by one a period.
        @param period: seconds.
        """
        self._clock = clock
        self._summarize = summarize
        self.lines = lines
        self.period = period
        self._kinds = {}

    def allow(self, kind):
        """
        Whether a line of C{kind} may be logged now; if not, it is counted
        for the period's summary.
        """
        now = self._clock.seconds()
        state = self._kinds.get(kind)
        if state is None or (state.timer is None
                             and now >= state.start + self.period):
            state = self._kinds[kind] = _Kind(now)
        if state.used < self.lines:
            state.used += 1
            return True
        state.held += 1
        if state.timer is None:
            state.timer = self._clock.callLater(
                max(state.start + self.period - now, 0), self._close, kind)
        return False

    def _close(self, kind):
        state = self._kinds.pop(kind)
        state.timer = None
        self._summarize(kind, state.held, self.period)

    def stop(self):
        """
        Log the summaries held so far now, and keep no timer.
        """
        for kind, state in list(self._kinds.items()):
            if state.timer is not None:
                state.timer.cancel()
                self._close(kind)
        self._kinds.clear()
