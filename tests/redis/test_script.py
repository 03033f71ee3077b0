"""
Tests for L{cocaine.redis.script} (on a real Redis:
L{tests.integration.test_redis_storage}).
"""

import hashlib

from twisted.internet.defer import fail, succeed
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import BackendUnavailable, SystemError_
from cocaine.redis.script import Script


class _Redis:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def call(self, *args):
        self.calls.append(args)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            return fail(answer)
        return succeed(answer)


class ScriptTests(SynchronousTestCase):

    def setUp(self):
        self.script = Script("return 1")

    def test_bySha(self):
        """
        A script is run by its SHA1 with its keys and args.
        """
        redis = _Redis(1)
        self.assertEqual(self.successResultOf(
            self.script(redis, [b"k"], [b"a", 2])), 1)
        sha = hashlib.sha1(b"return 1").hexdigest()
        self.assertEqual(redis.calls, [("EVALSHA", sha, 1, b"k", b"a", 2)])

    def test_unknownSentInFull(self):
        """
        When Redis does not know it (NOSCRIPT), it is sent in full.
        """
        redis = _Redis(SystemError_("redis://h:1/0: EVALSHA: NOSCRIPT No "
                                    "matching script"), 7)
        self.assertEqual(self.successResultOf(
            self.script(redis, [], [b"a"])), 7)
        self.assertEqual(redis.calls[1], ("EVAL", "return 1", 0, b"a"))

    def test_otherErrorsPass(self):
        """
        Other failures are not retried.
        """
        for error in (SystemError_("ERR wrong"), BackendUnavailable("down")):
            redis = _Redis(error)
            self.failureResultOf(self.script(redis, [], []), type(error))
            self.assertEqual(len(redis.calls), 1)
