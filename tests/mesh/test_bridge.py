# -*- test-case-name: tests.mesh.test_bridge -*-
"""
Tests for L{cocaine.mesh.bridge} and the C{mesh_bridge} plugin on fakes:
an in-memory node (L{cocaine.testing.MemoryNode}), a
L{MemoryReactorClock}, hellos fed by hand (the real node is in
C{tests/integration/test_mesh_bridge.py}).
"""

import msgpack
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import ConfigError
from cocaine.errors import CocaineError
from cocaine.mesh.bridge import (
    MESH_SERVICE, MeshBridge, decodeAnswer, encodeChunk)
from cocaine.mesh.component import Component
from cocaine.mesh.discovery import Peer
from cocaine.mesh.errors import MeshError
from cocaine.testing import MemoryNode
from services.mesh_bridge import mesh_bridge
from tests.mesh.test_components import announce, fakeListen


class CodecTests(SynchronousTestCase):
    def test_encodeChunk(self):
        self.assertEqual(encodeChunk({"type": "t", "a": 1}, "json"),
                         b'{"a":1}')
        self.assertEqual(
            msgpack.unpackb(encodeChunk({"type": "t", "a": 1}, "msgpack")),
            {"a": 1})

    def test_decodeAnswer(self):
        self.assertEqual(decodeAnswer([b'{"a":', b"1}"], "json"), {"a": 1})
        self.assertEqual(decodeAnswer([b"pong"], "json"), "pong")
        self.assertEqual(decodeAnswer([msgpack.packb([1, "x"])], "msgpack"),
                         [1, "x"])
        self.assertEqual(decodeAnswer([b"\xff\xfe"], "json"), [255, 254])
        self.assertIsNone(decodeAnswer([], "json"))

    def test_protocol(self):
        self.assertEqual([m.name for m in MESH_SERVICE.messages],
                         ["request", "info"])


class PluginTests(SynchronousTestCase):
    def test_valid(self):
        mesh_bridge.validate("services.b.args", {
            "apps": {"echo": ["ping"],
                     "other": {"events": ["x"], "encoding": "msgpack"}},
            "mesh": {"port": 12346, "key": "k"}}, None)

    def test_invalid(self):
        for args, where in [
                ({"bogus": 1}, "services.b.args.bogus"),
                ({"apps": {"echo": []}}, "services.b.args.apps.echo"),
                ({"apps": {"echo": {"events": ["a"], "encoding": "xml"}}},
                 "services.b.args.apps.echo.encoding"),
                ({"encoding": "xml"}, "services.b.args.encoding"),
                ({"mesh": {"broadcast": "1.2.3.4",
                           "unicast": "1.2.3.5"}},
                 "services.b.args.mesh")]:
            with self.assertRaises(ConfigError) as caught:
                mesh_bridge.validate("services.b.args", args, None)
            self.assertIn(where, str(caught.exception))


class FakeHost:
    def __init__(self, reactor, name, impl, registry, network):
        self.name, self.impl, self.running = name, impl, False
        hosts.append(self)

    def startService(self):
        self.running = True

    def stopService(self):
        self.running = False


hosts = []


