# -*- test-case-name: tests.mesh.test_loopback -*-
"""
The default, loopback-only discovery over real sockets: components in one
process find each other through C{127.255.255.255} on C{lo} (never beyond
this host), on a port held for them (L{tests.ports.freeUDPPort}) so other
meshes on the machine are not touched.
"""

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase

from cocaine.mesh import (
    DiscoveryOptions,
    Publisher,
    RemoteError,
    Requester,
    Responder,
    ResponderLost,
    Subscriber,
)
from cocaine.mesh.discovery import LOOPBACK_BROADCAST
from tests.ports import freeUDPPort


class LoopbackTests(TestCase):
    timeout = 20

    def setUp(self):
        self.options = DiscoveryOptions(port=freeUDPPort(), helloInterval=0.1,
                                        checkInterval=0.5, nodeTimeout=1.0)

    def start(self, component):
        component.startService()
        self.addCleanup(component.stopService)
        return component

    async def test_requestReply(self):
        """
        With default options a Responder listens on 127.0.0.1 and discovery
        binds the loopback broadcast address; a Requester finds it.
        """
        rep = Responder("r", discovery=self.options)
        rep.on("add", lambda r: r["a"] + r["b"])

        async def boom(r):
            raise ValueError("nope")

        rep.on("boom", boom)
        self.start(rep)
        self.assertEqual(rep.host, "127.0.0.1")
        listening = rep._discoveryPorts[0].getHost()
        self.assertEqual((listening.host, listening.port),
                         (LOOPBACK_BROADCAST, self.options.port))
        self.assertEqual(rep._discoveryPorts[1].getHost().host, "127.0.0.1")
        req = self.start(Requester("q", discovery=self.options, timeout=10))
        self.assertEqual(await req.send({"type": "add", "a": 2, "b": 3}), 5)
        with self.assertRaises(RemoteError) as c:
            await req.send({"type": "boom"})
        self.assertEqual(c.exception.error,
                         {"message": "nope", "code": "EHANDLER",
                          "name": "ValueError"})
        self.flushLoggedErrors(ValueError)

    async def test_responderGoneMidRequest(self):
        """
        A responder that goes away mid-request fails the request at once;
        a new responder is found and used.
        """
        rep = Responder("r", discovery=self.options)
        started = defer.Deferred()
        rep.on("hang", lambda r: started.callback(None) or defer.Deferred())
        self.start(rep)
        req = self.start(Requester("q", discovery=self.options, timeout=10))
        d = req.send({"type": "hang"})
        await started
        await rep.stopService()
        with self.assertRaises(ResponderLost):
            await d
        rep2 = Responder("r2", discovery=self.options)
        rep2.on("hang", lambda r: "back")
        self.start(rep2)
        self.assertEqual(await req.send({"type": "hang"}), "back")

    async def test_pubSub(self):
        pub = self.start(Publisher("p", discovery=self.options))
        sub = Subscriber("s", discovery=self.options)
        got = defer.Deferred()
        sub.on("t", lambda data, topic: got.called or got.callback(data))
        self.start(sub)
        while not sub.connectedLinks():
            await task.deferLater(reactor, 0.05)
        await task.deferLater(reactor, 0.05)
        pub.publish("t", [1, 2])
        self.assertEqual(await got, [1, 2])
