"""
Tests for L{cocaine.locator.registry}.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import CATEGORY_DISPATCH, DUPLICATE_SLOT
from cocaine.locator.registry import DuplicateService, Registry

GRAPH = {0: ["read", {}, {0: ["value", {}], 1: ["error", {}]}]}


class RegistryTests(SynchronousTestCase):
    """
    L{Registry} keeps what is published and tells its watchers.
    """

    def setUp(self):
        self.registry = Registry()
        self.changes = []

    def watch(self):
        return self.registry.watch(
            lambda name, entry: self.changes.append((name, entry)))

    def test_publishAndLookup(self):
        """
        A published name resolves to C{(endpoints, version, graph)} with
        every endpoint as a list.
        """
        self.registry.publish("storage", [("127.0.0.1", 1000),
                                          ["::1", 1001]], 1, GRAPH)
        self.assertEqual(self.registry.lookup("storage"),
                         ([["127.0.0.1", 1000], ["::1", 1001]], 1, GRAPH))
        self.assertEqual(self.registry.names(), ["storage"])

    def test_lookupUnknown(self):
        """
        An unknown name looks up as L{None}.
        """
        self.assertIsNone(self.registry.lookup("nope"))

    def test_duplicate(self):
        """
        Publishing a taken name fails with L{DuplicateService}
        (duplicate_slot) naming it, and keeps the first entry.
        """
        self.registry.publish("app", [["h", 1]], 1, {})
        error = self.assertRaises(DuplicateService, self.registry.publish,
                                  "app", [["h", 2]], 1, {})
        self.assertIn("'app'", str(error))
        self.assertEqual((error.category, error.code),
                         (CATEGORY_DISPATCH, DUPLICATE_SLOT))
        self.assertEqual(self.registry.lookup("app"), ([["h", 1]], 1, {}))

    def test_withdraw(self):
        """
        A withdrawn name is gone and may be published again; withdrawing
        an unknown name does nothing.
        """
        self.registry.publish("app", [["h", 1]], 1, {})
        self.registry.withdraw("app")
        self.assertIsNone(self.registry.lookup("app"))
        self.registry.withdraw("app")
        self.registry.withdraw("never")
        self.registry.publish("app", [["h", 2]], 1, {})
        self.assertEqual(self.registry.lookup("app"), ([["h", 2]], 1, {}))

    def test_namesSorted(self):
        """
        L{Registry.names} lists every published name, sorted.
        """
        for name in ("node", "locator", "storage"):
            self.registry.publish(name, [["h", 1]], 1, {})
        self.assertEqual(self.registry.names(),
                         ["locator", "node", "storage"])

    def test_snapshotIsACopy(self):
        """
        Changing the registry later does not change a snapshot taken
        earlier.
        """
        self.registry.publish("a", [["h", 1]], 1, {})
        snapshot = self.registry.snapshot()
        self.registry.publish("b", [["h", 2]], 1, {})
        self.registry.withdraw("a")
        self.assertEqual(snapshot, {"a": ([["h", 1]], 1, {})})

    def test_watch(self):
        """
        Watchers hear every publish with the entry and every withdraw with
        L{None}; a withdraw of an unknown name is not a change.
        """
        self.watch()
        self.registry.publish("a", [["h", 1]], 2, GRAPH)
        self.registry.withdraw("never")
        self.registry.withdraw("a")
        self.assertEqual(self.changes, [("a", ([["h", 1]], 2, GRAPH)),
                                        ("a", None)])

    def test_unwatch(self):
        """
        After the function L{Registry.watch} returned is called, the
        watcher hears nothing more; calling it again is harmless.
        """
        unwatch = self.watch()
        self.registry.publish("a", [["h", 1]], 1, {})
        unwatch()
        unwatch()
        self.registry.publish("b", [["h", 1]], 1, {})
        self.assertEqual([name for name, _ in self.changes], ["a"])
        self.assertEqual(len(self.registry._watchers), 0)

    def test_unwatchDuringNotification(self):
        """
        A watcher may stop watching while being told about a change; the
        others are still told.
        """
        def once(name, entry):
            unwatchOnce()
            self.changes.append(("once", name))
        unwatchOnce = self.registry.watch(once)
        self.watch()
        self.registry.publish("a", [["h", 1]], 1, {})
        self.registry.publish("b", [["h", 1]], 1, {})
        self.assertEqual([c[0] for c in self.changes], ["once", "a", "b"])

    def test_failingWatcher(self):
        """
        A watcher that raises is logged; the others are still told and the
        publish succeeds.
        """
        def broken(name, entry):
            raise ZeroDivisionError()
        self.registry.watch(broken)
        self.watch()
        self.registry.publish("a", [["h", 1]], 1, {})
        self.assertEqual([name for name, _ in self.changes], ["a"])
        self.assertIsNotNone(self.registry.lookup("a"))
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
