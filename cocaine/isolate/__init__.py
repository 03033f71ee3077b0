# -*- test-case-name: tests.isolate -*-
"""
How a worker is started and constrained: L{ProcessIsolate} spawns each
worker in its own process group under the profile's rlimits
(L{cocaine.isolate.rlimits}), control groups (L{cocaine.isolate.cgroups})
and scheduling policy (L{cocaine.isolate.scheduling}).
"""

from cocaine.isolate.cgroups import (
    CgroupError, Cgroups, detectCgroupVersion, sharesToWeight,
    validateCgroups)
from cocaine.isolate.process import (
    EXIT_EXEC_FAILED, EXIT_EXEC_NOT_FOUND, ProcessIsolate, SpawnError,
    checkExecutable)
from cocaine.isolate.rlimits import validateRlimits

__all__ = [
    "CgroupError", "Cgroups", "EXIT_EXEC_FAILED", "EXIT_EXEC_NOT_FOUND",
    "ProcessIsolate", "SpawnError", "checkExecutable", "detectCgroupVersion",
    "sharesToWeight", "validateCgroups", "validateRlimits",
]
