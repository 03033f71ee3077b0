"""
Drive the cache and elliptics services of a node with the real Cocaine
0.12 Python framework. Run by the framework's own interpreter:

    framework_services.py PORT

The node serves C{cache} (local), C{shared-cache} (on Redis) and
C{elliptics}. Prints one JSON object per line, C{{"step": ..., ...}}; the
test decides what is right. Never imports anything of ours.
"""

import sys

# first: it makes tornado 4 importable
from framework_calls import (attempt, locator, methods, report, resolve,
                             run)
from tornado import gen
from cocaine.services import Service

PORT = int(sys.argv[1])


@gen.coroutine
def main():
    node = locator(PORT)
    for name in ("cache", "shared-cache"):
        endpoints, version, graph = yield resolve(node, name)
        report(name + " resolve", version=version, methods=methods(graph))
        cache = Service(name, locator=node)
        yield attempt(name + " get missing", cache, "get", "nope")
        yield attempt(name + " put", cache, "put", "key", b"\xff\x00value")
        yield attempt(name + " get", cache, "get", "key")

    endpoints, version, graph = yield resolve(node, "elliptics")
    report("elliptics resolve", version=version, methods=methods(graph))
    e = Service("elliptics", locator=node)
    yield attempt("write", e, "write", "ns", "a", b"A\x00", ["t"])
    yield attempt("read", e, "read", "ns", "a")
    yield attempt("read missing", e, "read", "ns", "missing")
    yield attempt("cache_write", e, "cache_write", "ns", "b", b"B")
    yield attempt("cache_write ttl", e, "cache_write", "ns", "c", b"C", 60)
    yield attempt("cache_read", e, "cache_read", "ns", "b")
    yield attempt("read_latest", e, "read_latest", "ns", "c")
    yield attempt("bulk_read", e, "bulk_read", "ns", ["a", "b", "zz"])
    yield attempt("find", e, "find", "ns", ["t"])
    yield attempt("remove", e, "remove", "ns", "a")
    yield attempt("read removed", e, "read", "ns", "a")


if __name__ == "__main__":
    run(main)
