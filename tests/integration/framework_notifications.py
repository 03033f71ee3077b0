"""
Call our node's C{notifications} service (ours; 0.12 had none) with the
real Cocaine 0.12 Python framework (cocaine 0.12.14.5), run by the
framework's own interpreter: it builds the methods, streaming
C{subscribe} included, from the graph C{resolve} returns.

    framework_notifications.py PORT

Prints one JSON object per line, C{{"step": ..., ...}}. Never imports
anything of ours.
"""

import sys

# first: it makes tornado 4 importable
from framework_calls import TIMEOUT, attempt, locator, report, run
from tornado import gen
from cocaine.exceptions import ServiceError
from cocaine.services import Service

PORT = int(sys.argv[1])


def publish(step, service, *args):
    return attempt(step, service, "publish", *args)


@gen.coroutine
def main():
    notifications = Service("notifications", locator=locator(PORT))
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
    run(main)
