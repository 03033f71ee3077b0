"""
Tests for L{cocaine.cluster.registration}: a node's registration in
unicorn and its lease, on the memory backend and a Clock.
"""

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from cocaine import backoff
from cocaine.cluster.registration import (
    FOLDER, RETRY_MAX, Registration, RegistrationMachine, stopped)
from cocaine.statemachine import initialState
from tests.cluster._unicorns import FlakyUnicorn

ENDPOINTS = [("127.0.0.1", 10053), ("10.0.0.7", 10053)]


class RegistrationTests(SynchronousTestCase):
    def setUp(self):
        # the retries' jitter at its least: their times are exact here
        self.patch(backoff.random, "random", lambda: 0.0)
        self.clock = Clock()
        self.backend = FlakyUnicorn(self.clock)
        self.endpoints = list(ENDPOINTS)
        self.registration = Registration(
            self.clock, self.backend, "node-a", lambda: self.endpoints, 3)
        self.path = FOLDER + "/node-a"

    def value(self):
        return self.successResultOf(self.backend.memory.get(self.path))

    def test_machine(self):
        self.assertEqual(initialState(RegistrationMachine), "idle")
        self.assertEqual(self.registration.state, "idle")

    def test_register(self):
        """
        Starting writes C{/cocaine/discovery/<uuid>} holding the locator's
        endpoints as 0.12 does (C{[[address, port], ...]}), on a lease of
        the configured TTL, kept alive every third of it: it outlives the
        TTL many times over.
        """
        self.registration.machine.start()
        self.assertEqual(self.registration.state, "registered")
        self.assertEqual(self.value(), ([["127.0.0.1", 10053],
                                         ["10.0.0.7", 10053]], 0))
        self.assertEqual(self.registration.keepInterval, 1.0)
        for _ in range(30):
            self.clock.advance(1.0)
        self.assertEqual(self.value()[1], 0)
        self.assertEqual(self.backend.calls.count("keepLease"), 30)
        self.assertEqual(self.registration.stats["registered"], 1)

    def test_deadNodeLeavesWithinTTL(self):
        """
        When the keep-alives stop (the node died) the node is gone once
        the TTL has run.
        """
        self.registration.machine.start()
        # the process dies: its timers with it
        self.clock.calls[0].cancel()
        self.clock.advance(2.9)
        self.assertNotEqual(self.value(), (None, -1))
        self.clock.advance(0.1)
        self.assertEqual(self.value(), (None, -1))

    def test_outageShorterThanTTL(self):
        """
        Keep-alives that get no answer leave the registration as it is
        (logged once); answered again, nothing was lost.
        """
        self.registration.machine.start()
        lease = self.registration.lease
        self.backend.goDown()
        self.clock.advance(1.0)
        self.assertEqual(self.registration.state, "registered")
        self.assertEqual(self.registration.stats["keepFailures"], 1)
        self.assertTrue(self.registration.failing)
        self.backend.comeBack()
        self.clock.advance(1.0)
        self.assertFalse(self.registration.failing)
        self.assertEqual(self.registration.lease, lease)
        self.assertEqual(self.registration.stats["registered"], 1)

    def test_outageLongerThanTTL(self):
        """
        When the engine answers again with the lease gone (it expired
        meanwhile), the node registers again on a new lease.
        """
        self.registration.machine.start()
        lease = self.registration.lease
        self.backend.goDown()
        for _ in range(5):
            self.clock.advance(1.0)
        self.assertEqual(self.value(), (None, -1))
        self.backend.comeBack()
        self.clock.advance(1.0)
        self.assertEqual(self.registration.state, "registered")
        self.assertNotEqual(self.registration.lease, lease)
        self.assertEqual(self.value()[0][0], ["127.0.0.1", 10053])
        self.assertEqual(self.registration.stats,
                         {"registered": 2, "expired": 1,
                          "keepFailures": 5})

    def test_engineLostItsData(self):
        """
        An engine that lost everything (a new one) answers the keep-alive
        with the lease gone: registered again.
        """
        self.registration.machine.start()
        self.backend.wipe()
        self.assertEqual(self.value(), (None, -1))
        self.clock.advance(1.0)
        self.assertEqual(self.registration.state, "registered")
        self.assertEqual(self.value()[1], 0)

    def test_downAtStart(self):
        """
        An engine down at start: retried 0.1 s, doubling to 1 s, until it
        answers.
        """
        self.backend.goDown()
        self.registration.machine.start()
        self.assertEqual(self.registration.state, "waiting")
        delays = []
        for _ in range(6):
            delay = self.clock.getDelayedCalls()[0].getTime() - (
                self.clock.seconds())
            delays.append(round(delay, 3))
            self.clock.advance(delay)
        self.assertEqual(delays, [0.1, 0.2, 0.4, 0.8, RETRY_MAX, RETRY_MAX])
        self.backend.comeBack()
        self.clock.advance(RETRY_MAX)
        self.assertEqual(self.registration.state, "registered")
        self.assertEqual(self.registration.attempts, 0)

    def test_retriesSpread(self):
        """
        Each retry waits up to a tenth longer at random, so nodes that
        lost the engine together do not come back together.
        """
        self.patch(backoff.random, "random", lambda: 1.0)
        self.backend.goDown()
        self.registration.machine.start()
        [call] = self.clock.getDelayedCalls()
        self.assertAlmostEqual(call.getTime() - self.clock.seconds(), 0.11)

    def test_noEndpointsYet(self):
        """
        A locator with no endpoints is not registered: retried.
        """
        self.endpoints = []
        self.registration.machine.start()
        self.assertEqual(self.registration.state, "waiting")
        self.endpoints = list(ENDPOINTS)
        self.clock.advance(0.1)
        self.assertEqual(self.registration.state, "registered")

    def test_earlierRun(self):
        """
        A node left by an earlier run of the same uuid (on a lease that
        has not run out) is replaced by ours.
        """
        old = self.successResultOf(self.backend.memory.grantLease(60))
        self.successResultOf(self.backend.memory.create(
            self.path, [["127.0.0.1", 1]], lease=old))
        self.registration.machine.start()
        self.assertEqual(self.registration.state, "registered")
        self.assertEqual(self.value()[0][0], ["127.0.0.1", 10053])
        # the old lease running out takes nothing of ours
        self.successResultOf(self.backend.memory.revokeLease(old))
        self.assertEqual(self.value()[0][0], ["127.0.0.1", 10053])

    def test_deletedBySomeone(self):
        """
        Told the folder was listed without us, the registration looks; a
        node that is not there is written again on the same lease; one
        that is there is left alone.
        """
        self.registration.machine.start()
        lease = self.registration.lease
        self.registration.machine.check()
        self.assertEqual(self.backend.calls.count("create"), 1)
        self.successResultOf(self.backend.memory.remove(self.path, -1))
        self.registration.machine.check()
        self.assertEqual(self.registration.state, "registered")
        self.assertEqual(self.backend.calls.count("create"), 2)
        self.assertEqual(self.registration.lease, lease)
        self.assertNotEqual(self.value(), (None, -1))

    def test_stop(self):
        """
        Stopping revokes the lease: the node is gone at once, no timer is
        left.
        """
        self.registration.machine.start()
        self.registration.machine.stop()
        self.successResultOf(stopped(self.registration))
        self.assertEqual(self.registration.state, "stopped")
        self.assertEqual(self.value(), (None, -1))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopWhileDown(self):
        """
        Stopping while the engine is down does not fail: the lease runs
        out by itself.
        """
        self.registration.machine.start()
        self.backend.goDown()
        self.registration.machine.stop()
        self.successResultOf(stopped(self.registration))
        self.clock.advance(3.0)
        self.assertEqual(self.value(), (None, -1))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopWhileWaiting(self):
        self.backend.goDown()
        self.registration.machine.start()
        self.registration.machine.stop()
        self.successResultOf(stopped(self.registration))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_lateLease(self):
        """
        A lease granted after the stop is given back.
        """
        granted, revoked = Deferred(), []

        def revoke(lease):
            revoked.append(lease)
            return succeed(None)
        self.backend.grantLease = lambda ttl: granted
        self.backend.revokeLease = revoke
        self.registration.machine.start()
        self.assertEqual(self.registration.state, "granting")
        self.registration.machine.stop()
        granted.callback("late")
        self.assertEqual(revoked, ["late"])
        self.assertEqual(self.registration.state, "stopped")
