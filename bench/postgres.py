# -*- test-case-name: tests.integration.test_postgres_storage -*-
"""
The C{postgres} storage backend: which way to run psycopg 3 under the
node's reactor, measured through the backend, beside direct queries.

    python -m bench.postgres [--quick] [--calls N] [--runs R] [--size S]

A throwaway PostgreSQL 15 (L{tests.integration.postgres}: loopback, its
own cluster, fsync off) serves one table; L{PostgresStorage} runs the same
statements through each runner:

  - pipeline: L{cocaine.storage.pgpipeline.PipelinedRunner} (what the
    backend uses): libpq's non-blocking connections in pipeline mode,
    read and written by the reactor, up to S connections;
  - threads: L{cocaine.storage.pgthreads.ThreadedRunner} (what the
    backend used before): psycopg's blocking API, S connections, S
    threads of a Twisted thread pool of its own;
  - adbapi: C{twisted.enterprise.adbapi.ConnectionPool("psycopg")}, S
    connections, one per thread of its pool;
  - asyncio: psycopg's C{AsyncConnection}, S connections on an asyncio
    loop in a thread of its own (the node runs the epoll reactor, so
    asyncio cannot share its thread), results handed back with
    C{callFromThread};

and, as the floor (what C{pgbench} would do with these statements):

  - direct: the same statements on one blocking connection in a plain
    loop, no Twisted, no backend (sequential only).

Workloads: C{write} (an upsert of a 64-byte value with one tag) and
C{read} of those keys, each one call at a time (seq), 16 calls in flight
(x16) and 64 (x64). Calls/s, median of the runs, then this process's CPU
a call (user and system, microseconds: what the node would spend).
PostgreSQL is pinned to CPU 0 and this process to CPU 1 when the machine
has two CPUs.
"""

import argparse
import asyncio
import statistics
import sys
import threading
import time

import psycopg
from twisted.internet import defer, task
from twisted.trial.unittest import SkipTest

from bench.rpc import pin
from cocaine.storage.pgpipeline import PipelinedRunner
from cocaine.storage.pgthreads import ThreadedRunner, describe, translate
from cocaine.storage.postgres import PostgresStorage, schema
from tests.integration.postgres import PostgresServer

VALUE = bytes(range(64))
INFLIGHT = (16, 64)
WORKLOADS = ["write seq", "read seq", "write x16", "read x16", "write x64",
             "read x64"]


class AdbapiRunner:
    """
    Statements through C{twisted.enterprise.adbapi}.
    """

    def __init__(self, reactor, dsn, size):
        from twisted.enterprise import adbapi
        self.server = describe(dsn)
        self.pool = adbapi.ConnectionPool(
            "psycopg", dsn, autocommit=True, cp_min=size, cp_max=size,
            cp_reconnect=True, cp_noisy=False, cp_reactor=reactor)

    def start(self):
        self.pool.start()

    def stop(self):
        self.pool.close()

    def execute(self, statement, params=()):
        def interaction(cursor):
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []
        d = self.pool.runInteraction(interaction)
        d.addErrback(lambda f: _raise(translate(f.value, self.server, 0)))
        return d


class AsyncioRunner:
    """
    Statements through psycopg's asyncio API, on a loop in a thread.
    """

    def __init__(self, reactor, dsn, size):
        self.reactor = reactor
        self.dsn = dsn
        self.server = describe(dsn)
        self.size = size

    def start(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever,
                                       name="asyncio", daemon=True)
        self.thread.start()
        self.idle = None
        asyncio.run_coroutine_threadsafe(self._open(), self.loop).result()

    async def _open(self):
        self.idle = asyncio.Queue()
        for _ in range(self.size):
            connection = await psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True)
            self.idle.put_nowait(connection)

    async def _execute(self, statement, params):
        connection = await self.idle.get()
        try:
            cursor = await connection.execute(statement, params)
            return await cursor.fetchall() if cursor.description else []
        finally:
            self.idle.put_nowait(connection)

    def execute(self, statement, params=()):
        d = defer.Deferred()
        future = asyncio.run_coroutine_threadsafe(
            self._execute(statement, params), self.loop)

        def done(future):
            error = future.exception()
            if error is None:
                self.reactor.callFromThread(d.callback, future.result())
            else:
                self.reactor.callFromThread(
                    d.errback, translate(error, self.server, 0))
        future.add_done_callback(done)
        return d

    def stop(self):
        async def close():
            while not self.idle.empty():
                await (self.idle.get_nowait()).close()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


def _raise(error):
    raise error


def runners(reactor, dsn, size):
    return {
        "pipeline": lambda: PipelinedRunner(reactor, dsn, size=size,
                                            timeout=30),
        "threads": lambda: ThreadedRunner(reactor, dsn, size=size,
                                          timeout=30),
        "adbapi": lambda: AdbapiRunner(reactor, dsn, size),
        "asyncio": lambda: AsyncioRunner(reactor, dsn, size),
    }


