"""
Tests for L{cocaine.observers}.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.observers import Observers


class ObserversTests(SynchronousTestCase):

    def test_notifyAndRemove(self):
        seen = []
        observers = Observers("thing")
        remove = observers.add(lambda *args: seen.append(args))
        observers.notify("a", 1)
        remove()
        remove()
        observers.notify("b", 2)
        self.assertEqual(seen, [("a", 1)])
        self.assertEqual(len(observers), 0)

    def test_failureLoggedOthersTold(self):
        seen = []
        observers = Observers("thing")
        observers.add(lambda: 1 / 0)
        observers.add(lambda: seen.append("told"))
        observers.notify()
        self.assertEqual(seen, ["told"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_removeWhileNotifying(self):
        """
        An observer that removes itself while being told does not keep the
        next one from being told.
        """
        seen = []
        observers = Observers("thing")
        removals = []
        removals.append(observers.add(lambda: removals[0]()))
        observers.add(lambda: seen.append("second"))
        observers.notify()
        self.assertEqual(seen, ["second"])
        self.assertEqual(len(observers), 1)
