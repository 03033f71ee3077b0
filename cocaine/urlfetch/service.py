# -*- test-case-name: tests.urlfetch.test_service -*-
"""
The C{urlfetch} service: 0.12's C{get} and C{post} over a
L{cocaine.urlfetch.fetcher.Fetcher}, and the service's settings.

Args: C{{"connections-limit": 10, "max-body": 67108864, "deny":
["169.254.0.0/16", "fe80::/10"]}}.
"""

from twisted.application.service import Service
from zope.interface import implementer

from cocaine.errors import InvalidArgument
from cocaine.interfaces import IRPCService
from cocaine.protocol.urlfetch import URLFETCH, URLFETCH_VERSION
from cocaine.urlfetch.fetcher import (
    DEFAULT_CONNECTIONS_LIMIT, DEFAULT_MAX_BODY, Fetcher)
from cocaine.urlfetch.network import DEFAULT_DENY, DenyList

#: The keys of the service's args.
KEYS = ("connections-limit", "max-body", "deny")


class Settings:
    """
    The service's args, checked.

    @ivar connectionsLimit: requests in flight at most.
    @ivar maxBody: the body cap in bytes.
    @ivar deny: the L{DenyList}.
    """

    def __init__(self, connectionsLimit=DEFAULT_CONNECTIONS_LIMIT,
                 maxBody=DEFAULT_MAX_BODY, deny=DEFAULT_DENY):
        self.connectionsLimit = connectionsLimit
        self.maxBody = maxBody
        self.deny = DenyList(deny)


def parseSettings(path, args):
    """
    @param path: where the args are, for messages
        (C{"services.urlfetch.args"}).
    @return: the L{Settings}.
    @raise cocaine.config.ConfigError: naming the bad key.
    """
    from cocaine.config import ConfigError, describe
    unknown = sorted(set(args) - set(KEYS))
    if unknown:
        raise ConfigError("{}.{}".format(path, unknown[0]),
                          "unknown key (allowed: {})".format(
                              ", ".join(KEYS)))
    limit = args.get("connections-limit", DEFAULT_CONNECTIONS_LIMIT)
    if type(limit) is not int or limit < 1:
        raise ConfigError(path + ".connections-limit",
                          "must be an integer >= 1, got {!r}".format(limit))
    maxBody = args.get("max-body", DEFAULT_MAX_BODY)
    if type(maxBody) is not int or maxBody < 0:
        raise ConfigError(path + ".max-body", "must be a byte count >= 0, "
                          "got {!r}".format(maxBody))
    deny = args.get("deny", list(DEFAULT_DENY))
    if not isinstance(deny, list) or not all(
            isinstance(n, str) for n in deny):
        raise ConfigError(path + ".deny", "must be a list of networks "
                          "(\"10.0.0.0/8\", \"fd00::/8\"), got {}".format(
                              describe(deny)))
    for index, network in enumerate(deny):
        try:
            DenyList([network])
        except ValueError as e:
            raise ConfigError("{}.deny[{}]".format(path, index), str(e))
    return Settings(limit, maxBody, deny)


def _timeout(value):
    if type(value) is not int or value <= 0:
        raise InvalidArgument("urlfetch: argument 'timeout' must be a "
                              "positive number of milliseconds, got {!r}"
                              .format(value))
    return value / 1000.0


def _textMap(value, name):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument("urlfetch: argument {!r} must be a map of "
                              "strings, got {}".format(
                                  name, type(value).__name__))
    return value


def _flag(value):
    if type(value) is not bool:
        raise InvalidArgument("urlfetch: argument 'follow_location' must be "
                              "a boolean, got {!r}".format(value))
    return value


@implementer(IRPCService)
class UrlfetchService(Service):
    """
    Serves C{get} and C{post}; stopping it drops the idle connections.
    """

    protocol = URLFETCH
    version = URLFETCH_VERSION

    def __init__(self, reactor, settings=None, trustRoot=None):
        settings = settings or Settings()
        self.fetcher = Fetcher(reactor, settings.connectionsLimit,
                               settings.maxBody, settings.deny,
                               trustRoot=trustRoot)

    def _fetch(self, method, url, body, timeout, cookies, headers,
               followLocation):
        return self.fetcher.fetch(
            method, url, body, _timeout(timeout),
            _textMap(cookies, "cookies"), _textMap(headers, "headers"),
            _flag(followLocation))

    def get(self, url, timeout=5000, cookies=None, headers=None,
            follow_location=True):
        """
        GET C{url}; C{timeout} in milliseconds.

        @return: a Deferred of C{(success, body, code, headers)}.
        @raise InvalidArgument: an argument 0.12 would not take, named.
        """
        return self._fetch("GET", url, None, timeout, cookies, headers,
                           follow_location)

    def post(self, url, body, timeout=5000, cookies=None, headers=None,
             follow_location=True):
        """
        POST C{body} to C{url}; otherwise as L{get}.
        """
        return self._fetch("POST", url, body, timeout, cookies, headers,
                           follow_location)

    def stopService(self):
        Service.stopService(self)
        return self.fetcher.close()
