# -*- test-case-name: tests.integration.test_apps -*-
"""
The C{thread} isolate: a Python worker script run in a thread of the node,
as the older Cocaine "threads" backend did, for small trusted Python apps.

The worker speaks the same protocol over the app's socket, so the engine
treats it like any other. What a thread cannot have: its own process (no
pid, RSS or CPU figures of its own, no rlimits or cgroups), its own output
(it writes to the node's), its own environment or working directory (the
manifest's C{environment} is not applied). Stopping it closes its
connection, which makes the worker SDK leave; a script that never connects
cannot be stopped before the node exits.
"""

import os
import runpy
import sys
import threading

from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.logger import Logger
from twisted.python.failure import Failure

from cocaine.isolate.process import SpawnError


class ThreadTransport:
    """
    Stands where a process transport would: no pid; stopping means
    closing the worker's connection.
    """

    inProcess = True
    pid = None

    def __init__(self, name):
        self.name = name
        self.connection = None

    def signalGroup(self, signum):
        connection = self.connection
        if connection is not None and connection.transport is not None:
            connection.transport.abortConnection()


class ThreadIsolate:
    """
    Runs each worker's script with C{runpy} in a daemon thread.
    """

    log = Logger()

    def __init__(self, reactor):
        self._reactor = reactor

    def spawn(self, processProtocol, executable, args, env, cwd, name):
        if not os.path.isfile(executable):
            raise SpawnError(executable, "does not exist")
        transport = ThreadTransport(name)
        thread = threading.Thread(
            target=self._run, args=(processProtocol, executable, args),
            name="cocaine-worker-" + name, daemon=True)
        thread.start()
        return transport

    def _run(self, processProtocol, executable, args):
        from cocaine.protocol.worker import launched
        launched.argv = list(args)
        code = 0
        try:
            runpy.run_path(executable, run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None
                                                           else 1)
        except BaseException as e:
            sys.stderr.write("thread worker {} failed: {!r}\n".format(
                executable, e))
            code = 1
        reason = ProcessDone(0) if code == 0 else ProcessTerminated(
            exitCode=code)
        self._reactor.callFromThread(processProtocol.processEnded,
                                     Failure(reason))

    def signalGroup(self, pid, signum):
        return False

    def release(self, pid):
        pass
