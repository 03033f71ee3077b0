"""
pyzmq peers for the tests of our ZeroMQ surface: plain pyzmq sockets on a
context of their own, used without blocking and polled from the reactor,
so the code under test keeps running while a test waits.
"""

import os
import shutil
import tempfile
import time

import zmq
from twisted.internet import reactor
from twisted.internet.task import deferLater


class Timeout(AssertionError):
    """
    Nothing arrived in time.
    """


class Peer:
    """
    One pyzmq socket, closed (with its context) at the test's cleanup.
    """

    def __init__(self, testCase, socketType, endpoint=None, bind=False,
                 subscribe=None, identity=None):
        self.context = zmq.Context()
        self.socket = self.context.socket(socketType)
        self.socket.linger = 0
        if identity is not None:
            self.socket.identity = identity
        if subscribe is not None:
            self.socket.setsockopt(zmq.SUBSCRIBE, subscribe)
        if endpoint is not None:
            (self.socket.bind if bind else self.socket.connect)(endpoint)
        testCase.addCleanup(self.close)

    def send(self, *frames):
        self.socket.send_multipart(list(frames), zmq.NOBLOCK)

    async def receive(self, timeout=10.0):
        """
        @return: the next message's frames.
        @raise Timeout: none within C{timeout} seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                if time.monotonic() > deadline:
                    raise Timeout("no ZeroMQ message in {}s".format(timeout))
                await deferLater(reactor, 0.01)

    async def request(self, *frames, timeout=10.0):
        self.send(*frames)
        return await self.receive(timeout)

    def close(self):
        if self.socket is not None:
            self.socket.close(0)
            self.context.term()
            self.socket = None


def shortDirectory(testCase):
    """
    A new directory in the system's temporary directory (ipc paths must be
    short), removed at the test's cleanup.
    """
    path = tempfile.mkdtemp(prefix="czmq-")
    testCase.addCleanup(shutil.rmtree, path, True)
    return path


def ipcEndpoint(testCase, name="socket"):
    return "ipc://" + os.path.join(shortDirectory(testCase), name)


async def waitFor(predicate, timeout=10.0, step=0.02):
    """
    Poll C{predicate()} until it is true; return it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Timeout("condition not met in {}s".format(timeout))
        await deferLater(reactor, step)
