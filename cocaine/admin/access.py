# -*- test-case-name: tests.admin.test_access -*-
"""
Who may use the dashboard (C{docs/admin.md}, I{Access}).

  - Every API path and C{/metrics} first check the C{Host} header: it
    must name this dashboard (its bind address, the address the
    connection came in on, C{localhost} when that is loopback, or a name
    in C{args.hosts}) at its port. A page of another site whose name was
    made to resolve to the node (DNS rebinding) sends its own name, and
    is refused.
  - With auth off (the node has no guard): reads are open, actions are
    taken only from loopback clients (L{cocaine.admin.web.checkAction}).
  - With auth on: every API call carries C{Authorization: token <t>} (or
    C{Bearer <t>}), identified by the node's own authenticator; reads
    need an identity, actions the permission the equivalent native call
    needs (the node service's event ACL for C{start_app}, C{pause_app},
    C{control}; the storage ACL of C{crashlogs} to read or remove a
    crashlog; uid 0 passes). The event stream, which a browser's
    C{EventSource} opens without headers, takes a session cookie instead
    that C{POST /api/login} sets after checking the token (L{Sessions}).
  - C{/metrics} with auth on needs an identity too, unless the config says
    C{"metrics-public": true}.
"""

import ipaddress
import os
from urllib.parse import urlsplit

from twisted.internet.defer import maybeDeferred

from cocaine.errors import SecurityError, Unauthorized
from cocaine.protocol.crashlogs import CRASHLOGS
from cocaine.protocol.services import NODE, STORAGE

#: The session cookie's name.
COOKIE = b"cocaine-admin-session"

#: How long a session (the event stream's cookie) lasts at most, seconds.
SESSION_SECONDS = 600

#: Sessions kept at most (the oldest go first).
MAX_SESSIONS = 256


class HTTPError(Exception):
    """
    An answer other than 200 that is ours, not the node's.
    """

    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status


def isLoopback(host):
    """
    Whether C{host} (an address as text) is a loopback address (an
    IPv4-mapped one too).
    """
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


class Sessions:
    """
    Sessions made by C{POST /api/login}: a random id (the cookie) for the
    identity a token proved, until the token or L{SESSION_SECONDS} ends.
    The cookie is C{HttpOnly}, C{SameSite=Strict} and scoped to
    C{/api/events}: it opens the stream and nothing else.
    """

    def __init__(self, clock, random=os.urandom):
        self._clock = clock
        self._random = random
        self._sessions = {}

    def open(self, identity, expiry):
        """
        @return: C{(session id bytes, seconds it lasts)}.
        """
        now = self._clock.seconds()
        self._prune(now)
        ends = now + SESSION_SECONDS
        if expiry is not None:
            ends = min(ends, expiry)
        sid = self._random(24).hex().encode("ascii")
        self._sessions[sid] = (identity, ends)
        return sid, max(0, int(ends - now))

    def identity(self, sid):
        """
        The identity of a live session, or L{None}.
        """
        entry = self._sessions.get(sid)
        if entry is None:
            return None
        identity, ends = entry
        if ends < self._clock.seconds():
            del self._sessions[sid]
            return None
        return identity

    def __len__(self):
        return len(self._sessions)

    def _prune(self, now):
        for sid, (_, ends) in list(self._sessions.items()):
            if ends < now:
                del self._sessions[sid]
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]


def _hostPort(value):
    """
    C{(host, port)} of a C{Host} header (port L{None} when absent), or
    L{None} when it does not parse.
    """
    try:
        parts = urlsplit("//" + value)
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None


def _nodeName(context):
    """
    The name the node service is hosted under (its event ACL's key).
    """
    services = getattr(context.config, "services", None) or {}
    for name, component in services.items():
        if getattr(component, "type", None) == "node":
            return name
    return "node"


