"""
Tests for the management plane's logic (L{cocaine.management.plane} and
L{cocaine.management.protocol}) with an in-memory node and memory storage.
"""

import itertools
import json

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cocaine.errors import KeyNotFound, SpawnFailed
from cocaine.management.plane import ManagementPlane
from cocaine.management.protocol import (
    ManagementError, checkAction, encodeReply, parseRequest)
from cocaine.protocol.framing import packValue, unpackValue
from cocaine.storage.memory import MemoryStorage
from cocaine.testing import MemoryNode
from tests.management._keys import sign, testKey


def request(**fields):
    return json.dumps(fields).encode()


_nonces = itertools.count()


def stamped(clock, **fields):
    """
    A version 3 request made now by C{clock}, with a fresh nonce.
    """
    fields.setdefault("timestamp", clock.seconds())
    fields.setdefault("nonce", "n{}".format(next(_nonces)))
    return request(version=3, **fields)


class ProtocolTests(SynchronousTestCase):

    def error(self, frames):
        with self.assertRaises(ManagementError) as caught:
            checkAction(parseRequest(frames))
        return caught.exception.message

    def test_errors(self):
        self.assertTrue(self.error([b"{nope"]).startswith("invalid json: "))
        self.assertTrue(self.error([b"\xff"]).startswith("invalid json: "))
        self.assertEqual(self.error([b"[1]"]),
                         "invalid request: must be a JSON object")
        self.assertEqual(self.error([request(action="info")]),
                         "unsupported version: null (2 and 3 are supported)")
        self.assertEqual(self.error([request(version=1, action="info")]),
                         "unsupported version: 1 (2 and 3 are supported)")
        self.assertEqual(self.error([request(version=True, action="info")]),
                         "unsupported version: true (2 and 3 are supported)")
        self.assertEqual(self.error([request(version=2, action="boot")]),
                         'unsupported action: "boot" (create, delete, '
                         'reload, info)')
        self.assertEqual(self.error([request(version=2, action="create",
                                             apps=["x"])]),
                         'invalid request: create takes "apps": {name: '
                         'manifest, ...}')
        self.assertEqual(self.error([request(version=2, action="delete",
                                             apps={"x": 1})]),
                         'invalid request: delete takes "apps": [name, ...]')
        self.assertEqual(self.error([]), "invalid request: empty message")

    def test_parsed(self):
        parsed = parseRequest([b'{"version": 3, "action": "info", '
                               b'"username": "u"}', b"sig"])
        self.assertEqual((parsed.version, parsed.username, parsed.signature),
                         (3, "u", b"sig"))
        self.assertIsNone(checkAction(parsed))

    def test_encodeReply(self):
        self.assertEqual(json.loads(encodeReply({"a": b"text", "b": (1,),
                                                 "c": {1, 2} - {1}})),
                         {"a": "text", "b": [1], "c": [2]})


class _PlaneCase(TestCase):

    def setUp(self):
        self.node = MemoryNode()
        self.storage = MemoryStorage()
        self.plane = ManagementPlane(self.node, self.storage, "node-uuid",
                                     hostname="here")

    def call(self, *frames):
        return self.plane.handle(list(frames))

    def stored(self, name):
        return unpackValue(self.storage.read("manifests", name))


