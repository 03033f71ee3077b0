"""
Tests for L{cocaine.log.sinks}.
"""

import calendar
import json
import os
import time

from twisted.logger import LogLevel, formatEvent
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.interfaces import ILogSink
from cocaine.log.sinks import (
    FileSink, TwistdSink, attributesDict, priorityName)

#: 2023-11-14T22:13:20.123Z
STAMP = 1700000000.123


class PriorityTests(SynchronousTestCase):
    """
    L{priorityName} and L{attributesDict}.
    """

    def test_names(self):
        """
        Priorities 0-3 are debug, info, warning, error; anything outside
        is clamped.
        """
        self.assertEqual([priorityName(p) for p in range(-2, 6)],
                         ["debug", "debug", "debug", "info", "warning",
                          "error", "error", "error"])

    def test_attributes(self):
        """
        C{[[name, value], ...]} becomes a dict with text names and values;
        malformed entries are skipped.
        """
        self.assertEqual(
            attributesDict([[b"uuid", b"abc"], ["n", 5], ("t", "x"),
                            ["only-one"], "junk", [1, 2], [b"\xff", b"\xfe"],
                            None]),
            {"uuid": "abc", "n": 5, "t": "x", "\ufffd": "\ufffd"})
        self.assertEqual(attributesDict(None), {})
        self.assertEqual(attributesDict([]), {})


class TwistdSinkTests(SynchronousTestCase):
    """
    L{TwistdSink} emits structured C{twisted.logger} events.
    """

    def setUp(self):
        self.events = []
        self.sink = TwistdSink(observer=self.events.append)

    def test_interface(self):
        """
        L{TwistdSink} provides L{ILogSink}.
        """
        self.assertTrue(verifyObject(ILogSink, self.sink))

    def test_event(self):
        """
        One record is one event in C{cocaine.app.<source>} with the fields
        C{source}, C{text} and C{attributes}.
        """
        self.sink.emit(2, "myapp/worker", "disk low", [["free", "1%"]])
        [event] = self.events
        self.assertEqual(event["log_namespace"], "cocaine.app.myapp/worker")
        self.assertEqual(event["source"], "myapp/worker")
        self.assertEqual(event["text"], "disk low")
        self.assertEqual(event["attributes"], {"free": "1%"})
        self.assertIs(event["log_level"], LogLevel.warn)
        self.assertEqual(formatEvent(event), "myapp/worker: disk low")

    def test_levels(self):
        """
        Priorities map to debug, info, warn and error; outside values are
        clamped.
        """
        for priority in (-1, 0, 1, 2, 3, 7):
            self.sink.emit(priority, "app", "m", None)
        self.assertEqual([e["log_level"] for e in self.events],
                         [LogLevel.debug, LogLevel.debug, LogLevel.info,
                          LogLevel.warn, LogLevel.error, LogLevel.error])

    def test_noAttributes(self):
        """
        Without attributes the field is an empty dict.
        """
        self.sink.emit(1, "app", "m", None)
        self.assertEqual(self.events[0]["attributes"], {})

    def test_bracesAreNotFormatted(self):
        """
        A message holding format braces is text, not a format string.
        """
        self.sink.emit(1, "app", "{oops} {0}", None)
        self.assertEqual(formatEvent(self.events[0]), "app: {oops} {0}")

    def test_manySources(self):
        """
        Each source gets its own namespace, also past the logger cache.
        """
        for i in range(1100):
            self.sink.emit(1, "s%d" % i, "m", None)
        self.assertEqual(self.events[-1]["log_namespace"],
                         "cocaine.app.s1099")
        self.assertEqual(len(self.events), 1100)


