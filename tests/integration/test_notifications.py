"""
The C{notifications} service on real nodes: with our client SDK, with the
real Cocaine 0.12 framework, with a subscriber that never reads (the
node's memory stays bounded and it keeps serving), and between two nodes
sharing a real Redis (including a Redis restart).
"""

import os
import socket

import msgpack
import psutil
from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from cocaine.client import Locator, Service
from cocaine.errors import BackendUnavailable, InvalidArgument
from tests.integration.framework import frameworkSteps
from tests.integration.node import Node
from tests.integration.redis import RedisServer

_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "framework_notifications.py")


async def _until(condition, timeout=30.0, what="condition"):
    waited = 0.0
    while not condition():
        if waited > timeout:
            raise AssertionError("{} not met in {} s".format(what, timeout))
        await deferLater(reactor, 0.05, lambda: None)
        waited += 0.05


def _config(args=None):
    service = {"type": "notifications"}
    if args:
        service["args"] = args
    return {"network": {"locator": 0}, "services": {
        "logging": {"type": "logging"},
        "storage": {"type": "storage"},
        "notifications": service}}


class _NodeCase(TestCase):

    timeout = 180

    def startNode(self, name, args=None):
        node = Node(os.path.join(self.directory, name), _config(args))
        node.start()
        self.addCleanup(node.stop)
        return node

    def client(self, node):
        locator = Locator(reactor, [("127.0.0.1", node.port)], timeout=20)
        self.addCleanup(locator.disconnect)
        service = Service("notifications", locator, timeout=20)
        self.addCleanup(service.disconnect)
        return service

    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())


class LocalTests(_NodeCase):

    def setUp(self):
        _NodeCase.setUp(self)
        self.node = self.startNode("node", {"max-pending": 100})

    async def test_publishSubscribe(self):
        """
        Our SDK subscribes, publishes and receives C{(channel, value)};
        closing ends the stream; bad names are errors naming them.
        """
        # one connection: the subscribe is served before the publishes
        subscriber = publisher = self.client(self.node)
        channel = await subscriber.subscribe(["news", "sport"])
        self.assertEqual(await publisher.publish("news", {"n": [1, 2]}), 1)
        self.assertEqual(await publisher.publish("weather", 1), 0)
        self.assertEqual(await publisher.publish("sport", b"\x00\xff"), 1)
        # strings inside values come back as bytes (docs/services.md)
        self.assertEqual(await channel.read(), ("news", {b"n": [1, 2]}))
        self.assertEqual(await channel.read(), ("sport", b"\x00\xff"))
        channel.close()
        self.assertEqual([c async for c in channel], [])
        self.assertEqual(await publisher.publish("news", 1), 0)
        with self.assertRaises(InvalidArgument) as e:
            await publisher.publish("", 1)
        self.assertIn("empty", str(e.exception))
        bad = await subscriber.subscribe(["ok", "x" * 300])
        with self.assertRaises(InvalidArgument) as e:
            await bad.read()
        self.assertIn("300 characters", str(e.exception))

    async def test_realFramework(self):
        """
        The real 0.12 framework builds C{publish} and the streaming
        C{subscribe} from the graph, receives C{[channel, value]} chunks
        and ends the subscription with C{close}.
        """
        steps = frameworkSteps(self, _SCRIPT, self.node.port)
        self.assertEqual(steps["publish news"], {"value": 1})
        self.assertEqual(steps["publish other"], {"value": 0})
        self.assertEqual(steps["publish sport"], {"value": 1})
        self.assertEqual(steps["received"]["messages"], [
            ["news", {"n": [1, 2], "title": "hello"}], ["sport", "goal"]])
        self.assertEqual(steps["closed"], {"end": "EmptyResponse"})
        self.assertEqual(steps["publish after close"], {"value": 0})
        self.assertEqual(steps["publish bad"]["error"], [
            InvalidArgument.category, InvalidArgument.code])
        self.assertEqual(steps["subscribe bad"]["error"], [
            InvalidArgument.category, InvalidArgument.code])

    async def test_subscriberThatDoesNotRead(self):
        """
        A subscriber whose socket is never read while 100 MB are published
        to it: the node's memory grows by far less than that, it keeps
        serving others, and when the subscriber reads at last it is told
        how many messages it missed, then gets the newest ones.
        """
        endpoints, _, _ = await Locator(
            reactor, [("127.0.0.1", self.node.port)],
            timeout=20).resolve("notifications")
        host, port = endpoints[0]
        slow = socket.socket()
        self.addCleanup(slow.close)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        slow.connect((host, port))
        slow.sendall(msgpack.packb([1, 1, [["flood"]]]))
        publisher = self.client(self.node)
        other = self.client(self.node)
        # the subscription is there once a publish reaches it
        while await publisher.publish("flood", b"") != 1:
            await deferLater(reactor, 0.05, lambda: None)
        process = psutil.Process(self.node.process.pid)
        before = process.memory_info().rss
        payload = os.urandom(20 * 1024)
        count = 5000
        for start in range(0, count, 100):
            await gatherResults([
                publisher.publish("flood", [i, payload])
                for i in range(start, start + 100)])
        grown = process.memory_info().rss - before
        self.assertLess(grown, 40 * 1024 * 1024,
                        "{} bytes published".format(count * len(payload)))
        channel = await other.subscribe(["flood"])
        self.assertEqual(await other.publish("flood", [-1, b"x"]), 2)
        self.assertEqual(await channel.read(), ("flood", [-1, b"x"]))

        # the slow subscriber reads at last
        slow.settimeout(30)
        unpacker = msgpack.Unpacker(raw=False)
        seen, notices = [], []
        while not seen or seen[-1] != -1:
            data = slow.recv(1 << 20)
            self.assertTrue(data, "the node closed the slow subscriber")
            unpacker.feed(data)
            for channelId, mtype, args in unpacker:
                self.assertEqual((channelId, mtype), (1, 0))
                name, value = args
                if name == "":
                    notices.append((len(seen), value))
                elif value != b"":
                    seen.append(value[0])
        self.assertEqual(len(notices), 1, notices)
        position, notice = notices[0]
        dropped = notice["dropped"]
        # what arrived before the gap, the gap, then the newest 100
        # (max-pending), the last one published included
        self.assertEqual(seen[:position], list(range(position)))
        self.assertEqual(seen[position:], list(range(
            position + dropped, count)) + [-1])
        self.assertEqual(len(seen[position:]), 100)


