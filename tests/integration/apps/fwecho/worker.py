"""
The fwecho app: a worker written with the REAL Cocaine 0.12 Python framework
(C{cocaine} 0.12.14.5 from PyPI, tornado 4), run by that framework's own
interpreter. Nothing of this repository is imported here.

Events:
  - C{echo}: reads request chunks until the request closes and writes each
    back, then closes;
  - C{ping}: answers C{b"pong"};
  - C{boom}: raises, so the framework answers error [42, 100];
  - C{http}: an C{@http} handler answering 200 with an C{X-Framework}
    header and a body naming the method, query and request body.

The slave (C{run}) is a C{/bin/sh} wrapper the tests generate next to a
copy of this file; it execs the framework's python on it with the node's
arguments. C{FWECHO_TIMEOUTS="heartbeat,disown"} (seconds) passes those to
the framework's C{Worker}; without it the framework's defaults (20 s, 5 s)
apply.
"""

import collections
import collections.abc
import os

# Python 3.10 removed the alias the framework (and tornado 4) use.
collections.MutableMapping = collections.abc.MutableMapping

from cocaine.decorators import http  # noqa: E402
from cocaine.exceptions import ChokeEvent  # noqa: E402
from cocaine.worker import Worker  # noqa: E402


# Handlers are plain generator functions: Worker.on wraps each in tornado's
# coroutine itself (a handler already decorated with gen.coroutine would be
# wrapped twice, and the framework would close the response at once).
def echo(request, response):
    while True:
        try:
            chunk = yield request.read()
        except ChokeEvent:
            break
        response.write(chunk)
    response.close()


def ping(request, response):
    response.write(b"pong")
    response.close()


def boom(request, response):
    raise RuntimeError("boom from the real framework")


@http
def hello(request, response):
    req = yield request.read()
    response.write_head(200, [("Content-Type", "text/plain"),
                              ("X-Framework", "cocaine-0.12")])
    response.write("{} {} {}".format(
        req.meta["method"], req.meta["query_string"],
        req.body.decode("utf-8", "replace")))
    response.close()


def main():
    timeouts = os.environ.get("FWECHO_TIMEOUTS")
    if timeouts:
        heartbeat, disown = (float(t) for t in timeouts.split(","))
        worker = Worker(heartbeat_timeout=heartbeat, disown_timeout=disown)
    else:
        worker = Worker()
    worker.run({"echo": echo, "ping": ping, "boom": boom, "http": hello})


if __name__ == "__main__":
    main()
