# -*- test-case-name: tests.http.test_gateway -*-
"""
The gateway: the handler the HTTP server hands each request to
(L{Gateway.handleRequest}), turning it into one app session and the
session's answer into the HTTP response, streamed as it comes.

Where a session goes is the backend's business (L{Backend}): the node the
gateway runs in, other nodes of its cluster, or the nodes an edge proxy
finds at its locators. A request refused before it reached any app
(queue full, app not running there, node unreachable) is tried once more
on another node when the backend has one; anything that may have been
delivered is never retried.

Status codes of our own (each with C{X-Error-Generated-By: cocaine} and a
short text body): 400 bad dispatch headers or C{X-Request-Id}, 404 no such
app (or no app in the URL), 500 the app failed (the body names the error's
category and code) or answered something that is not HTTP, 502 no node of
the app could be reached, 503 queue full (with C{Retry-After}), 504 the
app did not answer within its timeout (the session is cancelled).
"""

from twisted.logger import Logger
from zope.interface import Interface, implementer

from cocaine.errors import (
    AppNotRunning, CallTimeout, DeadlineExpired, QueueFull,
    UNAUTHORIZED, SecurityError, ServiceNotAvailable, Unreachable, toWire)
from cocaine.http.encoding import (
    BadRequestId, HeadError, packRequest, parseHead, timeoutHeader,
    traceHeaders)
from cocaine.http.routing import PING, RouteError, route

#: Seconds an app gets to answer unless configured otherwise.
DEFAULT_TIMEOUT = 30.0

#: How many sessions one request may open (the first and one retry).
ATTEMPTS = 2

#: Cocaine 0.12's "queue is full" (the overseer's category).
LEGACY_QUEUE_FULL = (0x52FF, 1)

#: What C{Retry-After} says when a queue is full.
RETRY_AFTER = b"1"

_REASONS_TEXT = b"text/plain; charset=utf-8"


class Backend(Interface):
    """
    Where the gateway's sessions go.
    """

    def call(app, event, headers, chunk, upstream, tried):
        """
        Open a session of C{app} for C{event} with the Cocaine C{headers},
        send C{chunk} and close the request stream. The answer comes on
        C{upstream} (C{send("write", chunk)}, C{send("close")},
        C{error(exception)}), possibly before this returns. The backend
        sets C{upstream.target} to where the session goes as soon as it
        knows (before any answer).

        @param tried: the targets of earlier attempts, to be avoided.
        @return: a L{Call}.
        """

    def hasOther(app, tried):
        """
        @return: whether a target other than those in C{tried} may serve
            C{app}.
        """

    def healthy():
        """
        @return: whether C{/ping} answers 200.
        """


class Call(Interface):
    """
    One session opened by a L{Backend}.
    """

    def cancel():
        """
        Nothing more of its answer is wanted: cancel the session.
        """


@implementer(Call)
class PendingCall:
    """
    A call whose session is opened later (once its app is resolved or its
    connection made): cancelling it before then is remembered, and
    cancels the session once there is one.

    @ivar inner: what to cancel: a L{Call} or a Deferred, once known.
    @ivar cancelled: whether it was cancelled.
    """

    __slots__ = ("inner", "cancelled")

    def __init__(self):
        self.inner = None
        self.cancelled = False

    def cancel(self):
        self.cancelled = True
        inner, self.inner = self.inner, None
        if inner is not None:
            inner.cancel()


def timeoutFor(timeouts, app, event, default=DEFAULT_TIMEOUT):
    """
    The timeout of C{app}'s C{event}: C{timeouts[app][event]}, else
    C{timeouts[app][""]}, else C{default}.
    """
    events = timeouts.get(app)
    if events:
        seconds = events.get(event)
        if seconds is None:
            seconds = events.get("")
        if seconds is not None:
            return float(seconds)
    return default


def isQueueFull(error):
    """
    Whether C{error} says the app's queue is full (ours or 0.12's).
    """
    return isinstance(error, QueueFull) or (
        getattr(error, "category", None), getattr(error, "code", None)
    ) == LEGACY_QUEUE_FULL


def retriable(error):
    """
    Whether C{error} surely came before the request reached any app, so
    another node may be tried.
    """
    return isQueueFull(error) or isinstance(
        error, (AppNotRunning, ServiceNotAvailable, Unreachable))