class ActionTests(_PlaneCase):

    async def test_createFromPath(self):
        manifest = {"slave": "worker.py", "path": "/apps/echo",
                    "profile": {"pool-limit": 2}}
        reply = await self.call(request(version=2, action="create",
                                        apps={"echo": manifest}))
        self.assertEqual(reply, {"apps": {"echo": self.node.info("echo")}})
        self.assertEqual(self.node.calls, [
            ("startLocal", "echo", "/apps/echo", {"pool-limit": 2})])
        self.assertEqual(self.stored("echo")[b"path"], b"/apps/echo")
        self.assertEqual(self.storage.find("manifests", ["app"]), ["echo"])

    async def test_createFromStorage(self):
        reply = await self.call(request(version=2, action="create", apps={
            "a": {"slave": "w", "engine": {"pool-limit": 1}}}))
        self.assertEqual(reply["apps"]["a"]["state"], "running")
        self.assertFalse(self.node.origin("a")["local"])
        self.assertEqual(self.node.calls,
                         [("startApp", "a", {"pool-limit": 1})])

    async def test_createFailureRestoresTheManifest(self):
        self.storage.write("manifests", "old", packValue({"slave": "v1"}),
                           ["app"])
        self.node.failure = SpawnFailed("slave 'w' not found")
        reply = await self.call(request(version=2, action="create", apps={
            "old": {"slave": "v2"}, "new": {"slave": "w"}}))
        self.assertEqual(reply, {"apps": {
            "old": {"error": "slave 'w' not found"},
            "new": {"error": "slave 'w' not found"}}})
        self.assertEqual(self.stored("old"), {b"slave": b"v1"})
        self.assertRaises(KeyNotFound, self.storage.read, "manifests", "new")

    async def test_createRunning(self):
        self.node.add("busy", local=True, path="x")
        reply = await self.call(request(version=2, action="create", apps={
            "busy": {"slave": "w"}}))
        self.assertEqual(reply, {"apps": {"busy": {
            "error": "app 'busy' is already running"}}})
        self.assertEqual(self.node.calls, [])

    async def test_badPath(self):
        reply = await self.call(request(version=2, action="create", apps={
            "p": {"slave": "w", "path": 5}}))
        self.assertEqual(reply, {"apps": {"p": {
            "error": "path: must be the app's directory, got 5"}}})

    async def test_delete(self):
        await self.call(request(version=2, action="create", apps={
            "a": {"slave": "w", "path": "/a"}}))
        reply = await self.call(request(version=2, action="delete",
                                        apps=["a", "ghost"]))
        self.assertEqual(reply, {"apps": {
            "a": {"state": "deleted"},
            "ghost": {"error": "app 'ghost' is not running"}}})
        self.assertEqual(self.node.apps(), [])
        self.assertEqual(self.storage.find("manifests", ["app"]), [])

    async def test_reloadTheWayItRan(self):
        await self.call(request(version=2, action="create", apps={
            "fromPath": {"slave": "w", "path": "/p", "profile": "small"},
            "fromStorage": {"slave": "w", "profile": "big"}}))
        self.node.add("configured", local=True, path="/c", profile="tiny")
        self.node.calls = []
        reply = await self.call(request(version=2, action="reload", apps=[
            "fromPath", "fromStorage", "configured", "ghost"]))
        self.assertEqual(set(reply["apps"]), {"fromPath", "fromStorage",
                                              "configured", "ghost"})
        self.assertEqual(reply["apps"]["ghost"],
                         {"error": "app 'ghost' is not running"})
        self.assertEqual(self.node.calls, [
            ("pauseApp", "fromPath"),
            ("startLocal", "fromPath", "/p", "small"),
            ("pauseApp", "fromStorage"),
            ("startApp", "fromStorage", "big"),
            ("pauseApp", "configured"),
            ("startLocal", "configured", "/c", "tiny")])

    async def test_info(self):
        self.node.add("a", local=True, path="/a", info={"how": "/a"})
        reply = await self.call(request(version=2, action="info"))
        self.assertEqual(reply, {"uuid": "node-uuid", "hostname": "here",
                                 "apps": {"a": self.node.info("a")}})
        self.assertEqual(reply["apps"]["a"]["how"], "/a")

    async def test_nodeNotRunning(self):
        self.node.running = False
        reply = await self.call(request(version=2, action="delete",
                                        apps=["a"]))
        self.assertEqual(reply, {"error": "the node is not running"})
        self.assertEqual((self.plane.requests, self.plane.errors), (1, 1))


