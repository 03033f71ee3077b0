"""
The HTTP gateway of a node retrying a refused request on another node of
its cluster: two REAL nodes on 127.0.0.1 in a static cluster, both running
the httpweb app with one worker of concurrency 1 and a queue of 1, so that
two held requests make the next one "queue full" for certain.
"""

import http.client
import json
import os
import socket
import time

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from cocaine.client import Locator, Service
from tests.integration.node import Node, freePort

HERE = os.path.dirname(os.path.abspath(__file__))
HTTPWEB = os.path.join(HERE, "apps", "httpweb")

#: The static discovery interval of these nodes.
INTERVAL = 0.5


def nodeConfig(port, peers, httpPort):
    return {
        "network": {"locator": port},
        "cluster": {"discovery": "static", "interval": INTERVAL,
                    "peers": [["127.0.0.1", p] for p in peers]},
        "services": {
            "logging": {"type": "logging"},
            "storage": {"type": "storage"},
            "node": {"type": "node", "args": {
                "drain-timeout": 1,
                "local": {"web": {"path": HTTPWEB, "profile": {
                    "pool-limit": 1, "concurrency": 1,
                    "queue-limit": 1}}}}},
            "http": {"type": "http", "args": {"port": httpPort}}}}


def get(port, path, timeout=20):
    """
    One GET with C{http.client} (blocking: run it in a thread).

    @return: C{(status, headers, body)}.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port,
                                            timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


class Held:
    """
    A request of the app's C{hold} event sent on a raw socket, answered
    once its release file exists.
    """

    def __init__(self, port, release):
        self.socket = socket.create_connection(("127.0.0.1", port),
                                               timeout=20)
        self.socket.sendall(
            b"GET /web/hold?path=%s HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\n\r\n" % (release.encode(),))

    def answer(self):
        """
        Read the answer (blocking).

        @return: C{(status, body)}.
        """
        response = http.client.HTTPResponse(self.socket)
        try:
            response.begin()
            return response.status, response.read()
        finally:
            response.close()
            self.socket.close()


class RetryOnOtherNodeTests(TestCase):
    """
    Node A's gateway in front of A and B.
    """

    timeout = 60

    def setUp(self):
        ports = [freePort(), freePort()]
        self.httpPorts = [freePort(), freePort()]
        base = self.mktemp()
        self.ports = ports
        self.nodes = [
            Node(os.path.join(base, name), nodeConfig(
                port, [p for p in ports if p != port], httpPort))
            for name, port, httpPort in zip("ab", ports, self.httpPorts)]
        for node in self.nodes:
            node.start()
            self.addCleanup(node.stop)
        self.locators = []
        for port in ports:
            locator = Locator(reactor, [("127.0.0.1", port)], timeout=10)
            self.addCleanup(locator.disconnect)
            self.locators.append(locator)
        self.base = os.path.abspath(base)
        self.held = []
        self.addCleanup(self._closeHeld)

    def _closeHeld(self):
        for held in self.held:
            held.socket.close()

    async def waitFor(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while not await predicate():
            if time.monotonic() > deadline:
                self.fail("condition not reached within {} s".format(
                    timeout))
            await deferLater(reactor, 0.05)

    async def linked(self):
        for i in (0, 1):
            if len(await self.locators[i].cluster()) != 1:
                return False
        return True

    async def full(self, i):
        """
        Whether node C{i}'s web app has one running session and one
        waiting: the next request is refused with "queue full".
        """
        info = await Service("node", self.locators[i]).info("web")
        return (info["sessions"]["pending"], info["queue"]["depth"]) == (
            1, 1)

    def hold(self, i, release):
        """
        Two held requests at node C{i}'s own gateway; wait until its queue
        is full.
        """
        self.held += [Held(self.httpPorts[i], release),
                      Held(self.httpPorts[i], release)]
        return self.waitFor(lambda: self.full(i))

    def whoami(self, i):
        return deferToThread(get, self.httpPorts[i], "/web/whoami")

    def servedBy(self, body):
        locator = json.loads(body)["locator"]
        return self.ports.index(int(locator.rpartition(":")[2]))

    async def test_retryElsewhereThen503(self):
        """
        A request that finds A's queue full is answered by B; with B's
        queue full too, or B's app paused, it is a 503 with Retry-After.
        The held requests are all served in the end.
        """
        await self.waitFor(self.linked)
        for i in (0, 1):
            # one worker up on each node, serving its own gateway
            status, headers, body = await self.whoami(i)
            self.assertEqual((status, self.servedBy(body)), (200, i), body)

        releaseA = os.path.join(self.base, "release-a")
        await self.hold(0, releaseA)
        status, headers, body = await self.whoami(0)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.servedBy(body), 1)

        releaseB = os.path.join(self.base, "release-b")
        await self.hold(1, releaseB)
        status, headers, body = await self.whoami(0)
        self.assertEqual(status, 503, body)
        self.assertEqual(headers["Retry-After"], "1")
        self.assertEqual(headers["X-Error-Generated-By"], "cocaine")
        self.assertIn(b"queue is full", body)

        open(releaseB, "w").close()
        for held in self.held[2:]:
            status, body = await deferToThread(held.answer)
            self.assertEqual((status, self.servedBy(body)), (200, 1), body)
        await Service("node", self.locators[1]).pause_app("web")
        self.assertTrue(await self.full(0))
        status, headers, body = await self.whoami(0)
        self.assertEqual(status, 503, body)
        self.assertEqual(headers["Retry-After"], "1")

        open(releaseA, "w").close()
        for held in self.held[:2]:
            status, body = await deferToThread(held.answer)
            self.assertEqual((status, self.servedBy(body)), (200, 0), body)
