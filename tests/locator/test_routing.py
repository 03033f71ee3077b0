"""
Tests for L{cocaine.locator.routing}: groups map seeds as Cocaine 0.12
does.

The known answers (points, seeds and members) were computed by a C++
transliteration of 0.12's C{continuum_t} (C{src/service/locator/
routing.cpp} of cocaine-core v0.12.14, its C{std::map}, C{float}
accumulation, C{lround}, C{size_t} step, unions of four C{uint32_t} and
C{std::upper_bound}) built with OpenSSL's MD5 on x86_64; the reference
functions below compute the same from the documented algorithm with
C{hashlib} and C{struct} only.
"""

import hashlib
import math
import random
import struct
from collections import Counter

from twisted.trial.unittest import SynchronousTestCase

from cocaine.locator.routing import (
    HASHES_PER_MEMBER, MAX_WEIGHT, Group, hashCounts, parseGroup, seedPoint)
from cocaine.protocol.framing import packValue, unpackValue

SEEDS = ["user-%d" % i for i in range(3000)]
MANY_SEEDS = ["user-%d" % i for i in range(40000)]

#: The group of most known answers, and its ring's ends.
APP = {"app-v1": 1, "app-v2": 3}
APP_FIRST = [(7112497, "app-v1"), (7142909, "app-v2"), (24969213, "app-v2")]
APP_LAST = [(4247561833, "app-v1"), (4263677776, "app-v2")]
APP_SEEDS = {
    "user-1": (1273501179, "app-v2"), "user-2": (2426978424, "app-v2"),
    "user-3": (3564220158, "app-v2"), "user-4": (2818979820, "app-v2"),
    "user-5": (2677235163, "app-v1"), "user-6": (1099232828, "app-v1"),
    "user-7": (326181786, "app-v2"), "user-8": (1684200494, "app-v2"),
    "alice": (2005837138, "app-v2"), "bob": (2846518315, "app-v2"),
}


def referenceRing(members):
    """
    The ring of a group with small integer weights, straight from the
    documented algorithm.
    """
    total = sum(members.values())
    ring = []
    for name, weight in members.items():
        count = math.floor(weight / total * 64 * len(members) + 0.5)
        for step in range(count):
            data = name.encode("utf-8") + struct.pack("<Q", step)
            for point in struct.unpack("<4I", hashlib.md5(data).digest()):
                ring.append((point, name))
    return sorted(ring)


def referencePoint(seed):
    a, b, c, d = struct.unpack("<4I", hashlib.md5(seed).digest())
    return a ^ b ^ c ^ d


def referencePick(ring, seed):
    point = referencePoint(seed)
    for where, name in ring:
        if where > point:
            return name
    return ring[0][1]


def arcShares(wire):
    """
    Each member's share of the ring, as 0.12's C{cocaine-tool routing}
    computes it from the routing stream.
    """
    shares = Counter()
    previous = wire[-1][0] - 2 ** 32
    for point, name in wire:
        shares[name] += (point - previous) / 2 ** 32
        previous = point
    return shares


class FixedPoints:
    """
    A random generator whose C{getrandbits} gives the points it was given.
    """

    def __init__(self, *points):
        self.points = list(points)

    def getrandbits(self, bits):
        assert bits == 32
        return self.points.pop(0)


class ParseGroupTests(SynchronousTestCase):
    """
    L{parseGroup} builds a L{Group} from a decoded storage value.
    """

    def test_fromStoredValue(self):
        """
        A value packed as the storage layout wants it (names arrive as
        bytes) becomes text member names with their weights; fractions
        are accepted (ours).
        """
        group = parseGroup("g", unpackValue(packValue({"a": 1, "b": 2.5})))
        self.assertEqual(group.name, "g")
        self.assertEqual(group.members, {"a": 1, "b": 2.5})
        group = parseGroup("g", {b"app-v1": 1, b"app-v2": 3})
        self.assertEqual(group.wire(), Group("g", APP).wire())

    def test_notAMap(self):
        """
        A value that is not a map is a L{ValueError} naming the group.
        """
        for value in ([["a", 1]], b"a", 3, None):
            error = self.assertRaises(ValueError, parseGroup, "g", value)
            self.assertIn("'g'", str(error))

    def test_badMembers(self):
        """
        A member name that is not text, or a weight that is not a number
        from 0 to C{2 ** 32 - 1} (0.12 keeps them as C{unsigned int} and
        refuses the group), is a L{ValueError} naming the group.
        """
        self.assertEqual(MAX_WEIGHT, 2 ** 32 - 1)
        for value in ({1: 1}, {"a": "1"}, {"a": None}, {"a": True},
                      {"a": [1]}, {"a": -1, "b": 1}, {"a": 2 ** 32},
                      {"a": math.nan}, {"a": math.inf}, {b"\xff": 1}):
            error = self.assertRaises(ValueError, parseGroup, "g", value)
            self.assertIn("'g'", str(error))

    def test_noWeight(self):
        """
        A group without members or whose weights are all zero is refused,
        as 0.12 refuses it.
        """
        for value in ({}, {"a": 0}, {"a": 0, "b": 0}):
            error = self.assertRaises(ValueError, parseGroup, "g", value)
            self.assertIn("'g'", str(error))
            self.assertIn("positive", str(error))

    def test_zeroWeightCounts(self):
        """
        A member of weight zero stays in the group and gets no point, but
        counts in the number of members: the others get their share of
        C{64} hashes per member, it included.
        """
        group = parseGroup("g", {"a": 1, "b": 0})
        self.assertEqual(group.members, {"a": 1, "b": 0})
        self.assertEqual(hashCounts(group.members), {"a": 128, "b": 0})
        self.assertEqual(Counter(m for _, m in group.ring), {"a": 512})


