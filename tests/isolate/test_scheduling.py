"""
Tests for L{cocaine.isolate.scheduling}: the policies a profile may name,
the C{chrt} options of each, and the check that this node may set one.
"""

import errno
import os
import threading

from twisted.trial.unittest import SynchronousTestCase

from cocaine.isolate.scheduling import (
    DEFAULT_POLICY, chrtArguments, policyOf, schedulingAvailable,
    validateScheduling)


class ValidateTests(SynchronousTestCase):

    def test_default(self):
        self.assertEqual(validateScheduling(None), "batch")
        self.assertEqual(DEFAULT_POLICY, "batch")

    def test_known(self):
        for policy in ("batch", "normal"):
            self.assertEqual(validateScheduling(policy), policy)

    def test_unknown(self):
        """
        The error names the value and the policies accepted.
        """
        error = self.assertRaises(ValueError, validateScheduling, "fifo")
        self.assertEqual(str(error), 'scheduling: must be one of "batch", '
                         '"normal", got \'fifo\'')
        self.assertRaises(ValueError, validateScheduling, b"batch")


class ChrtTests(SynchronousTestCase):

    def test_batch(self):
        self.assertEqual(chrtArguments("batch"), ["--batch", "0"])

    def test_normalInherits(self):
        self.assertEqual(chrtArguments("normal"), [])


class AvailableTests(SynchronousTestCase):

    def test_here(self):
        """
        On this machine a child may take C{SCHED_BATCH}; the probe's
        thread does, and this one keeps its policy.
        """
        before = os.sched_getscheduler(0)
        self.assertIsNone(schedulingAvailable())
        self.assertEqual(os.sched_getscheduler(0), before)

    def test_probeInOwnThread(self):
        """
        The policy is set on a thread of its own, to C{SCHED_BATCH}.
        """
        calls = []

        def record(pid, policy, param):
            calls.append((threading.get_ident(), pid, policy,
                          param.sched_priority))
        self.assertIsNone(schedulingAvailable(record))
        [(thread, pid, policy, priority)] = calls
        self.assertNotEqual(thread, threading.get_ident())
        self.assertEqual((pid, policy, priority), (0, os.SCHED_BATCH, 0))

    def test_refused(self):
        """
        A refused call (a seccomp filter's C{EPERM}) is the reason, in
        words.
        """
        def refuse(pid, policy, param):
            raise PermissionError(errno.EPERM, "Operation not permitted")
        self.assertEqual(schedulingAvailable(refuse),
                         "setting the policy failed: Operation not "
                         "permitted")


class PolicyOfTests(SynchronousTestCase):

    def test_named(self):
        """
        A process's policy by the name a profile uses for it.
        """
        expected = {os.SCHED_OTHER: "normal",
                    os.SCHED_BATCH: "batch"}.get(os.sched_getscheduler(0))
        self.assertEqual(policyOf(os.getpid()), expected)

    def test_gone(self):
        self.assertRaises(OSError, policyOf, 2 ** 22 + 1)
