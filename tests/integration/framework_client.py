"""
Drive a node with the real Cocaine 0.12 Python framework (cocaine
0.12.14.5, msgpack<1.0, tornado 4). Run by the framework's own interpreter:

    framework_client.py PORT

Prints one JSON object per line, C{{"step": ..., ...}}; the test decides
what is right. Never imports anything of ours.
"""

import sys

# first: it makes tornado 4 importable
from framework_calls import (TIMEOUT, attempt, locator, methods, report,
                             resolve, run)
from tornado import gen
from cocaine.services import Service

PORT = int(sys.argv[1])


@gen.coroutine
def call(service, method, *args):
    channel = yield getattr(service, method)(*args)
    value = yield channel.rx.get(timeout=TIMEOUT)
    raise gen.Return(value)


@gen.coroutine
def main():
    node = locator(PORT)
    for name in ("locator", "storage", "logging"):
        endpoints, version, graph = yield resolve(node, name)
        report("resolve " + name, endpoints=endpoints, version=version,
               methods=methods(graph))
    yield attempt("resolve missing", node, "resolve", "missing")

    storage = Service("storage", locator=node)
    blob = bytes(range(256)) * 2048             # 512 KiB, every byte value
    yield attempt("write", storage, "write", "fw", "blob", blob, ["x", "y"])
    yield attempt("write2", storage, "write", "fw", "other", b"2", ["x"])
    value = yield call(storage, "read", "fw", "blob")
    report("read", intact=(value == blob), size=len(value))
    yield attempt("find x", storage, "find", "fw", ["x"])
    yield attempt("find x y", storage, "find", "fw", ["x", "y"])
    yield attempt("remove", storage, "remove", "fw", "blob")
    yield attempt("read removed", storage, "read", "fw", "blob")
    yield attempt("escape", storage, "write", "fw", "../up", b"x")

    # a second Service with its own locator, as scripts usually do it
    other = Service("storage", endpoints=[["127.0.0.1", PORT]])
    yield attempt("own locator read", other, "read", "fw", "other")

    logging = Service("logging", locator=node)
    yield attempt("verbosity", logging, "verbosity")
    yield logging.emit(2, "framework", "hello from the real framework",
                       [["answer", 42]])
    report("emit")
    yield attempt("set_verbosity", logging, "set_verbosity", 0)
    yield attempt("verbosity after", logging, "verbosity")
    yield gen.sleep(0.2)


if __name__ == "__main__":
    run(main)
