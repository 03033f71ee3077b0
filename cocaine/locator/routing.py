# -*- test-case-name: tests.locator.test_routing -*-
"""
Routing groups: a group name stands for weighted members. Without a seed a
member is picked by weighted random; with a seed, by consistent hashing on a
ring of points, so the same seed keeps landing on the same member while
the group stays the same.
"""

import bisect
import hashlib
import random

#: Points on the ring per unit of weight.
POINTS_PER_WEIGHT = 10


def _hash(data):
    return int.from_bytes(hashlib.md5(data).digest()[:4], "big")


def _seedBytes(seed):
    if isinstance(seed, bytes):
        return seed
    return str(seed).encode("utf-8")


class Group:
    """
    One routing group.

    @ivar members: C{{service: weight}} with positive weights.
    @ivar ring: sorted C{[(point, member)]}.
    """

    def __init__(self, name, members):
        self.name = name
        self.members = {m: w for m, w in members.items() if w > 0}
        ring = []
        for member, weight in sorted(self.members.items()):
            for i in range(max(1, int(weight * POINTS_PER_WEIGHT))):
                ring.append((_hash("{}-{}".format(member, i).encode()),
                             member))
        ring.sort()
        self.ring = ring
        self._points = [p for p, _ in ring]

    def pick(self, seed=None, rng=random, available=None):
        """
        @param available: C{available(member)} tells whether a member can
            be chosen (is published); by default every member can.
        @return: a member name, or L{None} when none can be chosen. With a
            seed, the first available member clockwise on the ring from the
            seed's point, so only the seeds of a missing member move.
        """
        names = [n for n in self.members if available is None or
                 available(n)]
        if not names:
            return None
        if seed is None:
            return rng.choices(names, [self.members[n] for n in names])[0]
        index = bisect.bisect_left(self._points, _hash(_seedBytes(seed)))
        ring = self.ring
        for step in range(len(ring)):
            member = ring[(index + step) % len(ring)][1]
            if available is None or available(member):
                return member
        return None

    def wire(self):
        """
        The group as the C{routing} stream sends it: C{[[point, member]]}.
        """
        return [[point, member] for point, member in self.ring]


def parseGroup(name, value):
    """
    Build a L{Group} from a decoded storage value C{{service: weight}}.

    @raise ValueError: when the value is not such a map.
    """
    if not isinstance(value, dict):
        raise ValueError("group {!r} is not a map".format(name))
    members = {}
    for member, weight in value.items():
        if isinstance(member, bytes):
            member = member.decode("utf-8")
        if not isinstance(member, str) or not isinstance(
                weight, (int, float)) or isinstance(weight, bool):
            raise ValueError("group {!r} has a bad member entry".format(name))
        members[member] = weight
    return Group(name, members)
