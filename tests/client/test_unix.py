"""
The native protocol over a UNIX socket, with real sockets in a temporary
directory.
"""

import os

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from cocaine.errors import KeyNotFound
from cocaine.protocol.services import STORAGE
from cocaine.rpc.client import connect
from cocaine.rpc.hosting import HostedService, ServerFactory
from cocaine.storage.memory import MemoryStorage
from cocaine.storage.service import StorageService
from cocaine.testing import runtimeDirectory


class UnixSocketTests(TestCase):
    """
    L{ServerFactory} on C{listenUNIX} and L{connect} to a path.
    """

    async def test_callsOverUnixSocket(self):
        # not under trial's directory: its depth, with the checkout's and
        # a worker's (trial -j), can pass a socket path's 107 bytes
        path = os.path.join(runtimeDirectory(self), "storage.sock")
        hosted = HostedService("storage", StorageService(MemoryStorage()),
                               STORAGE, 1)
        port = reactor.listenUNIX(path, ServerFactory(hosted))
        self.addCleanup(port.stopListening)
        connection = await connect(reactor, path, "storage", STORAGE)
        self.addCleanup(connection.transport.loseConnection)
        self.assertIsNone(await connection.call(1, ["c", "k", b"v", ["t"]]))
        self.assertEqual(await connection.call(0, ["c", "k"]), b"v")
        with self.assertRaises(KeyNotFound):
            await connection.call(0, ["c", "missing"])
