# -*- test-case-name: tests.integration.test_bench -*-
"""
The Nameko peer (RPC over AMQP through RabbitMQ, eventlet), run with the
Nameko venv's python (L{bench.peers.python_peers.ensure}).

    python nameko_peer.py server --amqp amqp://guest:guest@127.0.0.1:PORT/
        runs the service C{bench} with a C{ServiceRunner}, prints C{ready}
        once its RPC consumer is up, and serves until TERM or INT.
    python nameko_peer.py client --connect amqp://guest:guest@127.0.0.1:PORT/
        --workload echo --size BYTES --requests N --inflight K [--proxies P]

Method: C{bench.echo(payload) -> payload}, the payload being C{str}: Nameko
serialises with JSON by default, which carries text natively (kombu's JSON
takes C{bytes} only when they decode as UTF-8). Nameko has no streaming
RPC: there is no C{stream} workload. C{--max-workers} sets Nameko's
C{max_workers} (its default, 10, if unset), which also bounds the broker's
prefetch for the service.

Concurrency, as a Nameko user gets it from outside a service: standalone
C{ClusterRpcProxy} objects (each one AMQP connection and one reply queue),
by default one. C{--inflight K} keeps K calls made with C{call_async}
outstanding and, as the oldest answer is collected, makes the next call (a
window). C{--proxies P} shares the K among P proxies, each driven by its
own green thread of an C{eventlet.GreenPool}: a proxy is not safe to share
between green threads, so more proxies is how a user spreads the load.
K=1 is plain blocking calls one after another on one proxy. Every publish
waits for the broker's confirm (Nameko's default, kept), so one proxy
sends one call per round trip to the broker.
Each latency runs from C{call_async} to the moment its result is
collected; replies come back mostly in order, so this is the arrival time
but for answers overtaking an older one, which are counted when the older
arrives. The proxy's timeout (C{--timeout}, 30 s) bounds each wait for a
reply; a failed call is counted and the run goes on; calls not made by
C{--deadline} (600 s) count as errors. C{min(1000, N//10)}
untimed calls first.

Prints one JSON line: C{requests, errors, elapsed, rate, p50_us, p99_us,
first_error}.
"""

import eventlet

eventlet.monkey_patch()

import collections  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from nameko.rpc import rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

SERVICE = "bench"


class BenchService:
    """
    The Nameko service: echo.
    """

    name = SERVICE

    @rpc
    def echo(self, payload):
        """
        @return: C{payload}, unchanged.
        """
        return payload


def config(uri, maxWorkers=None):
    """
    @param uri: the broker's C{amqp://} URI on 127.0.0.1.
    @param maxWorkers: Nameko's C{max_workers}, or L{None} for its default.
    @return: a Nameko config.
    @rtype: L{dict}
    @raise SystemExit: C{uri} is not an AMQP URI on 127.0.0.1.
    """
    if not (uri and uri.startswith("amqp://") and "@127.0.0.1:" in uri):
        raise SystemExit("expected amqp://USER:PASS@127.0.0.1:PORT/, got {!r}"
                         .format(uri))
    settings = {"AMQP_URI": uri}
    if maxWorkers is not None:
        settings["max_workers"] = maxWorkers
    return settings


def serve(options):
    """
    Run the service until TERM or INT; print C{ready} once it consumes.
    """
    runner = ServiceRunner(config(options.amqp, options.max_workers))
    runner.add_service(BenchService)
    stopping = eventlet.Event()

    def onSignal(signum, frame):
        if not stopping.ready():
            stopping.send(signum)

    signal.signal(signal.SIGTERM, onSignal)
    signal.signal(signal.SIGINT, onSignal)
    runner.start()
    print("ready", flush=True)
    stopping.wait()
    with eventlet.Timeout(10, False):
        runner.stop()
        return 0
    runner.kill()
    return 0


def check(answer, payload):
    """
    @raise ValueError: C{answer} is not C{payload}.
    """
    if answer != payload:
        raise ValueError("echo returned {} characters, sent {}".format(
            len(answer), len(payload)))


def sequential(proxy, payload, requests, tally):
    """
    Make C{requests} blocking echo calls one after another.

    @return: the elapsed seconds.
    """
    echo = getattr(proxy, SERVICE).echo
    began = time.perf_counter()
    for done in range(requests):
        if tally.expired(requests - done):
            break
        started = time.perf_counter()
        try:
            check(echo(payload), payload)
        except Exception as e:
            tally.failed(e)
            continue
        tally.ok(time.perf_counter() - started)
    return time.perf_counter() - began


