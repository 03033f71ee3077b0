# -*- test-case-name: tests.http.test_remote -*-
"""
Tests for L{cocaine.http.remote} and the node backend's use of it, with a
fake client connection.
"""

import msgpack
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from cocaine.cluster.remote import RemoteTable
from cocaine.errors import NotConnected, QueueFull, Unreachable
from cocaine.http.backends import LOCAL, NodeBackend
from cocaine.http.remote import RemoteApps
from cocaine.protocol.services import APP
from cocaine.rpc.client import ClientProtocol
from cocaine.testing import MemoryNode, memoryContext


class FakeUpstream:
    def __init__(self):
        self.messages = []
        self.target = None

    def send(self, name, *args):
        self.messages.append((name,) + args)

    def error(self, error):
        self.messages.append(("error", error))


class FakeChannel:
    def __init__(self, args, headers):
        self.args = args
        self.headers = headers
        self.sent = []
        self.reads = []
        self.done = False
        self.abandoned = False

    def abandon(self):
        self.abandoned = True

    def write(self, chunk):
        self.sent.append(("write", chunk))

    def close(self):
        self.sent.append(("close",))

    def recv(self):
        d = Deferred()
        self.reads.append(d)
        return d

    def answer(self, name, *args):
        # as Channel.recv: an error comes as the exception itself
        self.done = name != "write"
        self.reads.pop(0).callback(
            (name, args[0] if name == "error" else list(args)))


class FakeTransport:
    def __init__(self):
        self.lost = False

    def loseConnection(self):
        self.lost = True


class FakeConnection:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.connected = True
        self.protocol = APP
        self.channels = []
        self.transport = FakeTransport()

    def open(self, mtype, args, headers=None):
        if not self.connected:
            raise NotConnected("gone")
        assert mtype == APP.idOf("enqueue")
        self.channels.append(FakeChannel(args, headers))
        return self.channels[-1]


class FakeConnector:
    def __init__(self, refuse=()):
        self.refuse = set(refuse)
        self.connections = []

    def __call__(self, reactor, endpoint, name, protocol, timeout):
        if endpoint in self.refuse:
            return fail(ConnectionRefusedError("refused"))
        self.connections.append(FakeConnection(endpoint))
        return succeed(self.connections[-1])


def pack(value):
    return msgpack.packb(value, use_bin_type=True)


class ProtocolConnector:
    """
    Connects real L{ClientProtocol}s to L{StringTransport}s.

    @ivar connections: C{(protocol, transport)} of each connection made.
    """

    def __init__(self):
        self.connections = []

    def __call__(self, reactor, endpoint, name, protocol, timeout):
        connection = ClientProtocol(name, protocol)
        transport = StringTransport()
        connection.makeConnection(transport)
        self.connections.append((connection, transport))
        return succeed(connection)


class RemoteAppsTests(SynchronousTestCase):

    def setUp(self):
        self.connector = FakeConnector()
        self.clock = Clock()
        self.remote = RemoteApps(self.clock, connect=self.connector)

    def call(self, endpoints=(("127.0.0.1", 1),)):
        upstream = FakeUpstream()
        call = self.remote.call([list(e) for e in endpoints], "echo", "http",
                                [(b"a", b"b")], b"req", upstream)
        return call, upstream

    def test_session(self):
        """
        enqueue with the headers, the chunk, close; the answer is relayed
        and the connection kept for the next call.
        """
        call, upstream = self.call()
        connection = self.connector.connections[0]
        channel = connection.channels[0]
        self.assertEqual(channel.args, ["http"])
        self.assertEqual(channel.headers, [(b"a", b"b")])
        self.assertEqual(channel.sent, [("write", b"req"), ("close",)])
        channel.answer("write", b"head")
        channel.answer("write", "text")
        channel.answer("close")
        self.assertEqual(upstream.messages, [
            ("write", b"head"), ("write", b"text"), ("close",)])
        self.call()
        self.assertEqual(len(self.connector.connections), 1)
        self.assertEqual(len(connection.channels), 2)

    def test_error(self):
        """
        The remote error is passed on.
        """
        call, upstream = self.call()
        error = QueueFull("full")
        self.connector.connections[0].channels[0].answer("error", error)
        self.assertEqual(upstream.messages, [("error", error)])

    def test_unreachable(self):
        """
        Endpoints are tried in order; none connecting is L{Unreachable}.
        """
        self.connector.refuse = {("127.0.0.1", 1)}
        call, upstream = self.call([("127.0.0.1", 1), ("127.0.0.1", 2)])
        self.assertEqual(self.connector.connections[0].endpoint,
                         ("127.0.0.1", 2))
        self.connector.refuse.add(("127.0.0.1", 3))
        call, upstream = self.call([("127.0.0.1", 3)])
        self.assertIsInstance(upstream.messages[0][1], Unreachable)

    def test_reconnect(self):
        """
        A lost connection is replaced on the next call.
        """
        self.call()
        self.connector.connections[0].connected = False
        self.call()
        self.assertEqual(len(self.connector.connections), 2)

    def test_cancel(self):
        """
        A cancelled call relays nothing more, and abandons its channel; an
        answered one does not.
        """
        call, upstream = self.call()
        channel = self.connector.connections[0].channels[0]
        channel.answer("write", b"head")
        call.cancel()
        self.assertEqual(upstream.messages, [("write", b"head")])
        self.assertTrue(channel.abandoned)
        call, upstream = self.call()
        channel = self.connector.connections[0].channels[1]
        channel.answer("close")
        call.cancel()
        self.assertFalse(channel.abandoned)

    def test_cancelDropsTheRestOfTheStream(self):
        """
        On a real client connection, what the remote node still sends for
        a cancelled call is dropped as it comes: an endless stream leaves
        nothing queued (it did, without bound). The whole request was
        closed, so nothing is sent to that node.
        """
        connector = ProtocolConnector()
        remote = RemoteApps(self.clock, connect=connector)
        upstream = FakeUpstream()
        call = remote.call([["127.0.0.1", 1]], "echo", "http", [], b"req",
                           upstream)
        [(connection, transport)] = connector.connections
        sent = transport.value()
        connection.dataReceived(pack([1, 0, [b"head"]]))
        call.cancel()
        connection.dataReceived(b"".join(
            pack([1, 0, [b"x" * 100]]) for _ in range(1000)))
        self.assertEqual(upstream.messages, [("write", b"head")])
        self.assertEqual(connection._receivers, {})
        self.assertEqual(transport.value(), sent)
        connection.dataReceived(pack([1, 2, []]))
        self.assertEqual(connection._receivers, {})

    def test_disconnect(self):
        """
        L{RemoteApps.disconnect} closes every connection.
        """
        self.call()
        self.remote.disconnect()
        self.assertTrue(self.connector.connections[0].transport.lost)


