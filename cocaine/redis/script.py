# -*- test-case-name: tests.redis.test_script -*-
"""
Lua scripts run by Redis, atomically: sent once by their SHA1
(C{EVALSHA}) and in full only when Redis does not know them yet (after a
restart, say).
"""

import hashlib

from cocaine.errors import SystemError_


class Script:
    """
    One Lua script.

    @ivar sha: its SHA1, hex, as Redis names it.
    """

    def __init__(self, source):
        self.source = source
        self.sha = hashlib.sha1(source.encode("utf-8")).hexdigest()

    def __call__(self, redis, keys, args):
        """
        Run it.

        @param redis: anything with L{cocaine.redis.client.Redis.call}.
        @param keys: its C{KEYS}.
        @param args: its C{ARGV}.
        @return: a Deferred of its reply.
        """
        d = redis.call("EVALSHA", self.sha, len(keys), *keys, *args)
        d.addErrback(self._unknown, redis, keys, args)
        return d

    def _unknown(self, failure, redis, keys, args):
        failure.trap(SystemError_)
        if "NOSCRIPT" not in str(failure.value):
            return failure
        return redis.call("EVAL", self.source, len(keys), *keys, *args)
