# -*- test-case-name: tests.auth.test_identity -*-
"""
Who is calling: the uids (users) and cids (clients: apps, services) the
caller proved, as Cocaine 0.12's C{auth::identity_t}.
"""

from dataclasses import dataclass

#: The uid of the administrator: allowed everything.
ADMIN_UID = 0


@dataclass(frozen=True)
class Identity:
    """
    A caller's proven ids.

    @ivar uids: user ids, a tuple of non-negative ints.
    @ivar cids: client ids, a tuple of non-negative ints.
    """

    uids: tuple = ()
    cids: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "uids", tuple(self.uids))
        object.__setattr__(self, "cids", tuple(self.cids))

    @property
    def anonymous(self):
        """
        Whether the caller proved nothing.
        """
        return not self.uids and not self.cids

    @property
    def admin(self):
        """
        Whether the caller is the administrator (uid 0).
        """
        return ADMIN_UID in self.uids

    def __str__(self):
        if self.anonymous:
            return "anonymous"
        parts = []
        if self.uids:
            parts.append("uid " + ",".join(map(str, self.uids)))
        if self.cids:
            parts.append("cid " + ",".join(map(str, self.cids)))
        return " ".join(parts)


#: The caller that proved nothing.
ANONYMOUS = Identity()
