# -*- test-case-name: tests.mesh.test_sockend -*-
"""
The Python services of the Sockend tests: C{python -m tests.mesh.sockendpeer},
run until killed. In the namespace C{$COTE_NAMESPACE} (default C{py}): a
Responder advertising C{add} (a + b) and C{boom} (raises a C{ValueError},
which reaches the browser as an error object with its message), and a
Publisher of C{alert} publishing C{{"n", "to": "vip", "__room": "vip"}}
every 100 ms (only sockets in the room C{vip} get it). Prints
C{{"event": "ready"}} once both listen. Discovery as L{tests.mesh.pypeer}.
"""

import os

from twisted.internet import task

from cocaine.mesh import Publisher, Responder, run
from tests.mesh.pypeer import options, out


async def main(reactor):
    opts = options()
    opts["namespace"] = os.environ.get("COTE_NAMESPACE", "py")
    rep = Responder("py-sockend-responder", **opts)
    rep.on("add", lambda request: request["a"] + request["b"])

    def boom(request):
        raise ValueError("boom from python")

    rep.on("boom", boom)
    pub = Publisher("py-sockend-publisher", broadcasts=["alert"], **opts)
    rep.startService()
    pub.startService()
    out(event="ready")
    n = 0
    while True:
        pub.publish("alert", {"n": n, "to": "vip", "__room": "vip"})
        n += 1
        await task.deferLater(reactor, 0.1)


if __name__ == "__main__":
    run(main)
