"""
Tests for L{cocaine.auth.guard} and L{cocaine.auth.acl}, and the guard as
L{cocaine.rpc.server.ServerProtocol} applies it to opening messages.
"""

import msgpack
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from cocaine.auth.acl import (
    BOTH, COLLECTION_ACLS, EVENT_ACLS, EVENT_ACLS_TAGS, READ, WRITE,
    EventACLs, StorageACLs, packCollectionACL, packEventACL,
    unpackCollectionACL)
from cocaine.auth.authenticators import Promiscuous, TokenAuthenticator
from cocaine.auth.guard import Guard, appCid, appEnvironment
from cocaine.auth.identity import Identity
from cocaine.auth.token import issue, verify, keyId
from cocaine.errors import (
    AccessDenied, BackendUnavailable, KeyNotFound, Unauthorized)
from cocaine.protocol.services import APP, LOCATOR, NODE, STORAGE
from cocaine.rpc.hosting import HostedService
from cocaine.storage.memory import MemoryStorage
from cocaine.storage.service import StorageService
from tests.rpc.test_server import Connection

SECRET = b"g" * 32
ADMIN = Identity(uids=(0,))
ALICE = Identity(uids=(5,))
BOB = Identity(uids=(6,))


def header(value):
    return [[False, "authorization", value]]


class Recorder:
    """
    An implementation of any protocol that records calls.
    """

    def __init__(self, protocol):
        self.protocol = protocol
        self.calls = []

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)

        def method(*args, **kwargs):
            self.calls.append((name,) + args)
            return None
        return method


def guarded(clock=None, events=True, storage=True, backend=None,
            authenticator=None):
    clock = clock or Clock()
    backend = backend if backend is not None else MemoryStorage()
    return Guard(
        clock, authenticator or Promiscuous(),
        EventACLs(clock, backend) if events else None,
        StorageACLs(clock, backend) if storage else None), backend


