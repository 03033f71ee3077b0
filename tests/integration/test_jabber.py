"""
The C{jabber} service through a real node against a real Prosody
(L{tests.integration.prosody}) with STARTTLS on a certificate the test
makes: two services (two accounts) round-trip a message, presence, the
service reconnects after Prosody restarts, and a wrong password is a
clear error on the call and in the node's log.
"""

import os
import socket
import subprocess
import sys

import msgpack
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from cocaine.errors import BackendUnavailable
from cocaine.jabber.service import JabberService
from cocaine.jabber.settings import parse
from cocaine.protocol.jabber import JABBER, JABBER_VERSION
from cocaine.rpc.limits import ConnectionLimits
from cocaine.rpc.hosting import HostedService, ServerFactory
from tests.certs import CA, write
from tests.integration.framework import frameworkPython, frameworkSteps
from tests.integration.node import ROOT, Node, NodeClientMixin, environment
from tests.integration.prosody import ProsodyServer


_FRAMEWORK_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 "framework_jabber.py")


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


class JabberNodeTests(NodeClientMixin, TestCase):

    timeout = 120

    def setUp(self):
        directory = os.path.abspath(self.mktemp())
        self.prosody = ProsodyServer(os.path.join(directory, "prosody"))
        self.alice = self.prosody.register("alice", "alice's secret")
        self.bob = self.prosody.register("bob", "bob's secret")
        self.prosody.start()
        self.addCleanup(self.prosody.stop)

        otherCA = write(directory, "other-ca.pem", CA("not prosody's").pem)

        def account(jid, password, ca=self.prosody.caPath):
            return {"type": "jabber", "args": {
                "jid": jid, "password": password, "host": "127.0.0.1",
                "port": self.prosody.port, "ca": ca}}

        config = {"network": {"locator": 0}, "services": {
            "logging": {"type": "logging"},
            "alice": account(self.alice, "alice's secret"),
            "bob": account(self.bob, "bob's secret"),
            "mallory": account(self.alice, "not alice's secret"),
            "eve": account(self.alice, "alice's secret", ca=otherCA)}}
        self.startNode(Node(os.path.join(directory, "node"), config))

    async def until(self, probe, what, timeout=40):
        """
        Call C{probe()} (async) until it returns true.
        """
        for _ in range(int(timeout / 0.1)):
            if await probe():
                return
            await deferLater(reactor, 0.1)
        self.fail("{} within {} s; node log:\n{}\nprosody log tail:\n{}"
                  .format(what, timeout, self.node.log()[-3000:],
                          self.prosody.log()[-3000:]))

    async def online(self, service):
        """
        Wait until C{service}'s account is online (C{presence} succeeds).
        """
        async def probe():
            try:
                await service.presence("")
            except BackendUnavailable:
                return False
            return True
        await self.until(probe, "{} online".format(service.name))

    async def roundTrip(self, alice, bob, body):
        channel = await bob.subscribe()
        ident = await alice.send(self.bob, body)
        self.assertTrue(_text(ident))
        chunk = await channel.read()
        sender, received, kind = [_text(x) for x in chunk]
        self.assertEqual(sender.split("/")[0], self.alice)
        self.assertEqual((received, kind), (body, "chat"))
        channel.close()

    async def test_roundTrip(self):
        """
        What one service sends, the other's subscribers receive, with its
        sender and type; two subscribers each get it.
        """
        alice, bob = self.service("alice"), self.service("bob")
        await self.online(alice)
        await self.online(bob)
        first, second = await bob.subscribe(), await bob.subscribe()
        await alice.send(self.bob, "hello, bob", "normal")
        for channel in (first, second):
            sender, body, kind = [_text(x) for x in await channel.read()]
            self.assertEqual(sender.split("/")[0], self.alice)
            self.assertEqual((body, kind), ("hello, bob", "normal"))
            channel.close()
        await self.roundTrip(alice, bob, "héllo again")

    async def test_presence(self):
        """
        C{presence} answers nothing once online, and the account still
        sends afterwards.
        """
        alice, bob = self.service("alice"), self.service("bob")
        await self.online(alice)
        await self.online(bob)
        self.assertIsNone(await alice.presence("in a meeting"))
        await self.roundTrip(alice, bob, "after presence")

    async def test_reconnect(self):
        """
        While Prosody is down a send fails at once naming the service and
        the account; once Prosody is back the services reconnect by
        themselves and messages go through again.
        """
        alice, bob = self.service("alice"), self.service("bob")
        await self.online(alice)
        await self.online(bob)
        self.prosody.stop()
        errors = []

        async def refused():
            try:
                await alice.send(self.bob, "into the void")
            except BackendUnavailable as e:
                errors.append(str(e))
                return True
            return False
        await self.until(refused, "a send failing while Prosody is down")
        self.assertIn("'alice'", errors[-1])
        self.assertIn(self.alice, errors[-1])
        self.prosody.start()
        await self.online(alice)
        await self.online(bob)
        await self.roundTrip(alice, bob, "back again")

    async def test_wrongPassword(self):
        """
        An account with a wrong password: its calls fail saying so, and
        the node logs it.
        """
        mallory = self.service("mallory")
        errors = []

        async def refused():
            try:
                await mallory.send(self.bob, "let me in")
            except BackendUnavailable as e:
                errors.append(str(e))
                return "authentication failed" in str(e)
            self.fail("a wrong password logged in")
        await self.until(refused, "the login to fail")
        self.assertIn("not-authorized", errors[-1])
        self.assertIn("'mallory'", errors[-1])
        self.assertIn("jabber service mallory (alice@localhost): "
                      "authentication failed (not-authorized)",
                      self.node.log())

    async def test_framework012(self):
        """
        The real Cocaine 0.12 framework (what a 0.12 app uses) resolves
        the services, subscribes, sends and sets a presence.
        """
        frameworkPython()
        await self.online(self.service("alice"))
        await self.online(self.service("bob"))
        steps = frameworkSteps(self, _FRAMEWORK_SCRIPT, self.node.port,
                               "alice", "bob", self.bob, timeout=90)
        self.assertTrue(steps["send"]["value"][0])
        sender, body, kind = steps["received"]["chunk"]
        self.assertEqual(sender.split("/")[0], self.alice)
        self.assertEqual((body, kind), ("from 0.12", "chat"))
        self.assertEqual(steps["presence"]["value"], [])
        self.assertEqual(steps["bad type"]["error"], [7, 2])
        self.assertIn("'type' must be one of", steps["bad type"]["reason"])

    def test_example(self):
        """
        C{examples/jabber_client.py} runs against this node: Bob's
        subscriber receives what Alice sent.
        """
        result = subprocess.run(
            [sys.executable, os.path.join(ROOT, "examples",
                                          "jabber_client.py"),
             "--port", str(self.node.port), "--to", self.bob],
            env=environment(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=90)
        output = result.stdout.decode("utf-8", "replace")
        self.assertEqual(result.returncode, 0, output)
        self.assertIn("bob@localhost received from alice@localhost/",
                      output)
        self.assertIn("(chat): hello from cocaine", output)
        self.assertIn("presence set", output)

    async def test_untrustedServer(self):
        """
        A server whose certificate does not chain to C{ca} is not logged
        in to: the calls fail saying TLS failed.
        """
        eve = self.service("eve")
        errors = []

        async def refused():
            try:
                await eve.send(self.bob, "psst")
            except BackendUnavailable as e:
                errors.append(str(e))
                return "TLS failed" in str(e)
            self.fail("logged in to an untrusted server")
        await self.until(refused, "TLS to fail")
        self.assertIn("certificate verify failed", errors[-1])


class SlowSubscriberTests(TestCase):
    """
    A subscriber whose client does not read, on a real TCP connection to
    the service's server side (in this process, no XMPP server needed):
    the messages that do not fit its buffer are dropped, oldest first,
    and it is told.
    """

    timeout = 60

    async def test_dropsOldest(self):
        service = JabberService(reactor, "chat", parse({
            "jid": "bob@localhost", "password": "x", "tls": "off",
            "buffer": 5}))
        # a write limit, as a node's connections have: the server then
        # knows when its client does not read
        port = reactor.listenTCP(0, ServerFactory(
            HostedService("chat", service, JABBER, JABBER_VERSION),
            limits=ConnectionLimits(writeLimit=64 << 20)),
            interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = socket.socket()
        self.addCleanup(client.close)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", port.getHost().port))
        client.setblocking(False)
        client.sendall(msgpack.packb([1, JABBER.idOf("subscribe"), []]))
        while not service.hub.subscribers:
            await deferLater(reactor, 0.01)
        (subscriber,) = service.hub.subscribers
        count, body = 400, "x" * 16384
        for n in range(count):
            service.hub.publish("alice@localhost/r", "{} {}".format(n, body),
                                "chat")
            self.assertLessEqual(len(subscriber.buffer), 5)
        self.assertGreater(subscriber.droppedTotal, 0)

        unpacker = msgpack.Unpacker(raw=False)
        chunks = []
        while not chunks or chunks[-1][1].split()[0] != str(count - 1):
            await deferLater(reactor, 0.001)
            while True:
                try:
                    data = client.recv(1 << 20)
                except BlockingIOError:
                    break
                self.assertTrue(data, "the service closed the connection")
                unpacker.feed(data)
            for channel, mtype, args in unpacker:
                chunks.append(args[0])
        notices = [c for c in chunks if c[2] == "dropped"]
        self.assertEqual(len(notices), 1)
        dropped = int(notices[0][1].split()[0])
        self.assertEqual(dropped, subscriber.droppedTotal)
        self.assertEqual(len(chunks), count - dropped + 1)
        self.assertEqual(chunks[-6], notices[0])
        self.assertEqual([int(c[1].split()[0]) for c in chunks[-5:]],
                         list(range(count - 5, count)))
        client.close()
        while service.hub.subscribers:
            # the server side sees the client go and forgets it
            await deferLater(reactor, 0.01)