class FileSinkTests(SynchronousTestCase):
    """
    L{FileSink} writes one line per record and can be reopened.
    """

    def setUp(self):
        self.path = os.path.join(os.path.abspath(self.mktemp()), "logs",
                                 "cocaine.log")
        self.sink = FileSink(self.path, clock=lambda: STAMP)
        self.addCleanup(self.sink.close)

    def lines(self, path=None):
        with open(path or self.path, encoding="utf-8") as f:
            return f.read().splitlines()

    def test_interface(self):
        """
        L{FileSink} provides L{ILogSink}.
        """
        self.assertTrue(verifyObject(ILogSink, self.sink))

    def test_lineFormat(self):
        """
        A line is C{<UTC time with ms>Z <LEVEL> <source>: <message>}, then
        the attributes as sorted JSON when there are any.
        """
        self.sink.open()
        self.sink.emit(1, "app", "started", [])
        self.sink.emit(3, "app/1", "failed", [["b", "2"], ["a", 1]])
        self.assertEqual(self.lines(), [
            "2023-11-14T22:13:20.123Z INFO app: started",
            "2023-11-14T22:13:20.123Z ERROR app/1: failed "
            + json.dumps({"a": 1, "b": "2"}, sort_keys=True),
        ])

    def test_levels(self):
        """
        Each priority has its upper-case name; outside values are clamped.
        """
        for priority in (-5, 0, 1, 2, 3, 9):
            self.sink.emit(priority, "s", "m", None)
        self.assertEqual([line.split()[1] for line in self.lines()],
                         ["DEBUG", "DEBUG", "INFO", "WARNING", "ERROR",
                          "ERROR"])

    def test_newlinesEscaped(self):
        """
        A multi-line message, source or attribute stays on one line, so a
        client cannot forge records.
        """
        self.sink.emit(1, "app", "one\ntwo", None)
        self.sink.emit(1, "a\nb", "m", [["k", "x\ny"]])
        self.assertEqual(self.lines(), [
            "2023-11-14T22:13:20.123Z INFO app: one\\ntwo",
            "2023-11-14T22:13:20.123Z INFO a\\nb: m {\"k\": \"x\\ny\"}"])

    def test_nonAsciiAndOddAttributes(self):
        """
        Non-ASCII text is written as UTF-8; attribute values JSON cannot
        hold are written as their repr.
        """
        self.sink.emit(1, "\u00e4pp", "gr\u00fc\u00df", [["o", object]])
        [line] = self.lines()
        self.assertTrue(line.startswith(
            "2023-11-14T22:13:20.123Z INFO \u00e4pp: gr\u00fc\u00df "))
        self.assertEqual(json.loads(line.split(" ", 4)[4]),
                         {"o": repr(object)})

    def test_opensLazilyAndCreatesDirectories(self):
        """
        Emitting before L{FileSink.open} opens the file, creating missing
        directories.
        """
        self.assertFalse(os.path.exists(os.path.dirname(self.path)))
        self.sink.emit(1, "app", "m", None)
        self.assertEqual(len(self.lines()), 1)

    def test_appends(self):
        """
        Opening keeps what the file already holds.
        """
        os.makedirs(os.path.dirname(self.path))
        with open(self.path, "w") as f:
            f.write("earlier\n")
        self.sink.open()
        self.sink.emit(1, "app", "later", None)
        self.assertEqual(self.lines(), [
            "earlier", "2023-11-14T22:13:20.123Z INFO app: later"])

    def test_lineBuffered(self):
        """
        Each line is on disk as soon as it is emitted.
        """
        self.sink.emit(1, "app", "m", None)
        self.assertEqual(len(self.lines()), 1)

    def test_reopenAfterRotation(self):
        """
        After the file was renamed away, L{FileSink.reopen} starts a new
        file at the path: new lines go there, the old file keeps the old
        ones.
        """
        self.sink.open()
        self.sink.emit(1, "app", "before", None)
        os.rename(self.path, self.path + ".1")
        self.sink.emit(1, "app", "still old", None)
        self.sink.reopen()
        self.sink.emit(1, "app", "after", None)
        self.assertEqual(self.lines(self.path + ".1"), [
            "2023-11-14T22:13:20.123Z INFO app: before",
            "2023-11-14T22:13:20.123Z INFO app: still old"])
        self.assertEqual(self.lines(), [
            "2023-11-14T22:13:20.123Z INFO app: after"])

    def test_closeTwice(self):
        """
        Closing twice, or before opening, is harmless.
        """
        self.sink.close()
        self.sink.emit(1, "app", "m", None)
        self.sink.close()
        self.sink.close()
        self.assertEqual(len(self.lines()), 1)

    def test_realClock(self):
        """
        By default the time is the current time.
        """
        sink = FileSink(self.path)
        self.addCleanup(sink.close)
        before = time.time()
        sink.emit(1, "app", "m", None)
        stamp = self.lines()[0].split()[0]
        parsed = calendar.timegm(time.strptime(stamp[:19],
                                               "%Y-%m-%dT%H:%M:%S"))
        self.assertLess(abs(parsed - before), 5)
