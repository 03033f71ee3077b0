"""
Tests for what L{cocaine.isolate} exports: the same names since
C{limits.py} was split into L{cocaine.isolate.rlimits} and
L{cocaine.isolate.cgroups}, each from the module named for what it does.
"""

from twisted.trial.unittest import SynchronousTestCase

import cocaine.isolate

EXPORTS = {
    "CgroupError": "cgroups", "Cgroups": "cgroups",
    "detectCgroupVersion": "cgroups", "sharesToWeight": "cgroups",
    "validateCgroups": "cgroups", "validateRlimits": "rlimits",
    "EXIT_EXEC_FAILED": "process", "EXIT_EXEC_NOT_FOUND": "process",
    "ProcessIsolate": "process", "SpawnError": "process",
    "checkExecutable": "process",
}


class ExportTests(SynchronousTestCase):

    def test_all(self):
        self.assertEqual(sorted(cocaine.isolate.__all__), sorted(EXPORTS))

    def test_homes(self):
        """
        Each exported function and class is defined in its module.
        """
        for name, module in EXPORTS.items():
            value = getattr(cocaine.isolate, name)
            if isinstance(value, int):
                continue
            self.assertEqual(value.__module__, "cocaine.isolate." + module,
                             name)
