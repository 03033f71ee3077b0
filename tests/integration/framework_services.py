"""
Drive the cache and elliptics services of a node with the real Cocaine
0.12 Python framework. Run by the framework's own interpreter:

    framework_services.py PORT

The node serves C{cache} (local), C{shared-cache} (on Redis) and
C{elliptics}. Prints one JSON object per line, C{{"step": ..., ...}}; the
test decides what is right. Never imports anything of ours.
"""

import collections
import collections.abc
import sys

# Python 3.10 removed the alias the framework (and tornado 4) use.
collections.MutableMapping = collections.abc.MutableMapping

from tornado import gen  # noqa: E402
from tornado.ioloop import IOLoop  # noqa: E402

from cocaine.exceptions import ServiceError  # noqa: E402
from cocaine.services import Locator, Service  # noqa: E402
from framework_report import report  # noqa: E402

PORT = int(sys.argv[1])
TIMEOUT = 10


@gen.coroutine
def attempt(step, service, method, *args):
    try:
        channel = yield getattr(service, method)(*args)
        value = yield channel.rx.get(timeout=TIMEOUT)
        report(step, value=value)
    except ServiceError as e:
        report(step, error=[e.category, e.code], reason=e.reason)


@gen.coroutine
def main():
    locator = Locator(endpoints=[["127.0.0.1", PORT]])
    for name in ("cache", "shared-cache"):
        channel = yield locator.resolve(name)
        endpoints, version, graph = yield channel.rx.get(timeout=TIMEOUT)
        report(name + " resolve", version=version,
               methods=[graph[i][0] for i in sorted(graph)])
        cache = Service(name, locator=locator)
        yield attempt(name + " get missing", cache, "get", "nope")
        yield attempt(name + " put", cache, "put", "key", b"\xff\x00value")
        yield attempt(name + " get", cache, "get", "key")

    channel = yield locator.resolve("elliptics")
    endpoints, version, graph = yield channel.rx.get(timeout=TIMEOUT)
    report("elliptics resolve", version=version,
           methods=[graph[i][0] for i in sorted(graph)])
    e = Service("elliptics", locator=locator)
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
    IOLoop.current().run_sync(main, timeout=60)
