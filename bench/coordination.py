# -*- test-case-name: tests.integration.test_bench -*-
"""
The coordination figures of C{bench.cluster} (issue 16): joining through
unicorn on a real etcd, and the C{unicorn} and C{postgres} storage calls
through a node against the same calls made straight to etcd's JSON
gateway and to PostgreSQL.

  - join: node A (C{"discovery": "unicorn"}, lease 3 s: kept alive every
    second) runs; node B is started, and A's locator is asked for
    C{cluster()} every 10 ms until it lists B. From B's process spawned
    (Python and twistd starting included) and from B's locator
    listening; median of N joins. B is stopped between joins (its lease
    revoked, A drops it).
  - unicorn: C{get} and C{put} (compare-and-swap on the version) of one
    node holding a 64-character string, one call at a time, through the
    node's C{unicorn} service with our client, against one persistent
    HTTP connection to etcd's gateway doing what C{etcdctl get}/C{put}
    does (C{/v3/kv/range}, C{/v3/kv/put} with the same msgpack bytes).
  - postgres: C{write} (an upsert of a 64-byte value with one tag) and
    C{read} of N keys, one call at a time, through the node's C{storage}
    service on the C{postgres} backend, against the backend's own
    statements on one psycopg connection (what C{pgbench} with these
    statements would do), on rows of the same shape.
"""

import base64
import http.client
import json
import os
import statistics
import time
from urllib.parse import urlsplit

import msgpack

from bench import joins as joins_
from tests.integration.node import Node

#: The lease of the join figure: kept alive every second.
JOIN_LEASE = 3

#: What C{get}/C{put} carry and what the storage rows hold.
TEXT = "x" * 64
VALUE = bytes(range(64))

#: The target of the join through unicorn (issue 16), seconds.
JOIN_TARGET = 1.0


def unicornNode(directory, etcdUrl, extra=None):
    """
    A node with unicorn discovery on C{etcdUrl}.
    """
    config = {
        "network": {"locator": 0},
        "unicorns": {"core": {"type": "etcd", "args": {
            "endpoints": [etcdUrl], "timeout": 5}}},
        "cluster": {"discovery": "unicorn", "backend": "core",
                    "lease": JOIN_LEASE, "interval": 1.0},
        "services": {"logging": {"type": "logging"},
                     "storage": {"type": "storage"}}}
    config.update(extra or {})
    return Node(directory, config)


async def measureJoins(reactor, directory, etcdUrl, joins):
    """
    Node B joining node A, both with unicorn discovery on C{etcdUrl}: A's
    C{cluster()} lists B.

    @return: C{{"spawn": [seconds...], "listening": [seconds...]}}.
    """
    async def listed(locator):
        return bool(await locator.cluster())

    async def dropped(locator):
        return not await locator.cluster()
    return await joins_.measureJoins(
        reactor, unicornNode(os.path.join(directory, "a"), etcdUrl),
        unicornNode(os.path.join(directory, "b"), etcdUrl), joins, listed,
        dropped)


class EtcdDirect:
    """
    What C{etcdctl get}/C{put} send, on one persistent HTTP connection.
    """

    def __init__(self, url):
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(
            parts.hostname, parts.port, timeout=10)

    def call(self, path, body):
        self.connection.request("POST", path, json.dumps(body),
                                {"Content-Type": "application/json"})
        answer = self.connection.getresponse()
        data = json.loads(answer.read())
        if answer.status != 200:
            raise RuntimeError("etcd answered {}: {}".format(answer.status,
                                                             data))
        return data

    def get(self, key):
        kvs = self.call("/v3/kv/range", {"key": _b64(key)}).get("kvs", [])
        return msgpack.unpackb(base64.b64decode(kvs[0]["value"]))

    def put(self, key, value):
        self.call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})

    def close(self):
        self.connection.close()


