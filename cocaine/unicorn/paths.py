# -*- test-case-name: tests.unicorn.test_paths -*-
"""
Unicorn paths and values, shared by every backend.

A path is ZooKeeper's: C{/a/b/c}, absolute, no empty, C{.} or C{..}
component, no trailing slash. The root C{/} itself is refused, as Cocaine
0.12's service refuses it. A value is any msgpack value; it is stored
msgpack-encoded, with every string that is valid UTF-8 as text (0.12 kept
values in C{dynamic_t}, which has one string type and sends it as text).
"""

import msgpack

from cocaine.errors import InvalidPath, InvalidType, InvalidValue

#: The version of a node that does not exist (0.12's C{not_existing_version}).
NOT_EXISTING = -1


def checkPath(path):
    """
    @return: C{path} when it is a valid node path.
    @raise InvalidPath: naming the path and what is wrong with it.
    """
    if path == "/":
        raise InvalidPath("root path is not allowed")
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidPath("invalid path {!r}: must start with /".format(path))
    if path.endswith("/"):
        raise InvalidPath("invalid path {!r}: must not end with /".format(
            path))
    for name in path[1:].split("/"):
        if name in ("", ".", "..") or "\x00" in name:
            raise InvalidPath("invalid path {!r}: bad component {!r}".format(
                path, name))
    return path


def parent(path):
    """
    @return: the parent of C{path}, or L{None} for a top-level node.
    """
    head = path.rsplit("/", 1)[0]
    return head or None


def ancestors(path):
    """
    @return: every ancestor of C{path} from the top down (C{/a}, C{/a/b}).
    """
    names = path[1:].split("/")[:-1]
    return ["/" + "/".join(names[:i + 1]) for i in range(len(names))]


def name(path):
    """
    @return: the last component of C{path}.
    """
    return path.rsplit("/", 1)[1]


def normalize(value):
    """
    A decoded value with every valid UTF-8 byte string as text (keys too),
    as 0.12's C{dynamic_t} would send it back.
    """
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    if isinstance(value, (list, tuple)):
        return [normalize(item) for item in value]
    if isinstance(value, dict):
        return {normalize(k): normalize(v) for k, v in value.items()}
    return value


def encode(value):
    """
    @return: the msgpack bytes a backend stores for C{value}.
    @raise InvalidValue: a value msgpack cannot carry.
    """
    try:
        return msgpack.packb(normalize(value), use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as e:
        raise InvalidValue("value cannot be stored: {}".format(e))


def decode(data):
    """
    @return: the value stored as C{data}.
    @raise InvalidValue: C{data} is not one msgpack value.
    """
    try:
        return normalize(msgpack.unpackb(data, raw=True,
                                         strict_map_key=False))
    except Exception as e:
        raise InvalidValue("stored value is not msgpack: {}".format(e))


def isNumber(value):
    """
    Whether C{value} can be incremented or increment (booleans cannot).
    """
    return type(value) in (int, float)


def add(current, delta):
    """
    C{increment}'s sum: a float when either is one (0.12: "a double wins").

    @raise InvalidType: either is not a number.
    """
    if not isNumber(delta):
        raise InvalidType("invalid value type for increment")
    if not isNumber(current):
        raise InvalidType("can not increment non-numeric value")
    if isinstance(current, float) or isinstance(delta, float):
        return float(current) + float(delta)
    return current + delta
