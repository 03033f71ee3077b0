# -*- test-case-name: tests.engine.test_output -*-
"""
What a worker writes on its standard output and error: the last lines are
kept for its crashlog, and each line may go to the node's log.
"""

import collections

#: The longest output line kept; longer lines are cut.
MAX_LINE = 4096


class OutputRing:
    """
    The last C{limit} lines of a worker's output, kept as text, whatever
    the worker writes (a flood only ever costs C{limit} lines).
    """

    def __init__(self, limit, onLine=None):
        """
        @param limit: how many lines to keep (0 keeps none).
        @param onLine: called with every complete line, or L{None}.
        """
        self.lines = collections.deque(maxlen=max(limit, 0) or None)
        self._keep = limit > 0
        self._partial = {1: b"", 2: b""}
        #: fds whose current line was cut: its rest, up to the line end,
        #: is dropped
        self._cut = set()
        self._onLine = onLine

    def feed(self, fd, data):
        """
        Take bytes the worker wrote on C{fd} (1 or 2).
        """
        if fd in self._cut:
            end = data.find(b"\n")
            if end < 0:
                return
            self._cut.discard(fd)
            data = data[end + 1:]
        buffered = self._partial[fd] + data
        *complete, rest = buffered.split(b"\n")
        if len(rest) > MAX_LINE:
            complete.append(rest[:MAX_LINE])
            rest = b""
            self._cut.add(fd)
        self._partial[fd] = rest
        for raw in complete:
            self._add(raw)

    def flush(self):
        """
        The process ended: keep what it wrote without a line end.
        """
        for fd in (1, 2):
            if self._partial[fd]:
                self._add(self._partial[fd])
                self._partial[fd] = b""

    def last(self):
        """
        @return: the last line kept, or C{""}.
        """
        return self.lines[-1] if self.lines else ""

    def _add(self, raw):
        line = raw[:MAX_LINE].decode("utf-8", "replace").rstrip("\r")
        if self._keep:
            self.lines.append(line)
        if self._onLine is not None:
            self._onLine(line)
