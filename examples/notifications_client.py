"""
Publish and subscribe with a node's notifications service.

    python examples/notifications_client.py [--port 10053] [words...]

The node needs the service in its config (node-local delivery):

    "services": {..., "notifications": {"type": "notifications"}}

or, to reach the subscribers of every node sharing a Redis:

    "notifications": {"type": "notifications", "args": {
        "backend": "redis", "url": "redis://127.0.0.1:6379/0"}}

Subscribes to "news", publishes each word on it, prints what the
subscription receives (C{(channel, value)}; a notice has the channel
C{""}), then closes the subscription.
"""

import argparse

from twisted.internet import defer, task

from cocaine.client import Locator, Service


async def main(reactor, args):
    locator = Locator(reactor, [(args.host, args.port)], timeout=10)
    notifications = Service("notifications", locator)
    # subscribe and publish on one connection: the subscription is in
    # place before the publishes arrive
    subscription = await notifications.subscribe(["news"])
    for word in args.words:
        delivered = await notifications.publish("news", word)
        print("published {!r} to {} subscriber(s)".format(word, delivered))
    for _ in args.words:
        channel, value = await subscription.read()
        if channel == "":
            print("notice:", value)   # {"dropped": N} or {"lost": why}
        else:
            print("received on {}: {!r}".format(channel, value))
    subscription.close()
    print("closed:", [chunk async for chunk in subscription])
    await notifications.disconnect()
    await locator.disconnect()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10053)
    parser.add_argument("words", nargs="*", default=["hello", "cocaine"])
    options = parser.parse_args()
    task.react(lambda reactor: defer.Deferred.fromCoroutine(
        main(reactor, options)))
