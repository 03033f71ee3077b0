"""
Issue 14, findings 1, 5 and 8, as attacks on a real node on loopback that
now fail: each is bounded in count and time, and after each the node
still answers and its resident memory stayed within a stated bound.
"""

import os
import socket
import struct
import time

import msgpack
import psutil
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.node import Node, ROOT

ECHO = os.path.join(ROOT, "examples", "apps", "echo")

#: The app's profile: 2 workers of 5 sessions, 10 waiting.
PROFILE = {"pool-limit": 2, "concurrency": 5, "queue-limit": 10,
           "session-idle-timeout": 2}

#: The node's limits, small so the attacks stay small.
NETWORK = {"locator": 0, "max-message": 1024 * 1024,
           "write-buffer-max": 4 * 1024 * 1024,
           "idle-timeout": 3, "frame-timeout": 2, "max-channels": 100,
           "max-connections": 400, "max-connections-per-peer": 300,
           "max-locator-streams": 50}

#: What an attack may add to the node's resident memory.
RSS_BOUND = 96 * 1024 * 1024

#: Message ids (cocaine/protocol/services.py).
RESOLVE, CONNECT = 0, 1
READ, WRITE = 0, 1
NODE_CONTROL = 4
ENQUEUE, APP_CONTROL = 0, 2
CHUNK, CLOSE = 0, 2


def pack(*message):
    return msgpack.packb(list(message), use_bin_type=True)


