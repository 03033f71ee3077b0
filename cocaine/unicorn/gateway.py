# -*- test-case-name: tests.unicorn.test_gateway -*-
"""
A small client of etcd's v3 HTTP/JSON gateway (C{/v3/kv/range},
C{/v3/kv/txn}, C{/v3/lease/*}, C{/v3/watch}) with C{treq} on an injected
reactor.

Keys and values travel base64-encoded, 64-bit numbers as decimal strings
(the gateway's JSON mapping of protobuf). Every call has a timeout; a call
tries the endpoint that answered last, then each other one, and fails
with L{ConnectionLoss} when none answers (never a hang).
"""

import base64
import json

from twisted.internet.defer import CancelledError, DeferredList
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.web.client import (
    Agent, HTTPConnectionPool, _HTTP11ClientFactory)
from treq.client import HTTPClient

from cocaine.errors import ConnectionLoss, UnicornError


def b64(data):
    """
    @param data: bytes or text (UTF-8).
    @return: the base64 text of C{data}.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def unb64(text):
    """
    @return: the bytes of base64 C{text} (empty for L{None}).
    """
    return base64.b64decode(text or "")


def rangeEnd(prefix):
    """
    The end of the range of every key that starts with C{prefix} (bytes
    or text): the prefix with its last byte plus one.
    """
    if isinstance(prefix, str):
        prefix = prefix.encode("utf-8")
    data = bytearray(prefix)
    while data and data[-1] == 0xFF:
        data.pop()
    if not data:
        return b"\x00"
    data[-1] += 1
    return bytes(data)


def number(value, default=0):
    """
    A gateway int64 (a decimal string, missing when zero) as an int.
    """
    if value is None:
        return default
    return int(value)


#: gRPC's code UNAVAILABLE, which the gateway answers with HTTP 503 while
#: etcd stops or starts ("transport is closing") or has no leader: a
#: moment's state, not the call's fault.
GRPC_UNAVAILABLE = 14


def unavailable(response, answer):
    """
    @param answer: the decoded JSON answer (a map), or L{None}.
    @return: whether C{response} says etcd cannot serve calls just now
        (worth another try, like an endpoint that does not answer).
    """
    return response.code == 503 or (
        answer is not None and answer.get("code") == GRPC_UNAVAILABLE)


def _discard(response):
    """
    Read and drop the body of a C{response} not used (a refused watch's):
    its connection closes once the body is read, not before.
    """
    response.content().addErrback(lambda reason: None)


class _QuietFactory(_HTTP11ClientFactory):
    # one connection per watch stream: not two log lines each
    noisy = False


class _QuietPool(HTTPConnectionPool):
    _factory = _QuietFactory


class EtcdGateway:
    """
    The JSON gateway of an etcd cluster.

    @ivar endpoints: the base URLs (C{http://127.0.0.1:2379}) tried in turn.
    @ivar timeout: seconds a call may take.
    """

    log = Logger()

    def __init__(self, reactor, endpoints, timeout=5.0):
        self.reactor = reactor
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.timeout = timeout
        self._current = 0
        self._inflight = set()
        self._pool = _QuietPool(reactor, persistent=True)
        self._pool.maxPersistentPerHost = 4
        self._client = HTTPClient(Agent(reactor, pool=self._pool,
                                        connectTimeout=timeout))
        # watch streams: a connection each, never pooled
        self._streams = HTTPClient(Agent(
            reactor, pool=_QuietPool(reactor, persistent=False),
            connectTimeout=timeout))

    def close(self):
        """
        Drop the pooled connections once the calls under way are done
        (each has its timeout).

        @return: a Deferred that fires when they are closed.
        """
        d = DeferredList(list(self._inflight), consumeErrors=True)
        return d.addCallback(lambda _: self._pool.closeCachedConnections())

    def _failed(self, endpoint, reason):
        """
        Turn a transport failure, or an answer that etcd is unavailable,
        into L{ConnectionLoss}.
        """
        if reason.check(UnicornError):
            return reason
        what = ("timed out after {}s".format(self.timeout)
                if reason.check(CancelledError) else
                reason.getErrorMessage() or type(reason.value).__name__)
        raise self._lost(endpoint, "unreachable: " + what)

    def _lost(self, endpoint, what):
        """
        Move on to the next endpoint: C{endpoint} is unreachable or
        unavailable.

        @return: the L{ConnectionLoss} that says so.
        """
        self._current = (self._current + 1) % len(self.endpoints)
        return ConnectionLoss("etcd at {} {}".format(endpoint, what))

    async def call(self, path, body):
        """
        POST C{body} (a JSON map) to C{path} (C{/v3/kv/range}), at the
        endpoint that answered last, then at each other one in turn when
        it cannot be reached.

        @return: the decoded JSON answer.
        @raise ConnectionLoss: no endpoint answered.
        @raise UnicornError: etcd answered with an error.
        """
        for attempt in range(len(self.endpoints)):
            endpoint = self.endpoints[self._current]
            d = self._client.post(endpoint + path, json=body,
                                  reactor=self.reactor, timeout=self.timeout)
            d.addCallback(self._decode, endpoint, path)
            d.addErrback(lambda reason: self._failed(endpoint, reason))
            self._inflight.add(d)
            d.addBoth(lambda result, d=d: self._inflight.discard(d) or result)
            try:
                return await d
            except ConnectionLoss:
                if attempt == len(self.endpoints) - 1:
                    raise

    def _decode(self, response, endpoint, path):
        d = response.content()

        def decoded(content):
            try:
                answer = json.loads(content)
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                answer = None
            if unavailable(response, answer):
                raise self._lost(endpoint, "unavailable for {}: {}".format(
                    path, (answer or {}).get("message")
                    or "HTTP {}".format(response.code)))
            if answer is None:
                raise UnicornError("etcd at {} answered {} with no JSON "
                                   "map (HTTP {})".format(endpoint, path,
                                                          response.code))
            if response.code != 200 or "error" in answer:
                raise UnicornError("etcd at {} refused {}: {}".format(
                    endpoint, path, answer.get("message") or
                    answer.get("error") or response.code))
            return answer
        return d.addCallback(decoded)

    def watch(self, key, end, start, events, lost):
        """
        Stream the changes of keys C{[key, end)} from revision C{start}.

        @param events: called with C{(events, revision)} per batch (each
            event the gateway's map: C{type}, C{kv}).
        @param lost: called once with the reason when the stream ends by
            itself (etcd went away, the revision was compacted).
        @return: a Deferred that fires with a C{cancel()} callable once
            the stream is open, or fails with L{ConnectionLoss}.
        """
        endpoint = self.endpoints[self._current]
        body = {"create_request": {"key": b64(key), "range_end": b64(end),
                                   "start_revision": str(start)}}
        d = self._streams.post(endpoint + "/v3/watch", json=body,
                               reactor=self.reactor, timeout=self.timeout,
                               unbuffered=True)
        d.addErrback(lambda reason: self._failed(endpoint, reason))

        def opened(response):
            if response.code != 200:
                _discard(response)
            if unavailable(response, None):
                raise self._lost(endpoint, "unavailable for a watch (HTTP "
                                 "{})".format(response.code))
            if response.code != 200:
                raise UnicornError("etcd at {} refused a watch (HTTP {})"
                                   .format(endpoint, response.code))
            stream = _WatchStream(events, lost)
            response.deliverBody(stream)
            return stream.cancel
        return d.addCallback(opened)


class _WatchStream(Protocol):
    """
    The body of one C{/v3/watch} answer: concatenated JSON objects.
    """

    def __init__(self, events, lost):
        self._events = events
        self._lost = lost
        self._buffer = ""
        self._decoder = json.JSONDecoder()
        self._done = False

    def cancel(self):
        """
        Stop the stream; nothing more is reported.
        """
        self._done = True
        if self.transport is not None:
            self.transport.stopProducing()

    def dataReceived(self, data):
        self._buffer += data.decode("utf-8")
        while not self._done:
            text = self._buffer.lstrip()
            if not text:
                self._buffer = ""
                return
            try:
                value, used = self._decoder.raw_decode(text)
            except ValueError:
                self._buffer = text
                return
            self._buffer = text[used:]
            self._message(value)

    def _message(self, value):
        result = value.get("result")
        if result is None:
            self._end(ConnectionLoss("etcd watch failed: {}".format(
                value.get("error", value))))
            return
        if result.get("canceled") or result.get("compact_revision"):
            self._end(ConnectionLoss("etcd watch canceled: {}".format(
                result.get("cancel_reason") or "revision compacted")))
            return
        revision = number(result.get("header", {}).get("revision"))
        if result.get("events"):
            self._events(result["events"], revision)

    def _end(self, reason):
        if not self._done:
            self._done = True
            if self.transport is not None:
                self.transport.stopProducing()
            self._lost(reason)

    def connectionLost(self, reason):
        self._end(ConnectionLoss("etcd watch stream ended: {}".format(
            reason.getErrorMessage())))