def shares(inflight, proxies):
    """
    @return: how many of C{inflight} calls each of C{proxies} keeps
        outstanding, as even as can be.
    @rtype: L{list} of L{int}
    """
    if proxies > inflight:
        raise SystemExit("--proxies {} is more than --inflight {}".format(
            proxies, inflight))
    return [inflight // proxies + (1 if i < inflight % proxies else 0)
            for i in range(proxies)]


def window(proxy, payload, width, left, tally):
    """
    Keep C{width} C{call_async} echo calls outstanding on C{proxy} while
    C{left[0]} calls remain to be made.
    """
    echo = getattr(proxy, SERVICE).echo
    outstanding = collections.deque()
    while left[0] > 0 or outstanding:
        while left[0] > 0 and len(outstanding) < width:
            if tally.expired(left[0]):
                left[0] = 0
                break
            left[0] -= 1
            started = time.perf_counter()
            try:
                outstanding.append((started, echo.call_async(payload)))
            except Exception as e:
                tally.failed(e)
        if not outstanding:
            continue
        started, reply = outstanding.popleft()
        try:
            check(reply.result(), payload)
        except Exception as e:
            tally.failed(e)
            continue
        tally.ok(time.perf_counter() - started)


def windowed(proxies, payload, requests, inflight, tally):
    """
    Make C{requests} echo calls with C{call_async}, C{inflight} outstanding
    in all, shared among C{proxies}, each in its own green thread of an
    C{eventlet.GreenPool}.

    @return: the elapsed seconds.
    """
    left = [requests]
    pool = eventlet.GreenPool(len(proxies))
    began = time.perf_counter()
    for proxy, width in zip(proxies, shares(inflight, len(proxies))):
        pool.spawn(window, proxy, payload, width, left, tally)
    pool.waitall()
    return time.perf_counter() - began


def echoRun(proxies, payload, requests, inflight, deadline):
    """
    @param deadline: seconds after which no more calls are made.
    @return: the tally and elapsed seconds of C{requests} echo calls.
    """
    tally = peerlib.EchoTally(deadline)
    if inflight == 1:
        return tally, sequential(proxies[0], payload, requests, tally)
    return tally, windowed(proxies, payload, requests, inflight, tally)


def openProxies(stack, settings, count, timeout):
    """
    @param stack: the L{contextlib.ExitStack} that closes them.
    @return: C{count} connected C{ClusterRpcProxy} service proxies.
    @raise SystemExit: the broker did not answer.
    """
    proxies = []
    for _ in range(count):
        try:
            proxies.append(stack.enter_context(
                ClusterRpcProxy(settings, timeout=timeout)))
        except OSError as e:
            raise SystemExit("cannot reach the broker at {}: {}".format(
                settings["AMQP_URI"], e))
    return proxies


def measure(options):
    """
    Warm up, then measure echo and print its JSON line.
    """
    if options.workload != "echo":
        raise SystemExit("Nameko has no streaming RPC: --workload must be "
                         "echo, got {!r}".format(options.workload))
    payload = "x" * options.size
    settings = config(options.connect)
    shares(options.inflight, options.proxies)
    with contextlib.ExitStack() as stack:
        proxies = openProxies(stack, settings, options.proxies,
                              options.timeout)
        warm = peerlib.warmupCount(options)
        if warm:
            echoRun(proxies, payload, warm, options.inflight,
                    options.deadline)
        peerlib.announceTimed(options)
        tally, elapsed = echoRun(proxies, payload, options.requests,
                                 options.inflight, options.deadline)
    peerlib.emit(tally.result(options.requests, elapsed))
    return 0


def main(argv=None):
    parser = peerlib.parser(
        "Nameko echo peer", "amqp://guest:guest@127.0.0.1:PORT/", ["echo"])
    parser.client.add_argument(
        "--proxies", type=peerlib.positive, default=1,
        help="ClusterRpcProxy objects sharing --inflight (default 1)")
    options = parser.parse_args(argv)
    if options.mode == "server":
        if not options.amqp:
            raise SystemExit("server needs --amqp amqp://...@127.0.0.1:PORT/")
        return serve(options)
    return measure(options)


if __name__ == "__main__":
    sys.exit(main())
