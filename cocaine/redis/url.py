# -*- test-case-name: tests.redis.test_url -*-
"""
Redis addresses as users write them: C{redis://[[user]:password@]host
[:port][/db]}, or C{rediss://} for TLS.
"""

from urllib.parse import unquote, urlsplit

#: Redis's port when the URL names none.
DEFAULT_PORT = 6379


class RedisAddress:
    """
    Where one Redis server is and how to log in.

    @ivar url: the URL as given (for messages; never carries the password
        back out: see L{safe}).
    @ivar host: the host name or address.
    @ivar port: the TCP port.
    @ivar db: the database number.
    @ivar username: the ACL user, or L{None}.
    @ivar password: the password, or L{None}.
    @ivar tls: whether to speak TLS (C{rediss://}).
    """

    def __init__(self, url, host, port, db, username, password, tls):
        self.url = url
        self.host = host
        self.port = port
        self.db = db
        self.username = username
        self.password = password
        self.tls = tls

    @property
    def safe(self):
        """
        The URL without its password, for logs and error messages.
        """
        scheme = "rediss" if self.tls else "redis"
        user = "{}@".format(self.username) if self.username else ""
        if self.password is not None:
            user = "{}:***@".format(self.username or "")
        host = "[{}]".format(self.host) if ":" in self.host else self.host
        return "{}://{}{}:{}/{}".format(scheme, user, host, self.port,
                                        self.db)

    def __repr__(self):
        return "<RedisAddress {}>".format(self.safe)


def parseRedisURL(url):
    """
    Read a Redis URL.

    @param url: C{redis://...} or C{rediss://...}.
    @rtype: L{RedisAddress}
    @raise ValueError: naming what is wrong with it.
    """
    if not isinstance(url, str):
        raise ValueError("must be a redis:// URL string, not {!r}".format(
            url))
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError("{!r}: the scheme must be redis:// or "
                         "rediss://".format(url))
    try:
        port = parts.port
    except ValueError:
        raise ValueError("{!r}: the port must be a number from 1 to "
                         "65535".format(url))
    if not parts.hostname:
        raise ValueError("{!r}: names no host".format(url))
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError("{!r}: the path must be a database number, not "
                         "{!r}".format(url, path))
    if parts.query or parts.fragment:
        raise ValueError("{!r}: takes no query or fragment".format(url))
    return RedisAddress(
        url, parts.hostname, port or DEFAULT_PORT, int(path or 0),
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password is not None else None,
        parts.scheme == "rediss")
