# -*- test-case-name: tests.auth.test_guard -*-
"""
The guard: one object, built from the config by the runtime and given to
every L{cocaine.rpc.host.ServiceHost}, that decides each opening message
of every native service (C{docs/security.md} has the table).

  - The locator's discovery methods (C{resolve}, C{connect}, C{refresh},
    C{cluster}, C{routing}, C{uuid}) are open to anonymous callers;
    C{publish} follows the locator's event ACL.
  - Node-service methods, an app's C{control}, the logging service's
    C{set_verbosity}: event ACLs (the service's name; an app's is the
    app's name). No identity: C{[0x09, 2]}; not listed: C{[0x09, 3]}.
  - Storage: per-collection ACLs; the C{keys} collection and the ACL
    collections (C{collection-acls}, C{event-acls}) are written only by
    the admin; C{event-acls} is read only by the admin, C{collection-acls}
    under the ACL of the collection its key names.
  - unicat: the admin, or a caller with read and write under each named
    collection's ACL (anyone authenticated while it is empty).
  - Everything else (an app's C{enqueue} and C{info}, logging's C{emit},
    metrics, plugins): any authenticated caller.

uid 0 is the admin and passes every check. With no guard (auth off) the
server does none of this.
"""

from twisted.logger import Logger

from cocaine.auth.acl import (
    COLLECTION_ACLS, EVENT_ACLS, READ, WRITE, EventACLs, StorageACLs)
from cocaine.auth.identity import ANONYMOUS
from cocaine.auth.unicat import collections
from cocaine.errors import AccessDenied, CocaineError, Unauthorized

#: Locator methods anyone may call: discovery, and routing (proxies).
PUBLIC_LOCATOR = frozenset(("resolve", "connect", "refresh", "cluster",
                            "routing", "uuid"))

#: Collections only the admin writes.
ADMIN_WRITTEN = frozenset(("keys", COLLECTION_ACLS, EVENT_ACLS))

_STORAGE_FLAGS = {"read": READ, "find": READ, "write": WRITE,
                  "remove": WRITE}


def _public(identity, values):
    return None


_public.byIdentity = True


def _allOf(results):
    """
    L{None} when every check was decided now, else a Deferred of them all.
    """
    pending = [r for r in results if r is not None]
    if not pending:
        return None
    from twisted.internet.defer import gatherResults
    return gatherResults(pending, consumeErrors=True).addErrback(
        lambda failure: failure.value.subFailure)


