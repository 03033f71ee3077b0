# -*- test-case-name: tests.engine.test_connection -*-
"""
Tests for L{cocaine.engine.connection.WorkerConnection}: what answering a
worker's read writes is held for the reactor's turn while few sessions
run.
"""

import msgpack
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.connection import (HOLD_BELOW, WorkerConnection,
                                       WorkerListener)
from cocaine.protocol.framing import DEFAULT_MAX_BUFFER
from cocaine.rpc import writes
from tests.rpc.test_writes import FakeDescriptor


class FakeWorker:
    """
    A handshaken worker whose every routed message is written to a client.
    """

    uuid = "w"
    #: no sessions: every message goes through route
    sessions = {}

    def __init__(self, client):
        self.client = client

    def handshake(self, connection):
        return True

    def heard(self):
        pass

    def route(self, channel, mtype, args):
        writes.write(self.client, msgpack.packb([channel, mtype, args]))


class FakeEngine:
    name = "app"
    maxMessage = DEFAULT_MAX_BUFFER

    def __init__(self, worker, running):
        self.worker = worker
        self.running = set(range(running))

    def workerByUuid(self, uuid):
        return self.worker if uuid == self.worker.uuid else None

    def admits(self, worker, transport):
        return True


class HoldTests(SynchronousTestCase):

    def connect(self, running, reactor):
        self.client = FakeDescriptor()
        engine = FakeEngine(FakeWorker(self.client), running)
        connection = WorkerConnection(engine, reactor)
        connection.makeConnection(FakeDescriptor())
        connection.dataReceived(msgpack.packb([1, 0, ["w"]]))
        return connection

    def reply(self, connection):
        connection.dataReceived(msgpack.packb([2, 0, [b"a"]]) +
                                msgpack.packb([3, 0, [b"b"]]))
        connection.dataReceived(msgpack.packb([2, 2, []]))

    def test_heldForTheTurn(self):
        """
        With fewer than L{HOLD_BELOW} sessions running, the writes of every
        read in one turn leave together when the turn ends.
        """
        clock = Clock()
        connection = self.connect(HOLD_BELOW - 1, clock)
        self.reply(connection)
        self.assertEqual(self.client.sent, [])
        clock.advance(0)
        self.assertEqual(self.client.sent, [
            msgpack.packb([2, 0, [b"a"]]) + msgpack.packb([3, 0, [b"b"]])
            + msgpack.packb([2, 2, []])])

    def test_sentPerReadWhenBusy(self):
        """
        With L{HOLD_BELOW} sessions or more, each read's writes leave at
        the end of that read.
        """
        clock = Clock()
        connection = self.connect(HOLD_BELOW, clock)
        self.reply(connection)
        self.assertEqual(self.client.sent, [
            msgpack.packb([2, 0, [b"a"]]) + msgpack.packb([3, 0, [b"b"]]),
            msgpack.packb([2, 2, []])])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_sentPerReadWithOneSession(self):
        """
        With one session running, a read's writes can only be for its
        client: they leave at the end of that read, without waiting for
        the turn (no timer).
        """
        clock = Clock()
        connection = self.connect(1, clock)
        self.reply(connection)
        self.assertEqual(len(self.client.sent), 2)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_noReactor(self):
        """
        Without a reactor nothing is held.
        """
        connection = self.connect(0, None)
        self.reply(connection)
        self.assertEqual(len(self.client.sent), 2)

    def test_listenerPassesReactor(self):
        """
        L{WorkerListener} builds connections holding with its reactor.
        """
        clock = Clock()
        engine = FakeEngine(FakeWorker(None), 0)
        connection = WorkerListener(engine, clock).buildProtocol(None)
        self.assertIs(connection._reactor, clock)
