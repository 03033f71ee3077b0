# -*- test-case-name: tests.auth.test_authenticators -*-
"""
Authentication types: what the C{authorization} header's value proves.

Each type has C{identify(value, now)} returning C{(Identity, expiry)}
(C{expiry} L{None} when the identity does not expire) and never raising:
a value that proves nothing is L{ANONYMOUS}, and the reason is logged.
"""

from twisted.logger import Logger

from cocaine.auth.identity import ANONYMOUS, Identity
from cocaine.auth.token import TokenError, keyId, verify

_UINT64 = (1 << 64) - 1


class Promiscuous:
    """
    Cocaine 0.12's C{promiscuous}: the header is a comma-separated list of
    uint64 uids, believed as sent; anything else is anonymous. Only for
    trusted networks (every peer can claim uid 0).
    """

    name = "promiscuous"

    def identify(self, value, now=None):
        try:
            text = value.decode("ascii")
            uids = []
            for part in text.split(","):
                # boost::lexical_cast<uint64_t>: digits only
                if not part.isdigit() or not part.isascii():
                    return ANONYMOUS, None
                uid = int(part)
                if uid > _UINT64:
                    return ANONYMOUS, None
                uids.append(uid)
        except (UnicodeDecodeError, AttributeError):
            return ANONYMOUS, None
        return Identity(uids=uids), None


class TokenAuthenticator:
    """
    Ours: the header is C{"token <token>"} (or C{"Bearer <token>"}) with a
    token signed by L{cocaine.auth.token.issue} under one of C{keys}.

    @ivar failures: C{{reason: count}} of refused tokens since start.
    """

    name = "token"
    log = Logger()
    _SCHEMES = (b"token", b"bearer")

    def __init__(self, secrets):
        """
        @param secrets: the secrets' bytes (the first one signs the
            node's own tokens; all verify).
        """
        self.secrets = list(secrets)
        self.keys = {keyId(s): s for s in self.secrets}
        self.failures = {}

    def identify(self, value, now):
        scheme, _, body = value.partition(b" ")
        if scheme.lower() not in self._SCHEMES or not body:
            self._refused("malformed", "not a token header")
            return ANONYMOUS, None
        try:
            return verify(self.keys, body.strip(), now)
        except TokenError as e:
            self._refused(e.reason, e.detail)
            return ANONYMOUS, None

    def _refused(self, reason, detail):
        self.failures[reason] = self.failures.get(reason, 0) + 1
        self.log.info("authentication: token refused ({reason}{detail})",
                      reason=reason, detail=": " + detail if detail else "")

    def header(self, token):
        """
        @return: the header value carrying C{token}.
        """
        return "token " + token


#: Authentication types by config C{type}.
TYPES = ("promiscuous", "token")
