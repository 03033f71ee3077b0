# -*- test-case-name: tests.tool.test_storage_commands -*-
"""
C{cocaine-tool profile ...}: app profiles (pool-limit, queue-limit,
timeouts, isolate...) in storage collection C{profiles}, checked as the
node checks them before they are written; C{profile edit} opens one in
C{$VISUAL} or C{$EDITOR}.
"""

import json
import os
import shlex
import subprocess
import tempfile

from cocaine.tool.context import ToolError, plain
from cocaine.tool.storage import (
    PROFILE_TAGS, commandGroup, listNames, readInput, removeKey, showMap)


def register(subparsers):
    """
    Add the C{profile} commands to the tool's commands.
    """
    commands = commandGroup(
        subparsers, "profile", "app profiles in storage",
        "Profiles (pool-limit, queue-limit, timeouts, isolate...) kept in "
        "storage collection profiles.")
    p = commands.add_parser("list", help="profile names")
    p.set_defaults(func=profileList)
    p = commands.add_parser("view", help="a profile")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=profileView)
    p = commands.add_parser(
        "upload", help="write a profile from a JSON file",
        description="Write profile NAME from FILE (a JSON map; - reads "
        "standard input), checked first as the node would check it.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=profileUpload)
    p = commands.add_parser(
        "edit", help="edit a profile in $EDITOR",
        description="Open the profile as JSON in $VISUAL or $EDITOR (else "
        "vi) and write it back when it changed and is valid.")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=profileEdit)
    p = commands.add_parser("remove", help="remove a profile")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=profileRemove)


def _checkProfile(name, value):
    from cocaine.engine.manifest import parseProfile
    parseProfile(value, name)


def profileList(ctx, args):
    """
    C{profile list}: the profiles in storage.
    """
    listNames(ctx, "profiles", PROFILE_TAGS, "profiles")


def profileView(ctx, args):
    """
    C{profile view NAME}: a profile.
    """
    showMap(ctx, ctx.readValue("profiles", args.name, "profile"))


def profileUpload(ctx, args):
    """
    C{profile upload NAME FILE}: write a profile from JSON, checked as
    the node checks it.
    """
    data = readInput(args.file, "profile")
    try:
        value = json.loads(data)
    except ValueError as e:
        raise ToolError("profile {} is not JSON: {}".format(args.file, e))
    if not isinstance(value, dict):
        raise ToolError("profile {} must be a JSON map".format(args.file))
    _checkProfile(args.name, value)
    ctx.writeValue("profiles", args.name, value, PROFILE_TAGS)
    ctx.emit({"profile": args.name, "value": value} if ctx.json
             else "profile {} uploaded".format(args.name))


def _editor():
    for variable in ("VISUAL", "EDITOR"):
        value = os.environ.get(variable)
        if value:
            return shlex.split(value)
    return ["vi"]


def profileEdit(ctx, args):
    """
    C{profile edit NAME}: edit a profile in C{$VISUAL} or C{$EDITOR};
    written back when it changed and is valid.
    """
    name = args.name
    value = plain(ctx.readValue("profiles", name, "profile"))
    before = json.dumps(value, indent=4, sort_keys=True) + "\n"
    fd, path = tempfile.mkstemp(prefix="cocaine-profile-{}-".format(
        name.replace(os.sep, "_")), suffix=".json")
    keep = False
    try:
        with os.fdopen(fd, "w") as f:
            f.write(before)
        command = _editor() + [path]
        try:
            status = subprocess.call(command)
        except OSError as e:
            raise ToolError("cannot run the editor {}: {}".format(
                command[0], e.strerror or e))
        if status != 0:
            raise ToolError("the editor {} exited with status {}; profile "
                            "not changed".format(command[0], status))
        with open(path) as f:
            after = f.read()
        if after == before:
            ctx.emit({"profile": name, "changed": False} if ctx.json
                     else "profile {} not changed".format(name))
            return
        try:
            edited = json.loads(after)
            if not isinstance(edited, dict):
                raise ValueError("must be a JSON map")
            _checkProfile(name, edited)
        except Exception as e:
            keep = True
            raise ToolError("edited profile not written ({}); your edit is "
                            "in {}".format(getattr(e, "message", None) or e,
                                           path))
        ctx.writeValue("profiles", name, edited, PROFILE_TAGS)
        ctx.emit({"profile": name, "changed": True, "value": edited}
                 if ctx.json else "profile {} updated".format(name))
    finally:
        if not keep:
            try:
                os.unlink(path)
            except OSError:
                pass


def profileRemove(ctx, args):
    """
    C{profile remove NAME}: remove a profile.
    """
    removeKey(ctx, "profiles", args.name, "profile")
    ctx.emit({"profile": args.name, "removed": True} if ctx.json
             else "profile {} removed".format(args.name))
