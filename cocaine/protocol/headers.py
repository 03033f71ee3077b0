# -*- test-case-name: tests.protocol.test_headers -*-
"""
Message headers: the HPACK-style table kept per connection.

A header entry on the wire is either an int (an index into the table) or
C{[store, name, value]} where C{name} is a string or an int index whose name
is reused. Cocaine's static table is HPACK's 61 entries, 18 empty slots, then
C{trace_id}, C{span_id} and C{parent_id} (80-82); the dynamic table follows
from 83, newest first, bounded in size like HPACK's (name + value + 32 bytes
per entry; an entry larger than the table empties it).
"""

_STATIC = (
    (":authority", ""), (":method", "GET"), (":method", "POST"),
    (":path", "/"), (":path", "/index.html"), (":scheme", "http"),
    (":scheme", "https"), (":status", "200"), (":status", "204"),
    (":status", "206"), (":status", "304"), (":status", "400"),
    (":status", "404"), (":status", "500"), ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"), ("accept-language", ""),
    ("accept-ranges", ""), ("accept", ""),
    ("access-control-allow-origin", ""), ("age", ""), ("allow", ""),
    ("authorization", ""), ("cache-control", ""),
    ("content-disposition", ""), ("content-encoding", ""),
    ("content-language", ""), ("content-length", ""),
    ("content-location", ""), ("content-range", ""), ("content-type", ""),
    ("cookie", ""), ("date", ""), ("etag", ""), ("expect", ""),
    ("expires", ""), ("from", ""), ("host", ""), ("if-match", ""),
    ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""),
    ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""),
    ("location", ""), ("max-forwards", ""), ("proxy-authenticate", ""),
    ("proxy-authorization", ""), ("range", ""), ("referer", ""),
    ("refresh", ""), ("retry-after", ""), ("server", ""),
    ("set-cookie", ""), ("strict-transport-security", ""),
    ("transfer-encoding", ""), ("user-agent", ""), ("vary", ""),
    ("via", ""), ("www-authenticate", ""),
) + (("", ""),) * 18 + (
    ("trace_id", "\0" * 8), ("span_id", "\0" * 8), ("parent_id", "\0" * 8),
)
_STATIC_BYTES = tuple((n.encode(), v.encode()) for n, v in _STATIC)

#: HPACK's default dynamic table size.
DEFAULT_TABLE_SIZE = 4096


def isLiteral(entries):
    """
    Whether a header list is literal entries only, neither stored in the
    table nor naming one of its entries: it decodes to the same whatever
    the table holds, and changes nothing in it.
    """
    for entry in entries:
        if (type(entry) is not list or len(entry) != 3 or entry[0]
                or type(entry[1]) is int):
            return False
    return True


class HeaderError(Exception):
    """
    A header entry that does not decode; the message's headers are dropped.
    """


class HeaderTable:
    """
    The decoding side of one connection's header table.
    """

    __slots__ = ("_dynamic", "_size", "maxSize")

    def __init__(self, maxSize=DEFAULT_TABLE_SIZE):
        self._dynamic = []
        self._size = 0
        self.maxSize = maxSize

    def _lookup(self, index):
        if type(index) is not int or index < 1:
            raise HeaderError("bad header index {!r}".format(index))
        if index <= len(_STATIC_BYTES):
            return _STATIC_BYTES[index - 1]
        position = index - len(_STATIC_BYTES) - 1
        if position >= len(self._dynamic):
            raise HeaderError("header index {} not in table".format(index))
        return self._dynamic[position]

    def _store(self, name, value):
        size = len(name) + len(value) + 32
        if size > self.maxSize:
            self._dynamic = []
            self._size = 0
            return
        self._dynamic.insert(0, (name, value))
        self._size += size
        while self._size > self.maxSize and self._dynamic:
            oldName, oldValue = self._dynamic.pop()
            self._size -= len(oldName) + len(oldValue) + 32

    def decode(self, entries):
        """
        Decode one message's header list, updating the table.

        @return: a list of C{(name, value)} byte pairs.
        @raise HeaderError: on an entry that does not decode; entries
            before it have already updated the table, as in HPACK.
        """
        if type(entries) is not list:
            raise HeaderError("headers must be an array")
        result = []
        for entry in entries:
            if type(entry) is int:
                result.append(self._lookup(entry))
                continue
            if type(entry) is not list or len(entry) != 3:
                raise HeaderError("bad header entry {!r}".format(entry))
            store, name, value = entry
            if type(name) is int:
                name = self._lookup(name)[0]
            if isinstance(name, str):
                name = name.encode("utf-8")
            if isinstance(value, str):
                value = value.encode("utf-8")
            if not isinstance(name, bytes) or not isinstance(value, bytes):
                raise HeaderError("bad header entry {!r}".format(entry))
            if store:
                self._store(name, value)
            result.append((name, value))
        return result
