"""
Tests for L{cocaine.testing}: the fakes behave as what they stand for.
"""

import os
import signal

from twisted.trial.reporter import TestResult
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.errors import AppAlreadyRunning, AppNotRunning, CocaineError
from cocaine.interfaces import INode
from cocaine.engine.sockets import MAX_SOCKET_PATH
from cocaine.testing import (
    FakeIsolate, FakeReactor, FakeUpstream, MemoryNode, runtimeDirectory)


class MemoryNodeTests(SynchronousTestCase):

    def setUp(self):
        self.node = MemoryNode()

    def test_interface(self):
        self.assertTrue(verifyObject(INode, self.node))

    def call(self, name, event, *chunks):
        upstream = FakeUpstream()
        session = self.node.enqueue(name, upstream, event)
        for chunk in chunks:
            session.write(chunk)
        session.close()
        return upstream.sent

    def test_handler(self):
        """
        An app's handler gets the event and the request's chunks; what it
        returns is the response.
        """
        self.node.add("upper", lambda event, chunks: [
            event.encode()] + [c.upper() for c in chunks])
        self.assertEqual(self.call("upper", "go", b"a", b"b"), [
            ("write", b"go"), ("write", b"A"), ("write", b"B"), ("close",)])

    def test_handlerError(self):
        def refuse(event, chunks):
            raise CocaineError("no", category=43, code=2)
        self.node.add("refuse", refuse)
        self.assertEqual(self.call("refuse", "go"),
                         [("error", [43, 2], "no")])

    def test_stats(self):
        """
        Each app counts its sessions as an engine does, timed on the
        node's clock; a test may change the counts directly.
        """
        self.node.add("echo")
        self.node.add("refuse", self._refuse)
        self.node.clock.advance(5)
        self.call("echo", "go")
        self.call("refuse", "go")
        self.node.enqueue("echo", FakeUpstream(), "go").connectionLost()
        self.node.appStats("echo").spawned += 2
        stats = self.node.stats("echo")
        self.assertEqual(stats["requests"], {
            "ok": 1, "error": 0, "timeout": 0, "rejected": 0,
            "disconnected": 1})
        self.assertEqual(stats["workers"], {"spawned": 2, "crashed": 0})
        self.assertEqual(stats["duration"]["count"], 1)
        self.assertEqual(stats["duration"]["buckets"][0], [0.0005, 1])
        self.assertEqual(self.node.stats("refuse")["requests"]["error"], 1)
        self.assertRaises(AppNotRunning, self.node.stats, "ghost")

    @staticmethod
    def _refuse(event, chunks):
        raise CocaineError("no", category=43, code=2)

    def test_notRunning(self):
        self.assertEqual(self.call("ghost", "go", b"x"), [
            ("error", [0x51FF, 4], "app 'ghost' is not running")])
        self.assertRaises(AppNotRunning, self.node.info, "ghost")

    def test_lifecycle(self):
        seen = []
        self.node.watch(lambda name, running: seen.append((name, running)))
        self.successResultOf(self.node.startApp("a", "small"))
        self.failureResultOf(self.node.startApp("a", "small"),
                             AppAlreadyRunning)
        self.successResultOf(self.node.startLocal("b", "/apps/b"))
        self.assertEqual(self.node.apps(), ["a", "b"])
        self.assertEqual(self.node.origin("b"), {
            "local": True, "path": "/apps/b", "profile": None})
        self.assertEqual(self.successResultOf(self.node.runlist()),
                         {"a": "small"})
        self.successResultOf(self.node.pauseApp("a"))
        self.failureResultOf(self.node.pauseApp("a"), AppNotRunning)
        self.assertEqual(seen, [("a", True), ("b", True), ("a", False)])
        self.assertEqual(self.node.calls, [
            ("startApp", "a", "small"), ("startApp", "a", "small"),
            ("startLocal", "b", "/apps/b", None), ("pauseApp", "a"),
            ("pauseApp", "a")])


class FakeIsolateTests(SynchronousTestCase):

    def test_spawnSignalEnd(self):
        ended = []

        class Protocol:
            def processEnded(self, reason):
                ended.append(reason.value.exitCode)
        isolate = FakeIsolate()
        process = isolate.spawn(Protocol(), "/apps/x/w", [
            "--uuid", "U"], {}, "/apps/x", "x")
        self.assertEqual(process.uuid, "U")
        isolate.signalGroup(process.pid, signal.SIGTERM)
        self.assertEqual(process.signals, [signal.SIGTERM])
        process.end(3)
        self.assertEqual(ended, [3])


class FakeReactorTests(SynchronousTestCase):

    def test_events(self):
        reactor = FakeReactor()
        tcp = reactor.listenTCP(0, None)
        unix = reactor.listenUNIX("/run/x.sock", None)
        unix.stopListening()
        tcp.stopListening()
        self.assertEqual(reactor.events, [
            ("listen", tcp.port), ("listen", "/run/x.sock"),
            ("stop", "/run/x.sock"), ("stop", tcp.port)])
        self.assertNotEqual(tcp.port, 0)


class RuntimeDirectoryTests(SynchronousTestCase):

    def test_shortAndRemoved(self):
        """
        L{runtimeDirectory} is a directory short enough for an app's
        socket inside it, and it goes with everything in it when the
        test ends.
        """
        made = []

        class Inner(SynchronousTestCase):
            def test_it(self):
                directory = runtimeDirectory(self)
                made.append(directory)
                os.makedirs(os.path.join(directory, "app.12345678"))
        result = TestResult()
        Inner("test_it").run(result)
        self.assertTrue(result.wasSuccessful())
        (directory,) = made
        self.assertTrue(os.path.isabs(directory))
        self.assertLess(len(os.path.join(directory, "app.12345678",
                                         "app.sock")), MAX_SOCKET_PATH)
        self.assertFalse(os.path.exists(directory))
