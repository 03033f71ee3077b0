"""
The etcd unicorn backend against a real etcd (L{tests.integration.etcd}):
the semantics every backend shares, a lock released by its lease when
its holder dies, watches that survive an etcd restart, and errors (not
hangs) while etcd is down.
"""

import os

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from cocaine.errors import ConnectionLoss
from cocaine.unicorn.etcd import EtcdUnicorn
from tests.integration.etcd import Etcd
from tests.integration.node import freePort
from tests.unicorn._behaviour import Recorder, UnicornBehaviour


class _EtcdCase(TestCase):

    timeout = 60

    def setUp(self):
        self.etcd = Etcd(os.path.join(os.path.abspath(self.mktemp()),
                                      "etcd")).start()
        self.addCleanup(self.etcd.stop)
        self.backend = self.makeBackend()

    def makeBackend(self, **kwargs):
        kwargs.setdefault("prefix", "/test")
        backend = EtcdUnicorn(reactor, [self.etcd.url], timeout=2,
                              **kwargs)
        backend.startService()
        self.addCleanup(backend.stopService)
        return backend

    async def waitFor(self, predicate, timeout=10):
        waited = 0.0
        while not predicate():
            if waited > timeout:
                self.fail("condition not reached within {}s".format(
                    timeout))
            await deferLater(reactor, 0.02, lambda: None)
            waited += 0.02


class EtcdBehaviourTests(UnicornBehaviour, _EtcdCase):
    """
    The shared semantics on etcd.
    """


class EtcdOnlyTests(_EtcdCase):

    async def test_prefix(self):
        """
        Nodes live under the prefix: another prefix is another tree.
        """
        await self.backend.create("/same", 1)
        other = self.makeBackend(prefix="/other")
        self.assertEqual(await other.get("/same"), (None, -1))
        await other.create("/same", 2)
        self.assertEqual(await self.backend.get("/same"), (1, 0))

    async def test_lockReleasedByLease(self):
        """
        A lock whose holder dies without giving it up (its keepalives
        stop) passes to the next waiter when the lease expires.
        """
        holder = self.makeBackend(leaseTTL=2)
        first, second = Recorder(), Recorder()
        holder.lock("/dead", first.update, first.fail)
        await self.waitFor(lambda: first.items == [True])
        self.backend.lock("/dead", second.update, second.fail)
        await deferLater(reactor, 0.5, lambda: None)
        self.assertEqual(second.items, [])
        # the holder "dies": its keepalives stop, nothing is deleted
        holder._keepalive.cancel()
        holder._lease = None
        await self.waitFor(lambda: second.items == [True], timeout=15)
        # the dead holder's own watch saw its key vanish
        await self.waitFor(lambda: first.errors)
        self.assertIsInstance(first.errors[0], ConnectionLoss)

    async def test_ephemeral(self):
        """
        An ephemeral node goes with its backend's lease.
        """
        other = self.makeBackend()
        await other.create("/eph/node", "x", ephemeral=True)
        self.assertEqual(await self.backend.get("/eph/node"), ("x", 0))
        await other.stopService()
        self.assertEqual(await self.backend.get("/eph/node"), (None, -1))

    async def test_downIsAnError(self):
        """
        While etcd is down every call fails at once with
        C{connection_loss}, a watch cannot start; then calls work again.
        """
        await self.backend.create("/down", 1)
        self.etcd.stop()
        for call in (lambda: self.backend.get("/down"),
                     lambda: self.backend.put("/down", 2, 0),
                     lambda: self.backend.create("/down2", 1)):
            with self.assertRaises(ConnectionLoss):
                await call()
        seen = Recorder()
        self.backend.subscribe("/down", seen.update, seen.fail)
        await self.waitFor(lambda: seen.errors)
        self.assertIsInstance(seen.errors[0], ConnectionLoss)
        self.etcd.start()
        self.assertEqual(await self.backend.get("/down"), (1, 0))

    async def test_endpoints(self):
        """
        An endpoint that does not answer is skipped for the next one.
        """
        dead = "http://127.0.0.1:{}".format(freePort())
        backend = EtcdUnicorn(reactor, [dead, self.etcd.url], timeout=2)
        self.addCleanup(backend.stopService)
        await backend.create("/both", 1)
        self.assertEqual(await backend.get("/both"), (1, 0))
        self.assertEqual(backend.gateway.endpoints[
            backend.gateway._current], self.etcd.url)

    async def test_watchSurvivesRestart(self):
        """
        A subscription, a children subscription and a held lock outlive an
        etcd restart: what changed meanwhile arrives, then later changes.
        """
        await self.backend.create("/r/value", "before")
        value, children, lock = Recorder(), Recorder(), Recorder()
        self.addCleanup(self.backend.subscribe("/r/value", value.update,
                                               value.fail))
        self.addCleanup(self.backend.childrenSubscribe(
            "/r", children.update, children.fail))
        self.addCleanup(self.backend.lock("/l", lock.update, lock.fail))
        await self.waitFor(lambda: value.items and children.items
                           and lock.items)
        self.etcd.stop()
        await deferLater(reactor, 0.5, lambda: None)
        self.etcd.start()
        writer = self.makeBackend()
        await writer.put("/r/value", "during", 0)
        await self.waitFor(lambda: value.items[-1] == ("during", 1))
        await writer.create("/r/more", 1)
        await self.waitFor(lambda: children.items[-1][1] == [
            "more", "value"])
        await writer.put("/r/value", "after", 1)
        await self.waitFor(lambda: value.items[-1] == ("after", 2))
        self.assertEqual([value.errors, children.errors, lock.errors],
                         [[], [], []])
        self.assertEqual(lock.items, [True])
        # the lock is still held: another comer queues behind it
        other = Recorder()
        stop = writer.lock("/l", other.update, other.fail)
        self.addCleanup(stop)
        # its first reading of the folder is done: one key before its own
        waiting = stop.__self__
        await self.waitFor(lambda: hasattr(waiting, "_before"))
        self.assertEqual((len(waiting._before), other.items), (1, []))
