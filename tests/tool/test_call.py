"""
C{call} against a real node running the example echo app from its
directory, and its output rule in process.
"""

import io
import os

import msgpack
from twisted.trial.unittest import SynchronousTestCase

from cocaine.tool.call import Output
from tests.tool.support import ECHO, ToolTestCase


class CallTests(ToolTestCase):

    local = {"echo": {"path": ECHO, "profile": {"pool-limit": 2}}}

    def test_primitive(self):
        self.assertEqual(self.ok("call", "storage.write", "c", "k",
                                 '"a value"', '["t1", "t2"]').stdout, b"")
        self.assertEqual(self.ok("call", "storage.read", "c", "k").stdout,
                         b"a value\n")
        self.assertEqual(self.ok("call", "storage.read", "c", "k",
                                 "--raw").stdout, b"a value")
        self.assertEqual(self.json("call", "storage.read", "c", "k"),
                         "a value")
        self.assertEqual(self.json("call", "storage.find", "c", '["t2"]'),
                         ["k"])
        self.assertEqual(self.ok("call", "storage.find", "c", "[]").out,
                         '[\n  "k"\n]\n')
        # a plain word that is not JSON is a string
        self.ok("call", "storage.write", "c", "k2", "word")
        self.assertEqual(self.ok("call", "storage.read", "c", "k2").stdout,
                         b"word\n")
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
                                 "--write", '"two"').stdout, b"onetwo\n")
        self.assertEqual(self.ok("call", "echo.enqueue", "ping").stdout,
                         b"pong\n")
        # node.control takes ints and answers once
        self.assertEqual(self.ok("call", "node.control", "echo", "-w",
                                 "1").stdout, b"")

    def test_lineEnd(self):
        """
        Text output that does not end a line gets one at the end (the
        README shows C{pong} on its own line); output that ends a line,
        binary output and C{--raw} output are written exactly.
        """
        self.assertEqual(self.ok("call", "echo.enqueue", "ping").stdout,
                         b"pong\n")
        self.assertEqual(self.ok("call", "echo.enqueue", "ping",
                                 "--raw").stdout, b"pong")
        self.assertEqual(self.ok("call", "echo.enqueue", "echo", "--stdin",
                                 stdin=b"hi\n").stdout, b"hi\n")
        self.assertEqual(self.ok("call", "echo.enqueue", "echo", "-w", "a",
                                 "-w", "b", "--raw").stdout, b"ab")
        binary = b"\x93\x01\xc4\x02\x00\xff"
        self.assertEqual(self.ok("call", "echo.enqueue", "echo", "--stdin",
                                 stdin=binary).stdout, binary)
        # a msgpack value in storage is bytes that unpack again
        self.ok("call", "storage.write", "c", "n", "@-", stdin=b"\x05")
        self.assertEqual(self.ok("call", "storage.read", "c", "n").stdout,
                         b"\x05")

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
                   message="cannot read argument file /nonexistent/file")

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


class _Stream(io.TextIOWrapper):
    """
    Standard output in memory, a terminal or not.
    """

    def __init__(self, terminal=False):
        io.TextIOWrapper.__init__(self, io.BytesIO(), encoding="utf-8")
        self.terminal = terminal

    def isatty(self):
        return self.terminal

    def written(self):
        self.flush()
        return self.buffer.getvalue()


class OutputTests(SynchronousTestCase):
    """
    L{Output}: the rule of the last line end, without a node.
    """

    def shown(self, *values, raw=False, terminal=False):
        stream = _Stream(terminal)
        output = Output(stream, raw)
        for value in values:
            output.show(value, stream=len(values) > 1)
        output.finish()
        return stream.written()

    def test_textGetsALineEnd(self):
        self.assertEqual(self.shown(b"pong"), b"pong\n")
        self.assertEqual(self.shown(b"po", b"ng"), b"pong\n")
        self.assertEqual(self.shown(b"a\tb\r\nc"), b"a\tb\r\nc\n")
        # a character split between two chunks is still text
        self.assertEqual(self.shown(b"caf\xc3", b"\xa9"),
                         b"caf\xc3\xa9\n")
        self.assertEqual(self.shown("text value"), b"text value\n")

    def test_endedOutputKept(self):
        self.assertEqual(self.shown(b"pong\n"), b"pong\n")
        self.assertEqual(self.shown(b"one\n", b"two\n"), b"one\ntwo\n")
        self.assertEqual(self.shown(b""), b"")
        self.assertEqual(self.shown(None), b"")
        self.assertEqual(self.shown({"a": [1]}),
                         b'{\n  "a": [\n    1\n  ]\n}\n')
        self.assertEqual(self.shown(b"x", {"a": 1}), b'x{"a": 1}\n')

    def test_binaryKeptExactly(self):
        """
        Not UTF-8, control characters, or UTF-8 cut short at the end: the
        bytes are written as they are.
        """
        for chunks in [(b"\x00\xff",), (b"\x05",), (b"ok", b"\x1b[0m"),
                       (b"\x81\xa5slave",), (b"caf\xc3",),
                       (b"text", b"\x00", b"more text")]:
            self.assertEqual(self.shown(*chunks), b"".join(chunks), chunks)

    def test_terminalAlwaysEndsTheLine(self):
        self.assertEqual(self.shown(b"\x00\xff", terminal=True),
                         b"\x00\xff\n")
        self.assertEqual(self.shown(b"pong\n", terminal=True), b"pong\n")

    def test_raw(self):
        self.assertEqual(self.shown(b"pong", raw=True), b"pong")
        self.assertEqual(self.shown(b"pong", raw=True, terminal=True),
                         b"pong")
        self.assertEqual(self.shown("text", raw=True), b"text")
        self.assertEqual(self.shown({"a": 1}, raw=True), b'{\n  "a": 1\n}\n')
