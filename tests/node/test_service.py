"""
Tests for L{cocaine.node.service}: the node's apps as children of its tree,
with a fake reactor, a fake isolate and memory storage.
"""

import json
import os
import signal

import msgpack
from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.config import parse
from cocaine.context import Context
from cocaine.engine.connection import WorkerConnection
from cocaine.errors import AppAlreadyRunning, AppNotRunning, SpawnFailed
from cocaine.interfaces import INode
from cocaine.locator.registry import Registry
from cocaine.node.service import NodeService
from cocaine.plugins import loadPlugins
from cocaine.storage.memory import MemoryStorage
from cocaine.testing import (
    FakeIsolate, FakeReactor, FakeUpstream, admitAnyPeer, runtimeDirectory)


def _localApp(root, name="echo"):
    directory = os.path.join(root, name)
    os.makedirs(directory)
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump({"slave": "worker"}, f)
    slave = os.path.join(directory, "worker")
    with open(slave, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(slave, 0o755)
    return directory


class _NodeCase(SynchronousTestCase):

    def setUp(self):
        self.root = os.path.abspath(self.mktemp())
        os.makedirs(self.root)
        self.reactor = FakeReactor()
        config = parse({"paths": {
            "data": os.path.join(self.root, "data"),
            "spool": os.path.join(self.root, "spool"),
            "runtime": runtimeDirectory(self)}})
        self.context = Context(self.reactor, config, Registry(),
                               loadPlugins())
        self.context.storages["core"] = MemoryStorage()
        self.isolates = []
        self.node = NodeService(self.context, drainTimeout=5,
                                isolateFactory=self._isolate)
        self.directory = _localApp(self.root)

    def _isolate(self, reactor, profile, name):
        isolate = FakeIsolate()
        self.isolates.append(isolate)
        return isolate

    def start(self):
        self.successResultOf(self.node.startService())

    def app(self, name):
        """
        App C{name}: a named child of the node's tree.
        """
        return self.node.getServiceNamed(name)

    def handshake(self, process, engine):
        admitAnyPeer(engine)
        connection = WorkerConnection(engine)
        transport = StringTransport()
        connection.makeConnection(transport)
        connection.dataReceived(msgpack.packb([1, 0, [process.uuid]]))
        return connection


class NodeServiceTests(_NodeCase):

    def test_ownStorageKeys(self):
        """
        On a storage of its own (the backend does not say C{shared}) the
        node keeps 0.12's keys: C{runlists/default}, crashlogs without
        its name.
        """
        self.assertFalse(self.node.sharedStorage)
        self.assertEqual(self.node._runlist.key, "default")
        self.assertIsNone(self.node._scope())

    def test_sharedStorageKeys(self):
        """
        On a shared backend the node's runlist and crashlogs name it: by
        its uuid, or the C{name} it is given.
        """
        self.context.storages["core"].shared = True
        self.context.uuid = "0f00-uuid"
        node = NodeService(self.context, isolateFactory=self._isolate)
        self.assertTrue(node.sharedStorage)
        self.assertEqual(node._runlist.key, "default@0f00-uuid")
        self.assertEqual(node._scope(), "0f00-uuid")
        node = NodeService(self.context, runlist="boot", nodeName="web-1",
                           isolateFactory=self._isolate)
        self.assertEqual(node._runlist.key, "boot@web-1")
        # the config may say otherwise (one node per store after all)
        node = NodeService(self.context, sharedStorage=False,
                           isolateFactory=self._isolate)
        self.assertEqual(node._runlist.key, "default")


    def test_interface(self):
        self.assertTrue(verifyObject(INode, self.node))

    def test_startLocal(self):
        """
        A running app is a child of the node's tree, published, listed,
        and reached through L{INode}.
        """
        self.start()
        self.successResultOf(self.node.startLocal("echo", self.directory,
                                                  {"pool-limit": 2}))
        self.assertEqual([child.name for child in self.node], ["echo"])
        self.assertEqual(self.node.apps(), ["echo"])
        self.assertIsNotNone(self.context.registry.lookup("echo"))
        self.assertEqual(self.node.info("echo")["state"], "running")
        self.assertEqual(self.node.info("echo")["drivers"], {})
        self.assertEqual(self.node.origin("echo"), {
            "local": True, "path": self.directory,
            "profile": {"pool-limit": 2}})
        self.assertEqual(self.node.load("echo")["capacity"], 2)

    def test_enqueue(self):
        """
        A session through L{INode.enqueue} spawns a worker and is served
        by it.
        """
        self.start()
        self.successResultOf(self.node.startLocal("echo", self.directory))
        upstream = FakeUpstream()
        session = self.node.enqueue("echo", upstream, "ping")
        session.close()
        (process,) = self.isolates[0].processes
        connection = self.handshake(process, self.app("echo").engine)
        connection.dataReceived(msgpack.packb([2, 0, [b"pong"]])
                                + msgpack.packb([2, 2, []]))
        self.assertEqual(upstream.sent, [("write", b"pong"), ("close",)])
        stats = self.node.stats("echo")
        self.assertEqual(stats["requests"]["ok"], 1)
        self.assertEqual(stats["workers"], {"spawned": 1, "crashed": 0})
        self.assertRaises(AppNotRunning, self.node.stats, "ghost")

    def test_enqueueNotRunning(self):
        upstream = FakeUpstream()
        session = self.node.enqueue("ghost", upstream, "ping")
        session.write(b"x")
        session.close()
        self.assertEqual(upstream.sent, [
            ("error", [0x51FF, 4], "app 'ghost' is not running")])

    def test_twice(self):
        self.start()
        self.successResultOf(self.node.startLocal("echo", self.directory))
        self.failureResultOf(self.node.startLocal("echo", self.directory),
                             AppAlreadyRunning)

    def test_badName(self):
        self.start()
        self.failureResultOf(self.node.startLocal("../x", self.directory),
                             SpawnFailed)

    def test_missingSlave(self):
        self.start()
        os.unlink(os.path.join(self.directory, "worker"))
        failure = self.failureResultOf(
            self.node.startLocal("echo", self.directory), SpawnFailed)
        self.assertIn("slave 'worker' not found", failure.getErrorMessage())
        self.assertEqual(self.node.apps(), [])
        self.assertEqual(list(self.node), [])

    def test_pauseUnknown(self):
        self.start()
        self.failureResultOf(self.node.pauseApp("ghost"), AppNotRunning)

    def test_watch(self):
        self.start()
        seen = []
        unwatch = self.node.watch(lambda name, up: seen.append((name, up)))
        self.successResultOf(self.node.startLocal("echo", self.directory))
        self.successResultOf(self.node.pauseApp("echo"))
        unwatch()
        self.successResultOf(self.node.startLocal("echo", self.directory))
        self.assertEqual(seen, [("echo", True), ("echo", False)])

    def test_pause(self):
        """
        Pausing takes the app out of the tree and the registry.
        """
        self.start()
        self.successResultOf(self.node.startLocal("echo", self.directory))
        self.successResultOf(self.node.pauseApp("echo"))
        self.assertEqual(self.node.apps(), [])
        self.assertEqual(list(self.node), [])
        self.assertIsNone(self.context.registry.lookup("echo"))
        self.assertRaises(AppNotRunning, self.node.info, "echo")

    def test_appNameReserved(self):
        """
        An app's name is the node's from its start until it is paused:
        a client's C{locator.publish} cannot shadow it meanwhile.
        """
        self.start()
        registry = self.context.registry
        self.successResultOf(self.node.startLocal("echo", self.directory))
        self.assertTrue(registry.reserved("echo"))
        self.successResultOf(self.node.pauseApp("echo"))
        self.assertFalse(registry.reserved("echo"))

    def test_failedStartReleasesName(self):
        self.start()
        os.unlink(os.path.join(self.directory, "worker"))
        self.failureResultOf(self.node.startLocal("echo", self.directory))
        self.assertFalse(self.context.registry.reserved("echo"))

    def test_startWhileDraining(self):
        """
        Starting an app that is still draining waits until the old
        instance has stopped: its socket is closed and its name withdrawn
        before the new instance listens and publishes (the race found in
        review).
        """
        self.start()
        self.successResultOf(self.node.startLocal("echo", self.directory))
        old = self.app("echo").engine
        upstream = FakeUpstream()
        session = self.node.enqueue("echo", upstream, "slow")
        (process,) = self.isolates[0].processes
        connection = self.handshake(process, old)
        paused = self.node.pauseApp("echo")
        started = self.node.startLocal("echo", self.directory)
        self.assertNoResult(paused)
        self.assertNoResult(started)
        self.assertEqual(self.node.apps(), [])
        del self.reactor.events[:]
        # the session ends: the old instance stops, then the new starts
        session.close()
        connection.dataReceived(msgpack.packb([2, 2, []]))
        process.end(0)
        self.successResultOf(paused)
        self.successResultOf(started)
        self.assertEqual(upstream.sent, [("close",)])
        new = self.app("echo").engine
        self.assertIsNot(new, old)
        # each instance listens in a private directory of its own, the new
        # one only once the old one stopped
        self.assertNotEqual(new.socketPath, old.socketPath)
        events = [event for event in self.reactor.events
                  if event[0] in ("stop", "listen")
                  and event[1] in (old.socketPath, new.socketPath)]
        self.assertEqual(events, [("stop", old.socketPath),
                                  ("listen", new.socketPath)])
        self.assertEqual(self.context.registry.lookup("echo")[0],
                         [list(self.app("echo").listener.endpoint)])

    def test_startAfterThePauseCleanedUp(self):
        """
        Starting an app whose pause is still cleaning up after the stop
        (taking it out of the runlist, removing its unpacked copy) waits
        for that cleanup: otherwise the pause could remove the new
        instance's runlist entry and files (a race seen in CI).
        """
        self.start()
        self.successResultOf(self.node.startLocal("echo", self.directory))
        cleanup = Deferred()
        stopAndForget = self.node._stopAndForget

        async def slowCleanup(app, name):
            await stopAndForget(app, name)
            await cleanup
        self.node._stopAndForget = slowCleanup
        paused = self.node.pauseApp("echo")
        started = self.node.startLocal("echo", self.directory)
        self.assertNoResult(paused)
        self.assertNoResult(started)
        self.assertEqual(self.node.apps(), [])
        cleanup.callback(None)
        self.successResultOf(paused)
        self.successResultOf(started)
        self.assertEqual(self.node.apps(), ["echo"])

    def test_stopAll(self):
        """
        Stopping the node stops every app, draining for at most 3 s.
        """
        self.start()
        self.successResultOf(self.node.startLocal("echo", self.directory))
        upstream = FakeUpstream()
        self.node.enqueue("echo", upstream, "slow")
        stopped = self.node.stopService()
        self.assertNoResult(stopped)
        self.reactor.advance(3)
        # the session waited for a worker that never came up: it is told,
        # and the worker is stopped
        self.assertEqual(upstream.sent[0][:2], ("error", [0x51FF, 4]))
        (process,) = self.isolates[0].processes
        self.assertEqual(process.signals, [signal.SIGTERM])
        self.assertNoResult(stopped)
        process.end(signal=signal.SIGTERM)
        self.successResultOf(stopped)
        self.assertEqual(self.node.apps(), [])

    def test_bootLocalAndRunlist(self):
        """
        On start the configured local apps run; one that cannot start is
        logged, the others run.
        """
        broken = _localApp(self.root, "broken")
        os.unlink(os.path.join(broken, "worker"))
        self.node.local = {"echo": {"path": self.directory},
                           "broken": {"path": broken}}
        self.start()
        self.assertEqual(self.node.apps(), ["echo"])
        self.assertEqual(len(self.flushLoggedErrors()), 0)


class NodePluginArgsTests(SynchronousTestCase):
    """
    The node plugin's C{name} and C{shared-storage} args.
    """

    def validate(self, args):
        from cocaine.config import ConfigError
        from services.node import node
        try:
            node.validate("services.node.args", args, parse({}))
        except ConfigError as e:
            return str(e)
        return None

    def test_name(self):
        self.assertIsNone(self.validate({"name": "web-1.example_2"}))
        self.assertIsNone(self.validate(
            {"name": "5f8b7a1e-3c1d-4e57-9a55-1c2f0b6a7d90"}))
        for bad in ("", "a:b", "a@b", "a/b", ".x", 7, "x" * 101):
            self.assertIn("services.node.args.name: must be",
                          self.validate({"name": bad}))

    def test_sharedStorage(self):
        self.assertIsNone(self.validate({"shared-storage": True}))
        self.assertEqual(self.validate({"shared-storage": "yes"}),
                         "services.node.args.shared-storage: must be true "
                         'or false, got "yes"')
