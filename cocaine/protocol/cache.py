# -*- test-case-name: tests.cache.test_service -*-
"""
The C{cache} service's protocol: Cocaine 0.12's (cocaine-plugins
C{cache/include/cocaine/idl/cache.hpp}, version 1) with ours appended.

Ids 0 and 1 are exactly 0.12's: C{get(key) -> [bool exists, value]} and
C{put(key, value) -> []}; keys and values are raw strings (C{std::string}
in 0.12), so both are bytes here. Ours: C{put} takes an optional third
argument, a TTL in seconds (0.12 clients never send it and ignore
nothing), and C{del(key) -> [bool existed]} is id 2.
"""

from cocaine.protocol.idl import Arg, Message, Protocol

#: The cache service's protocol version (0.12's).
CACHE_VERSION = 1

CACHE = Protocol("cache", [
    Message("get", [Arg("key", "bytes")]),
    # ours: the optional ttl (seconds, 0 or nil for none)
    Message("put", [Arg("key", "bytes"), Arg("value", "bytes"),
                    Arg("ttl", "any", True)]),
    # ours, appended so 0.12's ids stay as they were
    Message("del", [Arg("key", "bytes")], method="delete"),
])

__all__ = ["CACHE", "CACHE_VERSION"]
