# -*- test-case-name: tests.admin.test_web -*-
"""
The dashboard's HTTP side (twisted.web: not a hot path):

    /                        the page (static/index.html)
    /static/...              its script and style, and plotly.min.js from
                             the installed C{plotly} package
    /metrics                 the node's metrics registry, Prometheus text
    /api/overview            GET: everything the page shows, with history
    /api/events              GET: server-sent events, a snapshot a tick
    /api/login               POST with a token: the events' session cookie
    /api/crashlogs/APP/KEY   GET: one crashlog's text
    /api/crashlogs/APP/KEY/remove   POST
    /api/apps/APP/start      POST {"profile": NAME} (optional)
    /api/apps/APP/pause      POST
    /api/apps/APP/pool       POST {"size": N} (null or < 0: by load)

Answers are JSON; an error is C{{"error": message, "kind": its class,
"status": code}}. Who may call what is L{cocaine.admin.access}'s: the
C{Host} header must name the dashboard; with auth on, a token. Actions
(every POST but the login) are taken as JSON only (C{Content-Type:
application/json}, which a page of another origin cannot send without
asking first) and, when the browser names an C{Origin}, only from a page
of this dashboard; with auth off, only from loopback clients.
"""

import importlib.util
import json
import os
from urllib.parse import unquote, urlsplit

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from cocaine.admin.access import HTTPError, isLoopback
from cocaine.admin.crashlogs import readCrashlog
from cocaine.errors import (
    AccessDenied, AppAlreadyRunning, AppNotRunning, CocaineError,
    InvalidArgument, InvalidName, KeyNotFound, PermissionDenied,
    ServiceNotAvailable, Unauthorized)
from cocaine.metrics.web import MetricsPage

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

#: HTTP status of each kind of error (the first that matches).
STATUS = [(Unauthorized, 401), (AccessDenied, 403),
          (PermissionDenied, 403), (InvalidArgument, 400),
          (InvalidName, 400), (AppNotRunning, 404), (KeyNotFound, 404),
          (AppAlreadyRunning, 409), (ServiceNotAvailable, 503)]

log = Logger()


def plotlyScript():
    """
    Where the installed C{plotly} package keeps C{plotly.min.js} (found
    without importing plotly), or L{None}.
    """
    spec = importlib.util.find_spec("plotly")
    for directory in (spec.submodule_search_locations or ()) if spec else ():
        path = os.path.join(directory, "package_data", "plotly.min.js")
        if os.path.exists(path):
            return path
    return None


def writeJSON(request, status, value):
    body = json.dumps(value).encode("utf-8")
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"cache-control", b"no-store")
    if status == 401:
        request.setHeader(b"www-authenticate", b'Bearer realm="cocaine"')
    request.setHeader(b"content-length", str(len(body)).encode())
    request.write(body)
    request.finish()


def errorAnswer(failure):
    """
    C{(status, body)} of a failed request.
    """
    error = failure.value
    if isinstance(error, HTTPError):
        status = error.status
    else:
        status = next((code for kind, code in STATUS
                       if isinstance(error, kind)), 500)
    if status == 500 and not isinstance(error, CocaineError):
        log.failure("dashboard: request failed", failure)
    message = str(error) or type(error).__name__
    return status, {"error": message, "kind": type(error).__name__,
                    "status": status}


def answer(request, coroutine):
    """
    Answer C{request} with what C{coroutine} returns, as JSON, or its
    error; nothing is written once the client went away.
    """
    gone = []
    request.notifyFinish().addBoth(gone.append)

    def write(status, value):
        if not gone:
            writeJSON(request, status, value)

    d = Deferred.fromCoroutine(coroutine)
    d.addCallback(lambda value: write(200, value))
    d.addErrback(lambda f: write(*errorAnswer(f)))
    d.addErrback(lambda f: log.failure("dashboard: answer not written", f))
    return NOT_DONE_YET


def _body(request):
    """
    The request's JSON object (C{{}} when empty).
    """
    request.content.seek(0)
    raw = request.content.read()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument("the body is not JSON: {}".format(e))
    if not isinstance(value, dict):
        raise InvalidArgument("the body must be a JSON object, not "
                              "{}".format(json.dumps(value)[:80]))
    return value


