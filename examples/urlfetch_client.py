"""
Fetch a URL through a node's urlfetch service (Cocaine 0.12's
protocol), from Twisted code with the native client.

    python examples/urlfetch_client.py URL [PORT]

The node's config needs the service: "urlfetch": {"type": "urlfetch"}
(args in docs/configuration.md). The node fetches the URL, not this
script: try a page the node can reach, e.g. one served by
`python -m http.server --bind 127.0.0.1 8000` on the node's machine.
"""

import sys

from twisted.internet import defer, task

from cocaine.client import Locator, Service
from cocaine.errors import CocaineError


async def main(reactor, url, port=10053):
    locator = Locator(reactor, [("127.0.0.1", int(port))], timeout=10)
    urlfetch = Service("urlfetch", locator)
    try:
        # get(url, timeout_ms=5000, cookies={}, headers={},
        #     follow_location=True)
        success, body, code, headers = await urlfetch.get(
            url, 3000, {"session": "example"}, {"Accept": "text/html"})
        print("HTTP", code, "success" if success else "failure",
              len(body), "bytes,", headers.get("Content-Type"))
        print(body[:200].decode("utf-8", "replace"))
    except CocaineError as e:
        # no HTTP answer at all: the message names the URL
        print("error [{}, {}]: {}".format(e.category, e.code, e.message))
    await urlfetch.disconnect()
    await locator.disconnect()


if __name__ == "__main__":
    task.react(lambda reactor, *argv: defer.Deferred.fromCoroutine(
        main(reactor, *argv)), sys.argv[1:])
