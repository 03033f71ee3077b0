# -*- test-case-name: tests.driver.test_zeromq -*-
"""
ZeroMQ drivers (PROTOCOL.md section 9), on L{cocaine.zeromq}.

  - C{zeromq-server} C{{endpoint, backlog?}}: a ROUTER bound at
    C{endpoint}. Each request is one job whose chunks are the request's
    frames (after the envelope). When the job ends the peer gets ONE
    multipart reply: the envelope, then one frame per response chunk (one
    empty frame when there were none), so REQ clients work. An error (the
    handler's, or the queue being full) is answered with the envelope and
    one frame, JSON C{{"error": message}}. C{backlog} is the socket's
    high-water mark, as in the original driver (default 1000).
  - C{zeromq-sink} C{{endpoint}}: a PULL bound at C{endpoint}; each message
    is a job (its frames the chunks); nothing is answered.
  - C{zeromq-subscriber} C{{endpoint, subscription?}}: a SUB connecting to
    a publisher at C{endpoint}, subscribed to C{subscription} (a prefix, or
    a list of them; default everything); each message is a job.

Endpoints are C{ipc://}, C{inproc://} or C{tcp://ADDRESS:PORT} with the
address written out (L{cocaine.zeromq.checkEndpoint}). A bound endpoint
that cannot be bound (the address is in use) fails the app's start.
"""

import json

from cocaine.driver.base import Driver
from cocaine.errors import DriverError
from cocaine.zeromq import (
    EndpointError, ZeroMQError, bindPull, bindRouter, checkEndpoint,
    connectSubscriber, splitEnvelope)

#: The original driver's default high-water mark.
DEFAULT_BACKLOG = 1000


def checkArgs(kind, path, args):
    """
    Check a ZeroMQ driver's arguments.

    @param kind: the driver type.
    @return: C{{"endpoint": ..., "backlog": ..., "subscriptions": [...]}}.
    @raise DriverError: naming the argument.
    """
    try:
        endpoint = checkEndpoint(args.get("endpoint"),
                                 bind=kind != "zeromq-subscriber")
    except EndpointError as e:
        raise DriverError("{}.endpoint: {}".format(path, e))
    checked = {"endpoint": endpoint}
    if kind == "zeromq-server":
        backlog = args.get("backlog", DEFAULT_BACKLOG)
        if type(backlog) is not int or backlog <= 0:
            raise DriverError("{}.backlog: must be a positive integer, got "
                              "{!r}".format(path, backlog))
        checked["backlog"] = backlog
    if kind == "zeromq-subscriber":
        subscription = args.get("subscription", "")
        prefixes = [subscription] if isinstance(subscription, str) \
            else subscription
        if not isinstance(prefixes, list) or not all(
                isinstance(p, str) for p in prefixes) or not prefixes:
            raise DriverError("{}.subscription: must be a string or a list "
                              "of strings, got {!r}".format(
                                  path, subscription))
        checked["subscriptions"] = [p.encode("utf-8") for p in prefixes]
    return checked


def errorFrame(message):
    """
    @return: the JSON error reply frame, C{{"error": message}}.
    """
    return json.dumps({"error": message}).encode("utf-8")


def _bytes(chunk):
    return chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)


def _ignore(failure):
    return None


class _ZeroMQDriver(Driver):
    """
    A driver owning one ZeroMQ socket between C{start} and C{stop}.
    """

    def __init__(self, context, name, args):
        Driver.__init__(self, context, name, args)
        self.args = checkArgs(self.type, "drivers." + name, args)
        self.endpoint = self.args["endpoint"]
        self.socket = None

    def start(self):
        try:
            self.socket = self.open()
        except ZeroMQError as e:
            raise DriverError(str(e))

    def open(self):
        raise NotImplementedError()

    def stop(self):
        socket, self.socket = self.socket, None
        if socket is not None:
            socket.close()

    def info(self):
        bound = self.socket.endpoint if self.socket is not None else None
        return dict(Driver.info(self), endpoint=bound or self.endpoint)


class ZeroMQServer(_ZeroMQDriver):
    """
    C{zeromq-server}: request frames in, one multipart reply out.

    @ivar pending: jobs whose reply has not been sent yet.
    """

    type = "zeromq-server"

    def __init__(self, context, name, args):
        _ZeroMQDriver.__init__(self, context, name, args)
        self.pending = 0

    def open(self):
        return bindRouter(self.endpoint, self._request,
                          highWaterMark=self.args["backlog"])

    def _request(self, frames):
        envelope, body = splitEnvelope(frames)
        socket = self.socket
        self.pending += 1
        d = self.submit(body)

        def answered(chunks):
            return [_bytes(c) for c in chunks or ()] or [b""]

        def failed(failure):
            return [errorFrame(failure.getErrorMessage())]

        def reply(frames):
            self.pending -= 1
            if socket is self.socket:
                socket.send(envelope + frames)
        d.addCallbacks(answered, failed)
        d.addCallback(reply)

    def info(self):
        return dict(_ZeroMQDriver.info(self), backlog=self.args["backlog"],
                    pending=self.pending)


class ZeroMQSink(_ZeroMQDriver):
    """
    C{zeromq-sink}: each message a job, no reply.
    """

    type = "zeromq-sink"

    def open(self):
        return bindPull(self.endpoint, self._message)

    def _message(self, frames):
        self.submit(frames).addErrback(_ignore)


class ZeroMQSubscriber(_ZeroMQDriver):
    """
    C{zeromq-subscriber}: each published message a job.
    """

    type = "zeromq-subscriber"

    def open(self):
        return connectSubscriber(self.endpoint, self._message,
                                 self.args["subscriptions"])

    def _message(self, frames):
        self.submit(frames).addErrback(_ignore)

    def info(self):
        return dict(_ZeroMQDriver.info(self), subscription=[
            p.decode("utf-8") for p in self.args["subscriptions"]])
