# -*- test-case-name: tests.integration.test_mesh_bridge -*-
"""
The mesh bridge (C{services/mesh_bridge.py}) in a REAL node serving the
echo example app: a Python Requester calls the app through the bridge
(which asks the node through L{cocaine.interfaces.INode}), and our Cocaine
client calls a Python Responder through the locator. Discovery stays on
loopback, on a free UDP port.
"""

import os

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from cocaine.client import Locator, Service
from cocaine.errors import CocaineError, ServiceNotAvailable
from cocaine.mesh import (
    DiscoveryOptions, MeshError, RemoteError, Requester, Responder)
from tests.integration.node import ROOT, Node
from tests.mesh.test_loopback import freeUDPPort

ECHO = os.path.join(ROOT, "examples", "apps", "echo")


class MeshBridgeTests(TestCase):
    timeout = 60

    def setUp(self):
        self.udp = freeUDPPort()
        mesh = {"port": self.udp, "helloInterval": 0.1, "checkInterval": 0.5,
                "nodeTimeout": 1.0}
        self.options = DiscoveryOptions(**mesh)
        self.node = Node(self.mktemp(), {
            "network": {"locator": 0},
            "services": {"logging": {"type": "logging"},
                         "storage": {"type": "storage"},
                         "node": {"type": "node", "args": {"local": {
                             "echo": {"path": ECHO,
                                      "profile": {"pool-limit": 2}}}}},
                         "mesh_bridge": {"type": "mesh_bridge", "args": {
                             "apps": {"echo": ["ping", "echo", "fail"]},
                             "mesh": mesh}}}})
        self.node.start()
        self.addCleanup(self.node.stop)
        self.locator = Locator(reactor, [("127.0.0.1", self.node.port)],
                               timeout=20)
        self.addCleanup(self.locator.disconnect)

    def start(self, component):
        component.startService()
        self.addCleanup(component.stopService)
        return component

    async def test_requesterCallsApp(self):
        """
        A mesh request C{{"type": event, ...}} runs the app's event with the
        rest as one JSON chunk; the answer comes back decoded (JSON, else
        text); an app error arrives as an error object with code C{EAPP}.
        """
        req = self.start(Requester("py", discovery=self.options, timeout=30))
        self.assertEqual(await req.send({"type": "ping"}), "pong")
        self.assertEqual(await req.send({"type": "echo", "a": [1, "x"],
                                         "b": None}),
                         {"a": [1, "x"], "b": None})
        with self.assertRaises(RemoteError) as caught:
            await req.send({"type": "fail"})
        self.assertEqual(caught.exception.code, "EAPP")
        self.assertIn("boom", caught.exception.message)
        with self.assertRaises(RemoteError) as caught:
            await req.send({"type": "nope"}, timeout=0.5)
        self.assertEqual(caught.exception.code, "ENOHANDLER")

    async def test_clientCallsResponder(self):
        """
        A discovered Responder is published at the locator as
        C{mesh.<name>}; our client calls it with C{request(type, json)}.
        """
        rep = Responder("adder", discovery=self.options)
        rep.on("add", lambda r: r["a"] + r["b"])

        def fail(request):
            raise MeshError("no way", "ENOWAY")
        rep.on("fail", fail)
        self.start(rep)
        for _ in range(100):
            try:
                await self.locator.resolve("mesh.adder")
                break
            except ServiceNotAvailable:
                await deferLater(reactor, 0.1)
        adder = Service("mesh.adder", self.locator, timeout=30)
        self.addCleanup(adder.disconnect)
        self.assertEqual(await adder.request("add", {"a": 2, "b": 3}), 5)
        self.assertEqual(await adder.request("add", '{"a": 1, "b": 1}'), 2)
        with self.assertRaises(CocaineError) as caught:
            await adder.request("fail", {})
        self.assertIn("ENOWAY", str(caught.exception))
        info = await adder.info()
        self.assertEqual(len(info["responders"]), 1)
        # the responder goes: the name is withdrawn
        await rep.stopService()
        for _ in range(50):
            try:
                await self.locator.resolve("mesh.adder")
            except ServiceNotAvailable:
                break
            await deferLater(reactor, 0.1)
        else:
            self.fail("mesh.adder still published")
