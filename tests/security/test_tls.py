"""
TLS on native endpoints (C{network.tls}) against a real node on loopback:
plain TCP gets nothing, our client and C{cocaine-tool} with the CA work,
and with C{client-ca} a client certificate is required, checked against
that CA, and proves an identity (C{uid:0} is the admin).
"""

import os
import subprocess
import sys
import time

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from cocaine.auth.token import issue
from cocaine.client import ClientTLS, Locator, Service
from cocaine.errors import (
    AccessDenied, CallTimeout, NotConnected, Unauthorized)
from tests.certs import CA, write
from tests.integration.node import Node, environment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
ECHO = os.path.join(ROOT, "examples", "apps", "echo")
SECRET = b"0123456789abcdef0123456789abcdef"


class _TLSNode(TestCase):

    timeout = 60
    clientCA = False
    auth = False

    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        self.ca = CA("node CA")
        cert, key, _ = self.ca.server("127.0.0.1")
        self.caPath = write(self.directory, "ca.pem", self.ca.pem, 0o644)
        tls = {"cert": write(self.directory, "node.pem", cert, 0o644),
               "key": write(self.directory, "node.key", key)}
        if self.clientCA:
            tls["client-ca"] = self.caPath
        config = {
            "network": {"locator": 0, "tls": tls},
            "services": {
                "logging": {"type": "logging"},
                "storage": {"type": "storage"},
                "node": {"type": "node", "args": {
                    "local": {"echo": {"path": ECHO}},
                    "drain-timeout": 2}}}}
        if self.auth:
            config["authentications"] = {"core": {"type": "token", "args": {
                "secret-file": write(self.directory, "secret", SECRET)}}}
        self.node = Node(os.path.join(self.directory, "node"), config)
        self.node.start()
        self.addCleanup(self.node.stop)

    def client(self, name, tls, token=None):
        locator = Locator(reactor, [("127.0.0.1", self.node.port)],
                          timeout=15, connectTimeout=5, token=token or "",
                          tls=tls)
        if token is None:
            locator.authorization = None
        self.addCleanup(locator.disconnect)
        if name == "locator":
            return locator
        service = Service(name, locator, timeout=15)
        self.addCleanup(service.disconnect)
        return service

    def clientCert(self, commonName, ca=None, units=()):
        cert, key, _ = (ca or self.ca).client(commonName, units)
        name = commonName.replace(":", "-")
        return (write(self.directory, name + ".pem", cert),
                write(self.directory, name + ".key", key))

    async def assertNothing(self, call):
        """
        The call gets no answer: the connection fails or is dropped.
        """
        try:
            value = await call
        except (NotConnected, CallTimeout) as e:
            return e
        self.fail("answered: {!r}".format(value))

    def tool(self, *args):
        env = environment()
        env["HOME"] = os.path.join(self.directory, "home")
        os.makedirs(env["HOME"], exist_ok=True)
        for name in ("COCAINE_TOKEN", "COCAINE_TLS_CA", "COCAINE_TLS_CERT",
                     "COCAINE_TLS_KEY"):
            env.pop(name, None)
        return subprocess.run(
            [sys.executable, "-m", "cocaine.tool", "--port",
             str(self.node.port), "--timeout", "15"] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            timeout=45)