class RingTests(SynchronousTestCase):
    """
    The ring and the seeded picks are 0.12's.
    """

    def test_matchesReference(self):
        """
        The ring is the documented algorithm's, point for point, and
        seeds map to the members the reference picks.
        """
        for members in (APP, {"a": 1, "b": 1, "c": 1},
                        {"x": 5, "y": 0, "zz": 2},
                        {"echo": 100, "echo-v2": 37, "echo-v3": 1},
                        {"только": 2, "b": 1}):
            group = Group("g", members)
            ring = referenceRing(members)
            self.assertEqual(group.ring, ring)
            self.assertEqual(group.wire(), [[p, m] for p, m in ring])
            for seed in SEEDS[:300]:
                self.assertEqual(group.pick(seed),
                                 referencePick(ring, seed.encode()), seed)

    def test_knownRing(self):
        """
        C{{"app-v1": 1, "app-v2": 3}}: 32 and 96 hashes, 512 points, with
        the ends 0.12 gives; the first hash of C{app-v1} is MD5 of its name
        and eight zero bytes.
        """
        group = Group("g", APP)
        self.assertEqual(HASHES_PER_MEMBER, 64)
        self.assertEqual(hashCounts(APP), {"app-v1": 32, "app-v2": 96})
        self.assertEqual(len(group.ring), 512)
        self.assertEqual(group.ring[:3], APP_FIRST)
        self.assertEqual(group.ring[-2:], APP_LAST)
        self.assertEqual(
            hashlib.md5(b"app-v1" + b"\0" * 8).hexdigest(),
            "f452b3ae3828ee0dc55a7b16c98d5460")
        for point in (2930987764, 233711672, 377182917, 1616154057):
            self.assertIn((point, "app-v1"), group.ring)

    def test_knownSeeds(self):
        """
        Seeds have the points and members 0.12 gives them.
        """
        group = Group("g", APP)
        for seed, (point, member) in APP_SEEDS.items():
            self.assertEqual(seedPoint(seed), point, seed)
            self.assertEqual(group.pick(seed), member, seed)

    def test_seedOnAPoint(self):
        """
        A seed whose point is on the ring goes to the next point's member
        (C{upper_bound}), not to that point's.
        """
        group = Group("g", APP)
        for seed, point, owner, member in (
                ("seed-47371783", 4175498278, "app-v1", "app-v2"),
                ("seed-67913214", 3334225562, "app-v2", "app-v1")):
            self.assertEqual(seedPoint(seed), point)
            self.assertIn((point, owner), group.ring)
            self.assertEqual(group.pick(seed), member)

    def test_wrapsAround(self):
        """
        A seed above the last point goes to the first point's member.
        """
        group = Group("g", APP)
        self.assertEqual(seedPoint("user-506"), 4276536141)
        self.assertGreater(4276536141, APP_LAST[-1][0])
        self.assertEqual(group.pick("user-506"), "app-v1")

    def test_zeroWeightKnownSeeds(self):
        """
        C{{"A": 1, "B": 1, "C": 0}}: 768 points (C{C} counts as a member)
        and the members 0.12 gives.
        """
        group = Group("g", {"A": 1, "B": 1, "C": 0})
        self.assertEqual(len(group.ring), 768)
        self.assertEqual(group.ring[:2], [(434148, "B"), (13990219, "B")])
        self.assertEqual([group.pick("user-%d" % i) for i in range(1, 9)],
                         ["B", "B", "B", "B", "A", "B", "A", "B"])

    def test_halvesRoundUp(self):
        """
        Hash counts round halves up, as C{lround}.
        """
        self.assertEqual(hashCounts({"h": 1, "hh": 255}),
                         {"h": 1, "hh": 128})
        self.assertEqual(hashCounts({"h": 3, "hh": 253}),
                         {"h": 2, "hh": 127})
        self.assertEqual(len(Group("g", {"h": 1, "hh": 255}).ring), 516)

    def test_singlePrecisionTotal(self):
        """
        The total weight is added up in single precision, as 0.12 does
        (C{boost::accumulate} from C{0.0f}); in double precision these
        would get 63 and 31 hashes.
        """
        self.assertEqual(hashCounts({"a": 16646144, "b": 16908289}),
                         {"a": 64, "b": 65})
        self.assertEqual(hashCounts({"a": 8257536, "b": 25296897}),
                         {"a": 32, "b": 97})

    def test_ringOrderedByPoint(self):
        """
        L{Group.wire} is the ring as the C{routing} stream sends it,
        C{[[point, member]]} ordered by point.
        """
        wire = Group("g", APP).wire()
        self.assertEqual(wire, sorted(wire))
        self.assertTrue(all(isinstance(p, int) and 0 <= p < 2 ** 32
                            for p, _ in wire))


