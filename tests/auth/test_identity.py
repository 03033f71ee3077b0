"""
Tests for L{cocaine.auth.identity}.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.auth.identity import ANONYMOUS, Identity


class IdentityTests(SynchronousTestCase):

    def test_anonymous(self):
        """
        No uids and no cids is anonymous, and not the admin.
        """
        self.assertTrue(ANONYMOUS.anonymous)
        self.assertFalse(ANONYMOUS.admin)
        self.assertEqual(ANONYMOUS, Identity())
        self.assertEqual(str(ANONYMOUS), "anonymous")

    def test_admin(self):
        """
        uid 0 among the uids is the admin.
        """
        self.assertTrue(Identity(uids=[5, 0]).admin)
        self.assertFalse(Identity(uids=[5], cids=[0]).admin)

    def test_frozenAndHashable(self):
        """
        Identities are frozen; lists become tuples so they hash.
        """
        identity = Identity(uids=[1], cids=[2])
        self.assertEqual(identity.uids, (1,))
        self.assertEqual(hash(identity), hash(Identity((1,), (2,))))
        with self.assertRaises(Exception):
            identity.uids = ()
        self.assertEqual(str(identity), "uid 1 cid 2")