class _Locator:
    def __init__(self, remote):
        self.remote = remote


class NodeBackendTests(SynchronousTestCase):
    """
    L{NodeBackend}: the node first, then one remote provider.
    """

    def setUp(self):
        self.node = MemoryNode()
        self.context = memoryContext(self.node)
        self.table = RemoteTable()
        self.context.locator = _Locator(self.table)
        self.connector = FakeConnector()
        self.backend = NodeBackend(self.context, RemoteApps(
            Clock(), connect=self.connector))

    def test_local(self):
        """
        The first attempt goes to the node.
        """
        self.node.add("echo", lambda event, chunks: [b"x"] + chunks)
        upstream = FakeUpstream()
        self.backend.call("echo", "http", [], b"req", upstream, [])
        self.assertEqual(upstream.target, LOCAL)
        self.assertEqual(upstream.messages, [("write", b"x"),
                                             ("write", b"req"), ("close",)])

    def test_remoteRetry(self):
        """
        After the node, a remote provider of the app; then nothing.
        """
        self.assertTrue(self.backend.hasOther("echo", []))
        self.assertFalse(self.backend.hasOther("echo", [LOCAL]))
        self.table.link("n2", ["127.0.0.1", 10053], {
            "echo": [[["127.0.0.1", 4000]], 1, {}]})
        self.assertTrue(self.backend.hasOther("echo", [LOCAL]))
        upstream = FakeUpstream()
        self.backend.call("echo", "http", [], b"req", upstream, [LOCAL])
        self.assertEqual(upstream.target, "n2")
        self.assertEqual(self.connector.connections[0].endpoint,
                         ("127.0.0.1", 4000))
        self.assertFalse(self.backend.hasOther("echo", [LOCAL, "n2"]))

    def test_withoutCluster(self):
        """
        Without a locator or remote connections there is no other node.
        """
        self.context.locator = None
        self.assertFalse(self.backend.hasOther("echo", [LOCAL]))

    def test_healthy(self):
        """
        Healthy while the node runs.
        """
        self.assertTrue(self.backend.healthy())
        self.node.running = False
        self.assertFalse(self.backend.healthy())


