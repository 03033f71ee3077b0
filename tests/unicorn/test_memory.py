"""
Tests for L{cocaine.unicorn.memory}: the shared semantics, plus what only
the memory backend promises (ZooKeeper's exact child versions and
sequential names).
"""

from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from cocaine.interfaces import IUnicornBackend
from cocaine.unicorn.memory import MemoryUnicorn
from tests.unicorn._behaviour import Recorder, UnicornBehaviour


class MemoryUnicornTests(UnicornBehaviour, TestCase):

    def setUp(self):
        self.backend = MemoryUnicorn()

    async def waitFor(self, predicate):
        # every watch of the memory backend is called synchronously
        self.assertTrue(predicate())

    def test_interface(self):
        """
        It provides L{IUnicornBackend}.
        """
        self.assertTrue(verifyObject(IUnicornBackend, self.backend))

    async def test_childVersion(self):
        """
        The child version counts children created and deleted.
        """
        seen = Recorder()
        await self.backend.create("/cv", None)
        self.backend.childrenSubscribe("/cv", seen.update, seen.fail)
        await self.backend.create("/cv/a", 1)
        await self.backend.remove("/cv/a", 0)
        self.assertEqual(seen.items, [(0, []), (1, ["a"]), (2, [])])

    async def test_sequentialNames(self):
        """
        Sequential nodes get ZooKeeper's 10-digit counter, per parent.
        """
        self.assertEqual(
            await self.backend.create("/q/n", 1, sequence=True),
            "/q/n0000000000")
        self.assertEqual(
            await self.backend.create("/q/n", 1, sequence=True),
            "/q/n0000000001")
        seen = Recorder()
        self.backend.lock("/q", seen.update, seen.fail)
        self.assertEqual(self.children("/q"), [
            "lock0000000002", "n0000000000", "n0000000001"])


class MemoryLeaseTests(TestCase):
    """
    Leases of their own expire on the backend's clock.
    """

    async def test_expiresUnlessKept(self):
        from twisted.internet.task import Clock
        clock = Clock()
        backend = MemoryUnicorn(clock)
        lease = await backend.grantLease(3)
        await backend.create("/d/n", 1, lease=lease)
        clock.advance(2)
        self.assertEqual(await backend.keepLease(lease), 3)
        clock.advance(2.5)
        self.assertEqual(await backend.get("/d/n"), (1, 0))
        clock.advance(0.5)
        self.assertEqual(await backend.get("/d/n"), (None, -1))
        self.assertEqual(await backend.keepLease(lease), 0)

    async def test_noClockNoExpiry(self):
        backend = MemoryUnicorn()
        lease = await backend.grantLease(1)
        await backend.create("/d/n", 1, lease=lease)
        self.assertEqual(await backend.keepLease(lease), 1)
        self.assertEqual(await backend.get("/d/n"), (1, 0))