class SignatureTests(_PlaneCase):

    def setUp(self):
        _PlaneCase.setUp(self)
        self.clock = Clock()
        self.clock.advance(1800000000)
        self.plane = ManagementPlane(self.node, self.storage, "node-uuid",
                                     hostname="here", clock=self.clock,
                                     replayWindow=30)
        self.key, pem = testKey("alice")
        self.storage.write("keys", "alice", packValue(pem), ["key"])

    def signed(self, body, digest="sha256", key=None):
        return self.call(body, sign(key or self.key, body, digest))

    async def test_v3(self):
        body = stamped(self.clock, action="info", username="alice")
        self.assertEqual((await self.signed(body))["uuid"], "node-uuid")
        body = stamped(self.clock, action="info", username="alice")
        self.assertEqual((await self.signed(body, "sha1"))["uuid"],
                         "node-uuid")

    async def test_unknownUser(self):
        for username in ("bob", None, 5, ""):
            body = stamped(self.clock, action="info", username=username)
            self.assertEqual(await self.signed(body),
                             {"error": "unauthorized user"})

    async def test_badSignature(self):
        body = stamped(self.clock, action="info", username="alice")
        other, _ = testKey("mallory")
        self.assertEqual(await self.signed(body, key=other),
                         {"error": "invalid signature"})
        self.assertEqual(await self.call(body),
                         {"error": "invalid signature"})
        self.assertEqual(await self.call(body + b" ", sign(self.key, body)),
                         {"error": "invalid signature"})

    async def test_unusableKey(self):
        self.storage.write("keys", "eve", packValue("not a key"), ["key"])
        body = stamped(self.clock, action="info", username="eve")
        self.assertEqual(await self.signed(body),
                         {"error": "unauthorized user"})

    async def test_authenticationBeforeTheAction(self):
        body = stamped(self.clock, action="boot", username="bob")
        self.assertEqual(await self.signed(body),
                         {"error": "unauthorized user"})

    async def test_requireSignature(self):
        self.plane.requireSignature = True
        self.assertEqual(await self.call(request(version=2, action="info")),
                         {"error": "signed requests (version 3) are "
                                   "required"})
        body = stamped(self.clock, action="info", username="alice")
        self.assertEqual((await self.signed(body))["uuid"], "node-uuid")

    async def test_replayRefused(self):
        """
        A signed request accepted once is refused when sent again (same
        nonce) within the window, and after it (stale); a request made
        too far ahead of our clock is refused too. A fresh nonce and time
        pass.
        """
        body = stamped(self.clock, action="info", username="alice")
        signature = sign(self.key, body)
        self.assertIn("uuid", await self.call(body, signature))
        self.clock.advance(10)
        self.assertEqual(await self.call(body, signature), {
            "error": "replayed request: its nonce was already used"})
        self.clock.advance(25)
        self.assertEqual(await self.call(body, signature), {
            "error": "stale request: its timestamp is outside the replay "
                     "window"})
        ahead = stamped(self.clock, action="info", username="alice",
                        timestamp=self.clock.seconds() + 31)
        self.assertEqual((await self.signed(ahead))["error"],
                         "stale request: its timestamp is outside the "
                         "replay window")
        fresh = stamped(self.clock, action="info", username="alice",
                        timestamp=self.clock.seconds() - 29)
        self.assertIn("uuid", await self.signed(fresh))

    async def test_stampNeeded(self):
        """
        A signed request without a number C{timestamp} and a string
        C{nonce} of 1-128 characters is refused, after its signature.
        """
        need = ('signed requests need "timestamp" (seconds since the '
                'epoch) and "nonce" (a unique string of 1-128 characters)')
        for fields in ({"timestamp": None}, {"nonce": None},
                       {"timestamp": "now"}, {"timestamp": True},
                       {"nonce": ""}, {"nonce": "x" * 129}, {"nonce": 5}):
            body = stamped(self.clock, action="info", username="alice",
                           **fields)
            self.assertEqual(await self.signed(body), {"error": need})
        body = request(version=3, action="info", username="alice")
        other, _ = testKey("mallory")
        self.assertEqual(await self.signed(body, key=other),
                         {"error": "invalid signature"})

    async def test_unverifiedNotRemembered(self):
        """
        A request whose signature fails does not use up its nonce.
        """
        body = stamped(self.clock, action="info", username="alice")
        other, _ = testKey("mallory")
        self.assertEqual(await self.signed(body, key=other),
                         {"error": "invalid signature"})
        self.assertEqual(len(self.plane.replay), 0)
        self.assertIn("uuid", await self.signed(body))
