"""
Call our node's C{unicorn} service with the real Cocaine 0.12 Python
framework (cocaine 0.12.14.5), run by the framework's own interpreter:

    framework_unicorn.py PORT

Prints one JSON object per line, C{{"step": ..., ...}}. Never imports
anything of ours.
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
        yield channel.tx.close()
        report(step, value=value)
    except ServiceError as e:
        report(step, error=[e.category, e.code], reason=e.reason)


@gen.coroutine
def main():
    locator = Locator(endpoints=[["127.0.0.1", PORT]])
    channel = yield locator.resolve("unicorn")
    endpoints, version, graph = yield channel.rx.get(timeout=TIMEOUT)
    report("resolve", version=version, graph=graph)

    unicorn = Service("unicorn", locator=locator)
    yield attempt("get missing", unicorn, "get", "/fw/a")
    yield attempt("create", unicorn, "create", "/fw/a", {"k": "v"})
    yield attempt("create again", unicorn, "create", "/fw/a", 1)
    yield attempt("get", unicorn, "get", "/fw/a")
    yield attempt("put", unicorn, "put", "/fw/a", "w", 0)
    yield attempt("put stale", unicorn, "put", "/fw/a", "x", 0)
    yield attempt("increment", unicorn, "increment", "/fw/n", 2)
    yield attempt("increment float", unicorn, "increment", "/fw/n", 0.5)
    yield attempt("root", unicorn, "get", "/")

    watch = yield unicorn.subscribe("/fw/a")
    first = yield watch.rx.get(timeout=TIMEOUT)
    yield attempt("put watched", unicorn, "put", "/fw/a", "y", 1)
    second = yield watch.rx.get(timeout=TIMEOUT)
    yield watch.tx.close()
    report("subscribe", chunks=[first, second])

    children = yield unicorn.children_subscribe("/fw")
    listed = yield children.rx.get(timeout=TIMEOUT)
    yield children.tx.close()
    report("children", value=listed)

    holder = yield unicorn.lock("/fw/lock")
    held = yield holder.rx.get(timeout=TIMEOUT)
    waiter = yield unicorn.lock("/fw/lock")
    try:
        early = yield waiter.rx.get(timeout=1)
    except Exception as e:
        early = type(e).__name__
    yield holder.tx.close()
    passed = yield waiter.rx.get(timeout=TIMEOUT)
    yield waiter.tx.close()
    report("lock", held=held, early=early, passed=passed)

    yield attempt("del", unicorn, "del", "/fw/n", 1)
    yield attempt("del stale", unicorn, "del", "/fw/a", 0)
    yield attempt("remove", unicorn, "remove", "/fw/a", 2)
    yield attempt("get removed", unicorn, "get", "/fw/a")


if __name__ == "__main__":
    IOLoop.current().run_sync(main, timeout=90)
