"""
Tests for L{cocaine.isolate.rlimits}: validation, the C{prlimit} options,
and lowering what cannot be raised.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.isolate.rlimits import (
    canRaiseHardLimits, clampRlimits, currentHardLimits, prlimitArguments,
    validateRlimits)


def write(path, content):
    with open(path, "w") as f:
        f.write(content)


class RlimitTests(SynchronousTestCase):
    """
    Validation of profile rlimits and the options given to C{prlimit}.
    """

    def test_valid(self):
        """
        Known keys with positive integers pass; L{None} means none.
        """
        self.assertEqual(validateRlimits(None), {})
        limits = {"as": 1 << 30, "nofile": 64, "cpu": 10}
        self.assertEqual(validateRlimits(limits), limits)

    def test_unknownKey(self):
        """
        An unknown key is named in the error.
        """
        error = self.assertRaises(ValueError, validateRlimits,
                                  {"nofile": 10, "stack": 10})
        self.assertEqual(str(error), "isolate rlimits: unknown limit 'stack' "
                         "(known: as, cpu, nofile)")

    def test_badValues(self):
        """
        Zero, negative, boolean, string and float values are rejected,
        naming the key.
        """
        for value in (0, -1, True, "10", 1.5, None):
            error = self.assertRaises(ValueError, validateRlimits,
                                      {"cpu": value})
            self.assertEqual(str(error), "isolate rlimits: 'cpu' must be a "
                             "positive integer, not {!r}".format(value))

    def test_notAMap(self):
        """
        Something that is not a map is rejected.
        """
        self.assertRaises(ValueError, validateRlimits, [("cpu", 1)])

    def test_prlimitArguments(self):
        """
        Each limit sets soft and hard alike; C{--} ends the options.
        """
        self.assertEqual(prlimitArguments({}), [])
        self.assertEqual(
            prlimitArguments({"nofile": 64, "as": 1024, "cpu": 5}),
            ["--as=1024:1024", "--cpu=5:5", "--nofile=64:64", "--"])

    def test_clampWhenUnprivileged(self):
        """
        A limit above the current hard limit is lowered to it when hard
        limits cannot be raised; unlimited hard limits lower nothing.
        """
        self.assertEqual(
            clampRlimits({"nofile": 100000, "cpu": 5, "as": 1 << 40},
                         {"nofile": 4096, "cpu": -1, "as": -1}, False),
            ({"nofile": 4096, "cpu": 5, "as": 1 << 40},
             [("nofile", 100000, 4096)]))
        self.assertEqual(
            clampRlimits({"nofile": 100000}, {"nofile": 4096}, True),
            ({"nofile": 100000}, []))

    def test_canRaiseHardLimits(self):
        """
        C{CAP_SYS_RESOURCE} (bit 24) in C{CapEff} decides.
        """
        path = self.mktemp()
        write(path, "Name:\tx\nCapEff:\t000001ffffffffff\n")
        self.assertTrue(canRaiseHardLimits(path))
        write(path, "Name:\tx\nCapEff:\t000001fffeffffff\n")
        self.assertFalse(canRaiseHardLimits(path))

    def test_currentHardLimits(self):
        """
        The hard limits of this process are read for every key.
        """
        self.assertEqual(sorted(currentHardLimits()), ["as", "cpu", "nofile"])