class RuleTests(SynchronousTestCase):
    """
    What each kind of service lets each caller do.
    """

    def setUp(self):
        self.guard, self.backend = guarded()

    def rule(self, name, protocol, method):
        rules = self.guard.rules(name, protocol)
        return rules[protocol.idOf(method)]

    def test_locatorDiscoveryIsPublic(self):
        for method in ("resolve", "connect", "refresh", "cluster",
                       "routing", "uuid"):
            self.assertIsNone(self.rule("locator", LOCATOR, method)(
                Identity(), ["x"]))

    def test_publishNeedsEventACL(self):
        rule = self.rule("locator", LOCATOR, "publish")
        self.assertRaises(Unauthorized, rule, Identity(), ["x"])
        self.assertRaises(AccessDenied, rule, ALICE, ["x"])
        self.assertIsNone(rule(ADMIN, ["x"]))
        self.guard.events.set("locator", {}, {5: frozenset(["publish"])})
        self.assertIsNone(rule(ALICE, ["x"]))

    def test_nodeEventACLs(self):
        """
        0.12: no identity is [0x09, 2]; not listed is [0x09, 3]; all of the
        caller's uids (or all cids) must list the method.
        """
        rule = self.rule("node", NODE, "start_app")
        e = self.assertRaises(Unauthorized, rule, Identity(), ["a", "p"])
        self.assertEqual((e.category, e.code), (0x09, 2))
        e = self.assertRaises(AccessDenied, rule, ALICE, ["a", "p"])
        self.assertEqual((e.category, e.code), (0x09, 3))
        self.assertIn("node.start_app", str(e))
        self.guard.events.set("node", {9: frozenset(["*"])},
                              {5: frozenset(["start_app"])})
        self.assertIsNone(rule(ALICE, ["a", "p"]))
        self.assertRaises(AccessDenied, rule, Identity(uids=(5, 6)),
                          ["a", "p"])
        self.assertIsNone(rule(Identity(uids=(6,), cids=(9,)), ["a", "p"]))
        self.assertRaises(AccessDenied, self.rule("node", NODE, "pause_app"),
                          ALICE, ["a"])

    def test_appEnqueueNeedsIdentity(self):
        rule = self.rule("echo", APP, "enqueue")
        self.assertRaises(Unauthorized, rule, Identity(), ["ping"])
        self.assertIsNone(rule(BOB, ["ping"]))
        control = self.rule("echo", APP, "control")
        self.assertRaises(AccessDenied, control, BOB, [])
        self.guard.events.set("echo", {}, {6: frozenset(["control"])})
        self.assertIsNone(control(BOB, []))

    def test_eventACLsOff(self):
        guard, _ = guarded(events=False)
        rule = guard.rules("node", NODE)[NODE.idOf("pause_app")]
        self.assertRaises(Unauthorized, rule, Identity(), ["a"])
        self.assertIsNone(rule(ALICE, ["a"]))

    def storage(self, method, identity, *values):
        result = self.rule("storage", STORAGE, method)(identity,
                                                        list(values))
        if result is not None:
            outcome = []
            result.addBoth(outcome.append)
            [outcome] = outcome
            if isinstance(outcome, Failure):
                outcome.raiseException()
            return outcome
        return None

    def test_firstWriterOwns(self):
        """
        An empty ACL is public until the first authenticated write makes
        the writer the owner (0.12).
        """
        self.storage("read", BOB, "c", "k")
        self.storage("write", ALICE, "c", "k", b"v", [])
        self.assertEqual(unpackCollectionACL(self.backend.read(
            COLLECTION_ACLS, "c")), ({}, {5: BOTH}))
        self.storage("read", ALICE, "c", "k")
        self.assertRaises(AccessDenied, self.storage, "read", BOB, "c", "k")
        self.assertRaises(AccessDenied, self.storage, "write", BOB, "c", "k",
                          b"x", [])
        self.storage("write", ADMIN, "c", "k", b"v", [])

    def test_flags(self):
        self.backend.write(COLLECTION_ACLS, "c",
                           packCollectionACL({}, {5: READ, 6: BOTH}), [])
        self.storage("find", ALICE, "c", [])
        self.assertRaises(AccessDenied, self.storage, "remove", ALICE, "c",
                          "k")
        self.storage("remove", BOB, "c", "k")
        # all of the caller's uids must have the flag
        self.assertRaises(AccessDenied, self.storage, "write",
                          Identity(uids=(5, 6)), "c", "k", b"", [])

    def test_adminOnlyCollections(self):
        """
        Nobody but the admin writes keys or ACLs (issue 14, finding 7).
        """
        for collection in ("keys", COLLECTION_ACLS, EVENT_ACLS):
            self.assertRaises(AccessDenied, self.storage, "write", ALICE,
                              collection, "k", b"v", [])
            self.assertRaises(AccessDenied, self.storage, "remove", ALICE,
                              collection, "k")
        self.assertRaises(AccessDenied, self.storage, "read", ALICE,
                          EVENT_ACLS, "node")
        self.assertRaises(AccessDenied, self.storage, "find", ALICE,
                          COLLECTION_ACLS, [])
        self.storage("write", ADMIN, "keys", "alice", b"pub", [])
        self.storage("read", ALICE, "keys", "alice")

    def test_aclReadUnderItsCollection(self):
        self.storage("write", ALICE, "c", "k", b"v", [])
        self.storage("read", ALICE, COLLECTION_ACLS, "c")
        self.assertRaises(AccessDenied, self.storage, "read", BOB,
                          COLLECTION_ACLS, "c")

    def test_adminWriteForgetsCachedACL(self):
        self.storage("write", ALICE, "c", "k", b"v", [])
        self.storage("write", ADMIN, COLLECTION_ACLS, "c", b"", [])
        self.backend.write(COLLECTION_ACLS, "c",
                           packCollectionACL({}, {6: BOTH}), [])
        self.storage("read", BOB, "c", "k")
        self.assertRaises(AccessDenied, self.storage, "read", ALICE, "c",
                          "k")

    def test_cacheExpires(self):
        clock = Clock()
        self.guard, self.backend = guarded(clock)
        self.storage("read", ALICE, "c", "k")
        self.backend.write(COLLECTION_ACLS, "c",
                           packCollectionACL({}, {6: BOTH}), [])
        self.storage("read", ALICE, "c", "k")
        clock.advance(61)
        self.assertRaises(AccessDenied, self.storage, "read", ALICE, "c",
                          "k")

    def test_invalidACLOnlyAdmin(self):
        self.backend.write(COLLECTION_ACLS, "c", b"\xc1", [])
        self.assertRaises(AccessDenied, self.storage, "read", ALICE, "c",
                          "k")
        self.storage("read", ADMIN, "c", "k")

    def test_everythingElseNeedsIdentity(self):
        from cocaine.protocol.services import LOGGING
        emit = self.rule("logging", LOGGING, "emit")
        self.assertRaises(Unauthorized, emit, Identity(), [1, "s", "m"])
        self.assertIsNone(emit(ALICE, [1, "s", "m"]))
        self.assertRaises(AccessDenied, self.rule(
            "logging", LOGGING, "set_verbosity"), ALICE, [0])