def answerOf(app, event, error):
    """
    @return: C{(code, text, extra headers)} for a session that failed with
        C{error} before the response's head.
    """
    if isinstance(error, (AppNotRunning, ServiceNotAvailable)):
        return 404, "no app {!r} is running".format(app), []
    if isQueueFull(error):
        return 503, "app {!r} is overloaded (its queue is full); retry " \
            "later".format(app), [(b"Retry-After", RETRY_AFTER)]
    if isinstance(error, (DeadlineExpired, CallTimeout)):
        return 504, "app {!r} did not answer {!r} in time".format(
            app, event), []
    if isinstance(error, Unreachable):
        return 502, "app {!r}: no node could be reached ({})".format(
            app, error), []
    if isinstance(error, SecurityError):
        if error.code == UNAUTHORIZED:
            return 401, "app {!r}: {}".format(app, error), [
                (b"WWW-Authenticate", b"Bearer")]
        return 403, "app {!r}: {}".format(app, error), []
    (category, code), message = toWire(error)
    return 500, "app {!r} failed on {!r}: error [{}, {}]: {}".format(
        app, event, category, code, message), []


class _Upstream:
    """
    What one attempt's session answers on; only the current attempt of its
    exchange is heard.
    """

    __slots__ = ("exchange", "target")

    def __init__(self, exchange):
        self.exchange = exchange
        #: set by the backend as soon as it knows where the session goes
        self.target = None

    def send(self, name, *args):
        exchange = self.exchange
        if exchange.upstream is self:
            if name == "write":
                exchange.chunk(args[0] if args else b"")
            elif name == "close":
                exchange.closed()

    @property
    def writable(self):
        """
        Whether the HTTP client takes what it is sent (a session whose
        client does not holds its worker: L{cocaine.engine.session}).
        """
        exchange = self.exchange
        return exchange.upstream is not self or exchange.responder.writable

    def whenWritable(self, callback):
        """
        Call C{callback()} once the HTTP client has read what waited for
        it.
        """
        self.exchange.responder.whenWritable(callback)

    def error(self, error):
        if self.exchange.upstream is self:
            # a Failure from a Deferred's errback, or an exception
            value = getattr(error, "value", None)
            self.exchange.failed(value if isinstance(
                value, BaseException) else error)


class Exchange:
    """
    One HTTP request and its session(s).
    """

    __slots__ = ("gateway", "request", "responder", "route", "headers",
                 "payload", "extra", "timeout", "timer", "upstream", "call",
                 "tried", "done", "endOnEmpty", "refusal")

    def __init__(self, gateway, request, responder, route, headers, payload,
                 extra, timeout):
        self.gateway = gateway
        self.request = request
        self.responder = responder
        self.route = route
        self.headers = headers
        self.payload = payload
        self.extra = extra
        self.timeout = timeout
        self.timer = None
        self.upstream = None
        self.call = None
        self.tried = []
        self.done = False
        self.endOnEmpty = False
        #: the first attempt's queue-full refusal, when it was retried
        self.refusal = None

    def start(self):
        self.timer = self.gateway.clock.callLater(self.timeout,
                                                  self._expired)
        self.responder.notifyLost(self._clientLost)
        self._attempt()

    def _attempt(self):
        self.upstream = upstream = _Upstream(self)
        route = self.route
        call = self.gateway.backend.call(route.app, route.event,
                                         self.headers, self.payload,
                                         upstream, list(self.tried))
        if self.upstream is upstream:
            self.call = call

    # -- the session's answer ------------------------------------------------

    def chunk(self, data):
        if self.done:
            return
        responder = self.responder
        if not responder.headWritten:
            try:
                code, headers, self.endOnEmpty = parseHead(data)
            except HeadError as e:
                self._cancel()
                self._fail(500, "app {!r} answered {!r} with something that "
                           "is not HTTP: {}".format(self.route.app,
                                                    self.route.event, e))
                return
            headers.extend(self.extra)
            self.gateway.count(code)
            responder.writeHead(code, headers)
        elif data:
            if not isinstance(data, bytes):
                data = _asBytes(data)
            responder.write(data)
        elif self.endOnEmpty:
            # The answer is complete (0.12's proxy convention), not
            # abandoned: the session is left to end on its own, so the
            # worker's close that follows is counted ok, not as a client
            # that went away; what it still sends is not heard.
            self._end()

    def closed(self):
        if self.done:
            return
        if not self.responder.headWritten:
            self._fail(500, "app {!r} closed {!r} without an HTTP "
                       "answer".format(self.route.app, self.route.event))
            return
        self._end()

    def failed(self, error):
        if self.done:
            return
        route = self.route
        if (retriable(error) and len(self.tried) + 1 < ATTEMPTS
                and not self.responder.headWritten):
            self.tried.append(self.upstream.target)
            if self.gateway.backend.hasOther(route.app, self.tried):
                if isQueueFull(error):
                    self.refusal = error
                self.call = None
                self._attempt()
                return
        elif self.refusal is not None and retriable(error):
            # The retry target refused too (its app just paused, its node
            # gone): the app is overloaded rather than absent.
            error = self.refusal
        if self.responder.headWritten:
            self.gateway.log.info(
                "http: app {app} failed {event} mid-response: {error}",
                app=route.app, event=route.event, error=str(error))
            self._abort()
            return
        code, text, headers = answerOf(route.app, route.event, error)
        if code >= 500:
            self.gateway.log.info("http: {code} for {app} {event}: {error}",
                                  code=code, app=route.app,
                                  event=route.event, error=str(error))
        self._fail(code, text, headers)

    # -- the ends ------------------------------------------------------------

    def _expired(self):
        self.timer = None
        if self.done:
            return
        self._cancel()
        if self.responder.headWritten:
            self._abort()
        else:
            self._fail(504, "app {!r} did not answer {!r} within {:g} s"
                       .format(self.route.app, self.route.event,
                               self.timeout))

    def _clientLost(self):
        if not self.done:
            self._finished()
            self._cancel()

    def _cancel(self):
        call, self.call = self.call, None
        self.upstream = None
        if call is not None:
            call.cancel()

    def _finished(self):
        self.done = True
        self.upstream = None
        timer, self.timer = self.timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _end(self):
        self._finished()
        self.call = None
        self.responder.finish()

    def _abort(self):
        self._finished()
        self.responder.abort()

    def _fail(self, code, text, headers=()):
        self._finished()
        self.gateway.error(self.responder, code, text,
                           list(headers) + self.extra)


