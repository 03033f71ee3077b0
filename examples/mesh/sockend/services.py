"""
The services of the Sockend example (docs/mesh.md, "Sockend"): a
Responder advertising C{add} and C{fail}, and a Publisher of C{tick}
publishing the time every second, both on the default namespace (the
socket.io namespace C{"/"}). Loopback only, as every default of the mesh.

    python examples/mesh/sockend/services.py
"""

import time

from twisted.internet import task

from cocaine.mesh import MeshError, Publisher, Responder, run


async def main(reactor):
    rep = Responder("example-responder")
    rep.on("add", lambda request: request["a"] + request["b"])

    def fail(request):
        raise MeshError("this one always fails", "EEXAMPLE")

    rep.on("fail", fail)
    pub = Publisher("example-publisher", broadcasts=["tick"])
    rep.startService()
    pub.startService()
    n = 0
    while True:
        pub.publish("tick", {"n": n, "time": time.strftime("%H:%M:%S")})
        n += 1
        await task.deferLater(reactor, 1.0)


if __name__ == "__main__":
    run(main)
