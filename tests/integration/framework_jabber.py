"""
Use our node's C{jabber} services with the real Cocaine 0.12 Python
framework (cocaine 0.12.14.5), run by the framework's own interpreter, as
a 0.12 app would:

    framework_jabber.py PORT SENDER RECEIVER RECEIVER_JID

Subscribes on RECEIVER, sends from SENDER, reads the chunk, sets a
presence, and sends with a bad type. Prints one JSON object per line,
C{{"step": ..., ...}}. Never imports anything of ours.
"""

import sys

# first: it makes tornado 4 importable
from framework_calls import TIMEOUT, attempt, locator, report, run
from tornado import gen
from cocaine.services import Service

PORT = int(sys.argv[1])
SENDER, RECEIVER, RECEIVER_JID = sys.argv[2:5]


@gen.coroutine
def main():
    node = locator(PORT)
    sender = Service(SENDER, locator=node)
    receiver = Service(RECEIVER, locator=node)
    inbox = yield receiver.subscribe()
    yield attempt("send", sender, "send", RECEIVER_JID, "from 0.12")
    chunk = yield inbox.rx.get(timeout=TIMEOUT)
    report("received", chunk=chunk)
    yield inbox.tx.close()
    yield attempt("presence", sender, "presence", "0.12 here")
    yield attempt("bad type", sender, "send", RECEIVER_JID, "x", "shout")


if __name__ == "__main__":
    run(main)
