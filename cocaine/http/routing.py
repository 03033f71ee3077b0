# -*- test-case-name: tests.http.test_routing -*-
"""
Which app and event an HTTP request is for, exactly as the Cocaine 0.12
proxies route (SERVICES-0.12.md section 2):

  - the headers C{X-Cocaine-Service} and C{X-Cocaine-Event} name them and
    the app sees the request target unchanged (only one of the two is a
    400, as in the Rust proxy; an empty one too);
  - otherwise the target is matched against C{/([^/]*)/([^/?]*)(.*)}: app,
    event, and the rest (with the query) is the URI the app sees, with a
    leading C{/} added when the rest has none (C{/echo/http?x=1} is
    C{/?x=1}); the app also gets the two headers, as from the tornado
    proxy.

C{/ping} (with no dispatch headers) is the proxy's own health check.
"""

import re

#: The 0.12 proxies' path pattern.
URL_PATTERN = re.compile(rb"/([^/]*)/([^/?]*)(.*)", re.DOTALL)

SERVICE_HEADER = b"x-cocaine-service"
EVENT_HEADER = b"x-cocaine-event"


class RouteError(Exception):
    """
    A request that names no app and event.

    @ivar code: the HTTP status to answer.
    @ivar reason: the text of the answer.
    """

    def __init__(self, code, reason):
        Exception.__init__(self, code, reason)
        self.code = code
        self.reason = reason


class Route:
    """
    Where a request goes.

    @ivar app: the app name (text).
    @ivar event: the event name (text).
    @ivar uri: the request target the app sees (bytes).
    @ivar headers: extra request headers for the app, C{[(name, value)]}.
    """

    __slots__ = ("app", "event", "uri", "headers")

    def __init__(self, app, event, uri, headers=()):
        self.app = app
        self.event = event
        self.uri = uri
        self.headers = list(headers)

    def __eq__(self, other):
        if not isinstance(other, Route):
            return NotImplemented
        return ((self.app, self.event, self.uri, self.headers)
                == (other.app, other.event, other.uri, other.headers))

    def __repr__(self):
        return "Route({!r}, {!r}, {!r})".format(self.app, self.event,
                                                self.uri)


#: What L{route} answers for the health check.
PING = object()


def _name(value, what):
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise RouteError(400, "the {} name is not UTF-8".format(what))


def route(target, headers):
    """
    Route one request.

    @param target: the raw request target (C{b"/app/event/rest?q"}).
    @param headers: the request headers, C{[(name, value)]} bytes, names in
        any case.
    @return: a L{Route}, or L{PING} for the health check.
    @raise RouteError: the request names no app and event.
    """
    service = event = None
    for name, value in headers:
        lowered = name.lower()
        if lowered == SERVICE_HEADER:
            if service is None:
                service = value
        elif lowered == EVENT_HEADER:
            if event is None:
                event = value
    if service is not None or event is not None:
        if service is None or event is None:
            raise RouteError(400, "X-Cocaine-Service and X-Cocaine-Event "
                             "go together (only one was sent)")
        if not service or not event:
            raise RouteError(400, "empty X-Cocaine-Service or "
                             "X-Cocaine-Event")
        return Route(_name(service, "app"), _name(event, "event"), target)
    if target.partition(b"?")[0] == b"/ping":
        return PING
    match = URL_PATTERN.match(target)
    if match is None:
        raise RouteError(404, "no app in the URL (use /<app>/<event>/...)")
    app, event, rest = match.groups()
    if not app or not event:
        raise RouteError(404, "no app in the URL (use /<app>/<event>/...)")
    if not rest.startswith(b"/"):
        rest = b"/" + rest
    return Route(_name(app, "app"), _name(event, "event"), rest,
                 [(b"X-Cocaine-Service", app), (b"X-Cocaine-Event", event)])
