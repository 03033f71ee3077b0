"""
The same conversation from Twisted code, with the native client.

    python examples/storage_async.py [PORT]
"""

import sys

from twisted.internet import defer, task

from cocaine.client import Locator, Service


async def main(reactor, port=10053):
    locator = Locator(reactor, [("127.0.0.1", int(port))], timeout=10)
    storage = Service("storage", locator)
    await storage.write("examples", "async", b"\x00binary\xff", ["demo"])
    print("read:", await storage.read("examples", "async"))
    print("find:", await storage.find("examples", ["demo"]))

    # a streaming call: the locator's connect stream starts with a snapshot
    channel = await locator.connect("example-client")
    uuid, services = await channel.read()
    print("node", uuid, "publishes", sorted(services))

    await storage.remove("examples", "async")
    await storage.disconnect()
    await locator.disconnect()


if __name__ == "__main__":
    task.react(lambda reactor, *argv: defer.Deferred.fromCoroutine(
        main(reactor, *argv)), sys.argv[1:])
