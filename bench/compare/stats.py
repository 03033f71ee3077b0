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
    state = {"sent": 0, "ended": 0, "errors": 0, "first": None}

    def send():
        state["sent"] += 1
        d = call()
        d.addCallbacks(answered, failed, callbackArgs=(clock(),),
                       errbackArgs=(clock(),))

    def answered(_, start):
        latencies.append(clock() - start)
        ended()

    def failed(failure, start):
        state["errors"] += 1
        if state["first"] is None:
            state["first"] = "{}: {}".format(
                failure.type.__name__, failure.getErrorMessage())
        ended()

    def ended():
        state["ended"] += 1
        if state["sent"] < requests:
            send()
        elif state["ended"] == requests:
            done.callback(None)

    began = clock()
    # counted by what was sent: a call answered at once sends the next
    # itself, so the window is not filled twice over
    while state["sent"] < min(window, requests):
        send()
    return done.addCallback(lambda _: echoSummary(
        requests, state["errors"], clock() - began, latencies,
        state["first"]))


def streamSummary(chunks, size, elapsed, firstChunk):
    """
    The stream figures of the contract.

    @param firstChunk: seconds from the request to its first chunk.
    """
    total = chunks * size
    return {"chunks": chunks, "bytes": total, "elapsed": elapsed,
            "mb_per_s": total / elapsed / 1e6 if elapsed else 0.0,
            "ttfb_ms": firstChunk * 1000}
