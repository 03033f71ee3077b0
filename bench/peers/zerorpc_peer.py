# -*- test-case-name: tests.bench.test_zerorpc,tests.integration.test_bench -*-
"""
The zerorpc peer (ZeroMQ + msgpack, gevent), run with the zerorpc venv's
python (L{bench.peers.python_peers.ensure}).

    python zerorpc_peer.py server
        binds tcp://127.0.0.1:* (a port the kernel picks), prints
        C{ready tcp://127.0.0.1:PORT} once serving, and serves until killed.
    python zerorpc_peer.py client --connect tcp://127.0.0.1:PORT
        --workload echo --size BYTES --requests N --inflight K
    python zerorpc_peer.py client --connect tcp://127.0.0.1:PORT
        --workload stream --count C --size BYTES

Methods: C{echo(payload) -> payload}, the payload being C{bytes} (msgpack
bin, which zerorpc carries natively); C{stream(count, size)}, a
C{@zerorpc.stream} method yielding C{count} chunks of C{size} bytes.

Concurrency, as a zerorpc user gets it: one C{zerorpc.Client}, whose
channel multiplexer is shared by greenlets; C{--inflight K} runs K
greenlets in a C{gevent.pool.Pool}, each making blocking calls one after
another until N are done, so K requests are in flight. K=1 is one
sequential loop. Each call is timed alone with C{time.perf_counter}; the
client's own timeout (C{--timeout}, 30 s) bounds each; a failed call is
counted and the run goes on; calls not made by C{--deadline} (600 s)
count as errors. C{min(1000, N//10)} untimed calls first.

Prints one JSON line: for echo C{requests, errors, elapsed, rate, p50_us,
p99_us, first_error}; for stream C{chunks, bytes, elapsed, mb_per_s (1e6
bytes/s), ttfb_ms}, after an untimed stream of C{min(1000, C//10)} chunks.
"""

import os
import sys
import time

import gevent
import gevent.pool
import zerorpc
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402


class Peer:
    """
    The zerorpc service: echo and a stream.
    """

    def echo(self, payload):
        """
        @return: C{payload}, unchanged.
        """
        return payload

    @zerorpc.stream
    def stream(self, count, size):
        """
        @return: an iterator of C{count} chunks of C{size} bytes.
        """
        chunk = b"x" * size
        return (chunk for _ in range(count))


def bind(server):
    """
    Bind C{server} to a port on 127.0.0.1 that the kernel picks as it
    binds (ZeroMQ's C{*}): none is picked first and let go, for another
    process to take meanwhile.

    @return: the endpoint, with the port.
    @rtype: L{str}
    """
    server.bind("tcp://127.0.0.1:*")
    # zerorpc has no accessor of its own for the ZeroMQ socket
    return server._events._socket.getsockopt(zmq.LAST_ENDPOINT).decode()


def serve(options):
    """
    Serve until killed; print C{ready ENDPOINT} once bound.
    """
    server = zerorpc.Server(Peer(), pool_size=options.max_workers)
    endpoint = bind(server)
    running = gevent.spawn(server.run)
    gevent.sleep(0)
    print("ready " + endpoint, flush=True)
    running.join()
    return 0


def connect(options):
    """
    @return: a client connected to C{--connect}, with the per-call timeout.
    @rtype: L{zerorpc.Client}
    """
    if not options.connect.startswith("tcp://127.0.0.1:"):
        raise SystemExit("--connect must be tcp://127.0.0.1:PORT, got {!r}"
                         .format(options.connect))
    client = zerorpc.Client(timeout=options.timeout)
    client.connect(options.connect)
    return client


def echoRun(client, payload, requests, inflight, deadline):
    """
    Make C{requests} echo calls, C{inflight} at a time.

    @param deadline: seconds after which no more calls are made.
    @return: the tally and the elapsed seconds.
    """
    tally = peerlib.EchoTally(deadline)
    left = [requests]

    def worker():
        while left[0] > 0:
            if tally.expired(left[0]):
                left[0] = 0
                return
            left[0] -= 1
            started = time.perf_counter()
            try:
                answer = client.echo(payload)
            except Exception as e:
                tally.failed(e)
                continue
            if answer != payload:
                tally.failed(ValueError("echo returned {} bytes, sent {}"
                                        .format(len(answer), len(payload))))
                continue
            tally.ok(time.perf_counter() - started)

    started = time.perf_counter()
    if inflight == 1:
        worker()
    else:
        pool = gevent.pool.Pool(inflight)
        for _ in range(min(inflight, requests)):
            pool.spawn(worker)
        pool.join()
    return tally, time.perf_counter() - started


def streamRun(client, count, size):
    """
    Receive one stream of C{count} chunks of C{size} bytes.

    @return: chunks, bytes, elapsed seconds, seconds to the first chunk.
    """
    chunks = total = 0
    ttfb = None
    started = time.perf_counter()
    for chunk in client.stream(count, size):
        if ttfb is None:
            ttfb = time.perf_counter() - started
        chunks += 1
        total += len(chunk)
    return chunks, total, time.perf_counter() - started, ttfb


def measure(options):
    """
    Warm up, then measure the workload and print its JSON line.
    """
    client = connect(options)
    try:
        if options.workload == "stream":
            streamRun(client, min(1000, options.count // 10) or 1, options.size)
            chunks, total, elapsed, ttfb = streamRun(
                client, options.count, options.size)
            peerlib.emit(peerlib.streamResult(chunks, total, elapsed, ttfb))
            return 0
        payload = b"x" * options.size
        warm = peerlib.warmupCount(options)
        if warm:
            echoRun(client, payload, warm, options.inflight,
                    options.deadline)
        peerlib.announceTimed(options)
        tally, elapsed = echoRun(client, payload, options.requests,
                                 options.inflight, options.deadline)
        peerlib.emit(tally.result(options.requests, elapsed))
        return 0
    finally:
        client.close()


def main(argv=None):
    options = peerlib.parser(
        "zerorpc echo/stream peer", "tcp://127.0.0.1:PORT",
        ["echo", "stream"]).parse_args(argv)
    if options.mode == "server":
        return serve(options)
    return measure(options)


if __name__ == "__main__":
    sys.exit(main())
