"""
Tests for L{cocaine.heap}: the garbage collector settled after start-up.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.heap import ENV_FREEZE, freezeWanted, settle


class _Collector:
    """
    Stands where the C{gc} module would: records what is asked of it.
    """

    def __init__(self):
        self.calls = []

    def collect(self):
        self.calls.append("collect")

    def freeze(self):
        self.calls.append("freeze")

    def get_freeze_count(self):
        return 1234


class FreezeWantedTests(SynchronousTestCase):

    def test_default(self):
        """
        Freezing is on unless the environment says otherwise.
        """
        self.assertTrue(freezeWanted({}))

    def test_values(self):
        self.assertTrue(freezeWanted({ENV_FREEZE: "1"}))
        self.assertFalse(freezeWanted({ENV_FREEZE: "0"}))

    def test_badValueNamed(self):
        """
        Anything but 0 or 1 is refused, naming the variable and the value.
        """
        error = self.assertRaises(ValueError, freezeWanted,
                                  {ENV_FREEZE: "yes"})
        self.assertEqual(str(error), "COCAINE_GC_FREEZE='yes': must be 0 "
                         "or 1")


class SettleTests(SynchronousTestCase):

    def test_collectsThenFreezes(self):
        """
        Start-up's garbage is collected first, then the rest frozen; the
        count of frozen objects is returned.
        """
        collector = _Collector()
        self.assertEqual(settle({}, collector), 1234)
        self.assertEqual(collector.calls, ["collect", "freeze"])

    def test_off(self):
        """
        With C{COCAINE_GC_FREEZE=0} the collector is left alone.
        """
        collector = _Collector()
        self.assertIsNone(settle({ENV_FREEZE: "0"}, collector))
        self.assertEqual(collector.calls, [])

    def test_badValue(self):
        collector = _Collector()
        self.assertRaises(ValueError, settle, {ENV_FREEZE: "2"}, collector)
        self.assertEqual(collector.calls, [])
