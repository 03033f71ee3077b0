# -*- test-case-name: tests.tool.test_storage_commands -*-
"""
C{cocaine-tool group ...}: the locator's routing groups (C{{service:
weight}}) in storage collection C{groups}, and C{locator.refresh} to make
the locator read them again.
"""

import argparse
import json
import uuid

from rich.table import Table

from cocaine.locator.routing import MAX_WEIGHT, parseGroup
from cocaine.tool.context import ToolError, plain, text
from cocaine.tool.storage import (
    GROUP_TAGS, commandGroup, jsonMap, listNames, removeKey)


def register(subparsers):
    """
    Add the C{group} commands to the tool's commands.
    """
    commands = commandGroup(
        subparsers, "group", "routing groups of the locator",
        "Routing groups ({service: weight}) kept in storage collection "
        "groups. Resolving a group's name at the locator gives one of its "
        "members. The locator reads groups when it starts and on refresh; "
        "create and remove refresh the group unless --no-refresh is given.")
    p = commands.add_parser("list", help="group names")
    p.set_defaults(func=groupList)
    p = commands.add_parser("view", help="a group's members and weights")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=groupView)
    p = commands.add_parser(
        "create", help="create or replace a group",
        description="Write group NAME with MEMBERS, a JSON map {service: "
        "weight} (or @FILE); empty without one.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("members", metavar="MEMBERS", nargs="?", default="{}")
    _noRefresh(p)
    p.set_defaults(func=groupCreate)
    p = commands.add_parser("push", help="add a member to a group")
    p.add_argument("name", metavar="NAME")
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("weight", metavar="WEIGHT", type=_weight, nargs="?",
                   default=1)
    _noRefresh(p)
    p.set_defaults(func=groupPush)
    p = commands.add_parser("pop", help="remove a member from a group")
    p.add_argument("name", metavar="NAME")
    p.add_argument("service", metavar="SERVICE")
    _noRefresh(p)
    p.set_defaults(func=groupPop)
    p = commands.add_parser("remove", help="remove a group")
    p.add_argument("name", metavar="NAME")
    _noRefresh(p)
    p.set_defaults(func=groupRemove)
    p = commands.add_parser(
        "refresh", help="make the locator reread groups",
        description="locator.refresh(NAMES): reread these groups from "
        "storage; without NAME every group in storage and every group the "
        "locator knows.")
    p.add_argument("names", metavar="NAME", nargs="*")
    p.set_defaults(func=groupRefresh)


def _noRefresh(parser):
    parser.add_argument("--no-refresh", dest="refresh", action="store_false",
                        help="only write storage; the locator keeps the "
                        "group as it was until `group refresh`")


def _weight(word):
    try:
        value = json.loads(word)
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            not 0 <= value <= MAX_WEIGHT):
        raise argparse.ArgumentTypeError(
            "must be a number from 0 to {}, got {!r}".format(MAX_WEIGHT,
                                                            word))
    return value


def _checkGroup(name, value):
    # the locator's own check: what it would refuse to load, the tool
    # refuses to write; but a group may be left empty on the way to new
    # members (pop, then push), and resolves to nothing until then
    if not value:
        return
    try:
        parseGroup(name, value)
    except ValueError as e:
        raise ToolError(str(e))


def _group(ctx, name):
    value = ctx.readValue("groups", name, "group")
    if not isinstance(value, dict):
        raise ToolError("group {!r} is not a map".format(name))
    return plain(value)


def _refresh(ctx, names):
    ctx.locator.refresh(list(names))


def groupList(ctx, args):
    """
    C{group list}: the routing groups in storage.
    """
    listNames(ctx, "groups", ["group"], "groups")


def groupView(ctx, args):
    """
    C{group view NAME}: a group's members and weights.
    """
    value = _group(ctx, args.name)
    table = Table("service", "weight", title="group " + args.name)
    for service, weight in sorted(value.items()):
        table.add_row(text(service), text(weight))
    ctx.emit(value, table)


def _writeGroup(ctx, args, value, message):
    _checkGroup(args.name, value)
    ctx.writeValue("groups", args.name, value, GROUP_TAGS)
    if args.refresh:
        _refresh(ctx, [args.name])
    ctx.emit({"group": args.name, "members": value,
              "refreshed": args.refresh} if ctx.json else message)


def groupCreate(ctx, args):
    """
    C{group create NAME [MEMBERS]}: write a group, then refresh it.
    """
    value = jsonMap(args.members, "group members")
    _writeGroup(ctx, args, value, "group {} written ({} member{})".format(
        args.name, len(value), "" if len(value) == 1 else "s"))


def groupPush(ctx, args):
    """
    C{group push NAME SERVICE [WEIGHT]}: add a member.
    """
    value = _group(ctx, args.name)
    value[args.service] = args.weight
    _writeGroup(ctx, args, value, "{} added to group {} with weight {}".format(
        args.service, args.name, args.weight))


def groupPop(ctx, args):
    """
    C{group pop NAME SERVICE}: remove a member.
    """
    value = _group(ctx, args.name)
    if args.service not in value:
        raise ToolError("{!r} is not a member of group {!r}".format(
            args.service, args.name))
    del value[args.service]
    _writeGroup(ctx, args, value, "{} removed from group {}".format(
        args.service, args.name))


def groupRemove(ctx, args):
    """
    C{group remove NAME}: remove a group, then refresh it.
    """
    removeKey(ctx, "groups", args.name, "group")
    if args.refresh:
        _refresh(ctx, [args.name])
    ctx.emit({"group": args.name, "removed": True, "refreshed": args.refresh}
             if ctx.json else "group {} removed".format(args.name))


def _knownGroups(ctx):
    """
    The groups the locator has now: the first table of its routing stream.
    """
    channel = ctx.locator.routing("cocaine-tool-" + uuid.uuid4().hex)
    table = channel.read(timeout=ctx.callTimeout)
    return sorted(plain(table or {}))


def groupRefresh(ctx, args):
    """
    C{group refresh [NAME...]}: C{locator.refresh} of these groups, or
    of every group in storage and known to the locator.
    """
    names = list(args.names)
    if not names:
        names = sorted(set(ctx.find("groups", ["group"]))
                       | set(_knownGroups(ctx)))
    _refresh(ctx, names)
    ctx.emit({"refreshed": names} if ctx.json
             else "refreshed {}".format(", ".join(names) if names
                                         else "no groups (none known)"))
