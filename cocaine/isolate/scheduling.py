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
forks. Where this node's children may not take it (a seccomp filter, a
kernel without C{SCHED_BATCH}, a node under C{SCHED_IDLE}),
L{schedulingAvailable} finds out before any worker is spawned; the app's
isolate warns, and its workers run under the node's policy.
"""

import os
import threading

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
    Whether a child of this process may take C{SCHED_BATCH}: a thread
    started for the purpose (it inherits the node's policy and limits, as
    a worker does) sets it on itself and ends; the node's own threads keep
    theirs. It fails where a filter or the kernel refuses the call, or the
    node runs under C{SCHED_IDLE} without room to leave it.

    @param setScheduler: C{os.sched_setscheduler}, for tests.
    @return: L{None} if it may, else the reason in words.
    """
    if not hasattr(os, "SCHED_BATCH"):
        return "this system has no SCHED_BATCH"
    setScheduler = setScheduler or os.sched_setscheduler
    outcome = []

    def attempt():
        try:
            setScheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError as e:
            outcome.append("setting the policy failed: {}".format(
                e.strerror or e))
        else:
            outcome.append(None)
    probe = threading.Thread(target=attempt, name="scheduling probe")
    probe.start()
    probe.join()
    return outcome[0]


def chrtArguments(policy):
    """
    The C{chrt} options that run a program under C{policy}, before its
    path.

    @return: a list; empty when the policy is inherited.
    """
    option = POLICIES[policy]
    return [] if option is None else [option, "0"]


#: The kernel's policies by the names a worker's info gives them (a
#: profile's C{scheduling} names the first two).
_NAMES = {getattr(os, constant): name for constant, name in (
    ("SCHED_OTHER", "normal"), ("SCHED_BATCH", "batch"),
    ("SCHED_IDLE", "idle"), ("SCHED_FIFO", "fifo"), ("SCHED_RR", "rr"))
    if hasattr(os, constant)}


def policyOf(pid):
    """
    The scheduling policy process C{pid} runs under, as the kernel has it.

    @return: its name (C{"batch"}, C{"normal"}, ...), or L{None} for one
        without a name here.
    @raise OSError: if the process is gone or may not be looked at.
    """
    return _NAMES.get(os.sched_getscheduler(pid))
