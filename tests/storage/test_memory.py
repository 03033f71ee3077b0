"""
Tests for L{cocaine.storage.memory}.
"""

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.errors import KeyNotFound
from cocaine.interfaces import IStorageBackend
from cocaine.storage.memory import MemoryStorage
from tests.storage._behaviour import StorageBehaviourMixin


class MemoryStorageTests(StorageBehaviourMixin, SynchronousTestCase):
    """
    The shared backend rules, for L{MemoryStorage}.
    """

    def makeBackend(self):
        return MemoryStorage()

    def test_interface(self):
        """
        L{MemoryStorage} provides L{IStorageBackend}.
        """
        self.assertTrue(verifyObject(IStorageBackend, self.storage))

    def test_resultsAreSynchronous(self):
        """
        Every method answers at once, without a Deferred.
        """
        self.assertIsNone(self.storage.write("c", "k", b"v", ["t"]))
        self.assertEqual(self.storage.read("c", "k"), b"v")
        self.assertEqual(self.storage.find("c", ["t"]), ["k"])
        self.assertIsNone(self.storage.remove("c", "k"))

    def test_storedValueIsACopy(self):
        """
        Changing the buffer that was written does not change the value.
        """
        buffer = bytearray(b"abc")
        self.storage.write("c", "k", buffer, [])
        buffer[0:1] = b"X"
        self.assertEqual(self.storage.read("c", "k"), b"abc")

    def test_instancesAreSeparate(self):
        """
        Two backends share nothing.
        """
        self.storage.write("c", "k", b"v", [])
        self.assertRaises(KeyNotFound, MemoryStorage().read, "c", "k")