class Guard:
    """
    Authentication and authorization of every call's opening message.

    @ivar authenticator: the configured authentication type.
    @ivar events: the L{EventACLs}, or L{None} when event ACLs are off.
    @ivar storage: the L{StorageACLs}, or L{None} when off.
    """

    log = Logger()
    anonymous = ANONYMOUS

    def __init__(self, clock, authenticator, events=None, storage=None,
                 certificates=False):
        """
        @param certificates: whether verified client certificates prove
            an identity (C{network.tls.client-ca} is set).
        """
        self._clock = clock
        #: C{now()}: the clock's time, the clock's own bound method (a
        #: connection checks a token's expiry with it on every call)
        self.now = clock.seconds
        self.certificates = certificates
        self.authenticator = authenticator
        self.events = events
        self.storage = storage

    def identify(self, value):
        """
        @param value: the C{authorization} header's bytes, or L{None}.
        @return: C{(Identity, expiry)}; C{expiry} L{None} if it lasts.
        """
        if value is None:
            return ANONYMOUS, None
        return self.authenticator.identify(value, self._clock.seconds())

    def identifyPeer(self, transport):
        """
        The identity a connection's verified client certificate proves
        (L{cocaine.auth.certificates}), for calls without an
        C{authorization} header; L{ANONYMOUS} unless certificates count.
        """
        if not self.certificates:
            return ANONYMOUS
        from cocaine.auth.certificates import certificateIdentity
        from cocaine.rpc.tls import peerCertificate
        return certificateIdentity(peerCertificate(transport))

    def rules(self, name, protocol):
        """
        The check of each message of a service, by message id: a callable
        C{rule(identity, values)} returning L{None} (allowed), a Deferred
        (allowed when it fires) or raising a L{SecurityError}. A rule
        whose C{byIdentity} is true answers by the identity alone: the
        same L{Identity} always gets the same answer.

        @param name: the hosted service's name (event ACLs are by name).
        @param protocol: its root protocol; its name says what it is.
        """
        return [self._rule(name, protocol.name, m.name)
                for m in protocol.messages]

    def _rule(self, name, kind, method):
        what = "{}.{}".format(name, method)
        if kind == "locator":
            if method in PUBLIC_LOCATOR:
                return _public
            return self._eventRule(name, method, what)
        if kind == "storage" and method in _STORAGE_FLAGS:
            return self._storageRule(method, _STORAGE_FLAGS[method], what)
        if kind == "unicat":
            return self._unicatRule(what)
        if kind == "node" or (kind == "app" and method == "control") or (
                kind == "logging" and method == "set_verbosity"):
            return self._eventRule(name, method, what)
        return self._authenticatedRule(what)

    def _authenticatedRule(self, what):
        def authenticated(identity, values):
            if identity.anonymous:
                raise Unauthorized(what + ": authentication required")
        # what it answers depends on the identity alone (an Identity does
        # not change): a connection may remember that it passed
        # (cocaine.rpc.identity.CallerIdentity._check)
        authenticated.byIdentity = True
        return authenticated

    def _eventRule(self, service, method, what):
        events = self.events

        def event(identity, values):
            if identity.anonymous:
                raise Unauthorized(what + ": authentication required")
            if identity.admin or events is None:
                return None
            if not events.allowed(service, method, identity):
                raise AccessDenied("{}: not allowed for {}".format(
                    what, identity))
        return event

    def _storageRule(self, method, flag, what):
        acls = self.storage

        def storage(identity, values):
            if identity.anonymous:
                raise Unauthorized(what + ": authentication required")
            collection = values[0]
            if identity.admin:
                if flag == WRITE:
                    self._adminWrote(collection, values)
                return None
            if flag == WRITE and collection in ADMIN_WRITTEN:
                raise AccessDenied("{}: only the admin writes collection "
                                   "{!r}".format(what, collection))
            if collection == EVENT_ACLS:
                raise AccessDenied("{}: only the admin reads collection "
                                   "{!r}".format(what, collection))
            if collection == COLLECTION_ACLS:
                if method != "read":
                    raise AccessDenied("{}: only the admin lists collection"
                                       " {!r}".format(what, collection))
                # an ACL is read under the ACL it governs
                collection = values[1]
            if acls is None:
                return None
            return acls.check(flag, collection, identity, what)
        return storage

    def _unicatRule(self, what):
        acls = self.storage

        def unicat(identity, values):
            if identity.anonymous:
                raise Unauthorized(what + ": authentication required")
            if identity.admin:
                return None
            names = collections(values[0], what)
            for name in names:
                if name in ADMIN_WRITTEN or acls is None:
                    raise AccessDenied("{}: only the admin changes the ACL "
                                       "of collection {!r}".format(
                                           what, name))
            return _allOf([acls.check(WRITE, name, identity, what,
                                      grant=True) for name in names])
        return unicat

    def _adminWrote(self, collection, values):
        if collection == COLLECTION_ACLS and self.storage is not None:
            self.storage.forget(values[1] if len(values) > 1 else None)
        elif collection == EVENT_ACLS and self.events is not None:
            self.events.changed()

    def admit(self, name, kind, method, headers, peer="in process"):
        """
        Check a call that reaches a service without its listener (the
        HTTP gateway's sessions of the node's own apps).

        @param kind: the protocol's name (C{"app"}).
        @param headers: C{[(name, value)]} bytes, as the server decodes.
        @raise SecurityError: refused (and logged).
        """
        value = None
        for header, headerValue in headers or ():
            if header == b"authorization":
                value = headerValue
                break
        identity, _ = self.identify(value)
        try:
            self._rule(name, kind, method)(identity, [])
        except CocaineError as e:
            self.refused(name, method, peer, identity, e)
            raise

    #: At most this many refusals are logged per second; the rest are
    #: counted and the count is logged with the next one that is.
    logRate = 20

    _logWindow = 0
    _logCount = 0
    suppressed = 0

    def refused(self, service, method, peer, identity, error):
        """
        Log a refusal at info, at most L{logRate} a second (a client
        sending refused messages in a loop does not flood the log).
        """
        second = int(self._clock.seconds())
        if second != self._logWindow:
            self._logWindow, self._logCount = second, 0
        self._logCount += 1
        if self._logCount > self.logRate:
            self.suppressed += 1
            return
        suppressed, self.suppressed = self.suppressed, 0
        self.log.info("authorization: {service}.{method} refused to "
                      "{identity} from {peer}: {reason}{more}",
                      service=service, method=method,
                      identity=str(identity), peer=peer, reason=str(error),
                      more=" ({} more refusals not logged)".format(
                          suppressed) if suppressed else "")

    def start(self):
        """
        Load what must be in memory (event ACLs).

        @return: a Deferred, or L{None}.
        """
        if self.events is not None:
            return self.events.start()
        return None

    def stop(self):
        if self.events is not None:
            self.events.stop()


