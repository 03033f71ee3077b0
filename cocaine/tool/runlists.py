# -*- test-case-name: tests.tool.test_storage_commands -*-
"""
C{cocaine-tool runlist ...}: runlists (C{{app: profile}}) in storage
collection C{runlists}; a node starts its runlist's apps when it boots.
"""

from rich.table import Table

from cocaine.errors import KeyNotFound
from cocaine.tool.context import ToolError, plain, text
from cocaine.tool.storage import (
    RUNLIST_TAGS, commandGroup, listNames, removeKey)


def register(subparsers):
    """
    Add the C{runlist} commands to the tool's commands.
    """
    commands = commandGroup(
        subparsers, "runlist", "runlists: the apps a node starts on boot",
        "Runlists ({app: profile}) kept in storage collection runlists; the "
        "node starts its runlist's apps when it boots.")
    p = commands.add_parser("list", help="runlist names")
    p.set_defaults(func=runlistList)
    p = commands.add_parser("view", help="a runlist's apps and profiles")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=runlistView)
    p = commands.add_parser("create", help="an empty runlist")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=runlistCreate)
    p = commands.add_parser(
        "add-app", help="add (or change) an app in a runlist",
        description="Set APP's profile in runlist NAME (created if "
        "missing).")
    p.add_argument("name", metavar="NAME")
    p.add_argument("app", metavar="APP")
    p.add_argument("profile", metavar="PROFILE", nargs="?",
                   default="default")
    p.set_defaults(func=runlistAddApp)
    p = commands.add_parser("remove-app", help="remove an app from a runlist")
    p.add_argument("name", metavar="NAME")
    p.add_argument("app", metavar="APP")
    p.set_defaults(func=runlistRemoveApp)
    p = commands.add_parser("remove", help="remove a runlist")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=runlistRemove)


def _runlist(ctx, name, missingOk=False):
    try:
        value = ctx.readValue("runlists", name, None if missingOk
                              else "runlist")
    except KeyNotFound:
        return {}
    if not isinstance(value, dict):
        raise ToolError("runlist {!r} is not a map".format(name))
    return {plain(k): v for k, v in value.items()}


def runlistList(ctx, args):
    """
    C{runlist list}: the runlists in storage.
    """
    listNames(ctx, "runlists", RUNLIST_TAGS, "runlists")


def runlistView(ctx, args):
    """
    C{runlist view NAME}: a runlist's apps and profiles.
    """
    value = plain(_runlist(ctx, args.name))
    table = Table("app", "profile", title="runlist " + args.name)
    for app, profile in sorted(value.items()):
        table.add_row(text(app), text(profile))
    ctx.emit(value, table)


def runlistCreate(ctx, args):
    """
    C{runlist create NAME}: an empty runlist.
    """
    try:
        ctx.storage.read("runlists", args.name)
    except KeyNotFound:
        pass
    else:
        raise ToolError("runlist {!r} already exists".format(args.name))
    ctx.writeValue("runlists", args.name, {}, RUNLIST_TAGS)
    ctx.emit({"runlist": args.name, "created": True} if ctx.json
             else "runlist {} created".format(args.name))


def runlistAddApp(ctx, args):
    """
    C{runlist add-app NAME APP [PROFILE]}: set an app's profile in a
    runlist.
    """
    value = _runlist(ctx, args.name, missingOk=True)
    value[args.app] = args.profile
    ctx.writeValue("runlists", args.name, value, RUNLIST_TAGS)
    ctx.emit({"runlist": args.name, "app": args.app, "profile": args.profile}
             if ctx.json else "app {} added to runlist {} with profile {}"
             .format(args.app, args.name, args.profile))


def runlistRemoveApp(ctx, args):
    """
    C{runlist remove-app NAME APP}: remove an app from a runlist.
    """
    value = _runlist(ctx, args.name)
    if args.app not in value:
        raise ToolError("app {!r} is not in runlist {!r}".format(
            args.app, args.name))
    del value[args.app]
    ctx.writeValue("runlists", args.name, value, RUNLIST_TAGS)
    ctx.emit({"runlist": args.name, "app": args.app, "removed": True}
             if ctx.json else "app {} removed from runlist {}".format(
                 args.app, args.name))


def runlistRemove(ctx, args):
    """
    C{runlist remove NAME}: remove a runlist.
    """
    removeKey(ctx, "runlists", args.name, "runlist")
    ctx.emit({"runlist": args.name, "removed": True} if ctx.json
             else "runlist {} removed".format(args.name))