class SlowStorage:
    """
    A storage whose reads wait until the test answers them
    (C{reads[i].callback(blob)}); writes are recorded.
    """

    def __init__(self):
        self.reads = []
        self.writes = []

    def read(self, collection, key):
        d = Deferred()
        self.reads.append(((collection, key), d))
        return d

    def write(self, collection, key, blob, tags):
        self.writes.append((collection, key, blob))


class SharedReadTests(SynchronousTestCase):
    """
    Callers asking about one collection while its ACL is being read wait
    for that one read, and are each decided as if they had asked in turn.
    """

    def setUp(self):
        self.backend = SlowStorage()
        self.acls = StorageACLs(Clock(), self.backend)

    def check(self, flag, identity, what="storage.read"):
        """
        @return: a list that holds the decision once made: L{None} for
            allowed, or a L{Failure}.
        """
        try:
            result = self.acls.check(flag, "c", identity, what)
        except AccessDenied:
            return [Failure()]
        outcome = []
        if result is None:
            outcome.append(None)
        else:
            result.addBoth(outcome.append)
        return outcome

    def answer(self, result):
        [(key, d)] = self.backend.reads
        self.assertEqual(key, (COLLECTION_ACLS, "c"))
        if isinstance(result, Exception):
            d.errback(result)
        else:
            d.callback(result)

    def test_oneRead(self):
        """
        One read serves every caller waiting; each is decided by the ACL.
        """
        alice, bob = self.check(READ, ALICE), self.check(READ, BOB)
        self.assertEqual((alice, bob), ([], []))
        self.answer(packCollectionACL({}, {5: READ}))
        self.assertEqual(alice, [None])
        [refused] = bob
        refused.trap(AccessDenied)
        # cached now: no other read
        self.assertEqual(self.check(READ, ALICE), [None])
        self.assertEqual(len(self.backend.reads), 1)

    def test_readFails(self):
        """
        A read that fails fails every caller waiting for it with its
        error, and the next caller reads again.
        """
        waiting = [self.check(READ, identity)
                   for identity in (ALICE, BOB, ALICE)]
        self.answer(BackendUnavailable("storage is down"))
        for outcome in waiting:
            [failure] = outcome
            self.assertIsInstance(failure, Failure)
            failure.trap(BackendUnavailable)
        self.backend.reads.clear()
        later = self.check(READ, ALICE)
        self.answer(packCollectionACL({}, {5: READ}))
        self.assertEqual(later, [None])

    def test_firstWriterOwnsWhileRead(self):
        """
        Two writers waiting for the read of an empty ACL: the first
        becomes the owner, and the second is refused as it would be had
        it asked a moment later; the stored ACL is the first's.
        """
        alice = self.check(WRITE, ALICE, "storage.write")
        bob = self.check(WRITE, BOB, "storage.write")
        reader = self.check(READ, Identity(uids=(7,)))
        self.answer(KeyNotFound("no ACL"))
        self.assertEqual(alice, [None])
        [refused] = bob
        self.assertIsInstance(refused, Failure)
        refused.trap(AccessDenied)
        self.assertIn("may not write collection 'c'",
                      refused.getErrorMessage())
        [refused] = reader
        refused.trap(AccessDenied)
        self.assertEqual(
            [unpackCollectionACL(blob) for _, _, blob in self.backend.writes],
            [({}, {5: BOTH})])
        self.assertEqual(self.check(WRITE, ALICE, "storage.write"), [None])

    def test_forgottenWhileRead(self):
        """
        A caller after L{StorageACLs.forget} (a grant or revoke through
        unicat) does not wait for a read begun before it, which may hold
        what was revoked; that read decides its own callers but is not
        cached.
        """
        before = self.check(READ, ALICE)
        self.acls.forget("c")
        after = self.check(READ, ALICE)
        self.assertEqual(len(self.backend.reads), 2)
        (_, first), (_, second) = self.backend.reads
        first.callback(packCollectionACL({}, {5: READ}))
        self.assertEqual(before, [None])
        self.assertEqual(after, [])
        second.callback(packCollectionACL({}, {7: READ}))
        [refused] = after
        refused.trap(AccessDenied)
        self.backend.reads.clear()
        # the later read is the one cached
        self.check(READ, ALICE)[0].trap(AccessDenied)
        self.assertEqual(self.backend.reads, [])

    def test_forgetAllWhileRead(self):
        """
        Forgetting every ACL does the same for every read under way.
        """
        self.check(READ, ALICE)
        self.acls.forget()
        self.check(READ, ALICE)
        self.assertEqual(len(self.backend.reads), 2)

    def test_ownerNotStored(self):
        """
        When the ACL that makes the first writer the owner cannot be
        stored, the write is refused with the storage's error and the
        collection is not owned: the next writer asks storage again.
        """
        self.backend.write = lambda *args: fail(
            BackendUnavailable("storage is down"))
        alice = self.check(WRITE, ALICE, "storage.write")
        self.answer(KeyNotFound("no ACL"))
        [failure] = alice
        failure.trap(BackendUnavailable)
        self.assertEqual(len(self.flushLoggedErrors(BackendUnavailable)), 1)
        self.backend.reads.clear()
        bob = self.check(WRITE, BOB, "storage.write")
        self.assertEqual(bob, [])
        self.assertEqual(len(self.backend.reads), 1)


