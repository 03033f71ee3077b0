"""
Tests for L{cocaine.locator.routing}.
"""

import random
from collections import Counter

from twisted.trial.unittest import SynchronousTestCase

from cocaine.locator.routing import POINTS_PER_WEIGHT, Group, parseGroup
from cocaine.protocol.framing import packValue, unpackValue

SEEDS = ["user-%d" % i for i in range(3000)]


class ParseGroupTests(SynchronousTestCase):
    """
    L{parseGroup} builds a L{Group} from a decoded storage value.
    """

    def test_fromStoredValue(self):
        """
        A value packed as the storage layout wants it (names arrive as
        bytes) becomes text member names with their weights.
        """
        group = parseGroup("g", unpackValue(packValue({"a": 1, "b": 2.5})))
        self.assertEqual(group.name, "g")
        self.assertEqual(group.members, {"a": 1, "b": 2.5})

    def test_notAMap(self):
        """
        A value that is not a map is a L{ValueError} naming the group.
        """
        for value in ([["a", 1]], b"a", 3, None):
            error = self.assertRaises(ValueError, parseGroup, "g", value)
            self.assertIn("'g'", str(error))

    def test_badMembers(self):
        """
        A member name that is not text or a weight that is not a number
        (booleans included) is a L{ValueError} naming the group.
        """
        for value in ({1: 1}, {"a": "1"}, {"a": None}, {"a": True},
                      {"a": [1]}):
            error = self.assertRaises(ValueError, parseGroup, "g", value)
            self.assertIn("'g'", str(error))

    def test_nonPositiveWeightsDropped(self):
        """
        Members with a zero or negative weight are not in the group.
        """
        group = parseGroup("g", {"a": 0, "b": -1, "c": 1})
        self.assertEqual(group.members, {"c": 1})
        self.assertEqual({member for _, member in group.ring}, {"c"})


class GroupTests(SynchronousTestCase):
    """
    L{Group.pick}: weighted random without a seed, consistent hashing with
    one.
    """

    def test_empty(self):
        """
        An empty group picks nobody.
        """
        for group in (Group("g", {}), Group("g", {"a": 0})):
            self.assertIsNone(group.pick())
            self.assertIsNone(group.pick("seed"))
            self.assertEqual(group.wire(), [])

    def test_ring(self):
        """
        The ring holds C{POINTS_PER_WEIGHT} sorted points per unit of
        weight; L{Group.wire} sends it as C{[[point, member]]}.
        """
        group = Group("g", {"a": 1, "b": 3})
        self.assertEqual(len(group.ring), 4 * POINTS_PER_WEIGHT)
        self.assertEqual(group.ring, sorted(group.ring))
        self.assertEqual(Counter(m for _, m in group.ring),
                         {"a": POINTS_PER_WEIGHT, "b": 3 * POINTS_PER_WEIGHT})
        self.assertEqual(group.wire(), [[p, m] for p, m in group.ring])

    def test_tinyWeight(self):
        """
        A member whose weight is too small for a whole point still gets
        one, so a seeded pick of a non-empty group never fails.
        """
        group = Group("g", {"a": 0.01})
        self.assertEqual(group.pick("seed"), "a")
        self.assertEqual(group.pick(), "a")

    def test_weightedRandom(self):
        """
        Without a seed, picks follow the weights.
        """
        group = Group("g", {"a": 1, "b": 3, "c": 6})
        rng = random.Random(1234)
        counts = Counter(group.pick(rng=rng) for _ in range(20000))
        self.assertEqual(set(counts), {"a", "b", "c"})
        for member, share in (("a", 0.1), ("b", 0.3), ("c", 0.6)):
            self.assertLess(abs(counts[member] / 20000 - share), 0.02,
                            (member, counts))

    def test_weightedRandomReproducible(self):
        """
        The same seeded random generator gives the same picks.
        """
        group = Group("g", {"a": 1, "b": 1})
        first = [group.pick(rng=random.Random(7)) for _ in range(50)]
        second = [group.pick(rng=random.Random(7)) for _ in range(50)]
        self.assertEqual(first, second)

    def test_seedIsStable(self):
        """
        With a seed, the same member is picked every time, also by another
        instance of the same group.
        """
        group = Group("g", {"a": 1, "b": 1, "c": 1})
        again = Group("g", {"c": 1, "b": 1, "a": 1})
        for seed in SEEDS[:200]:
            member = group.pick(seed)
            self.assertEqual([group.pick(seed) for _ in range(3)],
                             [member] * 3)
            self.assertEqual(again.pick(seed), member)

    def test_seedKinds(self):
        """
        A seed may be text, bytes (as it arrives off the wire) or a
        number; text and its UTF-8 bytes are the same seed.
        """
        group = Group("g", {"a": 1, "b": 1, "c": 1, "d": 1})
        for seed in SEEDS[:100]:
            self.assertEqual(group.pick(seed), group.pick(seed.encode()))
        self.assertEqual(group.pick(42), group.pick("42"))

    def test_seedsSpread(self):
        """
        Different seeds spread over the members roughly by weight.
        """
        group = Group("g", {"a": 1, "b": 1, "c": 1})
        counts = Counter(group.pick(seed) for seed in SEEDS)
        self.assertEqual(set(counts), {"a", "b", "c"})
        for member in "abc":
            self.assertGreater(counts[member], len(SEEDS) * 0.2)
        weighted = Counter(Group("g", {"a": 1, "b": 3}).pick(seed)
                           for seed in SEEDS)
        self.assertGreater(weighted["b"], weighted["a"] * 2)

    def test_removingAMemberMovesOnlyItsSeeds(self):
        """
        When a member leaves, only the seeds that were on it move; they
        spread over the others.
        """
        before = Group("g", {"a": 1, "b": 1, "c": 1, "d": 1})
        after = Group("g", {"a": 1, "b": 1, "d": 1})
        moved = Counter()
        for seed in SEEDS:
            old, new = before.pick(seed), after.pick(seed)
            if old != "c":
                self.assertEqual(new, old, seed)
            else:
                moved[new] += 1
        self.assertGreater(sum(moved.values()), 0)
        self.assertGreater(len(moved), 1)

    def test_addingAMemberTakesSeedsOnlyForItself(self):
        """
        When a member joins, seeds either stay or move to it.
        """
        before = Group("g", {"a": 1, "b": 1})
        after = Group("g", {"a": 1, "b": 1, "new": 1})
        moved = 0
        for seed in SEEDS:
            old, new = before.pick(seed), after.pick(seed)
            if new != old:
                self.assertEqual(new, "new")
                moved += 1
        self.assertGreater(moved, len(SEEDS) * 0.15)
