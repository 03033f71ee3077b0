# -*- test-case-name: tests.admin.test_sampler -*-
"""
Samples every running app's counters (L{cocaine.interfaces.INode.stats})
once per interval and keeps the chart points computed from each pair of
successive samples (L{cocaine.admin.rates}): the last C{keep} per app, so
a page that opens late still draws the last minutes.
"""

import collections

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from cocaine.admin.rates import rates
from cocaine.errors import AppNotRunning
from cocaine.observers import Observers


class Sampler:
    """
    @ivar history: C{{app: deque of points}}, each point C{{"t", "rps",
        "eps", "p50", "p99"}} (C{t} in the clock's seconds).
    """

    log = Logger()

    def __init__(self, clock, node, interval=1.0, keep=120):
        """
        @param node: C{() -> INode or None}: the node is read on each tick
            (it is configured after the dashboard, perhaps).
        @param interval: seconds between samples.
        @param keep: points kept per app.
        """
        self.clock = clock
        self.interval = interval
        self.keep = keep
        self.history = {}
        self._node = node
        self._last = {}
        self._listeners = Observers("dashboard sample")
        self._loop = None

    def start(self):
        """
        Sample now and every C{interval} from now on.
        """
        self._loop = LoopingCall(self.tick)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=True).addErrback(
            lambda f: self.log.failure("dashboard sampling stopped", f))

    def stop(self):
        loop, self._loop = self._loop, None
        if loop is not None and loop.running:
            loop.stop()

    def listen(self, callback):
        """
        Call C{callback()} after every sample.

        @return: a function that stops it.
        """
        return self._listeners.add(callback)

    def latest(self, name):
        """
        App C{name}'s last point, or L{None}.
        """
        points = self.history.get(name)
        return points[-1] if points else None

    def tick(self):
        """
        Sample every running app, then tell the listeners.
        """
        now = self.clock.seconds()
        node = self._node()
        names = set()
        stats = getattr(node, "stats", None)
        for name in (node.apps() if node is not None else ()):
            try:
                current = stats(name) if stats is not None else None
            except AppNotRunning:
                continue
            except Exception:
                self.log.failure("dashboard: stats of app {app} not read",
                                 app=name)
                continue
            if current is None:
                continue
            names.add(name)
            last = self._last.get(name)
            self._last[name] = (now, current)
            if last is None:
                continue
            point = rates(last[1], current, now - last[0])
            point["t"] = now
            points = self.history.setdefault(
                name, collections.deque(maxlen=self.keep))
            points.append(point)
        for gone in set(self._last) - names:
            del self._last[gone]
            self.history.pop(gone, None)
        self._listeners.notify()
