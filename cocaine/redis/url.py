# -*- test-case-name: tests.redis.test_url -*-
"""
Redis addresses as users write them: C{redis://[[user]:password@]host
[:port][/db]}, or C{rediss://} for TLS, whose query may name the files
of a private certificate authority and of a client certificate, with
redis-py's names: C{rediss://host:6380/0?ssl_ca_certs=/etc/redis/ca.pem
&ssl_certfile=/etc/redis/client.pem&ssl_keyfile=/etc/redis/client.key}.
"""

from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

#: Redis's port when the URL names none.
DEFAULT_PORT = 6379

#: The query keys of a C{rediss://} URL, and the L{RedisAddress}
#: attribute each sets: the PEM file of the authorities to trust instead
#: of the system's, the client certificate's PEM file (its key may be in
#: it too), and the key's PEM file.
TLS_KEYS = {"ssl_ca_certs": "caFile", "ssl_certfile": "certFile",
            "ssl_keyfile": "keyFile"}


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
    @ivar caFile: the PEM file of the authorities a TLS server's
        certificate must come from, or L{None} for the system's.
    @ivar certFile: the PEM file of the client certificate to present
        over TLS (Redis's C{tls-auth-clients}), or L{None}.
    @ivar keyFile: the PEM file of that certificate's key, or L{None}
        when C{certFile} holds it.
    """

    def __init__(self, url, host, port, db, username, password, tls,
                 caFile=None, certFile=None, keyFile=None):
        self.url = url
        self.host = host
        self.port = port
        self.db = db
        self.username = username
        self.password = password
        self.tls = tls
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile

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
    given = url
    parts = urlsplit(url)
    # errors name the URL without its password
    url = _masked(url, parts)
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
    if parts.fragment:
        raise ValueError("{!r}: takes no fragment".format(url))
    tls = parts.scheme == "rediss"
    files = _tlsFiles(url, parts.query, tls)
    return RedisAddress(
        given, parts.hostname, port or DEFAULT_PORT, int(path or 0),
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password is not None else None,
        tls, **files)


def _tlsFiles(url, query, tls):
    """
    @return: the L{RedisAddress} attributes a URL's query sets.
    @raise ValueError: naming what is wrong with the query.
    """
    if not query:
        return {}
    if not tls:
        raise ValueError("{!r}: takes no query (only rediss:// URLs take "
                         "{})".format(url, ", ".join(sorted(TLS_KEYS))))
    try:
        pairs = parse_qsl(query, keep_blank_values=True,
                          strict_parsing=True)
    except ValueError:
        raise ValueError("{!r}: the query must be key=value pairs joined "
                         "by &".format(url))
    files = {}
    for key, value in pairs:
        name = TLS_KEYS.get(key)
        if name is None:
            raise ValueError("{!r}: unknown query key {!r} (allowed: {})"
                             .format(url, key, ", ".join(sorted(TLS_KEYS))))
        if name in files:
            raise ValueError("{!r}: {} is given twice".format(url, key))
        if not value:
            raise ValueError("{!r}: {} names no file".format(url, key))
        files[name] = value
    if "keyFile" in files and "certFile" not in files:
        raise ValueError("{!r}: ssl_keyfile needs ssl_certfile, the "
                         "certificate of that key".format(url))
    return files


def _masked(url, parts):
    """
    @return: C{url} with C{***} for its password, if it has one: also one
        holding a C{/}, C{?} or C{#} that was not escaped, which the URL's
        parts cut short (everything up to the last C{@} after the scheme
        counts as the user's part then).
    """
    scheme, separator, rest = url.partition("://")
    head, at, tail = rest.rpartition("@")
    if separator and at and "@" not in parts.netloc and ":" in head:
        return "{}://{}:***@{}".format(scheme, head.partition(":")[0], tail)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc="{}:***@{}".format(user,
                                                              hostport)))
