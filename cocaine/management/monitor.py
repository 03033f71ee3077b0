# -*- test-case-name: tests.management.test_monitor -*-
"""
Per-app monitoring over ZeroMQ PUB (PROTOCOL.md section 9).

An app whose manifest has C{"pubsub": {"endpoint": "ipc://..."}} gets a
PUB socket bound there while it runs. Each driver job's outcome and each
engine event is published as two frames:

  - C{"<driver> result <hostname> <unix time>"}, the response chunks
    joined; C{"<driver> error <hostname> <unix time>"}, the error message;
  - C{"engine <event> <hostname> <unix time>"}, a JSON map, for the events
    C{worker-spawned} C{{uuid, pid}}, C{worker-stopped} and C{worker-died}
    C{{uuid, pid, reason}}, C{queue-full} C{{depth}} and C{stopped} C{{}}
    (the last one; the socket closes after it).

The time has milliseconds (C{1795421234.512}). Subscribers filter by
prefix: C{"engine "}, C{"tick error"}.
"""

import json
import socket
import time

from twisted.logger import Logger

from cocaine.engine.manifest import ManifestError
from cocaine.errors import SpawnFailed
from cocaine.engine.manifest import plain
from cocaine.zeromq import (
    EndpointError, ZeroMQError, bindPublisher, checkEndpoint)


def encodeValue(value):
    """
    The value frame: bytes as they are, text as UTF-8, a list of chunks
    joined, a map as JSON, L{None} empty.
    """
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (list, tuple)):
        return b"".join(encodeValue(v) for v in value)
    return json.dumps(plain(value), default=str,
                      sort_keys=True).encode("utf-8")


class Monitor:
    """
    The app's C{monitor(source, field, value)}: publishes each call.

    @ivar published: messages published.
    """

    log = Logger()

    def __init__(self, publisher, hostname=None, clock=time.time):
        """
        @param publisher: a L{cocaine.zeromq.Socket} (PUB), or anything
            with C{send(frames)} and C{close()}.
        """
        self.publisher = publisher
        self.hostname = hostname or socket.gethostname()
        self.clock = clock
        self.published = 0

    def __call__(self, source, field, value):
        if self.publisher is None:
            return
        try:
            envelope = "{} {} {} {:.3f}".format(source, field, self.hostname,
                                                self.clock())
            self.publisher.send([envelope.encode("utf-8"),
                                 encodeValue(value)])
            self.published += 1
        except Exception:
            self.log.failure("monitoring: {source} {field} not published",
                             source=source, field=field)
        if source == "engine" and field == "stopped":
            self.close()

    def close(self):
        publisher, self.publisher = self.publisher, None
        if publisher is not None:
            publisher.close()


def startMonitor(name, endpoint):
    """
    Bind the app's PUB socket if its manifest asks for one.

    @param endpoint: the manifest's C{pubsub} endpoint, or L{None}.
    @return: a L{Monitor}, or L{None} without one.
    @raise ManifestError: a bad endpoint.
    @raise SpawnFailed: it cannot be bound (naming it and why).
    """
    if endpoint is None:
        return None
    try:
        checkEndpoint(endpoint)
    except EndpointError as e:
        raise ManifestError("manifest of app {!r}: pubsub.endpoint: {}"
                            .format(name, e))
    try:
        publisher = bindPublisher(endpoint)
    except ZeroMQError as e:
        raise SpawnFailed("app {!r}: pubsub: {}".format(name, e))
    Monitor.log.info("app {app}: monitoring published on {endpoint}",
                     app=name, endpoint=publisher.endpoint)
    return Monitor(publisher)
