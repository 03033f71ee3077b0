# -*- test-case-name: tests.tool.test_storage_commands -*-
"""
C{cocaine-tool keys ...}: users' PEM public keys for the signed management
plane, in storage collection C{keys} (key = user, value = the PEM text).
"""

from cocaine.tool.context import ToolError
from cocaine.tool.storage import (
    KEY_TAGS, commandGroup, listNames, readInput, removeKey)


def register(subparsers):
    """
    Add the C{keys} commands to the tool's commands.
    """
    commands = commandGroup(
        subparsers, "keys", "users' public keys for the signed management "
        "plane",
        "PEM public keys of users allowed to sign management requests, kept "
        "in storage collection keys (key = user, value = the PEM text).")
    p = commands.add_parser("list", help="users with a key")
    p.set_defaults(func=keysList)
    p = commands.add_parser("add", help="add or replace a user's key")
    p.add_argument("name", metavar="USER")
    p.add_argument("pem", metavar="PEMFILE")
    p.set_defaults(func=keysAdd)
    p = commands.add_parser("remove", help="remove a user's key")
    p.add_argument("name", metavar="USER")
    p.set_defaults(func=keysRemove)


def keysList(ctx, args):
    """
    C{keys list}: the users with a key.
    """
    listNames(ctx, "keys", KEY_TAGS, "users")


def keysAdd(ctx, args):
    """
    C{keys add USER PEMFILE}: add or replace a user's public key.
    """
    data = readInput(args.pem, "key")
    try:
        pem = data.decode("ascii")
    except UnicodeDecodeError:
        raise ToolError("{} is not a PEM file".format(args.pem))
    if "-----BEGIN " not in pem or "-----END " not in pem:
        raise ToolError("{} is not a PEM file (no -----BEGIN/-----END "
                        "lines)".format(args.pem))
    if "PRIVATE KEY" in pem:
        raise ToolError("{} holds a private key; give the user's public key"
                        .format(args.pem))
    ctx.writeValue("keys", args.name, pem, KEY_TAGS)
    ctx.emit({"user": args.name, "added": True} if ctx.json
             else "key of {} added".format(args.name))


def keysRemove(ctx, args):
    """
    C{keys remove USER}: remove a user's key.
    """
    removeKey(ctx, "keys", args.name, "key of user")
    ctx.emit({"user": args.name, "removed": True} if ctx.json
             else "key of {} removed".format(args.name))
