# -*- test-case-name: tests.jabber.test_settings -*-
"""
A C{jabber} service's args, checked and with their defaults:

    {"jid": "alice@example.org", "password": "...",
     "host": "example.org", "port": 5222,
     "tls": "required", "ca": "/path/ca.pem", "buffer": 1000}

Only C{jid} and C{password} are required. C{host} defaults to the JID's
domain, C{port} to 5222. C{tls} is C{"required"} (STARTTLS must be offered
and succeed: the default), C{"optional"} (STARTTLS when the server offers
it) or C{"off"} (never; only for a server on loopback). The server's
certificate is verified for the JID's domain against C{ca} (one PEM
certificate) or, without it, the platform's trust roots. C{buffer} is how
many incoming messages each subscriber may have waiting (1 to 1000000).
"""

from twisted.words.protocols.jabber.jid import InvalidFormat, JID

from cocaine.config import describe

#: What C{tls} may be.
TLS_POLICIES = ("required", "optional", "off")

#: Every key the args may hold.
KEYS = ("buffer", "ca", "host", "jid", "password", "port", "tls")

DEFAULT_PORT = 5222
DEFAULT_BUFFER = 1000


class SettingsError(ValueError):
    """
    A bad arg: C{key} names it, the message says why.
    """

    def __init__(self, key, reason):
        ValueError.__init__(self, reason)
        self.key = key
        self.reason = reason


class Settings:
    """
    A jabber account and how to reach its server.

    @ivar jid: the account's L{JID} (a resource is optional).
    @ivar password: its password.
    @ivar host: the server's host name or address.
    @ivar port: the server's c2s port.
    @ivar tls: one of L{TLS_POLICIES}.
    @ivar caPEM: the PEM certificate that must have signed the server's,
        or L{None} for the platform's trust roots.
    @ivar buffer: messages a subscriber may have waiting.
    """

    def __init__(self, jid, password, host=None, port=DEFAULT_PORT,
                 tls="required", caPEM=None, buffer=DEFAULT_BUFFER):
        self.jid = jid
        self.password = password
        self.host = host or jid.host
        self.port = port
        self.tls = tls
        self.caPEM = caPEM
        self.buffer = buffer

    @property
    def account(self):
        """
        The account's bare JID, as text (for messages).
        """
        return self.jid.userhost()

    def tlsOptions(self):
        """
        The client TLS options: the server is verified for the JID's
        domain against C{caPEM} or the platform's trust roots.
        """
        from twisted.internet import ssl
        if self.caPEM is None:
            return ssl.optionsForClientTLS(self.jid.host)
        return ssl.optionsForClientTLS(
            self.jid.host, trustRoot=ssl.Certificate.loadPEM(self.caPEM))


def _text(args, key, default=None, secret=False):
    value = args.get(key, default)
    if not isinstance(value, str) or not value:
        # a secret is never shown, not even one of the wrong type
        raise SettingsError(key, "must be a non-empty string{}".format(
            "" if secret else ", got {}".format(describe(value))))
    return value


def parse(args, readFile=None):
    """
    Check a jabber service's args.

    @param args: the decoded JSON map.
    @param readFile: C{path -> bytes} for C{ca} (by default, open it).
    @return: the L{Settings}.
    @raise SettingsError: naming the bad key.
    """
    if not isinstance(args, dict):
        raise SettingsError("", "must be a map, got {}".format(
            describe(args)))
    unknown = sorted(set(args) - set(KEYS))
    if unknown:
        raise SettingsError(unknown[0], "unknown key (allowed: {})".format(
            ", ".join(KEYS)))
    for key in ("jid", "password"):
        if key not in args:
            raise SettingsError(key, "is required")
    try:
        jid = JID(_text(args, "jid"))
    except InvalidFormat as e:
        raise SettingsError("jid", "is not a JID ({}), got {}".format(
            str(e).rstrip("."), describe(args["jid"])))
    if not jid.user:
        raise SettingsError("jid", "must name an account (user@domain), "
                            "got {}".format(describe(args["jid"])))
    password = _text(args, "password", secret=True)
    host = _text(args, "host", jid.host)
    port = args.get("port", DEFAULT_PORT)
    if type(port) is not int or not 1 <= port <= 65535:
        raise SettingsError("port", "must be a port number (1 to 65535), "
                            "got {}".format(describe(port)))
    tls = args.get("tls", "required")
    if tls not in TLS_POLICIES:
        raise SettingsError("tls", "must be one of {}, got {}".format(
            ", ".join(TLS_POLICIES), describe(tls)))
    caPEM = None
    if "ca" in args:
        path = _text(args, "ca")
        caPEM = _readCA(path, readFile)
    buffer = args.get("buffer", DEFAULT_BUFFER)
    if type(buffer) is not int or not 1 <= buffer <= 1000000:
        raise SettingsError("buffer", "must be a number of messages from "
                            "1 to 1000000, got {}".format(describe(buffer)))
    return Settings(jid, password, host, port, tls, caPEM, buffer)


def _readCA(path, readFile):
    from twisted.internet import ssl
    try:
        if readFile is None:
            with open(path, "rb") as f:
                data = f.read()
        else:
            data = readFile(path)
    except OSError as e:
        raise SettingsError("ca", "cannot be read: {}".format(
            e.strerror or e))
    try:
        ssl.Certificate.loadPEM(data)
    except Exception:
        raise SettingsError("ca", "{} holds no PEM certificate".format(path))
    return data
