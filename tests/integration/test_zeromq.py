"""
The ZeroMQ-era surface on a real node (PROTOCOL.md section 9): the ZeroMQ
drivers feeding the echo app, the JSON management plane (versions 2 and 3)
and the per-app monitoring stream. The clients are plain pyzmq sockets on
ipc endpoints in a short temporary directory.
"""

import json
import os
import socket
import time
import uuid

import zmq
from twisted.trial.unittest import SkipTest

from cocaine.client.deploy import readManifest, upload
from cocaine.errors import CocaineError
from cocaine.protocol.framing import packValue
from tests.integration.test_apps import ECHO, _AppTestCase
from tests.management._client import Peer, Timeout, shortDirectory

try:
    from tests.management._keys import sign, testKey
except ImportError:     # no cryptography: the version 3 tests skip
    sign = testKey = None


class _ZeroMQNodeCase(_AppTestCase):
    """
    A node per test; C{self.ipc(name)} is an ipc endpoint of this test.
    """

    def setUp(self):
        self.directory = shortDirectory(self)
        _AppTestCase.setUp(self)

    def ipc(self, name):
        return "ipc://" + os.path.join(self.directory, name)

    async def deploy(self, name, drivers=None, **extra):
        manifest = dict(readManifest(ECHO), **extra)
        if drivers:
            manifest["drivers"] = drivers
        await upload(self.service("storage"), name, path=ECHO,
                     manifest=manifest)
        await self.service("node").start_app(name, {"pool-limit": 1})

    async def drivers(self, app):
        return (await self.service("node").info(app))["drivers"]


