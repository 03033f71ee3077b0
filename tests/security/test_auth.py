"""
Issue 14 findings 2, 3 and 7 as attacks on a real node with token
authentication (loopback only, a few calls each), plus protected mode.

Each test is the attack that used to succeed, now refused with
C{[0x09, 2]} (no or bad identity) or C{[0x09, 3]} (not allowed).
"""

import os
import subprocess
import sys
import time

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from cocaine.auth.token import issue
from cocaine.client import Locator, Service
from cocaine.errors import AccessDenied, Unauthorized
from tests.integration.node import Node, environment, twistdCommand

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
ECHO = os.path.join(ROOT, "examples", "apps", "echo")
SECRET = b"0123456789abcdef0123456789abcdef"


def writeSecret(directory):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "secret")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(SECRET + b"\n")
    return path


def token(uid, ttl=600, secret=SECRET):
    return issue(secret, uids=[uid], expiry=int(time.time()) + ttl)


class AuthNodeTests(TestCase):
    """
    A node with C{"authentications": {"core": {"type": "token"}}} and the
    echo app.
    """

    timeout = 60

    def setUp(self):
        directory = os.path.abspath(self.mktemp())
        self.secretPath = writeSecret(directory)
        self.node = Node(directory, {
            "network": {"locator": 0},
            "authentications": {"core": {"type": "token", "args": {
                "secret-file": self.secretPath}}},
            "services": {
                "logging": {"type": "logging"},
                "storage": {"type": "storage"},
                "unicat": {"type": "unicat"},
                "node": {"type": "node", "args": {
                    "local": {"echo": {"path": ECHO}},
                    "drain-timeout": 2}}}})
        self.node.start()
        self.addCleanup(self.node.stop)

    def service(self, name, token=None):
        locator = Locator(reactor, [("127.0.0.1", self.node.port)],
                          timeout=20, token=token or "")
        if token is None:
            # no credentials at all, whatever the environment says
            locator.authorization = None
        self.addCleanup(locator.disconnect)
        if name == "locator":
            return locator
        service = Service(name, locator, timeout=20)
        self.addCleanup(service.disconnect)
        return service

    async def assertRefused(self, cls, call):
        try:
            await call
        except cls as e:
            self.assertEqual(e.category, 0x09)
            return e
        self.fail("not refused with {}".format(cls.__name__))

    async def test_discoveryStaysOpen(self):
        """
        Anonymous callers still resolve names (0.12 clients find services
        before they can send anything else).
        """
        locator = self.service("locator")
        endpoints, version, graph = await locator.resolve("storage")
        self.assertTrue(endpoints)
        self.assertTrue(await locator.cluster() is not None)

    async def test_finding2_anonymousDeployRefused(self):
        """
        Finding 2: anyone wrote an app through storage and started it, or
        paused another app. Anonymous: [0x09, 2]; a user not in the node's
        event ACL: [0x09, 3]; the admin: allowed.
        """
        storage = self.service("storage")
        e = await self.assertRefused(Unauthorized, storage.write(
            "manifests", "evil", b"\x80", []))
        self.assertEqual(e.code, 2)
        self.assertIn("storage.write", str(e))
        node = self.service("node")
        await self.assertRefused(Unauthorized,
                                 node.start_app("evil", "default"))
        await self.assertRefused(Unauthorized, node.pause_app("echo"))
        user = self.service("node", token(5))
        e = await self.assertRefused(AccessDenied, user.pause_app("echo"))
        self.assertEqual(e.code, 3)
        admin = self.service("node", token(0))
        self.assertIn("echo", await admin.list())

    async def test_finding3_nameHijackRefused(self):
        """
        Finding 3: an unprivileged client published a name itself.
        """
        for who, cls in ((None, Unauthorized), (token(5), AccessDenied)):
            locator = self.service("locator", who)
            channel = await locator.publish("echo", [["127.0.0.1", 1]])
            await self.assertRefused(cls, channel.read())
        endpoints, _, _ = await self.service("locator").resolve("echo")
        self.assertNotEqual(endpoints[0][1], 1)

    async def test_finding7_anyoneWritesAKey(self):
        """
        Finding 7: anyone wrote their own public key into C{keys} (or
        overwrote another user's). Now only the admin writes it, and the
        ACL collections too.
        """
        await self.assertRefused(Unauthorized, self.service(
            "storage").write("keys", "mallory", b"PEM", []))
        user = self.service("storage", token(5))
        for collection in ("keys", "collection-acls", "event-acls"):
            await self.assertRefused(AccessDenied, user.write(
                collection, "mallory", b"PEM", []))
        admin = self.service("storage", token(0))
        await admin.write("keys", "alice", b"PEM", [])
        await self.assertRefused(AccessDenied, user.remove("keys", "alice"))
        self.assertEqual(await user.read("keys", "alice"), b"PEM")

    async def test_badTokensAreAnonymous(self):
        """
        Expired, forged and foreign tokens are all [0x09, 2].
        """
        payload, mac = token(0).split(".")
        forged = token(5).split(".")[0] + "." + mac
        for bad in (token(0, ttl=-10), forged,
                    token(0, secret=b"x" * 32)):
            storage = self.service("storage", bad)
            await self.assertRefused(Unauthorized, storage.find("c", []))

    async def test_storageACLs(self):
        """
        The first authenticated writer owns a collection; others are
        refused.
        """
        alice = self.service("storage", token(5))
        bob = self.service("storage", token(6))
        await alice.write("notes", "a", b"1", [])
        self.assertEqual(await alice.read("notes", "a"), b"1")
        await self.assertRefused(AccessDenied, bob.read("notes", "a"))
        await self.assertRefused(AccessDenied,
                                 bob.write("notes", "a", b"2", []))

    async def test_enqueueNeedsIdentity(self):
        """
        An app's listener is guarded too: anonymous enqueue is refused,
        an authenticated one served.
        """
        channel = await self.service("echo").enqueue("echo")
        await self.assertRefused(Unauthorized, channel.read())
        channel = await self.service("echo", token(5)).enqueue("echo")
        channel.write(b"hi")
        channel.close()
        self.assertEqual(await channel.read(), b"hi")

    def tool(self, *args, **extra):
        env = environment()
        env["HOME"] = os.path.abspath(self.mktemp())
        os.makedirs(env["HOME"])
        env.pop("COCAINE_TOKEN", None)
        env.update(extra)
        return subprocess.run(
            [sys.executable, "-m", "cocaine.tool", "--port",
             str(self.node.port)] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            timeout=45)

    async def test_accessGrant(self):
        """
        The owner of a collection grants another user read access with
        C{cocaine-tool access} (through unicat); others cannot.
        """
        alice = self.service("storage", token(5))
        bob = self.service("storage", token(6))
        await alice.write("notes", "a", b"1", [])
        await self.assertRefused(AccessDenied, bob.read("notes", "a"))
        refused = self.tool("--token", token(6), "access", "grant", "notes",
                            "--uid", "6")
        self.assertEqual(refused.returncode, 1, refused)
        self.assertIn(b"unicat.grant", refused.stderr)
        granted = self.tool("--token", token(5), "access", "grant",
                            "notes", "--uid", "6", "--flags", "r")
        self.assertEqual(granted.returncode, 0, granted)
        self.assertEqual(await bob.read("notes", "a"), b"1")
        await self.assertRefused(AccessDenied,
                                 bob.write("notes", "a", b"2", []))
        shown = self.tool("--token", token(5), "access", "show", "notes")
        self.assertEqual(shown.stdout, b"uid 5 rw\nuid 6 r\n", shown)

    def test_toolTokenIssueAndRefusal(self):
        """
        C{cocaine-tool token issue} signs a token the node accepts; a
        refused call prints one line naming service, method and reason.
        """
        env = environment()
        env["HOME"] = os.path.abspath(self.mktemp())
        os.makedirs(env["HOME"])
        env.pop("COCAINE_TOKEN", None)

        def tool(*args, **extra):
            return subprocess.run(
                [sys.executable, "-m", "cocaine.tool", "--port",
                 str(self.node.port)] + list(args),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=dict(env, **extra), timeout=45)

        issued = tool("token", "issue", "--secret-file", self.secretPath,
                      "--uid", "0", "--ttl", "60")
        self.assertEqual(issued.returncode, 0, issued)
        admin = issued.stdout.decode().strip()
        pem = os.path.join(env["HOME"], "key.pem")
        with open(pem, "w") as f:
            f.write("-----BEGIN PUBLIC KEY-----\nAAAA\n"
                    "-----END PUBLIC KEY-----\n")
        refused = tool("keys", "add", "mallory", pem)
        self.assertEqual(refused.returncode, 1, refused)
        lines = refused.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, refused)
        self.assertIn("storage.write", lines[0])
        self.assertIn("unauthorized", lines[0])
        ok = tool("keys", "add", "alice", pem, COCAINE_TOKEN=admin)
        self.assertEqual(ok.returncode, 0, ok)
        ok = tool("--token", admin, "keys", "list")
        self.assertIn(b"alice", ok.stdout)


