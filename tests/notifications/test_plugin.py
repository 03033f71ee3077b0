"""
Tests for the C{notifications} service plugin's config checks.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import ConfigError
from cocaine.notifications.service import NotificationsService
from cocaine.testing import memoryContext
from services.notifications import notifications


class PluginTests(SynchronousTestCase):

    def bad(self, args, key):
        with self.assertRaises(ConfigError) as e:
            notifications.validate("services.n.args", args, None)
        self.assertEqual(e.exception.path, "services.n.args." + key)
        return e.exception.reason

    def test_valid(self):
        for args in [{}, {"backend": "local", "max-pending": 5},
                     {"backend": "redis", "url": "redis://127.0.0.1:1/0",
                      "prefix": "x:"}]:
            notifications.validate("services.n.args", args, None)

    def test_invalid(self):
        self.bad({"other": 1}, "other")
        self.bad({"backend": "kafka"}, "backend")
        self.assertIn("required", self.bad({"backend": "redis"}, "url"))
        self.bad({"backend": "redis", "url": "http://x"}, "url")
        self.bad({"url": "redis://127.0.0.1/0"}, "url")
        self.bad({"max-pending": 0}, "max-pending")
        self.bad({"max-pending": "5"}, "max-pending")
        self.bad({"backend": "redis", "url": "redis://h/0", "prefix": 1},
                 "prefix")

    def test_makeService(self):
        context = memoryContext()
        local = notifications.makeService(context, "n", {"max-pending": 7})
        self.assertIsInstance(local, NotificationsService)
        self.assertIsNone(local.relay)
        self.assertEqual(local.hub.maxPending, 7)
        remote = notifications.makeService(context, "n", {
            "backend": "redis", "url": "redis://127.0.0.1:1/0",
            "prefix": "p:"})
        self.assertEqual(remote.relay.key("a"), b"p:a")
