# -*- test-case-name: tests.driver.test_base -*-
"""
What every driver shares: the context it is given, how it submits jobs to
its app's engine, and its counters.
"""

import time

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from cocaine.errors import fromWire


class JobUpstream:
    """
    Stands where a client's upstream would: collects the worker's answer to
    a job and fires C{result} with the list of chunks, or fails it with the
    error.
    """

    closed = False

    def __init__(self, onChunk=None):
        self.chunks = []
        self.result = Deferred()
        self._onChunk = onChunk

    def send(self, name, *args):
        if self.closed:
            return
        if name == "write":
            chunk = args[0] if args else b""
            if self._onChunk is not None:
                self._onChunk(chunk)
            else:
                self.chunks.append(chunk)
        elif name == "close":
            self.closed = True
            self.result.callback(self.chunks)
        elif name == "error":
            self.closed = True
            self.result.errback(fromWire(list(args)))

    def error(self, exception):
        if not self.closed:
            self.closed = True
            self.result.errback(exception)


class DriverContext:
    """
    @ivar reactor: the reactor (a L{Clock} in tests).
    @ivar app: the app's name.
    @ivar engine: the app's engine: C{enqueue(upstream, event)},
        C{queueFull()}.
    @ivar directory: the app's directory (relative paths in driver
        arguments are read from it), or L{None}.
    """

    def __init__(self, reactor, app, engine, wallClock=time.time,
                 directory=None):
        self.reactor = reactor
        self.app = app
        self.engine = engine
        self.wallClock = wallClock
        self.directory = directory

    @property
    def monitor(self):
        """
        The app's monitor, C{monitor(driver, field, value)}: the engine's
        C{monitor} attribute, L{None} by default.
        """
        return getattr(self.engine, "monitor", None)


class Driver:
    """
    Base of the drivers: counters and job submission.

    @ivar jobs: jobs the engine accepted.
    @ivar errors: jobs that ended with an error (including rejections).
    @ivar skipped: jobs not even submitted because the queue was full.
    @ivar last: wall-clock time of the last job submitted, or L{None}.
    """

    type = "driver"

    def __init__(self, context, name, args):
        self.context = context
        self.name = name
        self.event = args.get("emit") or name
        self.jobs = 0
        self.errors = 0
        self.skipped = 0
        self.last = None
        self.lastError = None

    def submit(self, chunks=(), onChunk=None):
        """
        Run one job: the app's event with C{chunks} as its request.

        @return: a Deferred firing with the list of response chunks (or
            L{None} when C{onChunk} took them), failing with the error.
        """
        upstream = JobUpstream(onChunk)
        self.last = self.context.wallClock()
        session = self.context.engine.enqueue(upstream, self.event)
        if not upstream.closed:
            self.jobs += 1
            for chunk in chunks:
                session.write(chunk)
            session.close()
        upstream.result.addErrback(self._failed)
        upstream.result.addBoth(self._report)
        return upstream.result

    def _report(self, result):
        monitor = self.context.monitor
        if monitor is not None:
            if isinstance(result, Failure):
                monitor(self.name, "error", result.getErrorMessage())
            else:
                monitor(self.name, "result", result)
        return result

    def _failed(self, failure):
        self.errors += 1
        self.lastError = failure.getErrorMessage()
        return failure

    def queueFull(self):
        return self.context.engine.queueFull()

    def info(self):
        return {"type": self.type, "event": self.event, "jobs": self.jobs,
                "errors": self.errors, "skipped": self.skipped,
                "last": self.last, "last-error": self.lastError}

    def start(self):
        return None

    def stop(self):
        return None
