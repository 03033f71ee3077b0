"""
C{profile}, C{runlist}, C{group}, C{crashlog} and C{keys} against a real
node's storage, in the layout of PROTOCOL.md section 7.
"""

import json
import os
import sys

import msgpack

from cocaine.protocol.framing import packValue, unpackValue
from tests.tool.support import ToolTestCase

PUBLIC_PEM = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo
4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u
+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyeh
kd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ
0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdg
cKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbc
mwIDAQAB
-----END PUBLIC KEY-----
"""


class ProfileTests(ToolTestCase):

    def editor(self, body):
        """
        An EDITOR: a small script that rewrites the file it is given.
        """
        path = self.writeFile("editor-{}.py".format(abs(hash(body))),
                              "#!{}\nimport json, sys\npath = sys.argv[1]\n"
                              "{}\n".format(sys.executable, body))
        os.chmod(path, 0o755)
        return self.env(EDITOR=path)

    def test_profile(self):
        self.assertEqual(self.ok("profile", "list").out, "no profiles\n")
        path = self.writeFile("p.json", '{"pool-limit": 4, "queue-limit": 8}')
        self.assertEqual(self.ok("profile", "upload", "small", path).out,
                         "profile small uploaded\n")
        self.assertEqual(self.json("profile", "list"), ["small"])
        self.assertEqual(self.json("profile", "view", "small"),
                         {"pool-limit": 4, "queue-limit": 8})
        self.assertIn('"pool-limit": 4', self.ok("profile", "view",
                                                 "small").out)
        # stored as PROTOCOL.md section 7 says: msgpack, tag "profile"
        self.assertEqual(unpackValue(self.ok("call", "storage.read",
                                             "profiles", "small").stdout),
                         {b"pool-limit": 4, b"queue-limit": 8})
        # from standard input
        self.assertEqual(self.json("profile", "upload", "piped", "-",
                                   stdin=b'{"concurrency": 2}'),
                         {"profile": "piped", "value": {"concurrency": 2}})
        self.assertEqual(self.json("call", "storage.find", "profiles",
                                   '["profile"]'), ["piped", "small"])

        self.assertEqual(
            self.ok("profile", "edit", "small", env=self.editor(
                "value = json.load(open(path))\n"
                "value['pool-limit'] = 7\n"
                "json.dump(value, open(path, 'w'))")).out,
            "profile small updated\n")
        self.assertEqual(self.json("profile", "view", "small"),
                         {"pool-limit": 7, "queue-limit": 8})
        self.assertEqual(self.json("profile", "edit", "small",
                                   env=self.editor("pass")),
                         {"profile": "small", "changed": False})
        line = self.fails("profile", "edit", "small", env=self.editor(
            "open(path, 'w').write('{\"pool-limit\": 0}')"),
            message="edited profile not written (profile 'small': "
            "pool-limit: must be a positive integer, got 0); your edit is in")
        kept = line.rsplit(" ", 1)[1]
        with open(kept) as f:
            self.assertEqual(f.read(), '{"pool-limit": 0}')
        os.unlink(kept)
        self.fails("profile", "edit", "small",
                   env=self.editor("sys.exit(3)"),
                   message="exited with status 3; profile not changed")
        self.assertEqual(self.json("profile", "view", "small"),
                         {"pool-limit": 7, "queue-limit": 8})

        self.fails("profile", "upload", "bad", self.writeFile(
            "bad.json", '{"pool-limit": 0}'), message="pool-limit: must be "
            "a positive integer, got 0")

        self.assertEqual(self.json("profile", "remove", "small"),
                         {"profile": "small", "removed": True})
        self.ok("profile", "remove", "piped")
        self.assertEqual(self.json("profile", "list"), [])
        self.assertEqual(
            self.fails("profile", "remove", "small"),
            "cocaine-tool: profile remove small: no profile 'small' in "
            "storage (profiles/small)")


class RunlistTests(ToolTestCase):

    def test_runlist(self):
        self.assertEqual(self.ok("runlist", "create", "boot").out,
                         "runlist boot created\n")
        self.fails("runlist", "create", "boot", message="runlist 'boot' "
                   "already exists")
        self.ok("runlist", "add-app", "boot", "echo", "small")
        self.assertEqual(self.json("runlist", "add-app", "boot", "web"),
                         {"runlist": "boot", "app": "web",
                          "profile": "default"})
        out = self.ok("runlist", "view", "boot").out
        self.assertIn("echo", out)
        self.assertIn("small", out)
        self.assertEqual(unpackValue(self.ok(
            "call", "storage.read", "runlists", "boot").stdout),
            {b"echo": b"small", b"web": b"default"})
        self.assertEqual(self.json("runlist", "remove-app", "boot", "web"),
                         {"runlist": "boot", "app": "web", "removed": True})
        self.assertEqual(self.json("runlist", "view", "boot"),
                         {"echo": "small"})
        self.fails("runlist", "remove-app", "boot", "web",
                   message="app 'web' is not in runlist 'boot'")
        # add-app creates a missing runlist
        self.ok("runlist", "add-app", "other", "echo")
        self.assertEqual(self.json("runlist", "list"), ["boot", "other"])
        self.assertEqual(self.json("runlist", "remove", "boot"),
                         {"runlist": "boot", "removed": True})
        self.fails("runlist", "view", "boot", message="no runlist 'boot'")
        self.fails("runlist", "remove", "boot", message="no runlist 'boot'")


class GroupTests(ToolTestCase):

    def resolved(self, name):
        return self.json("call", "locator.resolve", name)[0]

    def test_group(self):
        storage = self.json("locate", "storage")["endpoints"]
        logging = self.json("locate", "logging")["endpoints"]
        self.assertEqual(self.ok("group", "create", "g",
                                 '{"storage": 1}').out,
                         "group g written (1 member)\n")
        # create refreshes the locator: the group resolves at once
        self.assertEqual(self.resolved("g"), storage)
        self.assertIn("storage", self.ok("group", "view", "g").out)
        self.assertEqual(self.json("group", "list"), ["g"])
        # the layout: msgpack {service: weight}, tags group and active
        self.assertEqual(unpackValue(self.ok(
            "call", "storage.read", "groups", "g").stdout), {b"storage": 1})
        self.assertEqual(self.json("call", "storage.find", "groups",
                                   '["group", "active"]'), ["g"])

        # changed without a refresh: the locator keeps the old group ...
        self.assertEqual(self.json("group", "pop", "g", "storage",
                                   "--no-refresh"),
                         {"group": "g", "members": {}, "refreshed": False})
        self.assertEqual(self.json("group", "push", "g", "logging", "2",
                                   "--no-refresh"),
                         {"group": "g", "members": {"logging": 2},
                          "refreshed": False})
        self.assertEqual(self.json("group", "view", "g"), {"logging": 2})
        self.assertEqual(self.resolved("g"), storage)
        # ... until refresh
        self.assertEqual(self.json("group", "refresh", "g"),
                         {"refreshed": ["g"]})
        self.assertEqual(self.resolved("g"), logging)

        # a group written behind the locator's back
        self.ok("call", "storage.write", "groups", "h",
                "@" + self.writeFile("h", msgpack.packb({"storage": 1})),
                '["group", "active"]')
        self.fails("call", "locator.resolve", "h",
                   message="service 'h' is not available")
        # refresh without names: every group in storage
        self.assertEqual(self.ok("group", "refresh").out,
                         "refreshed g, h\n")
        self.assertEqual(self.resolved("h"), storage)

        # what the locator would refuse to load (0.12's weights are the
        # integers 0 to 2^32 - 1, and one must be positive)
        self.fails("group", "create", "bad", '{"storage": 0}',
                   message="the total weight of a routing group must be "
                   "positive")
        self.fails("group", "create", "bad", '{"storage": -1}',
                   message="member 'storage' has weight -1, not a number "
                   "from 0 to 4294967295")
        self.ok("group", "create", "zero", '{"storage": 1, "logging": 0}')
        result = self.tool("group", "push", "zero", "logging",
                           "4294967296")
        self.assertEqual(result.status, 2, result)
        self.assertIn("must be a number from 0 to 4294967295", result.stderr)
        self.fails("group", "pop", "g", "nope",
                   message="'nope' is not a member of group 'g'")

        self.assertEqual(self.ok("group", "remove", "g").out,
                         "group g removed\n")
        self.fails("call", "locator.resolve", "g",
                   message="service 'g' is not available")
        self.assertEqual(self.json("group", "remove", "h", "--no-refresh"),
                         {"group": "h", "removed": True, "refreshed": False})
        self.assertEqual(self.resolved("h"), storage)
        # refresh without names also drops what the locator still has
        self.ok("group", "remove", "zero", "--no-refresh")
        self.assertEqual(self.json("group", "refresh"),
                         {"refreshed": ["h", "zero"]})
        self.fails("call", "locator.resolve", "h",
                   message="service 'h' is not available")
        self.fails("group", "view", "g", message="no group 'g' in storage")


class CrashlogTests(ToolTestCase):

    def crashlog(self, key, lines, app="echo"):
        path = self.writeFile("crashlog", packValue(lines))
        self.ok("call", "storage.write", "crashlogs", key, "@" + path,
                json.dumps([app]))

    def test_crashlog(self):
        self.assertEqual(self.ok("crashlog", "list", "echo").out,
                         "no crashlogs of echo\n")
        first = "1700000000000000:11111111-aaaa"
        second = "1700000060000000:22222222-bbbb"
        third = "1700000120000000:33333333-cccc"
        self.crashlog(second, ["second"])
        self.crashlog(first, ["line one", "line two"])
        self.crashlog(third, ["third"])
        self.crashlog("1700000000000000:99999999-other", ["x"], app="other")

        entries = self.json("crashlog", "list", "echo")
        self.assertEqual([e["key"] for e in entries], [first, second, third])
        self.assertEqual(entries[0], {
            "key": first, "timestamp": 1700000000000000,
            "time": "2023-11-14T22:13:20Z", "node": None,
            "uuid": "11111111-aaaa"})
        out = self.ok("crashlog", "list", "echo").out
        for text in ("1700000000000000", "2023-11-14T22:13:20Z",
                     "11111111-aaaa", "33333333-cccc"):
            self.assertIn(text, out)

        self.assertEqual(self.ok("crashlog", "view", "echo",
                                 "1700000000000000").out,
                         "line one\nline two\n")
        self.assertEqual(self.json("crashlog", "view", "echo", "last"), {
            "app": "echo", "key": third, "timestamp": 1700000120000000,
            "time": "2023-11-14T22:15:20Z", "node": None,
            "uuid": "33333333-cccc", "lines": ["third"]})
        self.fails("crashlog", "view", "echo", "123",
                   message="no crashlog '123' of app 'echo'")

        self.assertEqual(self.json("crashlog", "remove", "echo",
                                   "1700000060000000"),
                         {"app": "echo", "removed": [second]})
        self.assertEqual([e["key"] for e in self.json(
            "crashlog", "list", "echo")], [first, third])
        self.assertEqual(self.ok("crashlog", "clean", "echo", "--keep",
                                 "1").out, "1 crashlog of echo removed\n")
        self.assertEqual([e["key"] for e in self.json(
            "crashlog", "list", "echo")], [third])
        self.assertEqual(self.json("crashlog", "clean", "echo"),
                         {"app": "echo", "removed": [third]})
        self.assertEqual(self.json("crashlog", "list", "echo"), [])
        # other apps' crashlogs are left alone
        self.assertEqual(len(self.json("crashlog", "list", "other")), 1)

    def test_crashlogOfNodes(self):
        """
        Crashlogs written by nodes on a shared storage name the node: the
        list shows it, and a timestamp still finds the crashlog.
        """
        a = "1700000000000000:node-a:11111111-aaaa"
        b = "1700000060000000:node-b:22222222-bbbb"
        self.crashlog(a, ["from a"])
        self.crashlog(b, ["from b"])
        entries = self.json("crashlog", "list", "echo")
        self.assertEqual([(e["node"], e["uuid"]) for e in entries],
                         [("node-a", "11111111-aaaa"),
                          ("node-b", "22222222-bbbb")])
        out = self.ok("crashlog", "list", "echo").out
        self.assertIn("node-b", out)
        self.assertIn("22222222-bbbb", out)
        self.assertEqual(self.ok("crashlog", "view", "echo",
                                 "1700000060000000").out, "from b\n")


class KeysTests(ToolTestCase):

    def test_keys(self):
        self.assertEqual(self.json("keys", "list"), [])
        pem = self.writeFile("alice.pem", PUBLIC_PEM)
        self.assertEqual(self.json("keys", "add", "alice", pem),
                         {"user": "alice", "added": True})
        self.assertIn("alice", self.ok("keys", "list").out)
        # collection keys, key = user, value = msgpack of the PEM text
        self.assertEqual(unpackValue(self.ok(
            "call", "storage.read", "keys", "alice").stdout),
            PUBLIC_PEM.encode())
        self.assertEqual(self.json("call", "storage.find", "keys", '["key"]'),
                         ["alice"])
        self.fails("keys", "add", "bob", self.writeFile("bob.pem", "hello"),
                   message="is not a PEM file")
        private = self.writeFile("private.pem", "-----BEGIN PRIVATE KEY-----"
                                 "\nabc\n-----END PRIVATE KEY-----\n")
        self.fails("keys", "add", "bob", private, message="holds a private "
                   "key")
        self.assertEqual(self.json("keys", "remove", "alice"),
                         {"user": "alice", "removed": True})
        self.assertEqual(self.json("keys", "list"), [])
        self.assertEqual(self.fails("keys", "remove", "alice"),
                         "cocaine-tool: keys remove alice: no key of user "
                         "'alice' in storage (keys/alice)")
