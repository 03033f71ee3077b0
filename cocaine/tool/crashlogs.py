# -*- test-case-name: tests.tool.test_storage_commands -*-
"""
C{cocaine-tool crashlog ...}: the output of an app's workers that died,
in storage collection C{crashlogs} under C{<microseconds>:<worker uuid>},
tagged with the app's name.
"""

import json

from rich.table import Table

from cocaine.errors import KeyNotFound
from cocaine.protocol.crashlogs import CRASHLOGS, describe, oldestFirst
from cocaine.tool.context import ToolError, plain, text
from cocaine.tool.storage import commandGroup, removeKey


def register(subparsers):
    """
    Add the C{crashlog} commands to the tool's commands.
    """
    commands = commandGroup(
        subparsers, "crashlog", "crashlogs of an app's workers",
        "The output of workers that died, kept in storage collection "
        "crashlogs under <microseconds since the epoch>:<worker uuid>, "
        "tagged with the app's name.")
    p = commands.add_parser("list", help="an app's crashlogs")
    p.add_argument("name", metavar="APP")
    p.set_defaults(func=crashlogList)
    p = commands.add_parser(
        "view", help="one crashlog",
        description="Print a crashlog of APP, given by its key or its "
        "timestamp (microseconds, as crashlog list shows); 'last' is the "
        "newest.")
    p.add_argument("name", metavar="APP")
    p.add_argument("key", metavar="TIMESTAMP-or-KEY")
    p.set_defaults(func=crashlogView)
    p = commands.add_parser("remove", help="remove one crashlog")
    p.add_argument("name", metavar="APP")
    p.add_argument("key", metavar="TIMESTAMP-or-KEY")
    p.set_defaults(func=crashlogRemove)
    p = commands.add_parser("clean", help="remove an app's crashlogs")
    p.add_argument("name", metavar="APP")
    p.add_argument("--keep", type=int, default=0, metavar="N",
                   help="keep the N newest (default: 0)")
    p.set_defaults(func=crashlogClean)


def _crashlogs(ctx, app):
    """
    The app's crashlog keys, oldest first.
    """
    return oldestFirst(ctx.find(CRASHLOGS, [app]))


def _crashlogKey(ctx, app, given):
    keys = _crashlogs(ctx, app)
    if given in keys:
        return given
    if given == "last" and keys:
        return keys[-1]
    matches = [k for k in keys if k.partition(":")[0] == given]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ToolError("timestamp {} names {} crashlogs of {}; give the key"
                        " ({})".format(given, len(matches), app,
                                       ", ".join(matches)))
    raise ToolError("no crashlog {!r} of app {!r}".format(given, app))


def crashlogList(ctx, args):
    """
    C{crashlog list APP}: the app's crashlogs, oldest first.
    """
    keys = _crashlogs(ctx, args.name)
    entries = [describe(key) for key in keys]
    if not entries and not ctx.json:
        ctx.say("no crashlogs of {}".format(args.name))
        return
    # nodes on a shared storage name themselves in their crashlogs' keys
    nodes = any(entry["node"] for entry in entries)
    columns = ["timestamp", "time (UTC)"] + (["node"] if nodes else []) + [
        "worker uuid"]
    table = Table(*columns, title="crashlogs of " + args.name)
    for entry in entries:
        row = [text(entry["timestamp"]), text(entry["time"])]
        if nodes:
            row.append(text(entry["node"] or ""))
        table.add_row(*row, text(entry["uuid"]))
    ctx.emit(entries, table)


def crashlogView(ctx, args):
    """
    C{crashlog view APP KEY}: one crashlog's lines.
    """
    key = _crashlogKey(ctx, args.name, args.key)
    value = plain(ctx.readValue(CRASHLOGS, key, "crashlog"))
    lines = value if isinstance(value, list) else [value]
    lines = [line if isinstance(line, str) else json.dumps(line)
             for line in lines]
    if ctx.json:
        entry = describe(key)
        entry.update({"app": args.name, "lines": lines})
        ctx.emit(entry)
        return
    out = ctx.console.file
    for line in lines:
        out.write(line.rstrip("\n") + "\n")
    out.flush()


def crashlogRemove(ctx, args):
    """
    C{crashlog remove APP KEY}: remove one crashlog.
    """
    key = _crashlogKey(ctx, args.name, args.key)
    removeKey(ctx, CRASHLOGS, key, "crashlog")
    ctx.emit({"app": args.name, "removed": [key]} if ctx.json
             else "crashlog {} of {} removed".format(key, args.name))


def crashlogClean(ctx, args):
    """
    C{crashlog clean APP}: remove the app's crashlogs but the
    C{--keep} newest.
    """
    if args.keep < 0:
        raise ToolError("--keep must be >= 0")
    keys = _crashlogs(ctx, args.name)
    doomed = keys[:len(keys) - args.keep] if args.keep else keys
    removed = []
    for key in doomed:
        try:
            ctx.storage.remove(CRASHLOGS, key)
        except KeyNotFound:
            continue
        removed.append(key)
    ctx.emit({"app": args.name, "removed": removed} if ctx.json
             else "{} crashlog{} of {} removed".format(
                 len(removed), "" if len(removed) == 1 else "s", args.name))