def checkAction(request, loopback=True):
    """
    May C{request} act? Only as JSON, from our own page, and (with
    C{loopback}: auth is off) only from loopback.

    @raise HTTPError: 403 or 415, saying why.
    """
    client = request.getClientAddress()
    host = getattr(client, "host", None)
    if loopback and (host is None or not isLoopback(host)):
        raise HTTPError(403, "actions are allowed only from loopback "
                        "clients (this one is {}); use the dashboard on "
                        "the node itself, e.g. through an SSH tunnel"
                        .format(host or "unknown"))
    kind = (request.getHeader(b"content-type") or b"").split(b";")[0]
    if kind.strip().lower() != b"application/json":
        raise HTTPError(415, "actions take a JSON body (Content-Type: "
                        "application/json)")
    origin = request.getHeader(b"origin")
    if origin is not None:
        where = urlsplit(origin.decode("latin-1"))
        own = (request.getHeader(b"host") or b"").decode("latin-1")
        if where.netloc != own or where.hostname is None or (
                loopback and not (isLoopback(where.hostname)
                                  or where.hostname == "localhost")):
            raise HTTPError(403, "actions are allowed only from the "
                            "dashboard's own page, not from {}".format(
                                origin.decode("latin-1")))


class Events(Resource):
    """
    C{/api/events}: server-sent events, one C{data:} line of the overview
    (without history) after every sample.
    """

    isLeaf = True

    def __init__(self, overview, sampler, access=None):
        Resource.__init__(self)
        self.overview = overview
        self.sampler = sampler
        self.access = access
        self.clients = set()
        self._building = False
        self._stopListening = None

    def start(self):
        self._stopListening = self.sampler.listen(self.push)

    def stop(self):
        if self._stopListening is not None:
            self._stopListening()
            self._stopListening = None
        for request in list(self.clients):
            self.clients.discard(request)
            if not request.finished:
                request.finish()

    def render_GET(self, request):
        if self.access is not None:
            try:
                self.access.checkHost(request)
                # EventSource sends no headers: the login's cookie
                self.access.identify(request, cookie=True)
            except Exception:
                writeJSON(request, *errorAnswer(Failure()))
                return NOT_DONE_YET
        request.setHeader(b"content-type", b"text/event-stream")
        request.setHeader(b"cache-control", b"no-store")
        request.write(b"retry: 2000\n\n")
        self.clients.add(request)
        request.notifyFinish().addBoth(
            lambda _: self.clients.discard(request))
        self._send([request])
        return NOT_DONE_YET

    def push(self):
        """
        Send the current overview to every client (one at a time: a tick
        while one is being built is skipped).
        """
        if self.clients and not self._building:
            self._send(list(self.clients))

    def _send(self, requests):
        self._building = True

        def sent(value):
            data = b"data: " + json.dumps(value).encode("utf-8") + b"\n\n"
            for request in requests:
                if request in self.clients:
                    request.write(data)

        d = Deferred.fromCoroutine(self.overview.snapshot())
        d.addCallback(sent)
        d.addErrback(lambda f: log.failure("dashboard: event not sent", f))
        d.addBoth(lambda _: setattr(self, "_building", False))


