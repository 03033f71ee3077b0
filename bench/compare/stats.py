# -*- test-case-name: tests.bench.test_compare -*-
"""
Load loops and their figures, shared by every load generator written in
Python on Twisted (ours and the floor).

The contract of a load generator, whatever its language: one JSON line on
stdout, for C{echo}::

    {"requests": N, "errors": E, "elapsed": s, "rate": N/s,
     "p50_us": .., "p99_us": .., "first_error": null | "..."}

and for C{stream}::

    {"chunks": C, "bytes": B, "elapsed": s, "mb_per_s": .., "ttfb_ms": ..}
"""

import argparse
import time

from twisted.internet import defer
from twisted.python.failure import Failure


def hostPort(text):
    """
    An argparse type: C{HOST:PORT}.

    @return: C{(host, port)}.
    """
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(
            "{!r} is not HOST:PORT".format(text))
    return host, int(port)


def percentile(ordered, fraction):
    """
    @param ordered: sorted numbers, not empty.
    @return: the value below which C{fraction} of them lie.
    """
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def echoSummary(requests, errors, elapsed, latencies, firstError=None):
    """
    The echo figures of the contract.

    @param latencies: seconds, one per answered request.
    """
    latencies = sorted(latencies) or [float("nan")]
    return {"requests": requests, "errors": errors, "elapsed": elapsed,
            "rate": requests / elapsed if elapsed else 0.0,
            "p50_us": percentile(latencies, 0.50) * 1e6,
            "p99_us": percentile(latencies, 0.99) * 1e6,
            "first_error": firstError}


def keepInFlight(call, requests, window, clock=time.perf_counter):
    """
    Keep C{window} calls in flight until C{requests} have ended (a window
    of 1 is the sequential workload).

    @param call: makes one request and returns a Deferred.
    @return: a Deferred firing with L{echoSummary}'s map.
    """
    done = defer.Deferred()
    latencies = []
    sent = ended = errors = 0
    first = None
    # calls due that the loop in pump has not made yet
    owed = 0
    pumping = False

    def pump():
        # One loop makes every call due: a call answered (or failing) at
        # once owes the next to this loop instead of making it from
        # inside its own callback, which would recurse once a call until
        # the stack ran out.
        nonlocal owed, pumping
        pumping = True
        try:
            send()
            while owed and sent < requests:
                owed -= 1
                send()
        finally:
            pumping = False

    def send():
        nonlocal sent
        sent += 1
        try:
            d = call()
        except Exception:
            failed(Failure(), clock())
            return
        start = clock()
        d.addCallbacks(answered, failed, callbackArgs=(start,),
                       errbackArgs=(start,))

    def answered(_, start):
        latencies.append(clock() - start)
        end()

    def failed(failure, start):
        nonlocal errors, first
        errors += 1
        if first is None:
            first = "{}: {}".format(failure.type.__name__,
                                    failure.getErrorMessage())
        end()

    def end():
        nonlocal ended, owed
        ended += 1
        if sent < requests:
            if pumping:
                owed += 1
            else:
                pump()
        elif ended == requests:
            done.callback(None)

    began = clock()
    owed = min(window, requests) - 1
    if requests > 0:
        pump()
    return done.addCallback(lambda _: echoSummary(
        requests, errors, clock() - began, latencies, first))


def streamSummary(chunks, size, elapsed, firstChunk):
    """
    The stream figures of the contract.

    @param firstChunk: seconds from the request to its first chunk.
    """
    total = chunks * size
    return {"chunks": chunks, "bytes": total, "elapsed": elapsed,
            "mb_per_s": total / elapsed / 1e6 if elapsed else 0.0,
            "ttfb_ms": firstChunk * 1000}
