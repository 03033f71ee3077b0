"""
Send a Jabber message from one account and receive it on another, through
a node's two C{jabber} services.

    python examples/jabber_client.py [--port 10053] [--to bob@localhost]

The node's config has one service per account, e.g.:

    "services": {
      "alice": {"type": "jabber", "args": {
          "jid": "alice@localhost", "password": "...",
          "host": "127.0.0.1", "ca": "/path/to/ca.pem"}},
      "bob": {"type": "jabber", "args": {
          "jid": "bob@localhost", "password": "...",
          "host": "127.0.0.1", "ca": "/path/to/ca.pem"}}}

Bob's service subscribes, Alice's sends, Bob's subscriber prints what
arrived; then Alice sets a presence status.
"""

import argparse
import time

from cocaine.client.blocking import connect
from cocaine.errors import BackendUnavailable


def whenOnline(service, timeout=30):
    """
    Wait until the service's account is logged in (C{presence} works).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            service.presence("")
            return
        except BackendUnavailable as e:
            if time.monotonic() > deadline:
                raise
            print("waiting:", e)
            time.sleep(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10053)
    parser.add_argument("--sender", default="alice",
                        help="the sending service's name")
    parser.add_argument("--receiver", default="bob",
                        help="the receiving service's name")
    parser.add_argument("--to", default="bob@localhost",
                        help="the receiving service's JID")
    args = parser.parse_args()

    alice = connect(args.sender, args.host, args.port)
    bob = connect(args.receiver, args.host, args.port)
    whenOnline(alice)
    whenOnline(bob)

    inbox = bob.subscribe()
    print("sent, stanza id", alice.send(args.to, "hello from cocaine"))
    sender, body, kind = inbox.read(timeout=10)
    print("{} received from {} ({}): {}".format(args.to, sender, kind, body))
    inbox.close()

    alice.presence("running the example")
    print("presence set")


if __name__ == "__main__":
    main()
