# -*- test-case-name: tests.redis.test_args -*-
"""
The config args every Redis-backed service and storage takes: C{url}
(required) and C{prefix} (where its keys go), checked the same way for
all of them.
"""

from cocaine.config import ConfigError, describe
from cocaine.redis.url import parseRedisURL


def checkRedisArgs(path, args, allowed, what):
    """
    Check the args of a Redis-backed component.

    @param path: where the args are, for messages.
    @param allowed: every key it takes (C{url} among them).
    @param what: how to call the component in messages.
    @raise ConfigError: naming the key and the reason.
    """
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise ConfigError("{}.{}".format(path, unknown[0]),
                          "unknown key for {} (allowed: {})".format(
                              what, ", ".join(sorted(allowed))))
    if "url" not in args:
        raise ConfigError(path + ".url",
                          "is required (redis://host:port/db)")
    checkRedisURL(path + ".url", args["url"])
    prefix = args.get("prefix", "")
    if not isinstance(prefix, str):
        raise ConfigError(path + ".prefix", "must be a string, got {}"
                          .format(describe(prefix)))


def checkRedisURL(path, url):
    """
    Check a Redis URL of a config, and read the files of a C{rediss://}
    one now, so that one missing or not PEM stops the node at its start,
    named.

    @param path: where the URL is, for messages.
    @raise ConfigError: naming the path and what is wrong.
    """
    try:
        address = parseRedisURL(url)
        if address.tls:
            from cocaine.redis.tls import clientTLSOptions
            clientTLSOptions(address)
    except ValueError as e:
        raise ConfigError(path, str(e))
