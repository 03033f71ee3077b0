"""
Fakes for the notifications tests: a client connection to the service
through a real L{cocaine.rpc.server.ServerProtocol}, and Redis stand-ins.
"""

import io

import msgpack
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.testing import StringTransportWithDisconnection

from cocaine.errors import BackendUnavailable
from cocaine.redis.url import parseRedisURL
from cocaine.rpc.limits import ConnectionLimits
from cocaine.rpc.hosting import HostedService
from cocaine.rpc.server import ServerProtocol

PUBLISH, SUBSCRIBE = 0, 1
WRITE, ERROR, CLOSE = 0, 1, 2


def pack(value):
    return msgpack.packb(value, use_bin_type=True)


def hosted(service):
    return HostedService("notifications", service, service.protocol,
                         service.version)


class Client:
    """
    One connection to the service, with a write limit as a node's
    connections have (so the connection is its transport's producer).
    """

    def __init__(self, hostedService, writeLimit=1 << 30):
        self.protocol = ServerProtocol(
            hostedService, limits=ConnectionLimits(writeLimit=writeLimit))
        self.transport = StringTransportWithDisconnection()
        self.transport.protocol = self.protocol
        self.protocol.makeConnection(self.transport)

    def send(self, *message):
        self.protocol.dataReceived(pack(list(message)))

    def replies(self):
        """
        The messages written since the last call, text decoded.
        """
        data = self.transport.value()
        self.transport.clear()
        return list(msgpack.Unpacker(io.BytesIO(data), raw=False,
                                     strict_map_key=False))

    def stopReading(self):
        """
        The transport's buffer filled up: it pauses its producer.
        """
        self.protocol.pauseProducing()

    def readAgain(self):
        self.protocol.resumeProducing()

    def lose(self):
        self.transport.loseConnection()


class FakeRedis:
    """
    Stands for L{cocaine.redis.client.Redis}: C{PUBLISH}es are recorded
    and answered by the test.
    """

    def __init__(self, url="redis://127.0.0.1:6390/0"):
        self.address = parseRedisURL(url)
        self.connected = True
        self.calls = []
        self.started = self.stopped = False

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True
        return succeed(None)

    def call(self, command, *args):
        if not self.connected:
            return fail(BackendUnavailable("down"))
        d = Deferred()
        self.calls.append((command, args, d))
        return d


class FakeSubscriber:
    """
    Stands for L{cocaine.redis.client.RedisSubscriber}.
    """

    def __init__(self):
        self.channels = set()
        self.connected = True
        self.log = []

    def start(self):
        pass

    def stop(self):
        return succeed(None)

    def subscribe(self, channels):
        self.log.append(("subscribe", sorted(channels)))
        self.channels.update(channels)

    def unsubscribe(self, channels):
        self.log.append(("unsubscribe", sorted(channels)))
        self.channels.difference_update(channels)
