"""
Tests for L{cocaine.runtime.AuthService}: protected by default.
"""

import dataclasses

from twisted.internet.task import Clock
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from cocaine.auth.acl import EventACLs
from cocaine.auth.authenticators import Promiscuous
from cocaine.auth.guard import Guard
from cocaine.config import parse
from cocaine.errors import StartupError
from cocaine.runtime import AuthService
from cocaine.storage.memory import MemoryStorage


class ProtectedTests(SynchronousTestCase):

    def setUp(self):
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver,
                        self.events.append)

    def config(self, bind, **extra):
        return parse(dict({"network": {"bind": bind}}, **extra))

    def warnings(self):
        return [e for e in self.events
                if e.get("log_level") == LogLevel.warn]

    def test_loopbackWithoutAuth(self):
        for bind in ("127.0.0.1", "127.0.0.2", "::1"):
            service = AuthService(self.config(bind), None)
            service.startService()
            self.assertTrue(service.running)
        self.assertEqual(self.warnings(), [])

    def test_beyondLoopbackRefused(self):
        for bind in ("0.0.0.0", "10.0.0.1", "::"):
            service = AuthService(self.config(bind), None)
            e = self.assertRaises(StartupError, service.startService)
            self.assertIn("network.bind is " + bind, str(e))
            self.assertIn("\"insecure\": true", str(e))
            self.assertFalse(service.running)

    def test_refusalNamesFile(self):
        """
        The refusal is of the config: it names the file it came from, the
        way a refusal of a parsed value does; one from no file names none.
        """
        config = dataclasses.replace(self.config("0.0.0.0"),
                                     source="/etc/cocaine.json")
        e = self.assertRaises(StartupError,
                              AuthService(config, None).startService)
        self.assertTrue(str(e).startswith("network.bind is 0.0.0.0 "), e)
        self.assertTrue(str(e).endswith(
            "\"insecure\": true (in /etc/cocaine.json)"), e)
        e = self.assertRaises(StartupError, AuthService(
            self.config("0.0.0.0"), None).startService)
        self.assertNotIn("(in ", str(e))

    def test_insecureWarns(self):
        service = AuthService(self.config("0.0.0.0", insecure=True), None)
        service.startService()
        self.assertTrue(service.running)
        [warning] = self.warnings()
        self.assertIn("INSECURE", warning["log_format"])

    def test_authBeyondLoopback(self):
        clock = Clock()
        events = EventACLs(clock, MemoryStorage())
        guard = Guard(clock, Promiscuous(), events)
        service = AuthService(self.config("0.0.0.0"), guard)
        self.successResultOf(service.startService())
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        service.stopService()
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(self.warnings(), [])
