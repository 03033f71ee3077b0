# -*- test-case-name: tests.redis.test_args -*-
"""
The config args every Redis-backed service and storage takes: C{url}
(required) and C{prefix} (where its keys go), checked the same way for
all of them.
"""

from cocaine.config import ConfigError
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
    try:
        parseRedisURL(args["url"])
    except ValueError as e:
        raise ConfigError(path + ".url", str(e))
    if not isinstance(args.get("prefix", ""), str):
        raise ConfigError(path + ".prefix", "must be a string")
