# -*- test-case-name: tests.security.test_auth -*-
"""
Who calls a guarded service, and what a refused call is answered
(L{CallerIdentity}, mixed into L{cocaine.rpc.server.ServerProtocol}).

It uses the connection's C{_service} (its C{guard} and C{name}),
C{_peer}, C{transport}, C{sendMessage}, C{_linger} and C{_replyFailure},
and keeps what it verified for the connection's last C{authorization}
value. Nothing here runs unless the service has a guard.
"""

from cocaine.errors import CocaineError, toWire
from cocaine.protocol.idl import PRIMITIVE, TERMINAL

_ERROR = 1  # "error" is message 1 in both the primitive and streaming protocols


class CallerIdentity:
    """
    The caller's identity on one server connection (a mixin of
    L{cocaine.rpc.server.ServerProtocol}).
    """

    # the caller's identity, remembered for the last authorization header
    # value seen on this connection (set only when a guard is on)
    _authValue = None
    _authIdentity = None
    _authExpiry = None
    # the last header list an authorization value was found in: the
    # connection hands the same list back while a client's literal
    # headers repeat (ServerProtocol._readHeaders), so it is not searched
    # again
    _authHeaders = None
    # what the peer's TLS client certificate proves (looked up once)
    _peerIdentity = None

    def _identify(self, guard, headers):
        """
        The caller's identity from the C{authorization} header, verified
        once per distinct value on this connection (again after it
        expires).
        """
        if headers is not None and headers is self._authHeaders:
            # the list the last value was found in, handed back again
            expiry = self._authExpiry
            if expiry is None or expiry >= guard.now():
                return self._authIdentity
            value = self._authValue
        else:
            value = None
            if headers:
                for name, headerValue in headers:
                    if name == b"authorization":
                        value = headerValue
                        break
            if value is None:
                if self._peerIdentity is None:
                    self._peerIdentity = guard.identifyPeer(self.transport)
                return self._peerIdentity
            if value == self._authValue:
                expiry = self._authExpiry
                if expiry is None or expiry >= guard.now():
                    self._authHeaders = headers
                    return self._authIdentity
        identity, expiry = guard.identify(value)
        self._authHeaders = headers
        self._authValue = value
        self._authIdentity = identity
        # a float, compared on every call with the clock's float
        self._authExpiry = None if expiry is None else float(expiry)
        return identity

    # the last rule that depends on the caller's identity alone (its
    # C{byIdentity} is true: L{cocaine.auth.guard.Guard}'s check that the
    # caller is authenticated) and the identity it passed for: every
    # C{enqueue} of an app client's connection is that same check
    _passedRule = None
    _passedIdentity = None

    def _check(self, rule, identity, values):
        """
        C{rule(identity, values)} (see L{cocaine.auth.guard.Guard.rules}),
        unless it depends on the identity alone and passed for this
        identity just before on this connection.

        @return: L{None} (allowed) or a Deferred (allowed when it fires).
        @raise cocaine.errors.SecurityError: refused.
        """
        if rule is self._passedRule and identity is self._passedIdentity:
            return None
        pending = rule(identity, values)
        if pending is None and getattr(rule, "byIdentity", False):
            self._passedRule = rule
            self._passedIdentity = identity
        return pending

    def _refuse(self, channel, error, message, identity):
        self._service.guard.refused(self._service.name, message.name,
                                    self._peer, identity, error)
        protocol = message.upstream or PRIMITIVE
        if protocol is not TERMINAL and "error" in protocol.byName:
            self.sendMessage(channel, _ERROR, toWire(error))
        if message.dispatch is not TERMINAL:
            # the rest of the refused stream has nowhere to go
            self._linger(channel)

    def _refuseLater(self, failure, channel, message, identity):
        if failure.check(CocaineError):
            self._refuse(channel, failure.value, message, identity)
        else:
            self._replyFailure(failure, channel, message)
