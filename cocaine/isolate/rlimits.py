# -*- test-case-name: tests.isolate.test_rlimits -*-
"""
Resource limits (rlimits) for workers, from the app profile's C{rlimits}
map::

    "rlimits": {"as": 1073741824, "nofile": 1024, "cpu": 3600}

Each applies soft and hard alike, set by C{prlimit} (or the launcher) when
the worker is executed; one that exceeds what this process may raise is
lowered to the current hard limit, so the worker still starts.
"""

import os

#: The rlimits a profile may set, with the C{prlimit} option of each.
RLIMITS = {"as": "--as", "nofile": "--nofile", "cpu": "--cpu"}

#: The capability that allows raising a hard rlimit.
_CAP_SYS_RESOURCE = 24


def _positiveInt(value):
    return isinstance(value, int) and not isinstance(value, bool) \
        and value > 0


def validateRlimits(rlimits):
    """
    Check the C{rlimits} of a profile.

    @param rlimits: C{{"as": bytes, "nofile": count, "cpu": seconds}}, any
        subset, or L{None}.
    @return: a new L{dict} with the same limits (empty for L{None}).
    @raise ValueError: naming the key that is unknown or whose value is not
        a positive integer.
    """
    if rlimits is None:
        return {}
    if not isinstance(rlimits, dict):
        raise ValueError("isolate rlimits: expected a map, not {!r}".format(
            rlimits))
    result = {}
    for key, value in rlimits.items():
        if key not in RLIMITS:
            raise ValueError(
                "isolate rlimits: unknown limit {!r} (known: {})".format(
                    key, ", ".join(sorted(RLIMITS))))
        if not _positiveInt(value):
            raise ValueError(
                "isolate rlimits: {!r} must be a positive integer, not "
                "{!r}".format(key, value))
        result[key] = value
    return result


def prlimitArguments(rlimits):
    """
    The C{prlimit} options that apply C{rlimits}, soft and hard alike, up to
    and including the C{--} that ends them.

    @param rlimits: validated limits (see L{validateRlimits}).
    @return: e.g. C{["--as=1073741824", "--nofile=64:64", "--cpu=10",
        "--"]}; empty when there is no limit.
    """
    if not rlimits:
        return []
    return ["{}={}:{}".format(RLIMITS[key], rlimits[key], rlimits[key])
            for key in sorted(RLIMITS) if key in rlimits] + ["--"]


def canRaiseHardLimits(statusPath="/proc/self/status"):
    """
    Whether this process may raise a hard rlimit (it holds
    C{CAP_SYS_RESOURCE}; being root is not enough in a container).
    """
    try:
        with open(statusPath) as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16)
                                & (1 << _CAP_SYS_RESOURCE))
    except (OSError, ValueError, IndexError):
        pass
    return os.geteuid() == 0


def clampRlimits(rlimits, hardLimits, mayRaise):
    """
    Lower each limit to the current hard limit when it cannot be raised, so
    the worker still starts.

    @param rlimits: validated limits.
    @param hardLimits: limit key to the current hard limit (or a negative
        number for unlimited).
    @param mayRaise: whether hard limits can be raised (see
        L{canRaiseHardLimits}).
    @return: C{(limits, lowered)}: the limits to apply, and a list of
        C{(key, asked, applied)} for each one lowered.
    """
    result = dict(rlimits)
    lowered = []
    if mayRaise:
        return result, lowered
    for key, value in rlimits.items():
        hard = hardLimits.get(key, -1)
        if hard is not None and hard >= 0 and value > hard:
            result[key] = hard
            lowered.append((key, value, hard))
    return result, lowered


def currentHardLimits():
    """
    The hard limits of this process for every key of L{RLIMITS}.
    """
    import resource
    names = {"as": "RLIMIT_AS", "nofile": "RLIMIT_NOFILE",
             "cpu": "RLIMIT_CPU"}
    result = {}
    for key, name in names.items():
        hard = resource.getrlimit(getattr(resource, name))[1]
        result[key] = -1 if hard == resource.RLIM_INFINITY else hard
    return result
