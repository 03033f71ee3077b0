# -*- test-case-name: tests.auth -*-
"""
Authentication and authorization (C{docs/security.md}): who a caller is
(L{cocaine.auth.identity}), how the C{authorization} header proves it
(L{cocaine.auth.authenticators}, L{cocaine.auth.token}) and what it may
call (L{cocaine.auth.acl}, L{cocaine.auth.guard}).
"""