class Api(Resource):
    """
    C{/api/...} but the events: dispatched on the path.
    """

    isLeaf = True

    def __init__(self, overview, actions, access):
        Resource.__init__(self)
        self.overview = overview
        self.actions = actions
        self.access = access

    def render(self, request):
        path = [unquote(p.decode("utf-8", "replace"))
                for p in request.postpath]
        while path and path[-1] == "":
            path.pop()
        method = request.method.decode("latin-1")
        return answer(request, self._route(request, method, path))

    async def _route(self, request, method, path):
        actions = self.actions
        access = self.access
        access.checkHost(request)
        where = "/api/" + "/".join(path)
        # each path: what it does, and the native permission it needs
        gets = {("overview",): (
            lambda: self.overview.snapshot(history=True), None, ())}
        if len(path) == 3 and path[0] == "crashlogs":
            gets[tuple(path)] = (lambda: self._crashlog(path[1], path[2]),
                                 "read", (path[2],))
        posts = {("login",): (lambda body: access.login(request), None, ())}
        if len(path) == 4 and path[0] == "crashlogs" and path[3] == "remove":
            posts[tuple(path)] = (lambda body: actions.removeCrashlog(
                path[1], path[2]), "remove", (path[2],))
        if len(path) == 3 and path[0] == "apps":
            name = path[1]
            posts.update({
                ("apps", name, "start"): (lambda body: actions.start(
                    name, body.get("profile")), "start_app", (name,)),
                ("apps", name, "pause"): (
                    lambda body: actions.pause(name), "pause_app", (name,)),
                ("apps", name, "pool"): (lambda body: self._resize(
                    name, body), "control", (name,))})
        key = tuple(path)
        if key not in gets and key not in posts:
            raise HTTPError(404, "no such API path: {}".format(where))
        if method in ("GET", "HEAD") and key in gets:
            call, permission, values = gets[key]
            identity = access.identify(request)
            if permission is not None:
                await access.permit(request, identity, permission, values)
            return await call()
        if method == "POST" and key == ("login",):
            return posts[key][0](None)
        if method == "POST" and key in posts:
            call, permission, values = posts[key]
            identity = access.identify(request)
            checkAction(request, loopback=access.guard is None)
            await access.permit(request, identity, permission, values)
            body = _body(request)
            log.info("dashboard: {action} from {client} ({identity})",
                     action=where, client=request.getClientAddress().host,
                     identity="auth off" if identity is None
                     else str(identity))
            return await call(body)
        raise HTTPError(405, "{} takes {}, not {}".format(
            where, "GET" if key in gets else "POST", method))

    async def _crashlog(self, app, key):
        storage = self.overview.storage
        if storage is None:
            raise ServiceNotAvailable("this node has no core storage")
        return await readCrashlog(storage, app, key)

    async def _resize(self, name, body):
        if "size" not in body:
            raise InvalidArgument("give the pool size: {\"size\": N}")
        return self.actions.resize(name, body["size"])


class GuardedMetrics(Resource):
    """
    C{/metrics}: the C{Host} check, and with auth on a token (C{Bearer},
    as Prometheus sends one) unless C{metrics-public}.
    """

    isLeaf = True

    def __init__(self, page, access):
        Resource.__init__(self)
        self.page = page
        self.access = access

    def render(self, request):
        try:
            self.access.checkHost(request)
            if not self.access.metricsPublic:
                self.access.identify(request)
        except Exception:
            writeJSON(request, *errorAnswer(Failure()))
            return NOT_DONE_YET
        return self.page.render(request)


class StaticFile(Resource):
    """
    One file of the page, read when asked (they are few; twisted.web's
    own C{File} streams through the global reactor's cooperator).
    """

    isLeaf = True

    def __init__(self, path, kind):
        Resource.__init__(self)
        self.path = path
        self.kind = kind

    def render_GET(self, request):
        with open(self.path, "rb") as f:
            body = f.read()
        request.setHeader(b"content-type", self.kind)
        return body


#: The content type of each kind of file of the page.
KINDS = {".html": b"text/html; charset=utf-8",
         ".js": b"text/javascript; charset=utf-8",
         ".css": b"text/css; charset=utf-8"}


def _static(path):
    return StaticFile(path, KINDS[os.path.splitext(path)[1]])


def buildRoot(overview, actions, events, metrics, access):
    """
    The dashboard's resource tree.

    @param access: the L{cocaine.admin.access.Access} checking callers.
    """
    root = Resource()
    root.putChild(b"", _static(os.path.join(STATIC, "index.html")))
    static = Resource()
    for name in ("admin.js", "admin.css"):
        static.putChild(name.encode(), _static(os.path.join(STATIC, name)))
    plotly = plotlyScript()
    if plotly is not None:
        static.putChild(b"plotly.min.js", _static(plotly))
    root.putChild(b"static", static)
    root.putChild(b"metrics", GuardedMetrics(MetricsPage(metrics), access))
    api = Api(overview, actions, access)
    root.putChild(b"api", _ApiRoot(api, events))
    return root


class _ApiRoot(Resource):
    """
    C{/api}: the events stream, everything else to L{Api}.
    """

    def __init__(self, api, events):
        Resource.__init__(self)
        self.api = api
        self.events = events

    def getChild(self, name, request):
        if name == b"events" and not request.postpath:
            return self.events
        request.postpath.insert(0, name)
        request.prepath.pop()
        return self.api