class Obj:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class BridgeTests(SynchronousTestCase):
    def setUp(self):
        del hosts[:]
        self.calls = []
        self.answer = b'{"ok":true}'
        self.node = MemoryNode()
        self.node.add("echo", self.echo)
        self.reactor = MemoryReactorClock()
        self.context = Obj(reactor=self.reactor, node=self.node,
                           registry=None, config=Obj(network=None))
        self.bridge = MeshBridge(self.context, apps={"echo": ["ping"]},
                                 serviceHost=FakeHost)

    def echo(self, event, chunks):
        """
        The app of the in-memory node: records the request and answers
        C{self.answer} (an exception is raised, so sent as an error).
        """
        self.calls.append((event, chunks))
        if isinstance(self.answer, Exception):
            raise self.answer
        return [self.answer]

    def fakeDiscovery(self):
        """
        Components open fake discovery sockets until the test ends.
        """
        # not self.patch: it would restore the staticmethod as a function
        original = Component.__dict__["_listenDiscovery"]
        Component._listenDiscovery = staticmethod(fakeListen)
        self.addCleanup(setattr, Component, "_listenDiscovery", original)

    def test_callApp(self):
        """
        A request runs the app's event through L{INode.enqueue} with the
        request minus its type as one chunk; the answer is decoded.
        """
        d = self.bridge.callApp("echo", "ping", {"type": "ping", "x": 1},
                                "json")
        self.assertEqual(self.successResultOf(d), {"ok": True})
        self.assertEqual(self.calls, [("ping", [b'{"x":1}'])])

    def test_callAppErrors(self):
        """
        An app's error is C{EAPP}; an app that does not run (the node
        tells the upstream at once) is C{ENOAPP}, as is a bridge without
        a node.
        """
        self.answer = CocaineError("boom")
        f = self.failureResultOf(
            self.bridge.callApp("echo", "ping", {}, "json"), MeshError)
        self.assertEqual((f.value.code, f.value.message), ("EAPP", "boom"))
        f = self.failureResultOf(
            self.bridge.callApp("gone", "ping", {}, "json"), MeshError)
        self.assertEqual((f.value.code, f.value.message),
                         ("ENOAPP", "app 'gone' is not running"))
        self.context.node = None
        f = self.failureResultOf(
            self.bridge.callApp("echo", "ping", {}, "json"), MeshError)
        self.assertEqual(f.value.code, "ENOAPP")

    def test_followsRequesterPeers(self):
        """
        Started, the bridge learns the responders from its requester's
        peer observer, without replacing the requester's own methods: a
        responder is published and withdrawn, and the requester still
        links to it.
        """
        self.fakeDiscovery()
        self.bridge.startService()
        self.addCleanup(self.bridge.stopService)
        requester = self.bridge.requester
        self.assertNotIn("peerAdded", vars(requester))
        self.assertNotIn("peerRemoved", vars(requester))
        announce(requester, "r1", {"type": "service", "name": "adder",
                                   "key": "$$", "axon_type": "rep",
                                   "port": 4000})
        self.assertEqual([(h.name, h.running) for h in hosts],
                         [("mesh.adder", True)])
        self.assertEqual(list(requester.links), ["r1"])
        requester.discovery._remove(requester.discovery.peers["r1"])
        self.assertFalse(hosts[0].running)
        self.assertEqual(requester.links, {})
        self.assertEqual(self.bridge.hosts, {})

    def test_stopObserving(self):
        """
        A stopped bridge no longer follows the requester's peers.
        """
        self.fakeDiscovery()
        self.bridge.startService()
        requester = self.bridge.requester
        self.bridge.stopService()
        requester._peerAdded(Peer("r2", "p", "127.0.0.1", "h", {
            "type": "service", "name": "late", "axon_type": "rep",
            "key": "$$", "port": 1}, 0))
        self.assertEqual(hosts, [])

    def test_publishAndWithdraw(self):
        """
        The first responder of a name publishes C{mesh.<name>}; the name
        goes with the last one.
        """
        ad = {"type": "service", "name": "adder", "axon_type": "rep",
              "key": "$$", "port": 1}
        one = Peer("i1", "p", "127.0.0.1", "h", ad, 0)
        two = Peer("i2", "p", "127.0.0.1", "h", ad, 0)
        self.bridge._responderAdded(one)
        self.bridge._responderAdded(two)
        self.assertEqual([(h.name, h.running) for h in hosts],
                         [("mesh.adder", True)])
        self.assertEqual(self.bridge.responders("adder"), ["i1", "i2"])
        self.bridge._responderRemoved(one)
        self.assertTrue(hosts[0].running)
        self.bridge._responderRemoved(two)
        self.assertFalse(hosts[0].running)
        self.assertEqual(self.bridge.hosts, {})