class Peer:
    """
    A blocking client socket speaking the framing by hand.
    """

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.leftover = []

    def send(self, *message):
        self.sock.sendall(pack(*message))

    def receive(self, count=1, timeout=10):
        """
        @return: C{count} messages.
        """
        got = self.leftover
        deadline = time.monotonic() + timeout
        while True:
            got.extend(self.unpacker)
            if len(got) >= count:
                break
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("closed after {} messages".format(len(got)))
            self.unpacker.feed(data)
        self.leftover = got[count:]
        return got[:count]

    def closedByNode(self, timeout=10):
        """
        Whether the node closes the connection within C{timeout} seconds
        (what it sent before is read and dropped).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except socket.timeout:
                return False
            except OSError:
                return True
        return False

    def close(self):
        self.sock.close()


class LimitsCase(SynchronousTestCase):
    """
    A real node on loopback serving the echo example, with C{network}
    limits and the app's C{profile}; clients speak the framing by hand
    (L{Peer}).
    """

    network = NETWORK
    profile = PROFILE
    #: more services of the node, by name
    extraServices = {}

    def setUp(self):
        services = {
            "logging": {"type": "logging"},
            "storage": {"type": "storage"},
            "node": {"type": "node", "args": {
                "local": {"echo": {"path": ECHO, "profile": self.profile}},
                "drain-timeout": 5}}}
        services.update(self.extraServices)
        self.node = Node(self.mktemp(), {
            "network": dict(self.network), "services": services})
        self.node.start()
        self.addCleanup(self.node.stop)
        self.process = psutil.Process(self.node.process.pid)
        self.peers = []
        self.addCleanup(self.closePeers)

    def closePeers(self):
        for peer in self.peers:
            peer.close()
        del self.peers[:]

    def peer(self, name):
        peer = Peer(self.port(name))
        self.peers.append(peer)
        return peer

    def port(self, name):
        locator = Peer(self.node.port)
        try:
            locator.send(1, RESOLVE, [name])
            [(_, mtype, args)] = locator.receive()
        finally:
            locator.close()
        self.assertEqual(mtype, 0, args)
        return args[0][0][1]

    def rss(self):
        return self.process.memory_info().rss

    def assertResponsive(self):
        """
        A new client is served: resolve, a storage read, an echo request.
        """
        storage = Peer(self.port("storage"))
        try:
            storage.send(1, READ, ["nothing", "here"])
            [(channel, mtype, _)] = storage.receive()
            self.assertEqual((channel, mtype), (1, 1))
        finally:
            storage.close()
        self.assertEqual(self.echo(b"still here"), [b"still here"])

    def echo(self, body):
        app = Peer(self.port("echo"))
        try:
            app.send(1, ENQUEUE, ["echo"])
            app.send(1, CHUNK, [body])
            app.send(1, CLOSE, [])
            chunks = []
            while True:
                [(_, mtype, args)] = app.receive(timeout=20)
                if mtype != CHUNK:
                    self.assertEqual(mtype, CLOSE, args)
                    return chunks
                chunks.append(args[0])
        finally:
            app.close()

    def workers(self):
        return len(self.process.children(recursive=True))


class ControlPinTests(LimitsCase):
    """
    Finding 1: one unauthenticated message spawned workers without limit.
    """

    def test_pinsNeverPastPoolLimit(self):
        """
        Huge, mutated and negative pins through C{node.control} and
        C{app.control}, and pinning up and down in a loop, never hold more
        than C{pool-limit} workers; the app keeps serving.
        """
        node = self.peer("node")
        node.send(1, NODE_CONTROL, ["echo"])
        app = self.peer("echo")
        app.send(1, APP_CONTROL, [])
        for size in (2 ** 64 - 1, 10 ** 6, -2 ** 63, 2 ** 31, 24):
            node.send(1, CHUNK, [size])
            app.send(1, CHUNK, [size])
        most = 0
        for i in range(200):
            app.send(1, CHUNK, [2 ** 63 - 1 if i % 2 else 0])
            if i % 20 == 0:
                most = max(most, self.workers())
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            most = max(most, self.workers())
            time.sleep(0.1)
        self.assertLessEqual(most, PROFILE["pool-limit"])
        self.assertIn("clamped to the pool-limit 2", self.node.log())
        self.assertResponsive()


class MemoryTests(LimitsCase):
    """
    Finding 5: frames, replies nobody reads, and connect streams cost
    memory without bound.
    """

    def test_frameOfEmptyArrays(self):
        """
        4 M empty arrays in 4 MB: flat, the array header is refused;
        nested (64 x 65535), the frame is refused once its parse made too
        many small values or passed max-message.
        """
        before = self.rss()
        flat = self.peer("storage")
        flat.sock.sendall(b"\x93\x01\x00\xdd" + struct.pack(">I", 4 << 20)
                          + b"\x90" * 65536)
        self.assertTrue(flat.closedByNode())
        nested = self.peer("storage")
        nested.sock.sendall(b"\x93\x01\x00\xdc\x00\x40")
        inner = b"\xdc\xff\xff" + b"\x90" * 65535
        try:
            for _ in range(64):
                nested.sock.sendall(inner)
        except OSError:
            pass
        self.assertTrue(nested.closedByNode())
        self.assertLess(self.rss() - before, RSS_BOUND)
        self.assertResponsive()

    def test_frameInPieces(self):
        """
        A frame larger than max-message sent in pieces (bin values under
        the limit each) is refused once it passes the limit.
        """
        before = self.rss()
        peer = self.peer("storage")
        peer.sock.sendall(b"\x93\x01\x01\xdc\x01\x00")
        sent = 0
        try:
            for _ in range(256):
                peer.sock.sendall(msgpack.packb(b"x" * 60000,
                                                use_bin_type=True))
                sent += 60000
        except OSError:
            pass
        self.assertTrue(peer.closedByNode())
        self.assertLess(self.rss() - before, RSS_BOUND)
        self.assertResponsive()

    def test_repliesNobodyReads(self):
        """
        Pipelined reads of a 512 KiB value whose replies are never read:
        the node stops reading, then drops the connection past
        write-buffer-max, instead of growing by gigabytes.
        """
        writer = self.peer("storage")
        writer.send(1, WRITE, ["big", "value", b"v" * (512 * 1024)])
        [(_, mtype, _)] = writer.receive()
        self.assertEqual(mtype, 0)
        before = self.rss()
        greedy = self.peer("storage")
        greedy.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        requests = b"".join(pack(channel, READ, ["big", "value"])
                            for channel in range(1, 2001))
        greedy.sock.settimeout(10)
        try:
            greedy.sock.sendall(requests)
        except OSError:
            pass
        time.sleep(3)
        self.assertLess(self.rss() - before, RSS_BOUND)
        self.assertIn("does not read its replies", self.node.log())
        self.assertResponsive()

    def test_connectStreamsCapped(self):
        """
        Open connect streams are capped per connection (max-channels) and
        per node (max-locator-streams): the rest are refused at once.
        """
        locator = Peer(self.node.port)
        self.peers.append(locator)
        for channel in range(1, 201):
            locator.send(channel, CONNECT, ["attacker"])
        replies = locator.receive(200, timeout=20)
        refused = [m for m in replies if m[1] == 1]
        snapshots = [m for m in replies if m[1] == 0]
        self.assertEqual(len(snapshots), NETWORK["max-locator-streams"])
        self.assertEqual(len(refused), 200 - len(snapshots))
        self.assertResponsive()


class ConnectionTests(LimitsCase):
    """
    Finding 8: idle and slow connections stayed open forever; one client
    could take every file descriptor; never-closed sessions locked an app.
    """

    def test_idleConnectionsClosed(self):
        peers = [self.peer("storage") for _ in range(50)]
        for peer in peers:
            self.assertTrue(peer.closedByNode(timeout=10))
        self.assertResponsive()

    def test_slowlorisAborted(self):
        """
        A frame sent a byte a second is aborted after frame-timeout (the
        one timer fires within two of them).
        """
        peers = [self.peer("storage") for _ in range(20)]
        frame = pack(1, READ, ["c" * 50, "k" * 50])
        started = time.monotonic()
        closed = set()
        for byte in range(len(frame)):
            for index, peer in enumerate(peers):
                if index in closed:
                    continue
                try:
                    peer.sock.sendall(frame[byte:byte + 1])
                except OSError:
                    closed.add(index)
            if len(closed) == len(peers) or time.monotonic() - started > 10:
                break
            time.sleep(0.5)
        for index, peer in enumerate(peers):
            if index not in closed:
                self.assertTrue(peer.closedByNode(timeout=5))
        self.assertLess(time.monotonic() - started, 15)
        self.assertResponsive()

    def test_connectionsPerPeerCapped(self):
        """
        One address cannot take every descriptor: past
        max-connections-per-peer its connections are closed at once.
        """
        port = self.port("storage")
        opened = []
        for _ in range(NETWORK["max-connections-per-peer"] + 50):
            try:
                opened.append(Peer(port, timeout=5))
            except OSError:
                break
        self.peers.extend(opened)
        closed = 0
        for peer in opened[-60:]:
            if peer.closedByNode(timeout=0.5):
                closed += 1
        self.assertGreaterEqual(closed, 50)
        self.assertIn("max-connections-per-peer", self.node.log())
        self.closePeers()
        time.sleep(0.5)
        self.assertResponsive()

    def test_neverClosedSessions(self):
        """
        200 enqueue sessions never closed fill the app; after
        session-idle-timeout they are ended and others are served.
        """
        attackers = [self.peer("echo") for _ in range(4)]
        channel = 0
        for _ in range(50):
            for peer in attackers:
                channel += 1
                peer.send(channel, ENQUEUE, ["echo"])
        time.sleep(0.5)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.assertEqual(self.echo(b"mine"), [b"mine"])
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.assertIn("session-idle-timeout", self.node.log())