class ProtectedModeTests(TestCase):
    """
    A node bound beyond loopback without authentication refuses to start
    (before anything listens) unless the config says C{"insecure": true}.
    """

    timeout = 60

    def startNode(self, config):
        import json
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "cocaine.json")
        with open(path, "w") as f:
            json.dump(config, f)
        return subprocess.run(
            twistdCommand("--pidfile=", "-n", "--logfile",
                          os.path.join(directory, "node.log"), "cocaine",
                          "--config", path),
            cwd=directory, env=environment(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=45), directory

    def config(self, **extra):
        # 192.0.2.1 (TEST-NET-1) is on no interface here: nothing could
        # listen there, and the check comes before any listen anyway
        return dict({"network": {"bind": "192.0.2.1", "locator": 0},
                     "services": {"logging": {"type": "logging"}}},
                    **extra)

    def test_refusesToStart(self):
        result, directory = self.startNode(self.config())
        self.assertEqual(result.returncode, 1, result)
        lines = [line for line in result.stderr.decode().splitlines()
                 if line.startswith("cocaine:")]
        self.assertEqual(len(lines), 1, result)
        self.assertIn("no authentication is configured", lines[0])
        with open(os.path.join(directory, "node.log")) as f:
            self.assertNotIn("listening on", f.read())

    def test_insecureWarns(self):
        result, directory = self.startNode(self.config(insecure=True))
        with open(os.path.join(directory, "node.log")) as f:
            log = f.read()
        self.assertIn("INSECURE", log)
        self.assertNotIn("no authentication is configured",
                         result.stderr.decode())
