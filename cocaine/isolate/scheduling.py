# -*- test-case-name: tests.isolate.test_scheduling -*-
"""
The CPU scheduling policy of workers, from the app profile's
C{scheduling}::

    "scheduling": "batch"

C{batch} (the default) runs workers under Linux's C{SCHED_BATCH}: a worker
woken by the node does not preempt it. The node hands a worker its
requests and goes on with the rest of its turn (the other workers' requests,
the replies it has read); the worker runs once the node waits, and answers
a whole batch at a time. Under the normal policy a worker woken by the
node's first write took the CPU at once and woke the node again with a
partial answer: with 64 requests in flight through one CPU, C{batch} gave
7% more requests a second and 12% less CPU a request for the node and its
workers together (docs/performance.md, sixth round). The policy is the
kernel's: no privilege is needed, and the nice value stays as it was.

C{normal} leaves workers under the node's own policy.

The policy is set by C{chrt} (or the launcher) when the worker is executed,
so it holds from the worker's first instruction and for everything it
forks. Where this node may not set it at all (a seccomp filter, a kernel
without C{SCHED_BATCH}), L{schedulingAvailable} says so once and workers
run under the node's policy.
"""

import os

#: The policies a profile may name, with the C{chrt} option of each
#: (L{None}: inherit the node's).
POLICIES = {"batch": "--batch", "normal": None}

#: The policy of a profile that names none.
DEFAULT_POLICY = "batch"


def validateScheduling(policy):
    """
    Check the C{scheduling} of a profile.

    @param policy: one of L{POLICIES}, or L{None} for L{DEFAULT_POLICY}.
    @return: the policy's name.
    @raise ValueError: naming the value and the policies known.
    """
    if policy is None:
        return DEFAULT_POLICY
    if not isinstance(policy, str) or policy not in POLICIES:
        raise ValueError(
            "scheduling: must be one of {}, got {!r}".format(
                ", ".join('"{}"'.format(p) for p in sorted(POLICIES)),
                policy))
    return policy


def schedulingAvailable(setScheduler=None):
    """
    Whether this process may set scheduling policies: it sets its own
    policy to what it already is (nothing changes), which fails where a
    filter or the kernel refuses the call.

    @param setScheduler: C{os.sched_setscheduler}, for tests.
    @return: L{None} if it may, else the reason in words.
    """
    if not hasattr(os, "SCHED_BATCH"):
        return "this system has no SCHED_BATCH"
    setScheduler = setScheduler or os.sched_setscheduler
    try:
        setScheduler(0, os.sched_getscheduler(0), os.sched_getparam(0))
    except OSError as e:
        return "setting a scheduling policy failed: {}".format(
            e.strerror or e)
    return None


def chrtArguments(policy):
    """
    The C{chrt} options that run a program under C{policy}, before its
    path.

    @return: a list; empty when the policy is inherited.
    """
    option = POLICIES[policy]
    return [] if option is None else [option, "0"]

