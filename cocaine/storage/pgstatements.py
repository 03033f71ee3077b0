# -*- test-case-name: tests.storage.test_pgpipeline -*-
"""
Statements and values as libpq's extended protocol carries them: what
L{cocaine.storage.pgpipeline} sends and reads, without psycopg's cursors.

A statement is written as for psycopg (C{%s} placeholders, a
C{psycopg.sql} composition or a string); L{compileStatement} numbers its
placeholders (C{$1}, C{$2}, ...). Parameters go as text, except bytes,
which go as binary C{bytea}; results come back in binary and are read by
their column's type (L{loadRows}).
"""

import re
import struct

from psycopg import sql

#: type OIDs (pg_type) of what the parameters and results use
BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID, VARCHAR = (
    16, 17, 18, 19, 20, 21, 23, 25, 26, 1043)

_PLACEHOLDER = re.compile(r"%%|%s|%")

_int2, _int4, _int8 = (struct.Struct("!h").unpack, struct.Struct("!i").unpack,
                       struct.Struct("!q").unpack)
_uint4 = struct.Struct("!I").unpack


def compileStatement(statement):
    """
    @param statement: a string or a C{psycopg.sql} composition with C{%s}
        placeholders (C{%%} for a literal C{%}).
    @return: the statement's UTF-8 bytes with the placeholders numbered.
    @raise ValueError: a C{%} that is neither (C{%(name)s}, say).
    """
    if isinstance(statement, sql.Composable):
        statement = statement.as_string(None)
    count = 0

    def number(match):
        nonlocal count
        token = match.group()
        if token == "%%":
            return "%"
        if token == "%":
            raise ValueError("statement {!r}: only %s placeholders are "
                             "supported".format(statement))
        count += 1
        return "${}".format(count)
    return _PLACEHOLDER.sub(number, statement).encode("utf-8")


def arrayLiteral(items):
    """
    @return: the text form of a C{text[]} holding C{items} (strings).
    """
    return "{" + ",".join(
        '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for item in items) + "}"


def encodeParams(params):
    """
    @return: C{(values, types, formats)} for C{send_query_params}: bytes
        as binary C{bytea}, strings, integers, booleans and lists of
        strings (a C{text[]}) as text whose type the server infers, and
        L{None} as NULL.
    @raise TypeError: a value of another type, naming it.
    @raise ValueError: text holding NUL (PostgreSQL text cannot).
    """
    values, types, formats = [], [], []
    for value in params:
        if value is None:
            values.append(None)
            types.append(0)
            formats.append(0)
            continue
        kind = type(value)
        if kind is str:
            if "\0" in value:
                # libpq sends text as a C string: it would end there
                raise ValueError("statement parameter {} holds NUL"
                                 .format(len(values) + 1))
            values.append(value.encode("utf-8"))
            types.append(0)
            formats.append(0)
        elif kind in (bytes, bytearray, memoryview):
            values.append(bytes(value))
            types.append(BYTEA)
            formats.append(1)
        elif kind is bool:
            values.append(b"t" if value else b"f")
            types.append(BOOL)
            formats.append(0)
        elif kind is int:
            values.append(str(value).encode("ascii"))
            types.append(0)
            formats.append(0)
        elif kind in (list, tuple) and all(type(i) is str for i in value):
            if any("\0" in item for item in value):
                raise ValueError("statement parameter {} holds NUL"
                                 .format(len(values) + 1))
            values.append(arrayLiteral(value).encode("utf-8"))
            types.append(0)
            formats.append(0)
        else:
            raise TypeError("a statement parameter must be str, bytes, int, "
                            "bool, None or a list of str, not {}".format(
                                kind.__name__))
    return values, types, formats


def _text(data):
    return data.decode("utf-8")


_LOADERS = {
    BOOL: lambda data: data == b"\x01",
    BYTEA: bytes,
    CHAR: _text,
    NAME: _text,
    TEXT: _text,
    VARCHAR: _text,
    INT2: lambda data: _int2(data)[0],
    INT4: lambda data: _int4(data)[0],
    INT8: lambda data: _int8(data)[0],
    OID: lambda data: _uint4(data)[0],
}


def loadRows(result):
    """
    @param result: a C{psycopg.pq.PGresult} in binary format.
    @return: its rows, a list of tuples.
    """
    fields = range(result.nfields)
    loaders = [(_LOADERS.get(result.ftype(i)), i) for i in fields]
    get = result.get_value
    rows = []
    for row in range(result.ntuples):
        values = []
        for loader, column in loaders:
            data = get(row, column)
            values.append(data if data is None or loader is None
                          else loader(data))
        rows.append(tuple(values))
    return rows
