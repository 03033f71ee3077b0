# -*- test-case-name: tests.engine.test_engine -*-
"""
One request to an app: the client's stream in, the worker's stream out.

A L{Session} is the dispatch target of an C{enqueue} channel. Until a
worker takes it, the client's chunks are buffered; then they are forwarded
on the worker's channel as they come. Both directions are independent: the
worker may answer before the request stream is closed. Every session ends
with close or error towards the client, exactly once.
"""

import struct

from cocaine.errors import (
    ClientDisconnected, DeadlineExpired, WorkerLost, fromWire, toWire)

_WRITE, _ERROR, _CLOSE = 0, 1, 2


def parseDeadline(headers):
    """
    The request timeout in seconds from a C{request_timeout} header, or
    L{None}. The value is decimal seconds as text (ours), or 8 bytes holding
    a little-endian count of milliseconds (how the framework packs numeric
    headers).
    """
    for name, value in headers or ():
        if name != b"request_timeout":
            continue
        try:
            if len(value) == 8 and not value.isdigit():
                return struct.unpack("<Q", value)[0] / 1000.0
            seconds = float(value.decode("ascii"))
        except (ValueError, UnicodeDecodeError, struct.error):
            return None
        return seconds if seconds > 0 else None
    return None


class Session:
    """
    @ivar event: the app event the client asked for.
    @ivar worker: the worker serving it, once assigned.
    @ivar done: the client has been answered with close or error.
    """

    #: Once the client has its answer, nothing it still sends matters
    #: (see L{cocaine.rpc.server}).
    finishedWithUpstream = True

    __slots__ = ("engine", "event", "upstream", "worker", "channel",
                 "_pending", "requestOpen", "responseOpen", "done",
                 "_deadline", "queuedAt")

    def __init__(self, engine, event, upstream):
        self.engine = engine
        self.event = event
        self.upstream = upstream
        self.worker = None
        self.channel = None
        self._pending = []
        self.requestOpen = True
        self.responseOpen = True
        self.done = False
        self._deadline = None
        self.queuedAt = None

    # -- the client's side (dispatch target of enqueue) ---------------------

    def write(self, chunk):
        self._forward(_WRITE, [chunk])

    def close(self):
        self.requestOpen = False
        self._forward(_CLOSE, [])

    def error(self, *args):
        self.requestOpen = False
        self._forward(_ERROR, list(args))

    def _forward(self, mtype, args):
        if self.done and self.worker is None:
            return
        if self.worker is None:
            self._pending.append((mtype, args))
        elif self.responseOpen:
            self.worker.send(self.channel, mtype, args)

    def connectionLost(self):
        """
        The client went away: a queued session leaves the queue; a running
        one has its request stream ended with an error so the worker can
        stop.
        """
        if not self.done:
            self.done = True
            self._cancelDeadline()
            self.engine.sessionAbandoned(self)
        if self.worker is not None and self.requestOpen and self.responseOpen:
            self.requestOpen = False
            self.worker.send(self.channel, _ERROR, toWire(
                ClientDisconnected("client disconnected")))

    # -- the engine's side --------------------------------------------------

    def setDeadline(self, clock, seconds):
        self._deadline = clock.callLater(seconds, self._expired, seconds)

    def _cancelDeadline(self):
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _expired(self, seconds):
        self._deadline = None
        if self.done:
            return
        error = DeadlineExpired("app {}: request {!r} not answered within "
                                "{:g}s".format(self.engine.name, self.event,
                                               seconds))
        if self.worker is not None and self.requestOpen:
            self.requestOpen = False
            self.worker.send(self.channel, _ERROR, toWire(error))
        self.fail(error)

    def assigned(self, worker):
        """
        C{worker} takes this session: invoke, then what the client sent.
        """
        self.worker = worker
        self.channel = worker.assign(self)
        pending, self._pending = self._pending, None
        for mtype, args in pending:
            worker.send(self.channel, mtype, args)

    def fromWorker(self, worker, channel, mtype, args):
        """
        A message of the worker's response stream.
        """
        if mtype == _WRITE:
            if not self.done:
                self.upstream.send("write", *args[:1])
            return
        if mtype == _CLOSE or mtype == _ERROR:
            self.responseOpen = False
            worker.finished(channel)
            if not self.done:
                self.done = True
                self._cancelDeadline()
                if mtype == _CLOSE:
                    self.upstream.send("close")
                else:
                    self.upstream.send("error", *_errorArgs(args))
            self.engine.sessionFinished(self)

    def workerLost(self, worker):
        """
        The worker died or lost its connection before the response ended.
        """
        self.responseOpen = False
        self.fail(WorkerLost("app {}: the worker serving {!r} was lost ({})"
                             .format(self.engine.name, self.event,
                                     worker.reason or "unknown")))
        self.engine.sessionFinished(self)

    def fail(self, error):
        """
        End the session towards the client with C{error}, once.
        """
        if not self.done:
            self.done = True
            self._cancelDeadline()
            self.upstream.error(error)


def _errorArgs(args):
    """
    A worker's error as the client gets it: through the one mapping, so a
    malformed one arrives as an invalid-argument error naming what came.
    """
    return toWire(fromWire(args))
