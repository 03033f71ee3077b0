# -*- test-case-name: tests.test_heap -*-
"""
Python's garbage collector in the project's long-running processes: the
node and its workers.

What a process builds while it starts (its modules, plugins, service
tree, an app's own imports) lives as long as the process, yet every full
collection walks all of it: 23 ms a pass on average in the benchmark's
node, at moments the load decides. L{settle} collects once, when
start-up is over, and freezes what is left (C{gc.freeze}): later
collections walk only what came after, and a full one takes under a
quarter of a millisecond there (C{python -m bench.gcpause},
docs/performance.md). Objects frozen are never collected again; those
that are freed by their reference counts still are, so only reference
cycles made at start-up and dropped later stay.

The node's metrics time every pause of the collector, by generation
(L{cocaine.metrics.collector.GCPauses}).

A worker in a thread of the node (the C{thread} isolate) does not freeze:
the process is the node's (L{cocaine.worker.worker.settleHeap}).

C{COCAINE_GC_FREEZE=0} leaves the collector as Python has it (to compare:
C{python -m bench.gcpause}); C{1}, the default, freezes.
"""

import gc
import os

#: The environment variable that turns freezing off (C{0}) or on (C{1}).
ENV_FREEZE = "COCAINE_GC_FREEZE"


def freezeWanted(environ=None):
    """
    @param environ: the environment; C{os.environ} by default.
    @return: whether L{ENV_FREEZE} asks for freezing (it does unless it
        is C{0}).
    @raise ValueError: it is set to anything but C{0} or C{1}, naming it.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_FREEZE, "1")
    if value not in ("0", "1"):
        raise ValueError("{}={!r}: must be 0 or 1".format(ENV_FREEZE, value))
    return value == "1"


def settle(environ=None, collector=gc):
    """
    Start-up is over: collect what it left behind, then freeze the rest
    out of later collections, unless L{ENV_FREEZE} says not to.

    @param collector: the C{gc} module (or a stand-in, for tests).
    @return: the number of objects frozen so far, or L{None} when
        freezing is off.
    @raise ValueError: L{ENV_FREEZE} holds something else than C{0} or
        C{1}.
    """
    if not freezeWanted(environ):
        return None
    collector.collect()
    collector.freeze()
    return collector.get_freeze_count()