def _b64(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def _rate(count, began):
    return count / (time.perf_counter() - began)


async def measureUnicorn(reactor, port, etcdUrl, count):
    """
    @return: C{{"get": (node, direct), "put": (node, direct)}} calls/s.
    """
    from cocaine.client import Locator, Service
    locator = Locator(reactor, [("127.0.0.1", port)], timeout=10)
    unicorn = Service("unicorn", locator, timeout=10)

    async def call(method, *args):
        channel = await unicorn.invoke(method, args)
        try:
            return await channel.read()
        finally:
            channel.close()
    path = "/bench/node"
    results = {}
    try:
        await call("create", path, TEXT)
        version = 0
        began = time.perf_counter()
        for _ in range(count):
            applied, (value, version) = _putResult(
                await call("put", path, TEXT, version))
            if not applied:
                raise RuntimeError("put lost its compare-and-swap")
        results["put"] = [_rate(count, began)]
        began = time.perf_counter()
        for _ in range(count):
            await call("get", path)
        results["get"] = [_rate(count, began)]
    finally:
        await unicorn.disconnect()
        await locator.disconnect()
    direct = EtcdDirect(etcdUrl)
    data = msgpack.packb(TEXT, use_bin_type=True)
    try:
        began = time.perf_counter()
        for _ in range(count):
            direct.put("/direct/node", data)
        results["put"].append(_rate(count, began))
        began = time.perf_counter()
        for _ in range(count):
            direct.get("/direct/node")
        results["get"].append(_rate(count, began))
    finally:
        direct.close()
    return {name: tuple(pair) for name, pair in results.items()}


def _putResult(answer):
    """
    C{put}'s C{[applied, [value, version]]} (the stream's one chunk).
    """
    applied, pair = answer[0], answer[1]
    return applied, (pair[0], pair[1])


async def measureStorage(reactor, port, dsn, table, count):
    """
    @return: C{{"write": (node, direct), "read": (node, direct)}} calls/s.
    """
    import psycopg
    from cocaine.client import Locator, Service
    from cocaine.storage.postgres import PostgresStorage, schema
    keys = ["key-%d" % i for i in range(count)]
    locator = Locator(reactor, [("127.0.0.1", port)], timeout=10)
    storage = Service("storage", locator, timeout=10)
    results = {}
    try:
        began = time.perf_counter()
        for key in keys:
            await storage.write("node", key, VALUE, ["t"])
        results["write"] = [_rate(count, began)]
        began = time.perf_counter()
        for key in keys:
            await storage.read("node", key)
        results["read"] = [_rate(count, began)]
    finally:
        await storage.disconnect()
        await locator.disconnect()
    statements = PostgresStorage(None, runner=object(), table=table)
    with psycopg.connect(dsn, autocommit=True) as connection:
        for statement in schema(table):
            connection.execute(statement)
        began = time.perf_counter()
        for key in keys:
            connection.execute(statements._write,
                               ("direct", key, VALUE, ["t"]))
        results["write"].append(_rate(count, began))
        began = time.perf_counter()
        for key in keys:
            connection.execute(statements._read,
                               ("direct", key)).fetchall()
        results["read"].append(_rate(count, began))
    return {name: tuple(pair) for name, pair in results.items()}


async def measure(reactor, directory, joins, calls):
    """
    Start etcd and PostgreSQL (throwaway, loopback), run the three
    figures, stop them.

    @return: C{{"joins": ..., "unicorn": ..., "storage": ...}}; a figure
        that could not run is a string saying why.
    """
    from twisted.trial.unittest import SkipTest
    from tests.integration.etcd import Etcd
    results = {}
    try:
        etcd = Etcd(os.path.join(directory, "etcd")).start()
    except (SkipTest, RuntimeError) as e:
        why = "no etcd: {}".format(e)
        return {"joins": why, "unicorn": why, "storage": why}
    postgres = None
    try:
        results["joins"] = await measureJoins(
            reactor, os.path.join(directory, "joins"), etcd.url, joins)
        try:
            from tests.integration.postgres import PostgresServer
            postgres = PostgresServer().start()
        except (SkipTest, RuntimeError, ImportError) as e:
            postgres = None
            results["storage"] = "no PostgreSQL: {}".format(e)
        table = "bench_cluster"
        extra = {"services": {
            "logging": {"type": "logging"},
            "storage": {"type": "storage"},
            "unicorn": {"type": "unicorn", "args": {"backend": "core"}}},
            "cluster": {}}
        if postgres is not None:
            extra["storages"] = {"core": {"type": "postgres", "args": {
                "dsn": postgres.dsn(), "table": table}}}
        node = unicornNode(os.path.join(directory, "calls"), etcd.url,
                           extra).start()
        try:
            results["unicorn"] = await measureUnicorn(
                reactor, node.port, etcd.url, calls)
            if postgres is not None:
                results["storage"] = await measureStorage(
                    reactor, node.port, postgres.dsn(), table, calls)
        finally:
            node.stop()
    finally:
        if postgres is not None:
            postgres.remove()
        etcd.stop()
    return results


def rows(results, calls):
    """
    The table rows and the ratio lines of L{measure}'s results.
    """
    out, ratios = [], []
    joins = results["joins"]
    if isinstance(joins, str):
        out.append("| join through unicorn | not run: {} | <= {:.0f} |"
                   .format(joins, JOIN_TARGET * 1e3))
    else:
        for key, what, target in (
                ("spawn", "B's process spawned", "<= {:.0f}".format(
                    JOIN_TARGET * 1e3)),
                ("listening", "B's locator listening", "-")):
            values = joins[key]
            out.append("| join through unicorn, lease {} s (kept alive "
                       "every 1 s): {} -> listed by A (ms) | {:.0f} "
                       "({:.0f}-{:.0f}) | {} |".format(
                           JOIN_LEASE, what, statistics.median(values) * 1e3,
                           min(values) * 1e3, max(values) * 1e3, target))
    for figure, label, direct in (
            ("unicorn", "unicorn.{} through the node", "etcd gateway"),
            ("storage", "postgres storage {} through the node",
             "psycopg")):
        found = results.get(figure)
        if isinstance(found, str) or found is None:
            out.append("| {} | not run: {} | - |".format(
                label.format("calls"), found))
            continue
        for call, (node, floor) in sorted(found.items()):
            out.append("| {} (calls/s, sequential; direct {}) | {:,.0f} "
                       "(direct {:,.0f}) | - |".format(
                           label.format(call), direct, node, floor))
            ratios.append("{} / direct {}: {:.2f}".format(
                label.format(call), direct, node / floor if floor else 0))
    return out, ratios