def buildGuard(clock, authentication, authorization, storage,
               certificates=False):
    """
    The guard a config asks for, or L{None} when auth is off.

    @param authentication: the parsed C{authentications} section's
        L{cocaine.config.Authentication}, or L{None}.
    @param authorization: the parsed L{cocaine.config.Authorization}.
    @param storage: the core storage backend (ACLs live there).
    @param certificates: verified client certificates prove identities
        (see L{Guard.identifyPeer}).
    @raise ValueError: a secret file that cannot be used (the message says
        which and why).
    """
    from cocaine.auth.authenticators import Promiscuous, TokenAuthenticator
    from cocaine.auth.token import readSecret
    if authentication is None:
        return None
    if authentication.type == "promiscuous":
        authenticator = Promiscuous()
    else:
        authenticator = TokenAuthenticator(
            [readSecret(path) for path in authentication.secretFiles])
    events = EventACLs(clock, storage, authorization.refresh) if (
        authorization.event) else None
    acls = StorageACLs(clock, storage, authorization.cacheSeconds) if (
        authorization.storage) else None
    return Guard(clock, authenticator, events, acls, certificates)


#: How long the token the node gives each app's workers lasts.
APP_TOKEN_TTL = 7 * 24 * 3600


def appCid(name):
    """
    The cid an app's workers are given: the top bit set over the first 63
    bits of the SHA-256 of the app's name (stable across restarts and
    nodes, so ACLs can name it; C{cocaine-tool token cid NAME} prints it).
    """
    import hashlib
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return (1 << 63) | (int.from_bytes(digest[:8], "big") >> 1)


def appEnvironment(guard, name):
    """
    The variables that give an app's workers their token, as 0.12:
    C{COCAINE_APP_TOKEN_TYPE} and C{COCAINE_APP_TOKEN_BODY}; none when
    auth is off or the type issues no tokens (C{promiscuous}).
    """
    from cocaine.auth.token import issue
    if guard is None or not getattr(guard.authenticator, "secrets", None):
        return {}
    token = issue(guard.authenticator.secrets[0], cids=(appCid(name),),
                  expiry=int(guard.now()) + APP_TOKEN_TTL)
    return {"COCAINE_APP_TOKEN_TYPE": "token",
            "COCAINE_APP_TOKEN_BODY": token}


def nodeToken(guard, ttl=300):
    """
    An admin token of this node, for its calls to peers that share its
    secret (cluster-wide deploy): L{None} when auth is off or the type
    issues no tokens. Nodes that share a secret trust each other fully.
    """
    from cocaine.auth.token import issue
    if guard is None or not getattr(guard.authenticator, "secrets", None):
        return None
    return issue(guard.authenticator.secrets[0], uids=(0,),
                 expiry=int(guard.now()) + ttl)
