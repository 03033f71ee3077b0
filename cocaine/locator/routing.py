# -*- test-case-name: tests.locator.test_routing -*-
"""
Routing groups: a group name stands for weighted members, mapped exactly
as Cocaine 0.12 maps them (its ketama continuum, C{continuum_t} in
C{src/service/locator/routing.cpp}), so a seed lands on the same member
as on a 0.12 node and the routing stream sends the same ring.

The ring (facts of 0.12 on x86_64, little-endian):

  - C{n} is the number of members (zero weights included) and C{total}
    the sum of the weights, added up in single precision in the order of
    the members' names (bytes);
  - member C{m} of weight C{w} gets C{lround(w / total * 64 * n)} hashes:
    step C{s} hashes C{MD5(name + s)}, C{s} as an 8-byte little-endian
    unsigned integer (C{size_t}) right after the name's UTF-8 bytes;
  - each 16-byte hash gives four points, its four little-endian uint32;
  - the points are sorted (ties by member name; 0.12 leaves their order
    unspecified).

A seed's point is the XOR of the four little-endian uint32 of the MD5 of
its bytes; without a seed (or with an empty one) the point is a uniformly
random uint32. The member is the one of the first point above it (or the
first point, past the end of the ring). So without a seed members are
picked in proportion to the arcs of the ring they own, which is close to
the weights.
"""

import hashlib
import math
import random
import struct
import sys
from bisect import bisect_right

#: The largest weight (0.12 keeps weights as C{unsigned int}).
MAX_WEIGHT = 2 ** 32 - 1

#: Hashes (four points each) per member of a group whose members all
#: weigh the same.
HASHES_PER_MEMBER = 64

_QUAD = struct.Struct("<4I")
_STEP = struct.Struct("<Q")
_SINGLE = struct.Struct("<f")


def _single(number):
    """
    C{number} rounded to single precision, as a C{float} holds it.
    """
    return _SINGLE.unpack(_SINGLE.pack(number))[0]


def _lround(number):
    """
    C's C{lround} of a non-negative double: halves round up.
    """
    whole = math.floor(number)
    return int(whole) + (1 if number - whole >= 0.5 else 0)


def _key(seed):
    if isinstance(seed, bytes):
        return seed
    return str(seed).encode("utf-8")


def seedPoint(seed):
    """
    The point of C{seed} on the ring.

    @param seed: text (hashed as UTF-8), bytes, or anything else (hashed
        as the UTF-8 of its C{str}).
    @return: the XOR of the four little-endian uint32 of its MD5.
    """
    a, b, c, d = _QUAD.unpack(hashlib.md5(_key(seed)).digest())
    return a ^ b ^ c ^ d


def hashCounts(members):
    """
    How many hashes each member puts on the ring.

    @param members: C{{name: weight}}, weights non-negative.
    @return: C{{name: count}}, every member included.
    @raise ValueError: when the group is empty or its weights add up to
        nothing.
    """
    total = 0.0
    for name in sorted(members):
        total = _single(total + _single(members[name]))
    if not members or total < sys.float_info.epsilon:
        raise ValueError("the total weight of a routing group must be "
                         "positive")
    scale = float(HASHES_PER_MEMBER * len(members))
    return {name: _lround(weight / total * scale)
            for name, weight in members.items()}


def _checkWeight(name, member, weight):
    if (isinstance(weight, bool) or not isinstance(weight, (int, float))
            or not 0 <= weight <= MAX_WEIGHT):
        raise ValueError("group {!r}: member {!r} has weight {!r}, not a "
                         "number from 0 to {}".format(
                             name, member, weight, MAX_WEIGHT))


class Group:
    """
    One routing group.

    @ivar members: C{{service: weight}} as stored, zero weights included
        (they get no points but count in the number of members, as in
        0.12).
    @ivar ring: sorted C{[(point, member)]}.
    """

    def __init__(self, name, members):
        """
        @param members: C{{service: weight}}, service names as text.
        @raise ValueError: a weight is not a number from 0 to
            L{MAX_WEIGHT}, or none is positive (0.12 refuses those groups).
        """
        for member, weight in members.items():
            _checkWeight(name, member, weight)
        try:
            counts = hashCounts(members)
        except ValueError as e:
            raise ValueError("group {!r}: {}".format(name, e))
        self.name = name
        self.members = dict(members)
        ring = []
        for member, count in counts.items():
            prefix = member.encode("utf-8")
            for step in range(count):
                digest = hashlib.md5(prefix + _STEP.pack(step)).digest()
                ring.extend((point, member) for point in _QUAD.unpack(digest))
        ring.sort()
        self.ring = ring
        self._points = [point for point, _ in ring]

    def _at(self, point):
        index = bisect_right(self._points, point)
        return self.ring[index if index < len(self.ring) else 0][1]

    def pick(self, seed=None, rng=random):
        """
        The member that answers for the group, whether it is published or
        not (0.12 resolves it and fails when it is not).

        @param seed: the routing seed; L{None} or empty for none.
        @param rng: gives the random point without a seed
            (C{getrandbits(32)}).
        @return: a member name.
        """
        if seed is None:
            return self._at(rng.getrandbits(32))
        key = _key(seed)
        if not key:
            return self._at(rng.getrandbits(32))
        return self._at(seedPoint(key))

    def wire(self):
        """
        The group as the C{routing} stream sends it: C{[[point, member]]},
        ordered by point.
        """
        return [[point, member] for point, member in self.ring]


def parseGroup(name, value):
    """
    Build a L{Group} from a decoded storage value C{{service: weight}}.

    Weights are the integers from 0 to L{MAX_WEIGHT} 0.12 stores;
    fractions in that range are accepted too (ours: 0.12 refuses to load
    such a group).

    @raise ValueError: when the value is not such a map, a name is not
        text or L{Group} refuses the weights.
    """
    if not isinstance(value, dict):
        raise ValueError("group {!r} is not a map".format(name))
    members = {}
    for member, weight in value.items():
        if isinstance(member, bytes):
            try:
                member = member.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("group {!r} has a member name {!r} that is "
                                 "not UTF-8".format(name, member))
        if not isinstance(member, str):
            raise ValueError("group {!r} has a member name {!r} that is not "
                             "text".format(name, member))
        members[member] = weight
    return Group(name, members)