async def measure(call, count, inflight):
    """
    @return: calls/s of C{count} calls of C{call(i)}, C{inflight} at once,
        and this process's CPU a call (microseconds).
    """
    began = time.perf_counter()
    cpu = time.process_time()
    if inflight == 1:
        for i in range(count):
            await call(i)
    else:
        nextIndex = iter(range(count))

        async def lane():
            for i in nextIndex:
                await call(i)
        await defer.gatherResults([defer.Deferred.fromCoroutine(lane())
                                   for _ in range(inflight)])
    return (count / (time.perf_counter() - began),
            (time.process_time() - cpu) / count * 1e6)


async def throughBackend(reactor, makeRunner, count):
    runner = makeRunner()
    storage = PostgresStorage(reactor, runner=runner, table="bench")
    await storage.startService()
    keys = ["key-%d" % i for i in range(count)]
    try:
        results = {}
        for inflight in (1,) + INFLIGHT:
            name = "seq" if inflight == 1 else "x%d" % inflight
            results["write " + name] = await measure(
                lambda i: storage.write("c", keys[i], VALUE, ["t"]), count,
                inflight)
            results["read " + name] = await measure(
                lambda i: storage.read("c", keys[i]), count, inflight)
        return results
    finally:
        stopped = storage.stopService()
        if stopped is not None:
            await stopped


def direct(dsn, count):
    """
    The floor: the backend's statements on one blocking connection.
    """
    storage = PostgresStorage(None, runner=object(), table="bench")
    keys = ["key-%d" % i for i in range(count)]
    with psycopg.connect(dsn, autocommit=True) as connection:
        for statement in schema("bench"):
            connection.execute(statement)
        began = time.perf_counter()
        cpu = time.process_time()
        for key in keys:
            connection.execute(storage._write, ("c", key, VALUE, ["t"]))
        writes = (count / (time.perf_counter() - began),
                  (time.process_time() - cpu) / count * 1e6)
        began = time.perf_counter()
        cpu = time.process_time()
        for key in keys:
            connection.execute(storage._read, ("c", key)).fetchall()
        reads = (count / (time.perf_counter() - began),
                 (time.process_time() - cpu) / count * 1e6)
    return {"write seq": writes, "read seq": reads}


async def run(reactor, options):
    try:
        server = PostgresServer().start()
    except SkipTest as e:
        print("bench.postgres skipped: {}".format(e))
        return
    try:
        pin(server.process.pid, 0)
        pin(0, 1)
        dsn = server.dsn()
        print("PostgreSQL {} on 127.0.0.1:{} (fsync off), {} connections, "
              "{} calls per figure, median of {} runs".format(
                  server.sql("SHOW server_version")[0][0], server.port,
                  options.size, options.calls, options.runs), flush=True)
        figures = {}
        makers = runners(reactor, dsn, options.size)
        for _ in range(options.runs):
            for name, make in makers.items():
                server.sql("DROP TABLE IF EXISTS bench")
                result = await throughBackend(reactor, make, options.calls)
                for workload, value in result.items():
                    figures.setdefault((name, workload), []).append(value)
            server.sql("DROP TABLE IF EXISTS bench")
            for workload, value in direct(dsn, options.calls).items():
                figures.setdefault(("direct", workload), []).append(value)
        names = list(makers) + ["direct"]
        for title, index, form in (("calls/s", 0, "{:>12.0f}"),
                                   ("us/call", 1, "{:>12.1f}")):
            print("{:<8}".format(title) + "".join(
                "{:>12}".format(w) for w in WORKLOADS))
            for name in names:
                cells = []
                for workload in WORKLOADS:
                    values = figures.get((name, workload))
                    cells.append(
                        form.format(statistics.median(v[index]
                                                      for v in values))
                        if values else "{:>12}".format("-"))
                print("{:<8}".format(name) + "".join(cells))
        for name in ("pipeline", "threads"):
            for workload in ("write seq", "read seq"):
                ours = statistics.median(
                    v[0] for v in figures[(name, workload)])
                floor = statistics.median(
                    v[0] for v in figures[("direct", workload)])
                print("{} / direct, {}: {:.2f}".format(name, workload,
                                                       ours / floor))
    finally:
        server.remove()


def main(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.postgres")
    parser.add_argument("--quick", action="store_true",
                        help="500 calls, one run")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=4,
                        help="connections per runner")
    options = parser.parse_args(argv)
    if options.quick:
        options.calls, options.runs = 500, 1
    task.react(lambda reactor: defer.Deferred.fromCoroutine(
        run(reactor, options)))


if __name__ == "__main__":
    main(sys.argv[1:])
