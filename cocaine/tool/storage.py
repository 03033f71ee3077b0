# -*- test-case-name: tests.tool.test_storage_commands -*-
"""
What the commands over the node's storage share (C{profile}, C{runlist},
C{group}, C{crashlog}, C{keys}), in the layout of PROTOCOL.md section 7:

| collection | key | value (msgpack) | tags |
|---|---|---|---|
| profiles | profile | profile map | profile |
| runlists | runlist | {app: profile} | runlist |
| groups | group | {service: weight} | group, active |
| crashlogs | <microseconds>:<worker uuid> | list of output lines | app |
| keys | user | PEM text | key |
"""

import json
import sys

from rich.json import JSON
from rich.table import Table

from cocaine.errors import KeyNotFound
from cocaine.tool.context import ToolError, plain, text

PROFILE_TAGS = ["profile"]
RUNLIST_TAGS = ["runlist"]
GROUP_TAGS = ["group", "active"]
KEY_TAGS = ["key"]


def commandGroup(subparsers, name, help, description):
    """
    Add command C{name} with subcommands of its own.

    @return: the subparsers to add them to.
    """
    parser = subparsers.add_parser(name, help=help, description=description)
    return parser.add_subparsers(title=name + " commands", dest="_" + name,
                                 metavar="COMMAND")


def jsonMap(word, what):
    """
    A JSON map given as text, C{@FILE} or C{@-} (standard input).
    """
    if word.startswith("@"):
        data = readInput(word[1:], what)
    else:
        data = word
    try:
        value = json.loads(data)
    except ValueError as e:
        raise ToolError("{} is not JSON: {}".format(what, e))
    if not isinstance(value, dict):
        raise ToolError("{} must be a JSON map".format(what))
    return value


def readInput(path, what):
    """
    The bytes of file C{path}; C{-} reads standard input.

    @param what: how to name the file in an error.
    @raise ToolError: it cannot be read.
    """
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ToolError("cannot read {} {}: {}".format(
            what, path, e.strerror or e))


def removeKey(ctx, collection, key, what):
    """
    Remove C{collection/key} from storage.

    @param what: how to name a missing key (C{"profile"}).
    @raise ToolError: there is no such key.
    """
    try:
        ctx.storage.remove(collection, key)
    except KeyNotFound:
        raise ToolError("no {} {!r} in storage ({}/{})".format(
            what, key, collection, key))


def listNames(ctx, collection, tags, title):
    """
    Print the keys of C{collection} carrying every tag, as a table titled
    C{title} (or C{no TITLE}).
    """
    names = ctx.find(collection, tags)
    if ctx.json:
        ctx.emit(names)
    elif not names:
        ctx.say("no {}".format(title))
    else:
        table = Table(title.rstrip("s") if title.endswith("s") else title)
        for name in names:
            table.add_row(text(name))
        ctx.emit(names, table)


def showMap(ctx, value):
    """
    Print a map from storage as JSON.
    """
    value = plain(value)
    ctx.emit(value, JSON.from_data(value))
