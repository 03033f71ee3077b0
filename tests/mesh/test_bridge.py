# -*- test-case-name: tests.mesh.test_bridge -*-
"""
Tests for L{cocaine.mesh.bridge} and the C{mesh_bridge} plugin on fakes: a
node providing L{INode}, a L{MemoryReactorClock}, hellos fed by hand (the
real node is in C{tests/integration/test_mesh_bridge.py}).
"""

import msgpack
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from cocaine.config import ConfigError
from cocaine.errors import AppNotRunning, CocaineError
from cocaine.interfaces import INode
from cocaine.mesh.bridge import (
    MESH_SERVICE, MeshBridge, decodeAnswer, encodeChunk)
from cocaine.mesh.component import Component
from cocaine.mesh.discovery import Peer
from cocaine.mesh.errors import MeshError
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


class FakeSession:
    """
    A session of L{FakeNode}: once the request stream is closed, it
    answers C{answer} (chunks, or an exception as an error).
    """

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

    def error(self, *args):
        pass

    def connectionLost(self):
        pass


class _Ignored:
    """
    The session of an app that does not run: it ignores what follows.
    """

    def write(self, chunk):
        pass

    def close(self):
        pass

    def error(self, *args):
        pass

    def connectionLost(self):
        pass


@implementer(INode)
class FakeNode:
    """
    A node that runs the apps of C{answers} (app name to its answer),
    as L{INode} says; to be replaced by C{cocaine.testing.MemoryNode}.

    @ivar sessions: C{(app, event, session)} of each C{enqueue}.
    """

    running = True

    def __init__(self, answers):
        self.answers = answers
        self.sessions = []

    def apps(self):
        return sorted(self.answers)

    def _check(self, name):
        if name not in self.answers:
            raise AppNotRunning("app {} is not running".format(name))

    def info(self, name):
        self._check(name)
        return {"state": "running"}

    def load(self, name):
        self._check(name)
        return {"queue": 0, "busy": 0, "sessions": 0, "capacity": 1,
                "concurrency": 1}

    def enqueue(self, name, upstream, event, tag=None, headers=()):
        if name not in self.answers:
            upstream.error(AppNotRunning(
                "app {} is not running".format(name)))
            return _Ignored()
        session = FakeSession(upstream, self.answers[name])
        self.sessions.append((name, event, session))
        return session

    def startApp(self, name, profile):
        return defer.fail(NotImplementedError())

    def startLocal(self, name, path, profile=None):
        return defer.fail(NotImplementedError())

    def pauseApp(self, name):
        self._check(name)
        return defer.fail(NotImplementedError())

    def origin(self, name):
        self._check(name)
        return {"local": False, "profile": "default"}

    def runlist(self):
        return defer.succeed({name: "default" for name in self.answers})

    def watch(self, callback):
        return lambda: None


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
        self.node = FakeNode({"echo": b'{"ok":true}'})
        self.reactor = MemoryReactorClock()
        self.context = Obj(reactor=self.reactor, node=self.node,
                           registry=None, config=Obj(network=None))
        self.bridge = MeshBridge(self.context, apps={"echo": ["ping"]},
                                 serviceHost=FakeHost)

    def fakeDiscovery(self):
        """
        Components open fake discovery sockets until the test ends.
        """
        # not self.patch: it would restore the staticmethod as a function
        original = Component.__dict__["_listenDiscovery"]
        Component._listenDiscovery = staticmethod(fakeListen)
        self.addCleanup(setattr, Component, "_listenDiscovery", original)

    def test_fakeNode(self):
        """
        The fake node provides L{INode} as a real one must.
        """
        verifyObject(INode, self.node)

    def test_callApp(self):
        """
        A request runs the app's event through L{INode.enqueue} with the
        request minus its type as one chunk; the answer is decoded.
        """
        d = self.bridge.callApp("echo", "ping", {"type": "ping", "x": 1},
                                "json")
        self.assertEqual(self.successResultOf(d), {"ok": True})
        app, event, session = self.node.sessions[0]
        self.assertEqual((app, event, session.chunks),
                         ("echo", "ping", [b'{"x":1}']))

    def test_callAppErrors(self):
        """
        An app's error is C{EAPP}; an app that does not run (the node
        tells the upstream at once) is C{ENOAPP}, as is a bridge without
        a node.
        """
        self.node.answers["echo"] = CocaineError("boom")
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
