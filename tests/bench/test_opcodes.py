"""
Tests for L{bench.opcodes}.
"""

from twisted.trial.unittest import SynchronousTestCase

from bench import opcodes


def _twice(value):
    return _once(_once(value))


def _once(value):
    return value + 1


class OpcodeCounterTests(SynchronousTestCase):

    def test_callsAndOpcodes(self):
        """
        Every call of a function is counted, and its bytecodes with it:
        a function called twice as often executes twice the bytecodes.
        """
        counter = opcodes.OpcodeCounter()
        self.assertEqual(counter.run(_twice, 1), 3)
        once = [name for name in counter.calls if name.endswith("(_once)")]
        twice = [name for name in counter.calls
                 if name.endswith("(_twice)")]
        self.assertEqual((len(once), len(twice)), (1, 1))
        self.assertEqual(counter.calls[once[0]], 2)
        self.assertEqual(counter.calls[twice[0]], 1)
        single = opcodes.OpcodeCounter()
        single.run(_once, 1)
        self.assertEqual(counter.opcodes[once[0]],
                         2 * single.opcodes[once[0]])
        self.assertGreater(single.opcodes[once[0]], 0)

    def test_tracingEnds(self):
        """
        The trace function is removed after the run, even when the
        function raises.
        """
        import sys
        counter = opcodes.OpcodeCounter()
        self.assertRaises(ZeroDivisionError, counter.run, lambda: 1 / 0)
        self.assertIsNone(sys.gettrace())

    def test_rootLeftOut(self):
        """
        The root prefix is left out of the names.
        """
        import os
        root = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
        counter = opcodes.OpcodeCounter(root)
        counter.run(_once, 1)
        self.assertEqual(
            [name for name in counter.calls if "(_once)" in name],
            ["tests/bench/test_opcodes.py:{}(_once)".format(
                _once.__code__.co_firstlineno)])


class PerRequestTests(SynchronousTestCase):

    def test_storage(self):
        """
        A storage read is one message in: the server protocol receives
        one message a request (the set-up, run once, is left out).
        """
        counts, calls = opcodes.perRequest("storage", 32)
        receive = [name for name in calls
                   if name.endswith("(_receive)") and "rpc/server" in name]
        self.assertEqual(len(receive), 1)
        self.assertEqual(calls[receive[0]], 1.0)
        self.assertGreater(counts[receive[0]], 0)

    def test_report(self):
        """
        The report gives the totals, then the functions by bytecodes.
        """
        lines = opcodes.report({"a": 30.0, "b": 10.0}, {"a": 1.0, "b": 2.0},
                               top=1)
        self.assertEqual(lines[0], "40 bytecodes and 3.0 Python calls a "
                         "request")
        self.assertEqual(lines[4], "| 30.0 | 75.0% | 1.00 | a |")
        self.assertEqual(len(lines), 5)

    def test_badCount(self):
        """
        A count that is not a positive whole number is refused with one
        line naming it.
        """
        import contextlib
        import io
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertRaises(SystemExit, opcodes.main,
                              ["app", "--requests", "0"])
        self.assertIn("'0' is not a positive whole number", err.getvalue())