class PickTests(SynchronousTestCase):
    """
    L{Group.pick}: by seed, or at a random point without one.
    """

    def test_sharesBySeed(self):
        """
        With weights 1:3, seeds spread 0.25/0.75 (the old ring of ten
        points per weight gave 0.32/0.68).
        """
        group = Group("g", {"a": 1, "b": 3})
        counts = Counter(group.pick(seed) for seed in MANY_SEEDS)
        self.assertLess(abs(counts["a"] / len(MANY_SEEDS) - 0.25), 0.01,
                        counts)
        shares = arcShares(group.wire())
        self.assertLess(abs(shares["a"] - 0.25), 0.005, shares)

    def test_sharesWithoutSeed(self):
        """
        Without a seed, picks follow the ring's arcs (as in 0.12: a random
        point), which are close to the weights: for 1:3, 0.2470/0.7530
        with members C{a} and C{b}, 0.2585/0.7415 with C{app-v1} and
        C{app-v2}.
        """
        for members in ({"a": 1, "b": 3}, {"a": 1, "b": 3, "c": 6}):
            group = Group("g", members)
            shares = arcShares(group.wire())
            rng = random.Random(1234)
            counts = Counter(group.pick(rng=rng) for _ in range(40000))
            for member in members:
                self.assertLess(
                    abs(counts[member] / 40000 - shares[member]), 0.01,
                    (member, counts, shares))
        self.assertAlmostEqual(
            arcShares(Group("g", {"a": 1, "b": 3}).wire())["a"], 0.2470,
            places=4)
        self.assertAlmostEqual(arcShares(Group("g", APP).wire())["app-v1"],
                               0.2585, places=4)

    def test_noSeedIsARandomPoint(self):
        """
        Without a seed the random point is looked up as a seed's is: the
        next point's member, wrapping past the end.
        """
        group = Group("g", APP)
        rng = FixedPoints(7112497, 0, 4263677776, 4247561833, 2 ** 32 - 1)
        self.assertEqual([group.pick(rng=rng) for _ in range(5)],
                         ["app-v2", "app-v1", "app-v1", "app-v2", "app-v1"])

    def test_emptySeedIsNoSeed(self):
        """
        An empty seed is no seed (0.12 picks at random then).
        """
        group = Group("g", APP)
        rng = FixedPoints(0, 7112497, 0, 7112497)
        self.assertEqual(
            [group.pick("", rng), group.pick("", rng), group.pick(b"", rng),
             group.pick(None, rng)],
            ["app-v1", "app-v2", "app-v1", "app-v2"])

    def test_reproducible(self):
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
        instance of the same group listed in another order.
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
        for seed in SEEDS[:100] + ["сид"]:
            self.assertEqual(group.pick(seed), group.pick(seed.encode()))
            self.assertEqual(seedPoint(seed), referencePoint(seed.encode()))
        self.assertEqual(group.pick(42), group.pick("42"))

    def test_removingAMemberMovesOnlyItsSeeds(self):
        """
        With equal weights every member has 64 hashes whatever their
        number, so when one leaves only its seeds move; they spread over
        the others.
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
        When a member joins a group of equal weights, seeds either stay or
        move to it.
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
