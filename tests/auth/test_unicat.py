"""
Tests for L{cocaine.auth.unicat} and the guard's rule for it.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine.auth.acl import (
    BOTH, COLLECTION_ACLS, READ, WRITE, StorageACLs, packCollectionACL,
    unpackCollectionACL)
from cocaine.auth.authenticators import Promiscuous
from cocaine.auth.guard import Guard
from cocaine.auth.identity import Identity
from cocaine.auth.unicat import UnicatService
from cocaine.errors import AccessDenied, InvalidArgument, Unauthorized
from cocaine.protocol.services import UNICAT
from cocaine.storage.memory import MemoryStorage

ALICE = Identity(uids=(5,))
BOB = Identity(uids=(6,))


def entity(name, scheme=b"storage"):
    return [scheme, None, name.encode()]


class UnicatTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.backend = MemoryStorage()
        self.guard = Guard(self.clock, Promiscuous(), None,
                           StorageACLs(self.clock, self.backend))
        self.unicat = UnicatService(self.backend, self.guard)

    def acl(self, name):
        return unpackCollectionACL(self.backend.read(COLLECTION_ACLS, name))

    def call(self, method, *args):
        from twisted.internet.defer import Deferred
        return self.successResultOf(Deferred.fromCoroutine(
            getattr(self.unicat, "_change")(*args, method == "grant")))

    def test_grantAndRevoke(self):
        self.call("grant", [entity("c"), entity("d")], [9], [5, 6], READ)
        self.call("grant", [entity("c")], [], [5], WRITE)
        self.assertEqual(self.acl("c"), ({9: READ}, {5: BOTH, 6: READ}))
        self.assertEqual(self.acl("d"), ({9: READ}, {5: READ, 6: READ}))
        self.call("revoke", [entity("c")], [9], [5], READ)
        self.assertEqual(self.acl("c"), ({}, {5: WRITE, 6: READ}))

    def test_grantRefreshesTheGuardsCache(self):
        rule = self.guard.rules("storage", __import__(
            "cocaine.protocol.services", fromlist=["STORAGE"]).STORAGE)
        read = rule[0]
        # public, and now cached
        self.successResultOf(read(BOB, ["c", "k"]))
        self.assertIsNone(read(BOB, ["c", "k"]))
        self.call("grant", [entity("c")], [], [5], BOTH)
        self.failureResultOf(read(BOB, ["c", "k"]), AccessDenied)

    def test_badArguments(self):
        for args in (([entity("c", b"unicorn")], [], [], 1),
                     ([[b"storage", b"x"]], [], [], 1),
                     ([entity("c")], [-1], [], 1),
                     ([entity("c")], [], [], 4)):
            d = self.unicat.grant(*args)
            self.failureResultOf(d, InvalidArgument)

    def rule(self, method):
        return self.guard.rules("unicat", UNICAT)[UNICAT.idOf(method)]

    def decide(self, identity, *values):
        result = self.rule("grant")(identity, list(values))
        if result is not None:
            out = []
            result.addBoth(out.append)
            if hasattr(out[0], "raiseException"):
                out[0].raiseException()

    def test_whoMayGrant(self):
        """
        The admin; a caller with RW under the ACL; anyone authenticated
        while it is empty. Never the admin-only collections.
        """
        args = ([entity("c")], [], [6], READ)
        self.assertRaises(Unauthorized, self.decide, Identity(), *args)
        self.decide(BOB, *args)
        self.backend.write(COLLECTION_ACLS, "c",
                           packCollectionACL({}, {5: BOTH, 6: READ}), [])
        self.guard.storage.forget()
        self.decide(ALICE, *args)
        self.assertRaises(AccessDenied, self.decide, BOB, *args)
        self.decide(Identity(uids=(0,)), *args)
        self.assertRaises(AccessDenied, self.decide, ALICE,
                          [entity("keys")], [], [5], WRITE)
