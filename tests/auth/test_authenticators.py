"""
Tests for L{cocaine.auth.authenticators}.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.auth.authenticators import Promiscuous, TokenAuthenticator
from cocaine.auth.identity import ANONYMOUS, Identity
from cocaine.auth.token import issue

SECRET = b"k" * 32


class PromiscuousTests(SynchronousTestCase):
    """
    0.12's promiscuous: comma-separated uint64 uids, else anonymous.
    """

    def identify(self, value):
        identity, expiry = Promiscuous().identify(value)
        self.assertIsNone(expiry)
        return identity

    def test_uids(self):
        self.assertEqual(self.identify(b"5"), Identity(uids=(5,)))
        self.assertEqual(self.identify(b"0,18446744073709551615"),
                         Identity(uids=(0, 2 ** 64 - 1)))

    def test_anythingElse(self):
        for value in (b"", b"5,", b",5", b"-1", b"5 ", b"x", b"1,a",
                      b"18446744073709551616", b"\xff", b"TVM 5",
                      "\u0661".encode()):
            self.assertEqual(self.identify(value), ANONYMOUS, value)


class TokenAuthenticatorTests(SynchronousTestCase):

    def setUp(self):
        self.auth = TokenAuthenticator([SECRET])

    def test_header(self):
        token = issue(SECRET, uids=[3], cids=[4], expiry=50)
        self.assertEqual(self.auth.identify(b"token " + token.encode(), 10),
                         (Identity((3,), (4,)), 50))
        self.assertEqual(self.auth.identify(b"Bearer " + token.encode(),
                                            10)[0].uids, (3,))
        self.assertEqual(self.auth.header(token), "token " + token)

    def test_refusedReasonsCounted(self):
        """
        Expired, forged, unknown-key and malformed tokens are anonymous,
        each counted under its own reason.
        """
        good = issue(SECRET, uids=[3], expiry=50)
        payload, mac = good.split(".")
        forged = issue(SECRET, uids=[0], expiry=50).split(".")[0] + "." + mac
        values = [b"token " + good.encode(),                      # expired
                  b"token " + forged.encode(),                    # forged
                  b"token " + issue(b"z" * 32, uids=[0],
                                    expiry=500).encode(),         # key
                  b"token", b"5", b"basic abc"]                   # malformed
        for value in values:
            self.assertEqual(self.auth.identify(value, 100),
                             (ANONYMOUS, None))
        self.assertEqual(self.auth.failures, {
            "expired": 1, "forged": 1, "unknown key": 1, "malformed": 3})