class EventACLLoadTests(SynchronousTestCase):

    def test_loadAndRefresh(self):
        clock = Clock()
        backend = MemoryStorage()
        backend.write(EVENT_ACLS, "node", packEventACL(
            {}, {5: ["start_app"]}), EVENT_ACLS_TAGS)
        # 0.12's shape: {method: {...}}
        backend.write(EVENT_ACLS, "echo", msgpack.packb(
            {"cids": {"7": {"control": {}}}}), EVENT_ACLS_TAGS)
        events = EventACLs(clock, backend, refresh=10)
        self.successResultOf(events.start())
        self.assertTrue(events.allowed("node", "start_app", ALICE))
        self.assertFalse(events.allowed("node", "pause_app", ALICE))
        self.assertTrue(events.allowed("echo", "control",
                                       Identity(cids=(7,))))
        backend.remove(EVENT_ACLS, "node")
        clock.advance(10)
        self.assertFalse(events.allowed("node", "start_app", ALICE))
        events.stop()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_changedReloadsSoon(self):
        clock = Clock()
        backend = MemoryStorage()
        events = EventACLs(clock, backend)
        self.successResultOf(events.start())
        backend.write(EVENT_ACLS, "node", packEventACL({}, {5: ["*"]}),
                      EVENT_ACLS_TAGS)
        events.changed()
        events.changed()
        clock.advance(1)
        self.assertTrue(events.allowed("node", "anything", ALICE))
        events.stop()


class AppTokenTests(SynchronousTestCase):

    def test_appEnvironment(self):
        clock = Clock()
        clock.advance(1000)
        guard = Guard(clock, TokenAuthenticator([SECRET]))
        env = appEnvironment(guard, "echo")
        self.assertEqual(env["COCAINE_APP_TOKEN_TYPE"], "token")
        identity, expiry = verify({keyId(SECRET): SECRET},
                                  env["COCAINE_APP_TOKEN_BODY"], 1000)
        self.assertEqual(identity, Identity(cids=(appCid("echo"),)))
        self.assertGreater(expiry, 1000)
        self.assertEqual(appEnvironment(None, "echo"), {})
        self.assertEqual(appEnvironment(Guard(clock, Promiscuous()),
                                        "echo"), {})

    def test_appCid(self):
        self.assertEqual(appCid("echo"), appCid("echo"))
        self.assertNotEqual(appCid("echo"), appCid("echo2"))
        self.assertTrue(2 ** 63 <= appCid("echo") < 2 ** 64)


