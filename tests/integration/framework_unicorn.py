"""
Call our node's C{unicorn} service with the real Cocaine 0.12 Python
framework (cocaine 0.12.14.5), run by the framework's own interpreter:

    framework_unicorn.py PORT

Prints one JSON object per line, C{{"step": ..., ...}}. Never imports
anything of ours.
"""

import sys

# first: it makes tornado 4 importable
from framework_calls import (TIMEOUT, attempt as call, locator, report,
                             resolve, run)
from tornado import gen
from cocaine.services import Service

PORT = int(sys.argv[1])


def attempt(step, service, method, *args):
    return call(step, service, method, *args, close=True)


@gen.coroutine
def main():
    node = locator(PORT)
    endpoints, version, graph = yield resolve(node, "unicorn")
    report("resolve", version=version, graph=graph)

    unicorn = Service("unicorn", locator=node)
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
    run(main, timeout=90)
