"""
Tests for L{cocaine.engine.output}: what is kept of a worker's output.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.output import MAX_LINE, OutputRing


class LineTests(SynchronousTestCase):
    """
    Bytes become lines, per file descriptor, whatever the chunking.
    """

    def setUp(self):
        self.seen = []
        self.ring = OutputRing(10, self.seen.append)

    def test_completeLines(self):
        """
        Each line end ends a line; the lines are kept and reported as text,
        in order.
        """
        self.ring.feed(1, b"one\ntwo\n")
        self.assertEqual(list(self.ring.lines), ["one", "two"])
        self.assertEqual(self.seen, ["one", "two"])

    def test_lineAcrossFeeds(self):
        """
        A line written in pieces is one line, reported once it ends.
        """
        self.ring.feed(1, b"hel")
        self.assertEqual(self.seen, [])
        self.ring.feed(1, b"lo wo")
        self.ring.feed(1, b"rld\nne")
        self.assertEqual(self.seen, ["hello world"])
        self.assertEqual(list(self.ring.lines), ["hello world"])

    def test_perDescriptor(self):
        """
        Standard output and error are assembled separately: a piece of one
        never joins a line of the other.
        """
        self.ring.feed(1, b"out-")
        self.ring.feed(2, b"err-")
        self.ring.feed(2, b"line\n")
        self.ring.feed(1, b"line\n")
        self.assertEqual(self.seen, ["err-line", "out-line"])

    def test_emptyLinesKept(self):
        self.ring.feed(1, b"\n\nx\n")
        self.assertEqual(list(self.ring.lines), ["", "", "x"])

    def test_carriageReturnStripped(self):
        """
        A CRLF line end leaves no C{\\r} in the line.
        """
        self.ring.feed(2, b"dos\r\n")
        self.assertEqual(self.seen, ["dos"])

    def test_invalidUtf8Replaced(self):
        self.ring.feed(1, b"caf\xe9\n")
        self.assertEqual(self.seen, ["caf\ufffd"])

    def test_onlyLastKept(self):
        """
        At most C{limit} lines are kept, the last ones; every line is still
        reported.
        """
        ring = OutputRing(2, self.seen.append)
        ring.feed(1, b"a\nb\nc\n")
        self.assertEqual(list(ring.lines), ["b", "c"])
        self.assertEqual(self.seen, ["a", "b", "c"])

    def test_noCallback(self):
        ring = OutputRing(3)
        ring.feed(1, b"a\n")
        self.assertEqual(list(ring.lines), ["a"])


class LongLineTests(SynchronousTestCase):
    """
    A line longer than L{MAX_LINE} is cut: a flood costs bounded memory.
    """

    def setUp(self):
        self.seen = []
        self.ring = OutputRing(10, self.seen.append)

    def test_longLineInOneFeed(self):
        self.ring.feed(1, b"a" * (MAX_LINE + 100) + b"\nnext\n")
        self.assertEqual(self.seen, ["a" * MAX_LINE, "next"])

    def test_unterminatedLongLineCut(self):
        """
        A piece longer than L{MAX_LINE} without a line end is not buffered
        without bound: its first L{MAX_LINE} bytes become a line at once.
        """
        self.ring.feed(1, b"b" * (MAX_LINE + 1))
        self.assertEqual(self.seen, ["b" * MAX_LINE])
        self.assertEqual(self.ring._partial[1], b"")

    def test_exactlyMaxLineKeptWhole(self):
        self.ring.feed(1, b"c" * MAX_LINE)
        self.assertEqual(self.seen, [])
        self.ring.feed(1, b"\n")
        self.assertEqual(self.seen, ["c" * MAX_LINE])

    def test_longLineAcrossFeedsIsOneLine(self):
        """
        A long line that arrives in several reads (a pipe delivers at most
        what its buffer holds) is one cut line, like the same line read at
        once: what follows the cut, up to the line end, is dropped.
        """
        line = b"x" * (MAX_LINE * 2) + b"y" * 100
        for start in range(0, len(line), 3000):
            self.ring.feed(1, line[start:start + 3000])
        self.ring.feed(1, b"\nafter\n")
        self.assertEqual(self.seen, ["x" * MAX_LINE, "after"])



class LimitZeroTests(SynchronousTestCase):

    def test_keepsNothingButReports(self):
        """
        C{crashlog-limit} 0 keeps no line, but each line still goes to the
        log when C{log-output} asks for it.
        """
        seen = []
        ring = OutputRing(0, seen.append)
        ring.feed(1, b"a\nb\n")
        ring.feed(2, b"c")
        ring.flush()
        self.assertEqual(list(ring.lines), [])
        self.assertEqual(seen, ["a", "b", "c"])
        self.assertEqual(ring.last(), "")

    def test_negativeLimit(self):
        ring = OutputRing(-1)
        ring.feed(1, b"a\n")
        self.assertEqual(list(ring.lines), [])


class FlushTests(SynchronousTestCase):

    def test_partialLinesKept(self):
        """
        When the process ends, what it wrote without a line end is kept,
        standard output first.
        """
        seen = []
        ring = OutputRing(5, seen.append)
        ring.feed(2, b"dying")
        ring.feed(1, b"last words")
        ring.flush()
        self.assertEqual(seen, ["last words", "dying"])
        self.assertEqual(list(ring.lines), ["last words", "dying"])

    def test_nothingPending(self):
        seen = []
        ring = OutputRing(5, seen.append)
        ring.feed(1, b"done\n")
        ring.flush()
        self.assertEqual(seen, ["done"])

    def test_flushTwice(self):
        seen = []
        ring = OutputRing(5, seen.append)
        ring.feed(1, b"x")
        ring.flush()
        ring.flush()
        self.assertEqual(seen, ["x"])


class LastTests(SynchronousTestCase):

    def test_empty(self):
        self.assertEqual(OutputRing(3).last(), "")

    def test_lastLine(self):
        ring = OutputRing(3)
        ring.feed(1, b"first\nsecond\nthird\nfourth\n")
        self.assertEqual(ring.last(), "fourth")

    def test_partialNotLastUntilFlushed(self):
        ring = OutputRing(3)
        ring.feed(1, b"done\nhalf")
        self.assertEqual(ring.last(), "done")
        ring.flush()
        self.assertEqual(ring.last(), "half")