class TLSNodeTests(_TLSNode):
    """
    C{network.tls} with a certificate and key, no client CA, no auth.
    """

    async def test_plainClientGetsNothing(self):
        """
        A plain-TCP client (0.12's framework, say) gets no answer.
        """
        locator = self.client("locator", tls=False)
        await self.assertNothing(locator.resolve("storage", timeout=5))

    async def test_clientWithCA(self):
        """
        Our client with the node's CA resolves, reads and writes storage
        and runs an app's session, every endpoint over TLS; the resolve
        answer is 0.12's.
        """
        tls = ClientTLS(ca=self.caPath)
        locator = self.client("locator", tls)
        endpoints, version, graph = await locator.resolve("storage")
        self.assertEqual(endpoints[0][0], "127.0.0.1")
        storage = self.client("storage", tls)
        await storage.write("notes", "a", b"over tls", ["t"])
        self.assertEqual(await storage.read("notes", "a"), b"over tls")
        channel = await self.client("echo", tls).enqueue("echo")
        channel.write(b"hi")
        channel.close()
        self.assertEqual(await channel.read(), b"hi")

    def test_workerSDKContext(self):
        """
        The worker SDK's asyncio context (L{cocaine.worker.tls}) resolves
        at the node's locator over TLS; a plain asyncio connection gets
        nothing.
        """
        script = (
            "import asyncio, sys, msgpack\n"
            "from cocaine.worker.tls import clientContext, serverName\n"
            "async def main(port):\n"
            "    context = clientContext()\n"
            "    reader, writer = await asyncio.open_connection(\n"
            "        '127.0.0.1', port, ssl=context,\n"
            "        server_hostname=serverName('127.0.0.1')\n"
            "        if context else None)\n"
            "    writer.write(msgpack.packb([1, 0, ['storage']]))\n"
            "    unpacker = msgpack.Unpacker(\n"
            "        raw=False, strict_map_key=False)\n"
            "    data = await asyncio.wait_for(reader.read(65536), 10)\n"
            "    unpacker.feed(data)\n"
            "    for message in unpacker:\n"
            "        print(message[0], message[1], message[2][0][0][0])\n"
            "asyncio.run(main(int(sys.argv[1])))\n")
        env = environment()
        env.pop("COCAINE_TLS_CA", None)

        def run(**extra):
            return subprocess.run(
                [sys.executable, "-c", script, str(self.node.port)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=dict(env, **extra), timeout=45)
        tls = run(COCAINE_TLS_CA=self.caPath)
        self.assertEqual(tls.stdout, b"1 0 127.0.0.1\n", tls)
        plain = run()
        self.assertEqual(plain.stdout, b"", plain)

    async def test_otherCARefused(self):
        """
        A client that trusts another CA refuses the node's certificate.
        """
        other = write(self.directory, "other.pem", CA("other").pem, 0o644)
        locator = self.client("locator", ClientTLS(ca=other))
        await self.assertNothing(locator.resolve("storage", timeout=5))

    def test_tool(self):
        """
        C{cocaine-tool --tls-ca} talks to the node; without it, it fails
        in one line.
        """
        listed = self.tool("--tls-ca", self.caPath, "app", "list")
        self.assertEqual(listed.returncode, 0, listed)
        self.assertIn(b"echo", listed.stdout)
        plain = self.tool("app", "list")
        self.assertEqual(plain.returncode, 1, plain)
        self.assertEqual(len(plain.stderr.splitlines()), 1, plain)
        self.assertIn(b"--tls-ca", plain.stderr)


class MutualTLSTests(_TLSNode):
    """
    C{client-ca} set and token authentication on: a client certificate
    from the CA is required, and its subject is an identity.
    """

    clientCA = True
    auth = True

    async def test_noCertificateRefused(self):
        """
        A client without a certificate gets nothing.
        """
        locator = self.client("locator", ClientTLS(ca=self.caPath))
        await self.assertNothing(locator.resolve("storage", timeout=5))

    async def test_otherCACertificateRefused(self):
        """
        A client certificate signed by another CA is refused.
        """
        cert, key = self.clientCert("uid:0", ca=CA("mallory"))
        locator = self.client("locator", ClientTLS(self.caPath, cert, key))
        await self.assertNothing(locator.resolve("storage", timeout=5))

    async def test_adminCertificate(self):
        """
        C{CN=uid:0} acts as the admin: it writes the admin-only C{keys}
        collection and lists the node's apps.
        """
        cert, key = self.clientCert("uid:0")
        tls = ClientTLS(self.caPath, cert, key)
        await self.client("storage", tls).write("keys", "k", b"v", [])
        self.assertIn("echo", await self.client("node", tls).list())
        self.assertEqual(await self.client("storage", tls).read("keys", "k"),
                         b"v")

    async def test_userCertificateAndToken(self):
        """
        C{CN=uid:5} is a user, not the admin; a certificate naming no uid
        or cid is anonymous; a token sent with the call wins over the
        certificate.
        """
        cert, key = self.clientCert("uid:5")
        tls = ClientTLS(self.caPath, cert, key)
        storage = self.client("storage", tls)
        await storage.write("notes", "a", b"mine", [])
        try:
            await storage.write("keys", "k", b"v", [])
        except AccessDenied as e:
            self.assertEqual((e.category, e.code), (0x09, 3))
        else:
            self.fail("uid 5 wrote keys")
        cert, key = self.clientCert("somebody")
        nobody = self.client("storage", ClientTLS(self.caPath, cert, key))
        try:
            await nobody.read("notes", "a")
        except Unauthorized as e:
            self.assertEqual((e.category, e.code), (0x09, 2))
        else:
            self.fail("an anonymous certificate read storage")
        admin = issue(SECRET, uids=[0], expiry=int(time.time()) + 600)
        withToken = self.client("storage", ClientTLS(self.caPath, cert, key),
                                token=admin)
        await withToken.write("keys", "k", b"v", [])

    def test_toolWithCertificate(self):
        """
        C{cocaine-tool --tls-ca --tls-cert --tls-key} with an admin
        certificate lists apps.
        """
        cert, key = self.clientCert("uid:0")
        listed = self.tool("--tls-ca", self.caPath, "--tls-cert", cert,
                           "--tls-key", key, "app", "list")
        self.assertEqual(listed.returncode, 0, listed)
        self.assertIn(b"echo", listed.stdout)
