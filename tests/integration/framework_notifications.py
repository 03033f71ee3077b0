"""
Call our node's C{notifications} service (ours; 0.12 had none) with the
real Cocaine 0.12 Python framework (cocaine 0.12.14.5), run by the
framework's own interpreter: it builds the methods, streaming
C{subscribe} included, from the graph C{resolve} returns.

    framework_notifications.py PORT

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
def publish(step, service, *args):
    try:
        channel = yield service.publish(*args)
        value = yield channel.rx.get(timeout=TIMEOUT)
        report(step, value=value)
    except ServiceError as e:
        report(step, error=[e.category, e.code], reason=e.reason)


@gen.coroutine
def main():
    locator = Locator(endpoints=[["127.0.0.1", PORT]])
    notifications = Service("notifications", locator=locator)
    subscription = yield notifications.subscribe(["news", "sport"])
    yield publish("publish news", notifications, "news",
                  {"title": "hello", "n": [1, 2]})
    yield publish("publish other", notifications, "weather", 1)
    yield publish("publish sport", notifications, "sport", "goal")
    first = yield subscription.rx.get(timeout=TIMEOUT)
    second = yield subscription.rx.get(timeout=TIMEOUT)
    report("received", messages=[first, second])
    yield subscription.tx.close()
    try:
        end = yield subscription.rx.get(timeout=TIMEOUT)
        report("closed", end=type(end).__name__)
    except Exception as e:
        report("closed", end=type(e).__name__)
    yield publish("publish after close", notifications, "news", 1)
    yield publish("publish bad", notifications, "", 1)
    try:
        bad = yield notifications.subscribe([])
        yield bad.rx.get(timeout=TIMEOUT)
        report("subscribe bad", error=None)
    except ServiceError as e:
        report("subscribe bad", error=[e.category, e.code], reason=e.reason)


if __name__ == "__main__":
    IOLoop.current().run_sync(main, timeout=60)
