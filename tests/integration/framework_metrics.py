"""
Call our node's C{metrics} service with the real Cocaine 0.12 Python
framework (cocaine 0.12.14.5), run by the framework's own interpreter:

    framework_metrics.py PORT

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
def attempt(step, service, *args):
    try:
        channel = yield service.fetch(*args)
        value = yield channel.rx.get(timeout=TIMEOUT)
        report(step, value=value)
    except ServiceError as e:
        report(step, error=[e.category, e.code], reason=e.reason)


@gen.coroutine
def main():
    locator = Locator(endpoints=[["127.0.0.1", PORT]])
    metrics = Service("metrics", locator=locator)
    yield attempt("plain", metrics)
    yield attempt("json", metrics, "json")
    yield attempt("query", metrics, "plain", {
        "contains": [{"name": []}, {"const": ["requests"]}]})
    yield attempt("bad type", metrics, "xml")


if __name__ == "__main__":
    IOLoop.current().run_sync(main, timeout=60)
