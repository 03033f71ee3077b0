# -*- test-case-name: tests.test_testing -*-
"""
Fakes for testing code that runs in a Cocaine node, shipped with the
package (as C{treq.testing} is) for plugin authors and for our own tests.

Nothing here opens a socket or spawns a process:

  - L{FakeReactor}: a C{MemoryReactorClock} whose listening ports record
    that they were stopped and where chosen ports can be "taken";
  - L{RecordingService}: a service that records its start and stop and
    returns what the test chooses.
"""

import errno
import os

from twisted.application.service import Service
from twisted.internet.address import IPv4Address
from twisted.internet.error import CannotListenError
from twisted.internet.testing import MemoryReactorClock


class RecordingService(Service):
    """
    A service that records its calls in a shared list and returns (or
    raises) whatever the test put in C{startResult} / C{stopResult}.
    """

    def __init__(self, name, events, startResult=None, stopResult=None):
        self.setName(name)
        self.events = events
        self.startResult = startResult
        self.stopResult = stopResult

    def startService(self):
        Service.startService(self)
        self.events.append(("start", self.name))
        if isinstance(self.startResult, Exception):
            raise self.startResult
        return self.startResult

    def stopService(self):
        Service.stopService(self)
        self.events.append(("stop", self.name))
        if isinstance(self.stopResult, Exception):
            raise self.stopResult
        return self.stopResult


class RecordingPort:
    """
    A listening port of L{FakeReactor}.

    @ivar stopped: whether C{stopListening} was called.
    """

    def __init__(self, port):
        self.port = port
        self.stopped = False

    def getHost(self):
        return IPv4Address("TCP", "127.0.0.1", self.port)

    def stopListening(self):
        self.stopped = True


class FakeReactor(MemoryReactorClock):
    """
    A memory reactor where some TCP ports are taken and listening ports
    record that they were stopped.

    @ivar taken: ports whose C{listenTCP} fails as in use.
    @ivar ports: the L{RecordingPort}s handed out.
    """

    def __init__(self, taken=(), socketErrno=errno.EADDRINUSE):
        MemoryReactorClock.__init__(self)
        self.taken = set(taken)
        self.socketErrno = socketErrno
        self.ports = []

    def listenTCP(self, port, factory, backlog=50, interface=""):
        if port in self.taken:
            raise CannotListenError(interface, port, OSError(
                self.socketErrno, os.strerror(self.socketErrno)))
        MemoryReactorClock.listenTCP(self, port, factory, backlog, interface)
        listening = RecordingPort(port)
        self.ports.append(listening)
        return listening