class IdleConnectionTests(SynchronousTestCase):
    """
    A connection that carried no session for C{idleTimeout} is closed.
    """

    def setUp(self):
        self.connector = FakeConnector()
        self.clock = Clock()
        self.remote = RemoteApps(self.clock, connect=self.connector,
                                 idleTimeout=60.0)

    def call(self, port=1):
        upstream = FakeUpstream()
        self.remote.call([["127.0.0.1", port]], "echo", "http", [], b"req",
                         upstream)
        connection = [c for c in self.connector.connections
                      if c.endpoint == ("127.0.0.1", port)][-1]
        return connection, connection.channels[-1]

    def test_idleClosed(self):
        """
        60 s after its last session ended (not after it opened), the
        connection is closed; the next call connects again.
        """
        connection, channel = self.call()
        self.clock.advance(50)
        channel.answer("close")
        self.clock.advance(59)
        self.assertFalse(connection.transport.lost)
        self.clock.advance(1)
        self.assertTrue(connection.transport.lost)
        self.assertEqual(self.remote.connections, {})
        self.assertEqual(self.clock.getDelayedCalls(), [])
        again, _ = self.call()
        self.assertIsNot(again, connection)

    def test_busyKept(self):
        """
        A connection with a session running is never closed for idleness.
        """
        connection, channel = self.call()
        self.clock.advance(600)
        self.assertFalse(connection.transport.lost)
        channel.answer("close")
        self.clock.advance(60)
        self.assertTrue(connection.transport.lost)

    def test_reusedPostpones(self):
        """
        A new session on the connection starts its idleness again; each
        connection is timed on its own.
        """
        first, channel = self.call(1)
        channel.answer("close")
        other, otherChannel = self.call(2)
        otherChannel.answer("close")
        self.clock.advance(40)
        again, channel = self.call(1)
        self.assertIs(again, first)
        channel.answer("close")
        self.clock.advance(20)
        self.assertTrue(other.transport.lost)
        self.assertFalse(first.transport.lost)
        self.clock.advance(40)
        self.assertTrue(first.transport.lost)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_lostForgotten(self):
        """
        A connection lost meanwhile is forgotten at the sweep.
        """
        connection, channel = self.call()
        channel.answer("close")
        connection.connected = False
        self.clock.advance(60)
        self.assertFalse(connection.transport.lost)
        self.assertEqual(self.remote.connections, {})

    def test_disconnectStopsSweeping(self):
        self.call()
        self.remote.disconnect()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_never(self):
        """
        C{idleTimeout=None} keeps connections for ever.
        """
        remote = RemoteApps(self.clock, connect=self.connector,
                            idleTimeout=None)
        remote.call([["127.0.0.1", 1]], "echo", "http", [], b"req",
                    FakeUpstream())
        self.assertEqual(self.clock.getDelayedCalls(), [])


class GatewayRemoteTests(SynchronousTestCase):
    """
    The gateway serving an app of another node, over a real client
    connection.
    """

    def setUp(self):
        from cocaine.http.gateway import Gateway
        self.clock = Clock()
        context = memoryContext(MemoryNode(), reactor=self.clock)
        table = RemoteTable()
        table.link("n2", ["127.0.0.1", 10053], {
            "tail": [[["127.0.0.1", 4000]], 1, {}]})
        context.locator = _Locator(table)
        self.connector = ProtocolConnector()
        self.gateway = Gateway(self.clock, NodeBackend(context, RemoteApps(
            self.clock, connect=self.connector)))

    def request(self):
        from tests.http.fakes import FakeRequest, FakeResponder
        responder = FakeResponder()
        self.gateway.handleRequest(FakeRequest(target=b"/tail/follow"),
                                   responder)
        [(connection, transport)] = self.connector.connections
        return responder, connection, transport

    def test_clientGoneMidStream(self):
        """
        An HTTP client that goes away mid-response leaves nothing of the
        remote stream behind.
        """
        clock = self.clock
        responder, connection, transport = self.request()
        connection.dataReceived(
            pack([1, 0, [msgpack.packb([200, []])]]) + pack([1, 0, [b"a"]]))
        self.assertEqual((responder.code, responder.chunks), (200, [b"a"]))
        responder.loseClient()
        connection.dataReceived(b"".join(
            pack([1, 0, [b"x" * 100]]) for _ in range(1000)))
        self.assertEqual(connection._receivers, {})
        self.assertEqual(responder.chunks, [b"a"])
        # the connection carries no session of ours: once idle, it is
        # closed, which ends the remote session too
        clock.advance(60)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_answerEndedByEmptyChunk(self):
        """
        An answer ended by an empty chunk is complete, not abandoned: the
        remote stream is read on to its close (what comes meanwhile is
        not heard), then the connection is idle.
        """
        responder, connection, transport = self.request()
        connection.dataReceived(
            pack([1, 0, [msgpack.packb([200, [
                [b"X-Cocaine-HTTP-Proto-Version", b"1.1"]]])]])
            + pack([1, 0, [b"a"]]) + pack([1, 0, [b""]]))
        self.assertTrue(responder.finished)
        self.assertIn(1, connection._receivers)
        connection.dataReceived(pack([1, 0, [b"late"]]))
        self.assertIn(1, connection._receivers)
        connection.dataReceived(pack([1, 2, []]))
        self.assertEqual(connection._receivers, {})
        self.assertEqual(responder.chunks, [b"a"])
        self.clock.advance(60)
        self.assertTrue(transport.disconnecting)
