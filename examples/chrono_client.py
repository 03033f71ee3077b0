"""
Timers from a node's chrono service (Cocaine 0.12's protocol), from
Twisted code with the native client.

    python examples/chrono_client.py [PORT]

The node's config needs the service: "chrono": {"type": "chrono"}.
"""

import sys

from twisted.internet import defer, task

from cocaine.client import Locator, Service


async def main(reactor, port=10053):
    locator = Locator(reactor, [("127.0.0.1", int(port))], timeout=10)
    chrono = Service("chrono", locator)

    # one shot: with send_id the id comes at once, then again on firing,
    # then the stream closes
    channel = await chrono.notify_after(0.5, True)
    async for id in channel:
        print("notify_after wrote", id)

    # a ticker: one write per tick until cancelled
    channel = await chrono.notify_every(0.2, True)
    id = await channel.read()
    for _ in range(3):
        print("tick of", await channel.read())
    await chrono.cancel(id)
    print("cancelled; the rest of its stream:",
          [late async for late in channel])

    await chrono.disconnect()
    await locator.disconnect()


if __name__ == "__main__":
    task.react(lambda reactor, *argv: defer.Deferred.fromCoroutine(
        main(reactor, *argv)), sys.argv[1:])
