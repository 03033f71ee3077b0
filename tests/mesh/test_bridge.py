# -*- test-case-name: tests.mesh.test_bridge -*-
"""
Tests for L{cocaine.mesh.bridge} and the C{mesh_bridge} plugin on fakes
(the real node is in C{tests/integration/test_mesh_bridge.py}).
"""

import msgpack
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import ConfigError
from cocaine.errors import CocaineError
from cocaine.mesh.bridge import MESH_SERVICE, MeshBridge, decodeAnswer, encodeChunk
from cocaine.mesh.errors import MeshError
from cocaine.mesh.discovery import Peer
from services.mesh_bridge import mesh_bridge


class CodecTests(SynchronousTestCase):
    def test_encodeChunk(self):
        self.assertEqual(encodeChunk({"type": "t", "a": 1}, "json"), b'{"a":1}')
        self.assertEqual(msgpack.unpackb(encodeChunk({"type": "t", "a": 1}, "msgpack")),
                         {"a": 1})

    def test_decodeAnswer(self):
        self.assertEqual(decodeAnswer([b'{"a":', b"1}"], "json"), {"a": 1})
        self.assertEqual(decodeAnswer([b"pong"], "json"), "pong")
        self.assertEqual(decodeAnswer([msgpack.packb([1, "x"])], "msgpack"), [1, "x"])
        self.assertEqual(decodeAnswer([b"\xff\xfe"], "json"), [255, 254])
        self.assertIsNone(decodeAnswer([], "json"))

    def test_protocol(self):
        self.assertEqual([m.name for m in MESH_SERVICE.messages], ["request", "info"])


class PluginTests(SynchronousTestCase):
    def test_valid(self):
        mesh_bridge.validate("services.b.args", {
            "apps": {"echo": ["ping"], "other": {"events": ["x"], "encoding": "msgpack"}},
            "mesh": {"port": 12346, "key": "k"}}, None)

    def test_invalid(self):
        for args, where in [
                ({"bogus": 1}, "services.b.args.bogus"),
                ({"apps": {"echo": []}}, "services.b.args.apps.echo"),
                ({"apps": {"echo": {"events": ["a"], "encoding": "xml"}}},
                 "services.b.args.apps.echo.encoding"),
                ({"encoding": "xml"}, "services.b.args.encoding"),
                ({"mesh": {"broadcast": "1.2.3.4", "unicast": "1.2.3.5"}},
                 "services.b.args.mesh")]:
            with self.assertRaises(ConfigError) as caught:
                mesh_bridge.validate("services.b.args", args, None)
            self.assertIn(where, str(caught.exception))


class FakeSession:
    def __init__(self, upstream, answer):
        self.upstream, self.answer, self.chunks = upstream, answer, []

    def write(self, chunk):
        self.chunks.append(chunk)

    def close(self):
        if isinstance(self.answer, Exception):
            self.upstream.error(self.answer)
        else:
            self.upstream.send("write", self.answer)
            self.upstream.send("close")


class FakeEngine:
    def __init__(self, answer):
        self.answer = answer
        self.sessions = []

    def enqueue(self, upstream, event):
        session = FakeSession(upstream, self.answer)
        self.sessions.append((event, session))
        return session


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
        self.engine = FakeEngine(b'{"ok":true}')
        node = Obj(apps={"echo": Obj(engine=self.engine)})
        context = Obj(reactor=MemoryReactorClock(), node=node, registry=None,
                      config=Obj(network=None))
        self.bridge = MeshBridge(context, apps={"echo": ["ping"]}, serviceHost=FakeHost)

    def test_callApp(self):
        d = self.bridge.callApp("echo", "ping", {"type": "ping", "x": 1}, "json")
        self.assertEqual(self.successResultOf(d), {"ok": True})
        event, session = self.engine.sessions[0]
        self.assertEqual((event, session.chunks), ("ping", [b'{"x":1}']))

    def test_callAppErrors(self):
        self.engine.answer = CocaineError("boom")
        f = self.failureResultOf(self.bridge.callApp("echo", "ping", {}, "json"), MeshError)
        self.assertEqual((f.value.code, f.value.message), ("EAPP", "boom"))
        f = self.failureResultOf(self.bridge.callApp("gone", "ping", {}, "json"), MeshError)
        self.assertEqual(f.value.code, "ENOAPP")

    def test_publishAndWithdraw(self):
        """
        The first responder of a name publishes C{mesh.<name>}; the name
        goes with the last one.
        """
        ad = {"type": "service", "name": "adder", "axon_type": "rep", "key": "$$", "port": 1}
        one = Peer("i1", "p", "127.0.0.1", "h", ad, 0)
        two = Peer("i2", "p", "127.0.0.1", "h", ad, 0)
        self.bridge._responderAdded(one)
        self.bridge._responderAdded(two)
        self.assertEqual([(h.name, h.running) for h in hosts], [("mesh.adder", True)])
        self.assertEqual(self.bridge.responders("adder"), ["i1", "i2"])
        self.bridge._responderRemoved(one)
        self.assertTrue(hosts[0].running)
        self.bridge._responderRemoved(two)
        self.assertFalse(hosts[0].running)
        self.assertEqual(self.bridge.hosts, {})
