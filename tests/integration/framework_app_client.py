"""
Call an app through a node with the real Cocaine 0.12 Python framework's
client (cocaine 0.12.14.5, msgpack<1.0, tornado 4). Run by the framework's
own interpreter:

    framework_app_client.py PORT APP

Resolves APP through the node's locator on 127.0.0.1:PORT, then calls its
C{ping}, C{echo} (three chunks) and C{boom} events the way framework users
do (C{Service(app).enqueue(event)}, C{channel.tx.write/close},
C{channel.rx.get}). Prints one JSON object per line, C{{"step": ..., ...}};
the test decides what is right. Never imports anything of ours.
"""

import sys

# first: it makes tornado 4 importable
from framework_calls import TIMEOUT, report, run
from framework_report import readAll
from tornado import gen
from cocaine.exceptions import ServiceError
from cocaine.services import Service

PORT = int(sys.argv[1])
APP = sys.argv[2]


@gen.coroutine
def attempt(step, app, event, chunks):
    try:
        channel = yield app.enqueue(event)
        for chunk in chunks:
            yield channel.tx.write(chunk)
        yield channel.tx.close()
        report(step, chunks=(yield readAll(channel, TIMEOUT)))
    except ServiceError as e:
        report(step, error=[e.category, e.code], reason=e.reason)


@gen.coroutine
def main():
    app = Service(APP, endpoints=[["127.0.0.1", PORT]])
    yield attempt("ping", app, "ping", [])
    yield attempt("echo", app, "echo", [b"one", b"two", b"three"])
    yield attempt("boom", app, "boom", [])
    yield attempt("ping again", app, "ping", [])


if __name__ == "__main__":
    run(main)
