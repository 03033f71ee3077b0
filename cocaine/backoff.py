# -*- test-case-name: tests.test_backoff -*-
"""
How long to wait before the next attempt after failures in a row: one
exponential backoff, with jitter, for every reconnect and retry loop of
the node (cluster links and registration, the cluster's and unicorn's
etcd watches, mesh links, Redis slots, the Jabber connection).

The jitter matters when many clients lost the same peer at once (a node
or a responder restarting): without it they all come back at the same
instants, doubling apart, and meet the peer together every time.
"""

import random

__all__ = ["backoffDelay"]


def backoffDelay(failures, first, most, factor=2.0, jitter=0.1):
    """
    @param failures: failures in a row, at least 1 (0 counts as 1).
    @param first: seconds before the first retry.
    @param most: the longest wait, before jitter.
    @param factor: how much longer each further wait is.
    @param jitter: the share of the wait added at random, at most
        (0.1: up to a tenth longer).
    @return: seconds to wait: C{first * factor ** (failures - 1)}, at
        most C{most}, plus up to C{jitter} of it at random.
    """
    # the exponent stops growing long after the cap is reached: a float
    # power overflows past about a thousand failures (a day-long outage)
    delay = min(first * factor ** min(max(failures - 1, 0), 64), most)
    return delay * (1 + jitter * random.random())