class Access:
    """
    The dashboard's checks, for one L{AdminService}.

    @ivar sessions: the L{Sessions} of the event stream.
    """

    def __init__(self, context, port, hosts=(), metricsPublic=False):
        """
        @param context: the node's context (its C{guard}, L{None} when auth
            is off; its C{network.bind}).
        @param port: a callable returning the port listened on (or
            L{None} before it listens).
        @param hosts: more names the C{Host} header may use.
        @param metricsPublic: C{/metrics} needs no token even with auth on.
        """
        self.context = context
        self._port = port
        self.hosts = frozenset(h.lower() for h in hosts)
        self.metricsPublic = metricsPublic
        self.sessions = Sessions(context.reactor)
        self._rules = {}

    @property
    def guard(self):
        return getattr(self.context, "guard", None)

    def checkHost(self, request):
        """
        @raise HTTPError: 403 when the C{Host} header names another host
            or port.
        """
        raw = request.getHeader(b"host")
        value = None if raw is None else raw.decode("latin-1")
        parsed = None if value is None else _hostPort(value)
        port = self._port()
        if parsed is not None:
            host, given = parsed
            names = set(self.hosts)
            bind = self.context.config.network.bind
            local = getattr(request.getHost(), "host", None)
            for address in (bind, local):
                if address:
                    names.add(address.lower())
                    if isLoopback(address):
                        names.add("localhost")
            if host in names and (port is None or given == port):
                return
        raise HTTPError(403, "the Host header {!r} does not name this "
                        "dashboard (its address at port {}); add the name "
                        "to the admin service's \"hosts\" if it is one"
                        .format(value, port))

    def _refuse(self, request, what, identity, error):
        guard = self.guard
        if guard is not None:
            peer = getattr(request.getClientAddress(), "host", "unknown")
            guard.refused("admin", what, peer, identity, error)
        raise error

    def identify(self, request, cookie=False):
        """
        The caller's identity from its C{Authorization} header (or, with
        C{cookie}, its session cookie): L{None} when auth is off.

        @raise Unauthorized: auth is on and the caller proved nothing.
        """
        guard = self.guard
        if guard is None:
            return None
        value = request.getHeader(b"authorization")
        identity = guard.anonymous
        if value is not None:
            identity, _ = guard.identify(value)
        elif cookie:
            sid = request.getCookie(COOKIE)
            found = None if sid is None else self.sessions.identity(sid)
            identity = found or identity
        if identity.anonymous:
            self._refuse(request, request.path.decode("latin-1"), identity,
                         Unauthorized(
                             "{}: authentication required: send "
                             "\"Authorization: token <token>\" (or Bearer)"
                             .format(request.path.decode("latin-1"))))
        return identity

    def login(self, request):
        """
        C{POST /api/login}: check the token and open a session.

        @return: the caller's identity as text.
        """
        guard = self.guard
        if guard is None:
            return {"auth": False}
        value = request.getHeader(b"authorization")
        identity, expiry = guard.anonymous, None
        if value is not None:
            identity, expiry = guard.identify(value)
        if identity.anonymous:
            self.identify(request)
        sid, seconds = self.sessions.open(identity, expiry)
        request.addCookie(COOKIE, sid, path=b"/api/events",
                          max_age=str(seconds).encode(), httpOnly=True,
                          sameSite="strict")
        return {"auth": True, "identity": str(identity),
                "admin": identity.admin, "seconds": seconds}

    def _rule(self, name, protocol, method):
        """
        The guard's check of C{name.method} (the same one a native call
        passes).
        """
        rules = self._rules.get(name)
        if rules is None:
            rules = self._rules[name] = {
                m.name: rule for m, rule in zip(
                    protocol.messages, self.guard.rules(name, protocol))}
        return rules[method]

    async def permit(self, request, identity, action, values=()):
        """
        Check that C{identity} may take C{action} as its native call.

        @param action: C{"start_app"}, C{"pause_app"}, C{"control"} (the
            node service's event ACL) or C{"read"}, C{"remove"} (a
            crashlog: the storage ACL of C{crashlogs}).
        @param values: the call's arguments after the collection (the
            crashlog's key) or the app's name.
        @raise Unauthorized: no identity.
        @raise AccessDenied: not allowed.
        """
        guard = self.guard
        if guard is None:
            return
        if action in ("read", "remove"):
            what = "storage.{} {}".format(action, CRASHLOGS)
            rule = self._rule("storage", STORAGE, action)
            args = [CRASHLOGS] + list(values)
        else:
            node = _nodeName(self.context)
            what = "{}.{}".format(node, action)
            rule = self._rule(node, NODE, action)
            args = list(values)
        try:
            await maybeDeferred(rule, identity, args)
        except SecurityError as e:
            self._refuse(request, what, identity, e)
