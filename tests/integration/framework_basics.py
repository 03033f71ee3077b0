"""
Call our node's C{echo}, C{uniresis}, C{urlfetch} and C{chrono} services
with the real Cocaine 0.12 Python framework (cocaine 0.12.14.5), run by
the framework's own interpreter:

    framework_basics.py PORT WHICH [PAGE_URL REFUSED_URL]

C{WHICH} is C{health}, C{urlfetch} or C{chrono}. Prints one JSON object
per line, C{{"step": ..., ...}}; the test decides what is right. Never
imports anything of ours.
"""

import sys

# first: it makes tornado 4 importable
from framework_calls import (TIMEOUT, attempt, locator, report, resolve,
                             run)
from tornado import gen
from cocaine.exceptions import ChokeEvent
from cocaine.services import Service

PORT = int(sys.argv[1])
WHICH = sys.argv[2]


@gen.coroutine
def stream(channel, count=None):
    """
    The chunks of a stream until its close (or C{count} of them).
    """
    chunks = []
    closed = False
    while count is None or len(chunks) < count:
        try:
            chunk = yield channel.rx.get(timeout=TIMEOUT)
        except ChokeEvent:
            closed = True
            break
        if type(chunk).__name__ == "EmptyResponse":
            closed = True
            break
        chunks.append(chunk)
    raise gen.Return((chunks, closed))


@gen.coroutine
def resolved(node, name):
    endpoints, version, graph = yield resolve(node, name)
    report("resolve " + name, version=version, graph=graph)


@gen.coroutine
def health(node):
    yield resolved(node, "echo")
    yield resolved(node, "uniresis")
    echo = Service("echo", locator=node)
    yield attempt("ping", echo, "ping", "hello")
    uniresis = Service("uniresis", locator=node)
    for method in ("cpu_count", "memory_count", "uuid"):
        yield attempt(method, uniresis, method)


@gen.coroutine
def urlfetch(node):
    page, refused = sys.argv[3], sys.argv[4]
    yield resolved(node, "urlfetch")
    fetcher = Service("urlfetch", locator=node)
    yield attempt("get", fetcher, "get", page)
    yield attempt("get all args", fetcher, "get", page, 3000,
                  {"session": "s1"}, {"X-Test": "yes"}, False)
    yield attempt("post", fetcher, "post", page, "a body", 3000)
    yield attempt("missing", fetcher, "get", page + "-missing")
    yield attempt("refused", fetcher, "get", refused, 3000)
    yield attempt("bad scheme", fetcher, "get", "ftp://127.0.0.1/")


@gen.coroutine
def chrono(node):
    yield resolved(node, "chrono")
    timers = Service("chrono", locator=node)
    channel = yield timers.notify_after(0.05, True)
    chunks, closed = yield stream(channel)
    report("notify_after", chunks=chunks, closed=closed)

    channel = yield timers.notify_every(0.05, True)
    chunks, closed = yield stream(channel, 3)
    cancel = yield timers.cancel(chunks[0])
    answer = yield cancel.rx.get(timeout=TIMEOUT)
    rest, closed = yield stream(channel)
    report("notify_every", chunks=chunks, cancelled=answer,
           closed=closed)

    channel = yield timers.notify_after(30, True)
    chunks, _ = yield stream(channel, 1)
    yield attempt("restart", timers, "restart", chunks[0])
    yield attempt("cancel", timers, "cancel", chunks[0])
    yield attempt("restart unknown", timers, "restart", 7)


@gen.coroutine
def main():
    yield {"health": health, "urlfetch": urlfetch,
           "chrono": chrono}[WHICH](locator(PORT))


if __name__ == "__main__":
    run(main)
