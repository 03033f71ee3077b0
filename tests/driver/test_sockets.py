"""
The socket server drivers over real loopback TCP, with an engine whose
"worker" answers each job with its request in capitals.
"""

import socket
import struct

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from cocaine.driver.base import DriverContext
from cocaine.driver.sockets import (
    NATIVE, NativeServer, NativeSink, RawSocketServer)
from cocaine.errors import CocaineError, DriverError
from cocaine.plugins import loadPlugins
from cocaine.rpc.client import connect
from cocaine.testing import FakeEngine


class AnsweringEngine(FakeEngine):
    """
    Answers each job when its request closes: the request in capitals, in
    two chunks; a request b"FAIL" gets an error.
    """

    def enqueue(self, upstream, event):
        session = FakeEngine.enqueue(self, upstream, event)
        if upstream.closed:
            return session
        original = session.close

        def close():
            original()
            request = b"".join(session.request)
            if request == b"fail":
                upstream.send("error", [43, 1], "it failed")
            else:
                upper = request.upper()
                session.answer(upper[:1], upper[1:])
        session.close = close
        return session


class _SocketCase(TestCase):

    def setUp(self):
        self.engine = AnsweringEngine()
        self.context = DriverContext(reactor, "app", self.engine)

    def start(self, cls, **args):
        driver = cls(self.context, "srv", dict(
            {"endpoint": "tcp://127.0.0.1:0"}, **args))
        driver.start()
        self.addCleanup(driver.stop)
        return driver


class NativeServerTests(_SocketCase):

    async def test_invokeStreamsTheReply(self):
        driver = self.start(NativeServer)
        connection = await connect(reactor, ("127.0.0.1", driver.port),
                                   "native", NATIVE)
        self.addCleanup(connection.transport.loseConnection)
        channel = connection.open(0, [b"hello"])
        self.assertEqual([chunk async for chunk in channel], [b"H", b"ELLO"])
        failing = connection.open(0, [b"fail"])
        with self.assertRaises(CocaineError) as caught:
            await failing.read()
        self.assertEqual((caught.exception.category, caught.exception.code),
                         (43, 1))
        self.assertEqual(driver.info()["jobs"], 2)
        self.assertEqual(driver.info()["clients"], 1)

    async def test_sink(self):
        driver = self.start(NativeSink)
        connection = await connect(reactor, ("127.0.0.1", driver.port),
                                   "native", NATIVE)
        self.addCleanup(connection.transport.loseConnection)
        await connection.call(1, [b"fire and forget"])
        for _ in range(100):
            if driver.jobs:
                break
            await deferLater(reactor, 0.01)
        self.assertEqual(driver.jobs, 1)
        self.assertEqual(self.engine.sessions[0].request,
                         [b"fire and forget"])


class RawSocketServerTests(_SocketCase):

    def exchange(self, port, data, shutdown=False, expect=None):
        def run():
            with socket.create_connection(("127.0.0.1", port), 5) as sock:
                sock.sendall(data)
                if shutdown:
                    sock.shutdown(socket.SHUT_WR)
                received = b""
                while expect is None or len(received) < expect:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                return received
        return deferToThread(run)

    async def test_closeFraming(self):
        driver = self.start(RawSocketServer)
        self.assertEqual(await self.exchange(driver.port, b"whole request",
                                             shutdown=True), b"WHOLE REQUEST")

    async def test_lineFraming(self):
        driver = self.start(RawSocketServer, framing="line")
        reply = await self.exchange(driver.port, b"one\ntwo\r\nfail\n",
                                    expect=len(b"ONE\nTWO\nerror: it failed\n"))
        self.assertEqual(reply, b"ONE\nTWO\nerror: it failed\n")

    async def test_lengthPrefixed(self):
        driver = self.start(RawSocketServer, framing="length-prefixed")
        frames = b"".join(struct.pack(">I", len(p)) + p
                          for p in (b"abc", b"\x00binary"))
        reply = await self.exchange(driver.port, frames, expect=4 + 3 + 4 + 7)
        self.assertEqual(reply, struct.pack(">I", 3) + b"ABC"
                         + struct.pack(">I", 7) + b"\x00BINARY")

    def test_portTaken(self):
        holder = socket.socket()
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        driver = RawSocketServer(self.context, "srv", {
            "endpoint": "tcp://127.0.0.1:%d" % port})
        with self.assertRaises(DriverError) as caught:
            driver.start()
        self.assertIn("cannot listen on tcp://127.0.0.1:%d" % port,
                      caught.exception.message)

    def test_badArguments(self):
        for args in ({"endpoint": "udp://x:1"}, {"endpoint": "tcp://:80"},
                     {"endpoint": "tcp://127.0.0.1:99999"},
                     {"endpoint": "tcp://127.0.0.1:1", "framing": "xml"}):
            self.assertRaises(DriverError, RawSocketServer, self.context,
                              "srv", args)


class PluginTests(_SocketCase):
    """
    The C{native-server}, C{native-sink} and C{raw-socket-server} plugins
    check their args and build their drivers.
    """

    def test_builds(self):
        drivers = loadPlugins().drivers
        args = {"endpoint": "tcp://127.0.0.1:0"}
        for name, cls in (("native-server", NativeServer),
                          ("native-sink", NativeSink),
                          ("raw-socket-server", RawSocketServer)):
            drivers[name].validate("drivers.srv", args)
            driver = drivers[name].makeDriver(self.context, "srv", args)
            self.assertIsInstance(driver, cls)
            self.assertEqual(driver.info()["type"], name)

    def test_refusals(self):
        """
        A bad endpoint or framing is refused, naming the argument and the
        value.
        """
        drivers = loadPlugins().drivers
        for name, args, message in (
                ("native-server", {"endpoint": "udp://x:1"},
                 "drivers.srv.endpoint: must be tcp://HOST:PORT, got "
                 "'udp://x:1'"),
                ("raw-socket-server", {"endpoint": "tcp://127.0.0.1:0",
                                       "framing": "json"},
                 "drivers.srv.framing: must be one of close, line, "
                 "length-prefixed, got 'json'")):
            with self.assertRaises(DriverError) as caught:
                drivers[name].validate("drivers.srv", args)
            self.assertEqual(caught.exception.message, message)