def _respond(responder, code, headers, body):
    """
    A whole response: in one write when the responder can (the server's
    C{respond}), else head, body and finish.
    """
    respond = getattr(responder, "respond", None)
    if respond is not None:
        respond(code, headers, body)
        return
    responder.writeHead(code, headers + [
        (b"Content-Length", b"%d" % (len(body),))])
    responder.write(body)
    responder.finish()


def _asBytes(data):
    if isinstance(data, str):
        return data.encode("utf-8", "surrogateescape")
    return bytes(data)


class Gateway:
    """
    The HTTP server's handler.

    @ivar codes: C{{status: count}} of the responses begun.
    @ivar backend: the L{Backend}.
    """

    log = Logger()

    def __init__(self, clock, backend, timeouts=None,
                 defaultTimeout=DEFAULT_TIMEOUT):
        """
        @param clock: an C{IReactorTime}.
        @param timeouts: C{{app: {event: seconds, "": default}}}.
        """
        self.clock = clock
        self.backend = backend
        self.timeouts = dict(timeouts or {})
        self.defaultTimeout = defaultTimeout
        self.codes = {}

    def count(self, code):
        codes = self.codes
        codes[code] = codes.get(code, 0) + 1

    def error(self, responder, code, text, headers=()):
        """
        Answer with an error of our own.
        """
        self.count(code)
        _respond(responder, code, [
            (b"Content-Type", _REASONS_TEXT),
            (b"X-Error-Generated-By", b"cocaine")] + list(headers),
            text.encode("utf-8") + b"\n")

    def _ping(self, responder):
        if self.backend.healthy():
            self.count(200)
            _respond(responder, 200, [(b"Content-Type", _REASONS_TEXT),
                                      (b"X-Powered-By", b"Cocaine")], b"OK")
        else:
            self.error(responder, 503, "no locator answers",
                       [(b"X-Powered-By", b"Cocaine")])

    def handleRequest(self, request, responder):
        headers = request.headers
        extra = [(b"X-Powered-By", b"Cocaine")]
        cocaine = []
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"x-request-id":
                if not cocaine or cocaine[0][0] != b"trace_id":
                    extra.append((b"X-Request-Id", value))
                    try:
                        cocaine[:0] = traceHeaders(value)
                    except BadRequestId as e:
                        self.error(responder, 400, str(e), extra)
                        return
            elif lowered == b"authorization":
                cocaine.append((b"authorization", value))
        try:
            where = route(request.target, headers)
        except RouteError as e:
            self.error(responder, e.code, e.reason, extra)
            return
        if where is PING:
            self._ping(responder)
            return
        timeout = timeoutFor(self.timeouts, where.app, where.event,
                             self.defaultTimeout)
        cocaine.append(timeoutHeader(timeout))
        if where.headers:
            headers = list(headers) + where.headers
        payload = packRequest(request.method, where.uri, request.version,
                              headers, request.body)
        extra.append((b"X-Cocaine-Application",
                      where.app.encode("utf-8")))
        Exchange(self, request, responder, where, cocaine, payload, extra,
                 timeout).start()


__all__ = ["Backend", "Call", "Gateway", "Exchange", "DEFAULT_TIMEOUT",
           "answerOf", "isQueueFull", "retriable", "timeoutFor"]
