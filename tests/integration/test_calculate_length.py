# -*- test-case-name: tests.integration.test_calculate_length -*-
"""
The README's motivating example on a real node: the calculate-length app
(C{examples/apps/calculate-length}, our worker SDK) calls the node's
storage from its handler through L{cocaine.worker.Service}; with token
authentication on, it calls with the app's own token.
"""

import os
import time
from unittest import mock

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from cocaine.auth.acl import COLLECTION_ACLS, packCollectionACL
from cocaine.auth.guard import appCid
from cocaine.auth.token import issue
from cocaine.client import Locator, Service
from cocaine.client.deploy import upload
from cocaine.errors import CocaineError
from cocaine.rpc.tls import ClientTLS
from tests.certs import CA, write
from tests.integration.node import ROOT, Node
from tests.security.test_auth import SECRET, writeSecret

APP = os.path.join(ROOT, "examples", "apps", "calculate-length")
NAME = "calculate-length"


class _NodeTestCase(TestCase):
    """
    A node with storage and the node service; the app deployed as the
    Cocaine tools do.
    """

    timeout = 60
    token = None
    tls = False

    #: Variables of the node's environment (it passes some to workers).
    nodeEnvironment = {}

    def nodeConfig(self, directory):
        return {"network": {"locator": 0}, "services": {
            "logging": {"type": "logging"},
            "storage": {"type": "storage"},
            "node": {"type": "node", "args": {"drain-timeout": 5}}}}

    def setUp(self):
        directory = os.path.abspath(self.mktemp())
        node = self.node = Node(directory, self.nodeConfig(directory))
        with mock.patch.dict(os.environ, self.nodeEnvironment):
            node.start()
        self.addCleanup(node.stop)
        self.locator = Locator(reactor, [("127.0.0.1", node.port)],
                               timeout=20, token=self.token, tls=self.tls)
        self.addCleanup(self.locator.disconnect)

    def service(self, name):
        service = Service(name, self.locator, timeout=20)
        self.addCleanup(service.disconnect)
        return service

    async def deploy(self):
        await upload(self.service("storage"), NAME, path=APP,
                     profile={"pool-limit": 1}, profileName="small")
        await self.service("node").start_app(NAME, "small")

    async def call(self, event, key):
        """
        One request to the app: the key, then its answer's chunks.
        """
        channel = await self.service(NAME).enqueue(event)
        channel.write(key)
        channel.close()
        return [chunk async for chunk in channel]


class CalculateLengthTests(_NodeTestCase):

    async def test_length(self):
        """
        The handler reads the value from storage and answers its length.
        """
        await self.deploy()
        storage = self.service("storage")
        await storage.write("collection", "greeting", b"hello, world")
        await storage.write("collection", "empty", b"")
        self.assertEqual(await self.call("calculateLength", b"greeting"),
                         [b"12"])
        self.assertEqual(await self.call("calculateLength", b"empty"),
                         [b"0"])
        self.assertEqual(await self.call("lengthOrReason", b"greeting"),
                         [b"12"])
        # a new value is read anew (nothing cached in the app)
        await storage.write("collection", "greeting", b"hi")
        self.assertEqual(await self.call("calculateLength", b"greeting"),
                         [b"2"])

    async def test_missingKey(self):
        """
        Storage's error reaches the handler as the L{CocaineError} with
        storage's category and code: uncaught, the client gets the
        worker's uncaught-exception error naming it; caught, the handler
        answers with what it saw.
        """
        await self.deploy()
        with self.assertRaises(CocaineError) as raised:
            await self.call("calculateLength", b"nothing")
        error = raised.exception
        self.assertEqual((error.category, error.code), (42, 100))
        self.assertTrue(error.message.startswith("KeyNotFound: "),
                        error.message)
        with self.assertRaises(CocaineError) as raised:
            await self.call("lengthOrReason", b"nothing")
        error = raised.exception
        self.assertEqual((error.category, error.code), (43, 2))
        self.assertTrue(error.message.startswith(
            "storage said [1, 2] KeyNotFound: "), error.message)


class AuthenticatedTests(_NodeTestCase):
    """
    With token authentication on, the app's calls carry its own token:
    storage knows them as the app (its cid), not as anonymous.
    """

    token = issue(SECRET, uids=[0], expiry=int(time.time()) + 3600)

    def nodeConfig(self, directory):
        config = _NodeTestCase.nodeConfig(self, directory)
        config["authentications"] = {"core": {"type": "token", "args": {
            "secret-file": writeSecret(directory)}}}
        return config

    async def test_appIdentity(self):
        await self.deploy()
        storage = self.service("storage")
        await storage.write("collection", "secret", b"12345")
        # the collection is the admin's alone
        await storage.write(COLLECTION_ACLS, "collection",
                            packCollectionACL({}, {0: 3}))
        with self.assertRaises(CocaineError) as raised:
            await self.call("lengthOrReason", b"secret")
        error = raised.exception
        # permission denied, not unauthorized: the node knew the caller
        self.assertEqual((error.category, error.code), (43, 3))
        self.assertTrue(error.message.startswith(
            "storage said [9, 3] AccessDenied: "), error.message)
        # let the app read it
        await storage.write(COLLECTION_ACLS, "collection",
                            packCollectionACL({appCid(NAME): 1}, {0: 3}))
        self.assertEqual(await self.call("calculateLength", b"secret"),
                         [b"5"])


class TLSTests(_NodeTestCase):
    """
    With the node's endpoints behind TLS, the app reaches storage over
    TLS: the node passes C{COCAINE_TLS_CA} to its workers.
    """

    def nodeConfig(self, directory):
        config = _NodeTestCase.nodeConfig(self, directory)
        ca = CA("node CA")
        cert, key, _ = ca.server("127.0.0.1")
        caPath = write(directory, "ca.pem", ca.pem, 0o644)
        config["network"]["tls"] = {
            "cert": write(directory, "node.pem", cert, 0o644),
            "key": write(directory, "node.key", key)}
        self.nodeEnvironment = {"COCAINE_TLS_CA": caPath}
        self.tls = ClientTLS(ca=caPath)
        return config

    async def test_length(self):
        await self.deploy()
        await self.service("storage").write("collection", "k", b"abc")
        self.assertEqual(await self.call("calculateLength", b"k"), [b"3"])
