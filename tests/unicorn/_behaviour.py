"""
The semantics every unicorn backend shares (ZooKeeper's, as Cocaine 0.12's
unicorn tests list them in cocaine-plugins C{unicorn/test/test.txt}),
mixed into a test case that provides C{self.backend} and C{waitFor}.
"""

from cocaine.errors import (
    ChildNotAllowed, InvalidType, NoNode, NodeExists, UnicornError,
    VersionNotAllowed)


class Recorder:
    """
    A watch's C{update} and C{fail}, recorded.
    """

    def __init__(self):
        self.items = []
        self.errors = []

    def update(self, item):
        self.items.append(item)

    def fail(self, error):
        self.errors.append(error)


class UnicornBehaviour:
    """
    Needs C{self.backend} and C{async waitFor(predicate)}.
    """

    async def assertFails(self, d, cls):
        try:
            result = await d
        except cls as e:
            return e
        self.fail("expected {}, got {!r}".format(cls.__name__, result))

    async def test_getMissing(self):
        """
        A missing node reads as C{(None, -1)}.
        """
        self.assertEqual(await self.backend.get("/missing"), (None, -1))

    async def test_createAndGet(self):
        """
        A created node reads back at version 0, any msgpack value.
        """
        value = {"a": [1, 2.5, "text", None, True], "b": {"c": -3}}
        self.assertEqual(await self.backend.create("/cg", value), "/cg")
        self.assertEqual(await self.backend.get("/cg"), (value, 0))

    async def test_createParents(self):
        """
        Missing parents are created; the parent then has children.
        """
        await self.backend.create("/p/q/r", 7)
        self.assertEqual(await self.backend.get("/p/q/r"), (7, 0))
        await self.assertFails(self.backend.get("/p/q"), ChildNotAllowed)

    async def test_createExisting(self):
        """
        Creating a node that exists is C{node_exists}.
        """
        await self.backend.create("/exists", 1)
        await self.assertFails(self.backend.create("/exists", 2), NodeExists)
        self.assertEqual(await self.backend.get("/exists"), (1, 0))

    async def test_putCompareAndSwap(self):
        """
        The right version writes and bumps it; a wrong one answers false
        with what the node holds.
        """
        await self.backend.create("/cas", "one")
        self.assertEqual(await self.backend.put("/cas", "two", 0),
                         (True, ("two", 1)))
        self.assertEqual(await self.backend.put("/cas", "three", 0),
                         (False, ("two", 1)))
        self.assertEqual(await self.backend.get("/cas"), ("two", 1))

    async def test_putNegativeVersion(self):
        """
        A negative version is C{version_not_allowed}.
        """
        await self.backend.create("/neg", 1)
        await self.assertFails(self.backend.put("/neg", 2, -1),
                               VersionNotAllowed)

    async def test_putMissing(self):
        """
        Put on a missing node is C{no_node}.
        """
        await self.assertFails(self.backend.put("/nothing", 1, 0), NoNode)

    async def test_removeWithVersion(self):
        """
        Remove needs the node's version (or -1 for any).
        """
        await self.backend.create("/rm", 1)
        await self.backend.put("/rm", 2, 0)
        await self.assertFails(self.backend.remove("/rm", 0),
                               VersionNotAllowed)
        self.assertTrue(await self.backend.remove("/rm", 1))
        self.assertEqual(await self.backend.get("/rm"), (None, -1))
        await self.backend.create("/rm", 1)
        self.assertTrue(await self.backend.remove("/rm", -1))

    async def test_removeMissing(self):
        """
        Removing a missing node is C{no_node}.
        """
        await self.assertFails(self.backend.remove("/none", 0), NoNode)

    async def test_removeWithChildren(self):
        """
        A node with children is not removed.
        """
        await self.backend.create("/full/child", 1)
        e = await self.assertFails(self.backend.remove("/full", -1),
                                   UnicornError)
        self.assertEqual(type(e), UnicornError)
        self.assertEqual(await self.backend.get("/full/child"), (1, 0))

    async def test_increment(self):
        """
        Increment creates, adds, and a float wins over an int.
        """
        self.assertEqual(await self.backend.increment("/n", 2), (2, 0))
        self.assertEqual(await self.backend.increment("/n", 3), (5, 1))
        value, version = await self.backend.increment("/n", 0.5)
        self.assertEqual((value, type(value), version), (5.5, float, 2))
        await self.backend.create("/f", 1.5)
        self.assertEqual(await self.backend.increment("/f", 1), (2.5, 1))

    async def test_incrementNotNumbers(self):
        """
        A non-number argument or node is C{invalid_type}.
        """
        await self.assertFails(self.backend.increment("/x", "1"), InvalidType)
        await self.assertFails(self.backend.increment("/x", True),
                               InvalidType)
        await self.backend.create("/s", "text")
        await self.assertFails(self.backend.increment("/s", 1), InvalidType)

    async def test_subscribe(self):
        """
        Subscribe sends the current value, then each change; deletion
        ends it with C{no_node}.
        """
        await self.backend.create("/sub", "a")
        seen = Recorder()
        stop = self.backend.subscribe("/sub", seen.update, seen.fail)
        self.addCleanup(stop)
        await self.waitFor(lambda: seen.items == [("a", 0)])
        await self.backend.put("/sub", "b", 0)
        await self.waitFor(lambda: seen.items[-1:] == [("b", 1)])
        await self.backend.remove("/sub", 1)
        await self.waitFor(lambda: seen.errors)
        self.assertIsInstance(seen.errors[0], NoNode)
        self.assertEqual(seen.items, [("a", 0), ("b", 1)])

    async def test_subscribeMissing(self):
        """
        A missing node is C{(None, -1)} first, then its creation.
        """
        seen = Recorder()
        stop = self.backend.subscribe("/later", seen.update, seen.fail)
        self.addCleanup(stop)
        await self.waitFor(lambda: seen.items == [(None, -1)])
        await self.backend.create("/later", 5)
        await self.waitFor(lambda: seen.items[-1:] == [(5, 0)])
        self.assertEqual(seen.errors, [])

    async def test_subscribeStopped(self):
        """
        A stopped watch hears nothing more.
        """
        await self.backend.create("/quiet", 1)
        seen = Recorder()
        stop = self.backend.subscribe("/quiet", seen.update, seen.fail)
        await self.waitFor(lambda: seen.items == [(1, 0)])
        stop()
        await self.backend.put("/quiet", 2, 0)
        # a later change on another watch arrives after this one would
        other = Recorder()
        stopOther = self.backend.subscribe("/quiet", other.update,
                                           other.fail)
        self.addCleanup(stopOther)
        await self.backend.put("/quiet", 3, 1)
        await self.waitFor(lambda: other.items[-1:] == [(3, 2)])
        self.assertEqual((seen.items, seen.errors), ([(1, 0)], []))

    async def test_childrenSubscribe(self):
        """
        Children are sent now and on each creation and deletion, with a
        child version that grows; deleting the node ends it.
        """
        await self.backend.create("/kids/a", 1)
        seen = Recorder()
        stop = self.backend.childrenSubscribe("/kids", seen.update,
                                              seen.fail)
        self.addCleanup(stop)
        await self.waitFor(lambda: len(seen.items) == 1)
        self.assertEqual(seen.items[0][1], ["a"])
        await self.backend.create("/kids/b", 2)
        await self.waitFor(lambda: seen.items[-1][1] == ["a", "b"])
        # a grandchild is not a child
        await self.backend.create("/kids/b/deep", 3)
        await self.backend.remove("/kids/a", -1)
        await self.waitFor(lambda: seen.items[-1][1] == ["b"])
        versions = [item[0] for item in seen.items]
        self.assertEqual(versions, sorted(set(versions)))
        await self.backend.remove("/kids/b/deep", -1)
        await self.backend.remove("/kids/b", -1)
        await self.waitFor(lambda: seen.items[-1][1] == [])
        await self.backend.remove("/kids", -1)
        await self.waitFor(lambda: seen.errors)
        self.assertIsInstance(seen.errors[0], NoNode)

    async def test_childrenSubscribeMissing(self):
        """
        Children of a missing node: C{no_node}.
        """
        seen = Recorder()
        stop = self.backend.childrenSubscribe("/void", seen.update,
                                              seen.fail)
        self.addCleanup(stop)
        await self.waitFor(lambda: seen.errors)
        self.assertIsInstance(seen.errors[0], NoNode)

    async def test_lock(self):
        """
        One holder at a time, in the order asked; giving it up passes it
        on, and a waiter that gives up is skipped.
        """
        first, second, third = Recorder(), Recorder(), Recorder()
        stopFirst = self.backend.lock("/locks/l", first.update, first.fail)
        self.addCleanup(stopFirst)
        await self.waitFor(lambda: first.items == [True])
        stopSecond = self.backend.lock("/locks/l", second.update,
                                       second.fail)
        self.addCleanup(stopSecond)
        stopThird = self.backend.lock("/locks/l", third.update, third.fail)
        self.addCleanup(stopThird)
        # both wait: their nodes are in the folder behind the holder's
        await self.waitFor(lambda: len(self.children("/locks/l")) == 3)
        self.assertEqual((second.items, third.items), ([], []))
        stopSecond()
        await self.waitFor(lambda: len(self.children("/locks/l")) == 2)
        stopFirst()
        await self.waitFor(lambda: third.items == [True])
        self.assertEqual(second.items, [])
        self.assertEqual([first.errors, second.errors, third.errors],
                         [[], [], []])

    def children(self, path):
        """
        The children of C{path} now, as a list (filled by a watch that is
        kept up to date).
        """
        watches = self.__dict__.setdefault("_childWatches", {})
        watch = watches.get(path)
        if watch is None:
            watch = watches[path] = Recorder()
            self.addCleanup(self.backend.childrenSubscribe(
                path, watch.update, watch.fail))
        return watch.items[-1][1] if watch.items else []

    async def test_leaseOfItsOwn(self):
        """
        A node created on a lease of its own lives while the lease is kept
        alive and goes when it is revoked (watchers see it leave); a lease
        that ended is kept alive for 0 seconds and creates nothing.
        """
        lease = await self.backend.grantLease(30)
        await self.backend.create("/leased/node", ["x", 1], lease=lease)
        self.assertEqual(await self.backend.get("/leased/node"),
                         (["x", 1], 0))
        self.assertGreater(await self.backend.keepLease(lease), 0)
        seen = Recorder()
        self.addCleanup(self.backend.childrenSubscribe(
            "/leased", seen.update, seen.fail))
        await self.waitFor(lambda: seen.items[-1:] and
                           seen.items[-1][1] == ["node"])
        await self.backend.revokeLease(lease)
        self.assertEqual(await self.backend.get("/leased/node"),
                         (None, -1))
        await self.waitFor(lambda: seen.items[-1][1] == [])
        # the parent made on the way is no ephemeral node
        self.assertEqual(await self.backend.get("/leased"), (None, 0))
        self.assertEqual(await self.backend.keepLease(lease), 0)
        await self.backend.revokeLease(lease)
        await self.assertFails(
            self.backend.create("/leased/again", 1, lease=lease),
            UnicornError)