class ClusterTests(_NodeCase):
    """
    Two nodes sharing one Redis.
    """

    def setUp(self):
        _NodeCase.setUp(self)
        self.redis = RedisServer(os.path.join(self.directory, "redis"))
        self.redis.start()
        self.addCleanup(self.redis.stop)
        args = {"backend": "redis", "url": self.redis.url,
                "prefix": "test:"}
        self.a = self.startNode("a", args)
        self.b = self.startNode("b", args)

    async def subscribed(self, node, channel):
        """
        Wait until node's subscription to C{channel} is on Redis.
        """
        def check():
            reply = self.redis.command("PUBSUB", "NUMSUB",
                                       "test:" + channel)
            return reply.endswith(b":1\r\n")
        await _until(check, what="the subscription on Redis")

    async def test_acrossNodes(self):
        """
        What is published on B reaches a subscriber on A, once; what A
        publishes reaches its own subscriber once, not twice. The answer
        counts local subscribers plus other nodes reached.
        """
        subscriber = self.client(self.a)
        channel = await subscriber.subscribe(["news"])
        await self.subscribed(self.a, "news")
        self.assertEqual(await self.client(self.b).publish("news", "from b"),
                         1)
        self.assertEqual(await channel.read(), ("news", b"from b"))
        self.assertEqual(await self.client(self.a).publish("news", "from a"),
                         1)
        self.assertEqual(await self.client(self.b).publish("news", "end"), 1)
        self.assertEqual(await channel.read(), ("news", b"from a"))
        self.assertEqual(await channel.read(), ("news", b"end"))

    async def test_redisRestart(self):
        """
        With Redis down a publish fails at once naming the server; once it
        is back, subscribers are told messages may have been lost and the
        subscription works again.
        """
        channel = await self.client(self.a).subscribe(["news"])
        await self.subscribed(self.a, "news")
        publisher = self.client(self.b)
        self.redis.stop()
        failure = None
        while failure is None:
            try:
                await publisher.publish("news", "lost")
            except BackendUnavailable as e:
                failure = e
        self.assertIn("127.0.0.1:{}".format(self.redis.port), str(failure))
        self.redis.start()
        name, notice = await channel.read()
        self.assertEqual(name, "")
        self.assertIn("127.0.0.1:{}".format(self.redis.port),
                      notice["lost"])
        await self.subscribed(self.a, "news")
        delivered = 0
        while not delivered:
            try:
                delivered = await publisher.publish("news", "back")
            except BackendUnavailable:
                await deferLater(reactor, 0.1, lambda: None)
        self.assertEqual(await channel.read(), ("news", b"back"))
