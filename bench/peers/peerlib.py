# -*- test-case-name: tests.integration.test_bench -*-
"""
What the peer scripts share: their command line, the latency summary and
the one JSON line they print. Standard library only, since it is imported
from the peers' own venvs (the script's folder is on C{sys.path}).
"""

import argparse
import json
import math
import sys
import time

TIMEOUT = 30.0
DEADLINE = 600.0


def parser(description, connectHelp, workloads):
    """
    @param description: the script's one-line summary.
    @param connectHelp: what C{--connect} (and C{--amqp}) take.
    @param workloads: the C{--workload} choices.
    @return: a parser for C{server ...} and C{client ...}; its C{client}
        attribute is the client's subparser, for a peer's own options.
    @rtype: L{argparse.ArgumentParser}
    """
    top = argparse.ArgumentParser(description=description)
    modes = top.add_subparsers(dest="mode", required=True)
    server = modes.add_parser("server", help="serve echo (and stream)")
    server.add_argument("--amqp", help=connectHelp)
    server.add_argument("--max-workers", type=positive, default=None,
                        help="concurrent handlers (framework default if unset)")
    client = modes.add_parser("client", help="measure one workload")
    client.add_argument("--connect", required=True, help=connectHelp)
    client.add_argument("--workload", choices=workloads, default="echo")
    client.add_argument("--size", type=natural, default=16,
                        help="payload bytes (echo) or chunk bytes (stream)")
    client.add_argument("--requests", type=positive, default=10000)
    client.add_argument("--inflight", type=positive, default=1,
                        help="requests kept in flight; 1 is sequential")
    client.add_argument("--count", type=positive, default=10000,
                        help="chunks (stream)")
    client.add_argument("--timeout", type=float, default=TIMEOUT,
                        help="seconds per request")
    client.add_argument("--deadline", type=float, default=DEADLINE,
                        help="seconds for the whole run; calls not made by "
                             "then count as errors")
    client.add_argument("--warmup", type=natural, default=None,
                        help="untimed calls first; min(1000, N//10) if unset")
    client.add_argument("--announce", action="store_true",
                        help="print a line 'timed' when the warm-up ends")
    top.client = client
    return top


def natural(text):
    """
    @return: C{text} as an L{int} >= 0.
    @raise argparse.ArgumentTypeError: it is not one.
    """
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            "expected an integer >= 0, got {!r}".format(text))
    return value


def positive(text):
    """
    @return: C{text} as an L{int} >= 1.
    @raise argparse.ArgumentTypeError: it is not one.
    """
    value = natural(text)
    if value < 1:
        raise argparse.ArgumentTypeError(
            "expected an integer >= 1, got {!r}".format(text))
    return value


def warmupCount(options):
    """
    @return: the untimed calls to make before an echo run.
    @rtype: L{int}
    """
    if options.warmup is not None:
        return options.warmup
    return min(1000, options.requests // 10)


def announceTimed(options):
    """
    With C{--announce}, print the line C{timed}: the warm-up is over, for
    a caller sampling the server's CPU over the timed calls alone.
    """
    if options.announce:
        sys.stdout.write("timed\n")
        sys.stdout.flush()


def percentile(ordered, q):
    """
    @param ordered: sorted samples, not empty.
    @param q: the fraction, in (0, 1].
    @return: the nearest-rank percentile.
    """
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


class EchoTally:
    """
    Latencies and errors of one echo run, and its deadline.
    """

    def __init__(self, deadline=DEADLINE):
        """
        @param deadline: seconds from now after which no call is to be made.
        """
        self.latencies = []
        self.errors = 0
        self.firstError = None
        self.deadline = deadline
        self.until = time.perf_counter() + deadline

    def expired(self, left):
        """
        Whether the deadline has passed; if so, count the C{left} calls not
        made as errors.

        @param left: calls not made yet.
        @rtype: L{bool}
        """
        if time.perf_counter() <= self.until:
            return False
        if left:
            self.errors += left - 1
            self.failed(TimeoutError(
                "run deadline of {} s passed with {} calls not made".format(
                    self.deadline, left)))
        return True

    def ok(self, seconds):
        """
        Count one answered request that took C{seconds}.
        """
        self.latencies.append(seconds)

    def failed(self, error):
        """
        Count one failed request.

        @param error: its exception.
        """
        self.errors += 1
        if self.firstError is None:
            self.firstError = "{}: {}".format(type(error).__name__, error)[:500]

    def result(self, requests, elapsed):
        """
        @return: the echo result line's fields.
        @rtype: L{dict}
        """
        ordered = sorted(self.latencies)
        micros = (lambda q: round(percentile(ordered, q) * 1e6, 1)
                  if ordered else None)
        return {
            "requests": requests,
            "errors": self.errors,
            "elapsed": round(elapsed, 6),
            "rate": round(requests / elapsed, 1) if elapsed > 0 else None,
            "p50_us": micros(0.50),
            "p99_us": micros(0.99),
            "first_error": self.firstError,
        }


def streamResult(chunks, size, elapsed, ttfb):
    """
    @param chunks: chunks received.
    @param size: total bytes received.
    @param elapsed: seconds from the call to the last chunk.
    @param ttfb: seconds from the call to the first chunk, or L{None}.
    @return: the stream result line's fields.
    @rtype: L{dict}
    """
    return {
        "chunks": chunks,
        "bytes": size,
        "elapsed": round(elapsed, 6),
        "mb_per_s": round(size / elapsed / 1e6, 2) if elapsed > 0 else None,
        "ttfb_ms": round(ttfb * 1e3, 3) if ttfb is not None else None,
    }


def emit(result):
    """
    Print C{result} as the one JSON line on stdout.
    """
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
