"""
Tests for L{cocaine.protocol.headers}: the HPACK-style header table.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.protocol.headers import (
    DEFAULT_TABLE_SIZE, HeaderError, HeaderTable, isLiteral)


def entrySize(name, value):
    """
    HPACK's size of one entry.
    """
    return len(name) + len(value) + 32


class StaticTableTests(SynchronousTestCase):
    """
    The static part: HPACK's 61 entries, 18 empty slots, then the tracing
    headers at 80 to 82.
    """

    def setUp(self):
        self.table = HeaderTable()

    def test_first(self):
        """
        Index 1 is HPACK's C{:authority}.
        """
        self.assertEqual(self.table.decode([1]), [(b":authority", b"")])

    def test_hpack(self):
        """
        HPACK's indexes keep their meaning.
        """
        self.assertEqual(
            self.table.decode([2, 3, 8, 16, 23]),
            [(b":method", b"GET"), (b":method", b"POST"),
             (b":status", b"200"), (b"accept-encoding", b"gzip, deflate"),
             (b"authorization", b"")])

    def test_last(self):
        """
        Index 61 is HPACK's last, C{www-authenticate}.
        """
        self.assertEqual(self.table.decode([61]),
                         [(b"www-authenticate", b"")])

    def test_emptySlots(self):
        """
        Indexes 62 to 79 are empty.
        """
        self.assertEqual(self.table.decode(list(range(62, 80))),
                         [(b"", b"")] * 18)

    def test_tracing(self):
        """
        80, 81 and 82 are C{trace_id}, C{span_id} and C{parent_id} with
        eight zero bytes.
        """
        self.assertEqual(self.table.decode([80, 81, 82]),
                         [(b"trace_id", b"\0" * 8), (b"span_id", b"\0" * 8),
                          (b"parent_id", b"\0" * 8)])

    def test_noDynamicYet(self):
        """
        83 is the first dynamic index: an error while the table is empty.
        """
        self.assertRaises(HeaderError, self.table.decode, [83])


class DynamicTableTests(SynchronousTestCase):
    """
    The dynamic part, from 83, newest first.
    """

    def test_newestFirst(self):
        """
        Stored entries are addressed from 83, newest first.
        """
        table = HeaderTable()
        self.assertEqual(
            table.decode([[True, "authorization", "tok"],
                          [True, b"x-a", b"1"]]),
            [(b"authorization", b"tok"), (b"x-a", b"1")])
        self.assertEqual(table.decode([83, 84]),
                         [(b"x-a", b"1"), (b"authorization", b"tok")])
        self.assertRaises(HeaderError, table.decode, [85])

    def test_notStored(self):
        """
        An entry with C{store} false is returned but not added.
        """
        table = HeaderTable()
        self.assertEqual(table.decode([[False, "a", "b"]]), [(b"a", b"b")])
        self.assertRaises(HeaderError, table.decode, [83])

    def test_nameByIndex(self):
        """
        The name may be a static or dynamic index; only the name is reused.
        """
        table = HeaderTable()
        self.assertEqual(table.decode([[True, 23, "Bearer x"]]),
                         [(b"authorization", b"Bearer x")])
        self.assertEqual(table.decode([[False, 83, "Bearer y"]]),
                         [(b"authorization", b"Bearer y")])
        self.assertEqual(table.decode([[True, 80, b"\1" * 8]]),
                         [(b"trace_id", b"\1" * 8)])
        self.assertEqual(table.decode([83, 84]),
                         [(b"trace_id", b"\1" * 8),
                          (b"authorization", b"Bearer x")])

    def test_eviction(self):
        """
        Adding past the size limit evicts the oldest entries.
        """
        size = entrySize(b"a", b"1")
        table = HeaderTable(maxSize=2 * size)
        table.decode([[True, "a", "1"], [True, "b", "2"]])
        self.assertEqual(table.decode([83, 84]),
                         [(b"b", b"2"), (b"a", b"1")])
        table.decode([[True, "c", "3"]])
        self.assertEqual(table.decode([83, 84]),
                         [(b"c", b"3"), (b"b", b"2")])
        self.assertRaises(HeaderError, table.decode, [85])

    def test_evictionBySize(self):
        """
        One large entry may evict several small ones.
        """
        small = entrySize(b"a", b"1")
        table = HeaderTable(maxSize=3 * small)
        table.decode([[True, "a", "1"], [True, "b", "2"], [True, "c", "3"]])
        big = "v" * (2 * small - 32 - 1)
        table.decode([[True, "d", big]])
        self.assertEqual(table.decode([83, 84]),
                         [(b"d", big.encode()), (b"c", b"3")])
        self.assertRaises(HeaderError, table.decode, [85])

    def test_exactFit(self):
        """
        An entry exactly the table's size fits alone.
        """
        table = HeaderTable(maxSize=entrySize(b"n", b"vv"))
        table.decode([[True, "x", "y"], [True, "n", "vv"]])
        self.assertEqual(table.decode([83]), [(b"n", b"vv")])
        self.assertRaises(HeaderError, table.decode, [84])

    def test_tooBig(self):
        """
        An entry bigger than the table empties it and is not stored, but
        is still returned.
        """
        table = HeaderTable(maxSize=100)
        table.decode([[True, "a", "1"]])
        value = "v" * 100
        self.assertEqual(table.decode([[True, "big", value]]),
                         [(b"big", value.encode())])
        self.assertRaises(HeaderError, table.decode, [83])
        table.decode([[True, "a", "2"]])
        self.assertEqual(table.decode([83]), [(b"a", b"2")])

    def test_sizeAccountingAfterEviction(self):
        """
        After evictions the table still holds as much as its size allows.
        """
        size = entrySize(b"a", b"1")
        table = HeaderTable(maxSize=2 * size)
        for name in "abcdefgh":
            table.decode([[True, name, "1"]])
        self.assertEqual(table.decode([83, 84]),
                         [(b"h", b"1"), (b"g", b"1")])
        self.assertRaises(HeaderError, table.decode, [85])

    def test_defaultSize(self):
        """
        The default size is HPACK's 4096.
        """
        self.assertEqual(DEFAULT_TABLE_SIZE, 4096)
        self.assertEqual(HeaderTable().maxSize, 4096)

    def test_perTable(self):
        """
        Each table (connection) has its own dynamic entries.
        """
        one, two = HeaderTable(), HeaderTable()
        one.decode([[True, "a", "1"]])
        self.assertRaises(HeaderError, two.decode, [83])


class LiteralTests(SynchronousTestCase):
    """
    L{isLiteral} tells header lists that decode alone from those that
    depend on or change the table.
    """

    def test_literal(self):
        self.assertTrue(isLiteral([]))
        self.assertTrue(isLiteral([[False, b"authorization", b"t"],
                                   [False, "a", "b"]]))

    def test_notLiteral(self):
        for entries in ([83], [[True, b"a", b"b"]], [[False, 23, b"t"]],
                        [[False, b"a"]], [None]):
            self.assertFalse(isLiteral(entries), entries)


class BadHeaderTests(SynchronousTestCase):
    """
    Entries that do not decode raise L{HeaderError}.
    """

    def test_badIndexes(self):
        """
        Zero, negative, booleans, unknown and non-integer indexes.
        """
        table = HeaderTable()
        for entry in (0, -1, 83, 10 ** 9):
            self.assertRaises(HeaderError, table.decode, [entry])
        for name in (0, -1, 99, True, 1.5):
            self.assertRaises(HeaderError, table.decode,
                              [[True, name, "v"]])

    def test_badEntries(self):
        """
        Entries that are neither an int nor C{[store, name, value]}.
        """
        table = HeaderTable()
        for entry in ({}, "authorization", [True, "a"],
                      [True, "a", "b", "c"], [True, "a", 5],
                      [True, ["a"], "b"], None, True, 1.5):
            self.assertRaises(HeaderError, table.decode, [entry])

    def test_notAList(self):
        """
        Headers that are not an array.
        """
        for headers in ({}, "x", 5, None):
            self.assertRaises(HeaderError, HeaderTable().decode, headers)

    def test_earlierEntriesKept(self):
        """
        Entries before a bad one have already updated the table, as in
        HPACK.
        """
        table = HeaderTable()
        self.assertRaises(HeaderError, table.decode,
                          [[True, "a", "1"], 999])
        self.assertEqual(table.decode([83]), [(b"a", b"1")])
