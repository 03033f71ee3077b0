# -*- test-case-name: tests.rpc.test_memory -*-
"""
Serving a service over an in-memory connection: the server's side is the
real L{ServerProtocol}, the client's side packs requests and decodes what
comes back. For tests of a service through its declared protocol, without
sockets (re-exported by L{cocaine.testing}).
"""

import msgpack
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from cocaine.protocol.idl import PRIMITIVE, RECURRENT, TERMINAL
from cocaine.rpc.hosting import HostedService
from cocaine.rpc.server import ServerProtocol


class ServiceHarness:
    """
    Serves an L{cocaine.interfaces.IRPCService} over an in-memory
    connection and decodes what it answers: a service plugin tested
    through its declared protocol (names, argument checks, dispatch,
    upstream) as a real client reaches it, without sockets.

        harness = ServiceHarness(service)
        harness.call("read", "collection", "key")   # [("value", [b"..."])]
        channel = harness.open("enqueue", "ping")
        channel.send("write", b"body")
        channel.send("close")
        channel.received()                          # [("write", [...]), ...]

    Text in the answers is decoded as text, payloads stay bytes.
    """

    def __init__(self, service, name="service"):
        self.service = service
        self._hosted = HostedService(name, service, service.protocol,
                                     service.version)
        self._server = ServerProtocol(self._hosted)
        self.transport = _HarnessTransport()
        self._server.makeConnection(self.transport)
        self._channels = {}
        self._next = 1

    def open(self, name, *args):
        """
        Open a channel with the root message C{name}.

        @return: a L{HarnessChannel}.
        @raise KeyError: the protocol has no such message.
        """
        index, message = self.service.protocol.byName[name]
        channel = HarnessChannel(self, self._next, message)
        self._channels[self._next] = channel
        self._next += 1
        channel._write(index, list(args))
        return channel

    def call(self, name, *args):
        """
        Open a channel with C{name} and return what was answered on it.

        @return: C{[(message name, args), ...]}.
        """
        return self.open(name, *args).received()

    def close(self):
        """
        Drop the connection, as a client going away.
        """
        self._server.connectionLost(Failure(ConnectionDone()))

    def _deliver(self):
        data = self.transport.take()
        if not data:
            return
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(data)
        for channel, mtype, args, *_ in unpacker:
            target = self._channels.get(channel)
            if target is not None:
                target._answered(mtype, args)


class HarnessChannel:
    """
    One channel of a L{ServiceHarness}.
    """

    def __init__(self, harness, channel, message):
        self._harness = harness
        self.channel = channel
        upstream = message.upstream
        self._upstream = None if upstream is TERMINAL else (
            upstream or PRIMITIVE)
        self._dispatch = message.dispatch
        self._received = []

    def send(self, name, *args):
        """
        Send the dispatch message C{name} (C{write}, C{close}, ...).

        @raise KeyError: the channel's dispatch protocol has no such
            message.
        """
        index, message = self._dispatch.byName[name]
        self._write(index, list(args))
        if message.dispatch is TERMINAL:
            self._dispatch = None
        elif message.dispatch is not RECURRENT:
            self._dispatch = message.dispatch

    def received(self):
        """
        @return: C{[(message name, args), ...]} answered on this channel
            so far.
        """
        self._harness._deliver()
        return list(self._received)

    def _write(self, mtype, args):
        self._harness._server.dataReceived(msgpack.packb(
            [self.channel, mtype, args], use_bin_type=True))
        self._harness._deliver()

    def _answered(self, mtype, args):
        protocol = self._upstream
        message = protocol.get(mtype) if protocol is not None else None
        if message is None:
            self._received.append((mtype, args))
            return
        self._received.append((message.name, args))
        if message.dispatch is TERMINAL:
            self._upstream = None
        elif message.dispatch is not RECURRENT:
            self._upstream = message.dispatch


class _HarnessTransport:
    """
    The server's side of a harness connection: keeps what is written.
    """

    connected = True
    disconnecting = False

    def __init__(self):
        self._written = []

    def write(self, data):
        self._written.append(data)

    def writeSequence(self, data):
        self._written.extend(data)

    def take(self):
        data, self._written = b"".join(self._written), []
        return data

    def getPeer(self):
        return IPv4Address("TCP", "127.0.0.1", 0)

    def getHost(self):
        return IPv4Address("TCP", "127.0.0.1", 0)

    def loseConnection(self):
        self.disconnecting = True

    abortConnection = loseConnection
