"""
C{call} against a real node running the example echo app from its
directory.
"""

import os

import msgpack

from tests.tool.support import ECHO, ToolTestCase


class CallTests(ToolTestCase):

    local = {"echo": {"path": ECHO, "profile": {"pool-limit": 2}}}

    def test_primitive(self):
        self.assertEqual(self.ok("call", "storage.write", "c", "k",
                                 '"a value"', '["t1", "t2"]').stdout, b"")
        self.assertEqual(self.ok("call", "storage.read", "c", "k").stdout,
                         b"a value")
        self.assertEqual(self.json("call", "storage.read", "c", "k"),
                         "a value")
        self.assertEqual(self.json("call", "storage.find", "c", '["t2"]'),
                         ["k"])
        self.assertEqual(self.ok("call", "storage.find", "c", "[]").out,
                         '[\n  "k"\n]\n')
        # a plain word that is not JSON is a string
        self.ok("call", "storage.write", "c", "k2", "word")
        self.assertEqual(self.ok("call", "storage.read", "c", "k2").stdout,
                         b"word")
        self.assertIsNone(self.json("call", "storage.remove", "c", "k2"))

    def test_fileArgument(self):
        data = bytes(range(256)) * 100
        path = self.writeFile("blob", data)
        self.ok("call", "storage.write", "c", "blob", "@" + path)
        self.assertEqual(self.ok("call", "storage.read", "c", "blob").stdout,
                         data)
        self.ok("call", "storage.write", "c", "in", "@-", stdin=b"\x00\xff")
        self.assertEqual(self.ok("call", "storage.read", "c", "in").stdout,
                         b"\x00\xff")

    def test_streamedStdin(self):
        """
        C{--stdin} sends standard input in chunks of at most 64 KiB; the
        echo app's chunks come back as raw bytes, or one JSON line each.
        """
        data = os.urandom(200 * 1024 + 17)
        path = self.writeFile("input", data)
        result = self.ok("call", "echo.enqueue", "echo", "--stdin",
                         stdin=path)
        self.assertEqual(result.stdout, data)
        text = "a" * (64 * 1024) + "tail"
        lines = self.jsonLines("call", "echo.enqueue", "echo", "--stdin",
                               stdin=text.encode())
        self.assertEqual("".join(lines), text)
        self.assertGreater(len(lines), 1)
        self.assertLessEqual(max(len(line) for line in lines), 64 * 1024)

    def test_streamedWrites(self):
        self.assertEqual(self.ok("call", "echo.enqueue", "echo", "-w", "one",
                                 "--write", '"two"').stdout, b"onetwo")
        self.assertEqual(self.ok("call", "echo.enqueue", "ping").stdout,
                         b"pong")
        # node.control takes ints and answers once
        self.assertEqual(self.ok("call", "node.control", "echo", "-w",
                                 "1").stdout, b"")

    def test_streamTimeout(self):
        self.fails("--timeout", "0.5", "call", "echo.enqueue", "slow", "-w",
                   '"1500"', message="cocaine-tool: call echo.enqueue: no "
                   "answer within 0.5s")

    def test_errors(self):
        self.assertEqual(
            self.fails("call", "echo.enqueue", "fail"),
            "cocaine-tool: call echo.enqueue: ValueError: boom")
        self.fails("call", "storage.nope", message="cocaine-tool: call "
                   "storage.nope: storage has no method 'nope' (it has: read,"
                   " write, remove, find)")
        self.fails("call", "storage.read", "c", "missing",
                   message="key 'missing' not found")
        self.fails("call", "nosuch.read", message="service 'nosuch' is not "
                   "available")
        self.fails("call", "nodot", message="expected SERVICE.METHOD")
        self.fails("call", "storage.read", "@/nonexistent/file",
                   message="cannot read /nonexistent/file")

    def test_locatorMethods(self):
        value = self.json("call", "locator.resolve", "echo")
        endpoints, version, graph = value
        self.assertEqual(version, 1)
        self.assertEqual(graph["0"][0], "enqueue")
        stored = msgpack.packb({"echo": 1})
        path = self.writeFile("group", stored)
        self.ok("call", "storage.write", "groups", "g", "@" + path,
                '["group", "active"]')
        self.ok("call", "locator.refresh", '["g"]')
        self.assertEqual(self.json("call", "locator.resolve", "g"), value)