class DriverTests(_ZeroMQNodeCase):

    async def test_serverRequestReply(self):
        await self.deploy("zs", {
            "rpc": {"type": "zeromq-server", "endpoint": self.ipc("rpc"),
                    "emit": "echo"},
            "broken": {"type": "zeromq-server",
                       "endpoint": self.ipc("broken"), "emit": "fail"}})
        client = Peer(self, zmq.REQ, self.ipc("rpc"))
        self.assertEqual(await client.request(b"hello", b"world"),
                         [b"hello", b"world"])
        failing = Peer(self, zmq.REQ, self.ipc("broken"))
        reply = await failing.request(b"x")
        self.assertEqual(len(reply), 1)
        self.assertIn("boom", json.loads(reply[0])["error"])
        drivers = await self.drivers("zs")
        self.assertEqual((drivers["rpc"]["type"], drivers["rpc"]["jobs"],
                          drivers["rpc"]["errors"]),
                         ("zeromq-server", 1, 0))
        self.assertEqual(drivers["rpc"]["endpoint"], self.ipc("rpc"))
        self.assertEqual(drivers["broken"]["errors"], 1)
        await self.service("node").pause_app("zs")
        # the endpoint is released with the app
        released = Peer(self, zmq.REQ, self.ipc("rpc"))
        with self.assertRaises(Timeout):
            await released.request(b"x", timeout=0.5)

    async def test_sink(self):
        await self.deploy("sink", {
            "in": {"type": "zeromq-sink", "endpoint": self.ipc("in"),
                   "emit": "echo"}})
        push = Peer(self, zmq.PUSH, self.ipc("in"))
        push.send(b"one")
        push.send(b"two", b"parts")

        async def done():
            info = (await self.drivers("sink"))["in"]
            return info if info["jobs"] == 2 else None
        info = await self.waitFor(done)
        self.assertEqual((info["type"], info["errors"]), ("zeromq-sink", 0))

    async def test_subscriber(self):
        publisher = Peer(self, zmq.PUB, self.ipc("feed"), bind=True)
        await self.deploy("sub", {
            "feed": {"type": "zeromq-subscriber",
                     "endpoint": self.ipc("feed"), "subscription": "news",
                     "emit": "echo"}})

        async def received():
            publisher.send(b"sport", b"ignored")
            publisher.send(b"news", b"item")
            info = (await self.drivers("sub"))["feed"]
            return info if info["jobs"] else None
        info = await self.waitFor(received)
        self.assertEqual((info["type"], info["subscription"],
                          info["errors"]),
                         ("zeromq-subscriber", ["news"], 0))

    async def test_addressInUseFailsTheStart(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        endpoint = "tcp://127.0.0.1:{}".format(taken.getsockname()[1])
        with self.assertRaises(CocaineError) as caught:
            await self.deploy("taken", {
                "rpc": {"type": "zeromq-server", "endpoint": endpoint}})
        self.assertIn("app 'taken': driver 'rpc' (zeromq-server) cannot "
                      "start: cannot bind {}: Address already in use"
                      .format(endpoint), str(caught.exception))
        self.assertEqual(await self.service("node").list(), [])

    async def test_monitoring(self):
        await self.deploy("watched", {
            "rpc": {"type": "zeromq-server", "endpoint": self.ipc("rpc"),
                    "emit": "ping"}},
            pubsub={"endpoint": self.ipc("pubsub")})
        subscriber = Peer(self, zmq.SUB, self.ipc("pubsub"), subscribe=b"")
        client = Peer(self, zmq.REQ, self.ipc("rpc"))
        seen = []

        async def result():
            # the subscription takes a moment to reach the publisher
            self.assertEqual(await client.request(b""), [b"pong"])
            try:
                while True:
                    seen.append(await subscriber.receive(timeout=0.2))
            except Timeout:
                pass
            return [m for m in seen if m[0].startswith(b"rpc result ")]
        results = await self.waitFor(result)
        driver, field, host, when = results[0][0].decode().split(" ")
        self.assertEqual((driver, field, host, results[0][1]),
                         ("rpc", "result", socket.gethostname(), b"pong"))
        float(when)
        await self.service("node").pause_app("watched")
        events = []
        while not events or events[-1][0].split()[1] != b"stopped":
            events.append(await subscriber.receive())
        names = [e[0].split()[1] for e in events]
        self.assertIn(b"worker-stopped", names)
        self.assertEqual(events[-1][0].split()[0], b"engine")
        self.assertEqual(json.loads(events[-1][1]), {})


class _ManagementCase(_ZeroMQNodeCase):
    """
    A node with the management plane on an ipc endpoint.
    """

    requireSignature = False

    def nodeConfig(self):
        config = _AppTestCase.nodeConfig(self)
        config["services"]["management"] = {"type": "management", "args": {
            "endpoint": self.ipc("management"),
            "require-signature": self.requireSignature}}
        return config

    async def manage(self, request, *extra):
        client = Peer(self, zmq.REQ, self.ipc("management"))
        body = request if isinstance(request, bytes) else json.dumps(
            request).encode()
        reply = await client.request(body, *extra, timeout=30)
        self.assertEqual(len(reply), 1)
        return json.loads(reply[0])


class ManagementTests(_ManagementCase):
    """
    The JSON management plane, version 2 (and version 3 accepted).
    """

    async def test_lifecycle(self):
        created = await self.manage({"version": 2, "action": "create",
                                     "apps": {"dev": {
                                         "slave": "worker.py", "path": ECHO,
                                         "profile": {"pool-limit": 1}}}})
        self.assertEqual(created["apps"]["dev"]["state"], "running")
        self.assertEqual(created["apps"]["dev"]["profile"]["pool-limit"], 1)
        self.assertEqual(await self.call(self.service("dev"), "ping"),
                         [b"pong"])
        info = await self.manage({"version": 2, "action": "info"})
        self.assertEqual(sorted(info), ["apps", "hostname", "uuid"])
        self.assertEqual(list(info["apps"]), ["dev"])
        uuid = await self.locator.uuid()
        self.assertEqual(info["uuid"], uuid if isinstance(uuid, str)
                         else uuid[0])
        reloaded = await self.manage({"version": 2, "action": "reload",
                                      "apps": ["dev", "ghost"]})
        self.assertEqual(reloaded["apps"]["dev"]["state"], "running")
        self.assertEqual(reloaded["apps"]["ghost"],
                         {"error": "app 'ghost' is not running"})
        self.assertEqual(await self.service("node").list(), ["dev"])
        deleted = await self.manage({"version": 2, "action": "delete",
                                     "apps": ["dev"]})
        self.assertEqual(deleted, {"apps": {"dev": {"state": "deleted"}}})
        self.assertEqual(await self.service("node").list(), [])
        self.assertEqual(await self.service("storage").find(
            "manifests", ["app"]), [])

    async def test_createFromStorageWithDrivers(self):
        storage = self.service("storage")
        await upload(storage, "stored", path=ECHO)
        manifest = dict(readManifest(ECHO), drivers={
            "rpc": {"type": "zeromq-server", "endpoint": self.ipc("rpc"),
                    "emit": "echo"}})
        created = await self.manage({"version": 2, "action": "create",
                                     "apps": {"stored": manifest}})
        self.assertEqual(created["apps"]["stored"]["drivers"]["rpc"]["type"],
                         "zeromq-server")
        client = Peer(self, zmq.REQ, self.ipc("rpc"))
        self.assertEqual(await client.request(b"via", b"zmq"),
                         [b"via", b"zmq"])
        failed = await self.manage({"version": 2, "action": "create",
                                    "apps": {"missing": {"slave": "w"}}})
        self.assertIn("no archive in storage",
                      failed["apps"]["missing"]["error"])

    async def test_errors(self):
        for request, error in (
                (b"{not json", "invalid json: "),
                (b"[]", "invalid request: must be a JSON object"),
                ({"version": 1, "action": "info"},
                 "unsupported version: 1 (2 and 3 are supported)"),
                ({"version": 2, "action": "explode"},
                 'unsupported action: "explode" (create, delete, reload, '
                 'info)'),
                ({"version": 2, "action": "delete", "apps": "dev"},
                 'invalid request: delete takes "apps": [name, ...]')):
            reply = await self.manage(request)
            self.assertEqual(list(reply), ["error"])
            self.assertTrue(reply["error"].startswith(error),
                            (request, reply))

    async def test_versionThreeAccepted(self):
        if testKey is None:
            raise SkipTest("the cryptography package is not installed")
        key, pem = testKey("alice")
        await self.service("storage").write("keys", "alice", packValue(pem),
                                            ["key"])
        body = json.dumps({"version": 3, "action": "info",
                           "username": "alice", "timestamp": time.time(),
                           "nonce": uuid.uuid4().hex}).encode()
        self.assertIn("uuid", await self.manage(body, sign(key, body)))
        self.assertEqual(await self.manage(body, sign(key, body)), {
            "error": "replayed request: its nonce was already used"})


class SignedManagementTests(_ManagementCase):
    """
    With C{require-signature}: version 3 only, RSA signatures checked
    against the keys in storage.
    """

    requireSignature = True

    async def manage(self, request, *extra, username="alice", key=None,
                     digest="sha256"):
        if isinstance(request, dict) and request.get("version") == 3:
            request = dict(request, username=username,
                           timestamp=time.time(), nonce=uuid.uuid4().hex)
            body = json.dumps(request).encode()
            return await _ManagementCase.manage(
                self, body, sign(key or self.key, body, digest), *extra)
        return await _ManagementCase.manage(self, request, *extra)

    def setUp(self):
        if testKey is None:
            raise SkipTest("the cryptography package is not installed")
        self.key, self.pem = testKey("alice")
        return _ZeroMQNodeCase.setUp(self)

    async def addKey(self):
        await self.service("storage").write("keys", "alice",
                                            packValue(self.pem), ["key"])

    async def test_lifecycle(self):
        await self.addKey()
        created = await self.manage({"version": 3, "action": "create",
                                     "apps": {"dev": {
                                         "slave": "worker.py", "path": ECHO,
                                         "profile": {"pool-limit": 1}}}})
        self.assertEqual(created["apps"]["dev"]["state"], "running")
        deleted = await self.manage({"version": 3, "action": "delete",
                                     "apps": ["dev"]}, digest="sha1")
        self.assertEqual(deleted, {"apps": {"dev": {"state": "deleted"}}})

    async def test_signatures(self):
        await self.addKey()
        info = {"version": 3, "action": "info"}
        self.assertIn("uuid", await self.manage(info))
        self.assertIn("uuid", await self.manage(info, digest="sha1"))
        self.assertEqual(await self.manage({"version": 2, "action": "info"}),
                         {"error": "signed requests (version 3) are "
                                   "required"})
        self.assertEqual(await self.manage(info, username="bob"),
                         {"error": "unauthorized user"})
        mallory, _ = testKey("mallory")
        self.assertEqual(await self.manage(info, key=mallory),
                         {"error": "invalid signature"})
        body = json.dumps(dict(info, username="alice", timestamp=time.time(),
                               nonce=uuid.uuid4().hex)).encode()
        self.assertEqual(await _ManagementCase.manage(self, body),
                         {"error": "invalid signature"})
        self.assertEqual(await _ManagementCase.manage(
            self, body + b" ", sign(self.key, body)),
            {"error": "invalid signature"})
        reply = await self.manage(b"{not json")
        self.assertTrue(reply["error"].startswith("invalid json: "))
