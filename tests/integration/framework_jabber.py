"""
Use our node's C{jabber} services with the real Cocaine 0.12 Python
framework (cocaine 0.12.14.5), run by the framework's own interpreter, as
a 0.12 app would:

    framework_jabber.py PORT SENDER RECEIVER RECEIVER_JID

Subscribes on RECEIVER, sends from SENDER, reads the chunk, sets a
presence, and sends with a bad type. Prints one JSON object per line,
C{{"step": ..., ...}}. Never imports anything of ours.
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
SENDER, RECEIVER, RECEIVER_JID = sys.argv[2:5]
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
    sender = Service(SENDER, locator=locator)
    receiver = Service(RECEIVER, locator=locator)
    inbox = yield receiver.subscribe()
    yield attempt("send", sender, "send", RECEIVER_JID, "from 0.12")
    chunk = yield inbox.rx.get(timeout=TIMEOUT)
    report("received", chunk=chunk)
    yield inbox.tx.close()
    yield attempt("presence", sender, "presence", "0.12 here")
    yield attempt("bad type", sender, "send", RECEIVER_JID, "x", "shout")


if __name__ == "__main__":
    IOLoop.current().run_sync(main, timeout=60)