class EnforcementTests(SynchronousTestCase):
    """
    The guard applied by the server to opening messages, over a
    transport: refusals are errors [0x09, code] on the channel.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(100)
        self.guard, self.backend = guarded(
            self.clock, authenticator=TokenAuthenticator([SECRET]))
        self.identified = []
        identify = self.guard.identify

        def counting(value):
            self.identified.append(value)
            return identify(value)
        self.guard.identify = counting

    def token(self, uid, expiry=1000):
        return "token " + issue(SECRET, uids=[uid], expiry=expiry)

    def storage(self):
        return Connection(HostedService(
            "storage", StorageService(self.backend), STORAGE, 1,
            self.guard))

    def test_anonymousRefused(self):
        c = self.storage()
        c.send(1, STORAGE.idOf("read"), ["c", "k"])
        [[channel, mtype, [[category, code], message]]] = c.replies()
        self.assertEqual((channel, mtype, category, code), (1, 1, 9, 2))
        self.assertIn("storage.read", message)

    def test_tokenAdmitsAndIsVerifiedOnce(self):
        c = self.storage()
        token = self.token(5)
        c.send(1, STORAGE.idOf("write"), ["c", "k", b"v", []],
               header(token))
        c.send(2, STORAGE.idOf("read"), ["c", "k"], header(token))
        c.send(3, STORAGE.idOf("read"), ["c", "k"], header(token))
        self.assertEqual(c.replies(), [[1, 0, []], [2, 0, [b"v"]],
                                       [3, 0, [b"v"]]])
        self.assertEqual(len(self.identified), 1)
        # another value is identified again
        c.send(4, STORAGE.idOf("read"), ["c", "k"], header(self.token(6)))
        self.assertEqual(c.replies()[0][2][0], [9, 3])
        self.assertEqual(len(self.identified), 2)

    def test_expiryOnTheConnection(self):
        """
        A cached identity is dropped once its token expires.
        """
        c = self.storage()
        token = self.token(5, expiry=150)
        c.send(1, STORAGE.idOf("find"), ["c", []], header(token))
        self.clock.advance(100)
        c.send(2, STORAGE.idOf("find"), ["c", []], header(token))
        replies = c.replies()
        self.assertEqual(replies[0], [1, 0, [[]]])
        self.assertEqual(replies[1][2][0], [9, 2])

    def countRule(self, service, method):
        """
        Count the calls of C{service}'s rule for C{method}, which keeps
        its C{byIdentity}.
        """
        mtype = service.protocol.idOf(method)
        rule = service.rules[mtype]
        calls = []

        def counted(identity, values):
            calls.append(identity)
            return rule(identity, values)
        if getattr(rule, "byIdentity", False):
            counted.byIdentity = True
        service.rules[mtype] = counted
        return calls

    def test_identityRuleRemembered(self):
        """
        A rule that answers by the identity alone (an app's C{enqueue}:
        authenticated) is asked once while the connection's caller stays
        the same, again for another identity, and again once the
        token expired (which refuses).
        """
        service = HostedService("echo", Recorder(APP), APP, 1, self.guard)
        calls = self.countRule(service, "enqueue")
        c = Connection(service)
        alice = self.token(5, expiry=150)
        for channel in (1, 2, 3):
            c.send(channel, APP.idOf("enqueue"), ["ping"], header(alice))
        self.assertEqual([i.uids for i in calls], [(5,)])
        c.send(4, APP.idOf("enqueue"), ["ping"], header(self.token(6)))
        c.send(5, APP.idOf("enqueue"), ["ping"], header(alice))
        self.assertEqual([i.uids for i in calls], [(5,), (6,), (5,)])
        self.assertEqual(c.replies(), [])
        self.clock.advance(100)
        c.send(6, APP.idOf("enqueue"), ["ping"], header(alice))
        self.assertEqual([i.uids for i in calls], [(5,), (6,), (5,), ()])
        self.assertEqual([(r[0], r[2][0]) for r in c.replies()],
                         [(6, [9, 2])])
        self.assertEqual(len(service.impl.calls), 5)

    def test_otherRulesAskedEveryCall(self):
        """
        A rule that reads more than the identity (storage's, by
        collection) is asked on every call.
        """
        service = HostedService("storage", StorageService(self.backend),
                                STORAGE, 1, self.guard)
        calls = self.countRule(service, "read")
        c = Connection(service)
        token = self.token(5)
        for channel in (1, 2, 3):
            c.send(channel, STORAGE.idOf("read"), ["c", "k"], header(token))
        self.assertEqual(len(calls), 3)
        self.assertEqual(len(self.identified), 1)

    def test_byIdentity(self):
        """
        The guard marks the rules that answer by the identity alone: an
        app's C{enqueue} and the public locator methods, not storage's
        nor the event ACLs'.
        """
        app = self.guard.rules("echo", APP)
        self.assertTrue(app[APP.idOf("enqueue")].byIdentity)
        self.assertFalse(getattr(app[APP.idOf("control")], "byIdentity",
                                 False))
        locator = self.guard.rules("locator", LOCATOR)
        self.assertTrue(locator[LOCATOR.idOf("resolve")].byIdentity)
        storage = self.guard.rules("storage", STORAGE)
        self.assertFalse(getattr(storage[STORAGE.idOf("read")],
                                 "byIdentity", False))

    def test_refusedStreamIsDropped(self):
        """
        A refused streaming call answers one error and its later chunks
        are dropped quietly.
        """
        impl = Recorder(APP)
        c = Connection(HostedService("echo", impl, APP, 1, self.guard))
        c.send(1, APP.idOf("enqueue"), ["ping"])
        c.send(1, 0, ["chunk"])
        c.send(1, 2, [])
        replies = c.replies()
        self.assertEqual(len(replies), 1)
        self.assertEqual(replies[0][2][0], [9, 2])
        self.assertEqual(impl.calls, [])
        self.assertTrue(c.open)

    def test_publicLocatorMethodNoHeader(self):
        impl = Recorder(LOCATOR)
        c = Connection(HostedService("locator", impl, LOCATOR, 1,
                                     self.guard))
        c.send(1, LOCATOR.idOf("cluster"), [])
        self.assertEqual(impl.calls, [("cluster",)])
        self.assertEqual(self.identified, [])

    def test_noGuardNoChecks(self):
        c = Connection(HostedService("storage", StorageService(
            self.backend), STORAGE, 1))
        c.send(1, STORAGE.idOf("write"), ["keys", "k", b"v", []])
        self.assertEqual(c.replies(), [[1, 0, []]])

    def test_pendingACLRefusal(self):
        """
        A refusal decided after reading the ACL is still an error
        [0x09, 3].
        """
        self.backend.write(COLLECTION_ACLS, "c",
                           packCollectionACL({}, {6: BOTH}), [])
        reads = []
        read = self.backend.read

        def slowRead(collection, key):
            reads.append(collection)
            return succeed(read(collection, key))
        self.backend.read = slowRead
        c = self.storage()
        c.send(1, STORAGE.idOf("read"), ["c", "k"], header(self.token(5)))
        self.assertEqual(c.replies()[0][2][0], [9, 3])


class AdmitTests(SynchronousTestCase):
    """
    L{Guard.admit}: calls that reach an app in process (the HTTP gateway)
    are checked as its listener would check them.
    """

    def test_admit(self):
        guard, _ = guarded()
        self.assertRaises(Unauthorized, guard.admit, "echo", "app",
                          "enqueue", [])
        self.assertRaises(Unauthorized, guard.admit, "echo", "app",
                          "enqueue", [(b"authorization", b"x")])
        guard.admit("echo", "app", "enqueue", [(b"trace_id", b"1"),
                                               (b"authorization", b"5")])

    def test_httpAnswers(self):
        """
        The gateway answers 401 (with a challenge) and 403.
        """
        from cocaine.http.gateway import answerOf
        code, text, headers = answerOf("echo", "http", Unauthorized(
            "echo.enqueue: authentication required"))
        self.assertEqual((code, headers), (401, [(b"WWW-Authenticate",
                                                  b"Bearer")]))
        self.assertIn("authentication required", text)
        self.assertEqual(answerOf("echo", "http", AccessDenied("no"))[0],
                         403)


class NodeTokenTests(SynchronousTestCase):

    def test_nodeToken(self):
        from cocaine.auth.guard import nodeToken
        clock = Clock()
        clock.advance(50)
        guard = Guard(clock, TokenAuthenticator([SECRET]))
        identity, expiry = verify({keyId(SECRET): SECRET}, nodeToken(guard),
                                  50)
        self.assertTrue(identity.admin)
        self.assertEqual(expiry, 350)
        self.assertIsNone(nodeToken(None))
        self.assertIsNone(nodeToken(Guard(clock, Promiscuous())))


class RefusalLogTests(SynchronousTestCase):

    def test_rateLimited(self):
        from twisted.logger import globalLogPublisher
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        clock = Clock()
        guard = Guard(clock, Promiscuous())
        for _ in range(50):
            guard.refused("storage", "read", "p", ALICE, AccessDenied("x"))
        mine = [e for e in events if "refused to" in e.get("log_format", "")]
        self.assertEqual(len(mine), guard.logRate)
        clock.advance(1)
        guard.refused("storage", "read", "p", ALICE, AccessDenied("x"))
        self.assertIn("30 more", [e for e in events if "refused to" in e.get(
            "log_format", "")][-1]["more"])
