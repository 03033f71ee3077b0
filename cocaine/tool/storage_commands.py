# -*- test-case-name: tests.tool.test_storage_commands -*-
"""
Commands over the node's storage, in the layout of PROTOCOL.md section 7:
C{profile}, C{runlist}, C{group}, C{crashlog} and C{keys}.

| collection | key | value (msgpack) | tags |
|---|---|---|---|
| profiles | profile | profile map | profile |
| runlists | runlist | {app: profile} | runlist |
| groups | group | {service: weight} | group, active |
| crashlogs | <microseconds>:<worker uuid> | list of output lines | app |
| keys | user | PEM text | key |
"""

import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile

from rich.json import JSON
from rich.table import Table

from cocaine.errors import KeyNotFound
from cocaine.tool.context import ToolError, plain, text

PROFILE_TAGS = ["profile"]
RUNLIST_TAGS = ["runlist"]
GROUP_TAGS = ["group", "active"]
KEY_TAGS = ["key"]


def register(subparsers):
    _registerProfile(subparsers)
    _registerRunlist(subparsers)
    _registerGroup(subparsers)
    _registerCrashlog(subparsers)
    _registerKeys(subparsers)


def _commands(subparsers, name, help, description):
    parser = subparsers.add_parser(name, help=help, description=description)
    return parser.add_subparsers(title=name + " commands", dest="_" + name,
                                 metavar="COMMAND")


def _jsonMap(word, what):
    """
    A JSON map given as text, C{@FILE} or C{@-} (standard input).
    """
    if word.startswith("@"):
        data = _readInput(word[1:], what)
    else:
        data = word
    try:
        value = json.loads(data)
    except ValueError as e:
        raise ToolError("{} is not JSON: {}".format(what, e))
    if not isinstance(value, dict):
        raise ToolError("{} must be a JSON map".format(what))
    return value


def _readInput(path, what):
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ToolError("cannot read {} {}: {}".format(
            what, path, e.strerror or e))


def _remove(ctx, collection, key, what):
    try:
        ctx.storage.remove(collection, key)
    except KeyNotFound:
        raise ToolError("no {} {!r} in storage ({}/{})".format(
            what, key, collection, key))


def _names(ctx, collection, tags, title):
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


def _showMap(ctx, value):
    value = plain(value)
    ctx.emit(value, JSON.from_data(value))


# -- profile ------------------------------------------------------------------


def _registerProfile(subparsers):
    commands = _commands(
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
    _names(ctx, "profiles", PROFILE_TAGS, "profiles")


def profileView(ctx, args):
    _showMap(ctx, ctx.readValue("profiles", args.name, "profile"))


def profileUpload(ctx, args):
    data = _readInput(args.file, "profile")
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
    _remove(ctx, "profiles", args.name, "profile")
    ctx.emit({"profile": args.name, "removed": True} if ctx.json
             else "profile {} removed".format(args.name))


# -- runlist ------------------------------------------------------------------


def _registerRunlist(subparsers):
    commands = _commands(
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
    _names(ctx, "runlists", RUNLIST_TAGS, "runlists")


def runlistView(ctx, args):
    value = plain(_runlist(ctx, args.name))
    table = Table("app", "profile", title="runlist " + args.name)
    for app, profile in sorted(value.items()):
        table.add_row(text(app), text(profile))
    ctx.emit(value, table)


def runlistCreate(ctx, args):
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
    value = _runlist(ctx, args.name, missingOk=True)
    value[args.app] = args.profile
    ctx.writeValue("runlists", args.name, value, RUNLIST_TAGS)
    ctx.emit({"runlist": args.name, "app": args.app, "profile": args.profile}
             if ctx.json else "app {} added to runlist {} with profile {}"
             .format(args.app, args.name, args.profile))


def runlistRemoveApp(ctx, args):
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
    _remove(ctx, "runlists", args.name, "runlist")
    ctx.emit({"runlist": args.name, "removed": True} if ctx.json
             else "runlist {} removed".format(args.name))


# -- group --------------------------------------------------------------------


def _registerGroup(subparsers):
    commands = _commands(
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
    import argparse
    try:
        value = json.loads(word)
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            value <= 0):
        raise argparse.ArgumentTypeError(
            "must be a positive number, got {!r}".format(word))
    return value


def _checkGroup(name, value):
    for member, weight in value.items():
        if isinstance(weight, bool) or not isinstance(
                weight, (int, float)) or weight <= 0:
            raise ToolError("group {!r}: member {!r}: weight must be a "
                            "positive number, got {!r}".format(
                                name, member, weight))


def _group(ctx, name):
    value = ctx.readValue("groups", name, "group")
    if not isinstance(value, dict):
        raise ToolError("group {!r} is not a map".format(name))
    return plain(value)


def _refresh(ctx, names):
    ctx.locator.refresh(list(names))


def groupList(ctx, args):
    _names(ctx, "groups", ["group"], "groups")


def groupView(ctx, args):
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
    value = _jsonMap(args.members, "group members")
    _writeGroup(ctx, args, value, "group {} written ({} member{})".format(
        args.name, len(value), "" if len(value) == 1 else "s"))


def groupPush(ctx, args):
    value = _group(ctx, args.name)
    value[args.service] = args.weight
    _writeGroup(ctx, args, value, "{} added to group {} with weight {}".format(
        args.service, args.name, args.weight))


def groupPop(ctx, args):
    value = _group(ctx, args.name)
    if args.service not in value:
        raise ToolError("{!r} is not a member of group {!r}".format(
            args.service, args.name))
    del value[args.service]
    _writeGroup(ctx, args, value, "{} removed from group {}".format(
        args.service, args.name))


def groupRemove(ctx, args):
    _remove(ctx, "groups", args.name, "group")
    if args.refresh:
        _refresh(ctx, [args.name])
    ctx.emit({"group": args.name, "removed": True, "refreshed": args.refresh}
             if ctx.json else "group {} removed".format(args.name))


def _knownGroups(ctx):
    """
    The groups the locator has now: the first table of its routing stream.
    """
    import uuid
    channel = ctx.locator.routing("cocaine-tool-" + uuid.uuid4().hex)
    table = channel.read(timeout=ctx.callTimeout)
    return sorted(plain(table or {}))


def groupRefresh(ctx, args):
    names = list(args.names)
    if not names:
        names = sorted(set(ctx.find("groups", ["group"]))
                       | set(_knownGroups(ctx)))
    _refresh(ctx, names)
    ctx.emit({"refreshed": names} if ctx.json
             else "refreshed {}".format(", ".join(names) if names
                                         else "no groups (none known)"))


# -- crashlog -----------------------------------------------------------------


def _registerCrashlog(subparsers):
    commands = _commands(
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


def _parseKey(key):
    """
    C{(timestamp in microseconds or None, worker uuid)} of a crashlog key.
    """
    stamp, _, uuid = key.partition(":")
    try:
        return int(stamp), uuid
    except ValueError:
        return None, uuid


def _when(stamp):
    if stamp is None:
        return None
    try:
        moment = datetime.datetime.fromtimestamp(
            stamp / 1e6, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _crashlogs(ctx, app):
    """
    The app's crashlog keys, oldest first.
    """
    keys = ctx.find("crashlogs", [app])
    return sorted(keys, key=lambda k: (_parseKey(k)[0] or 0, k))


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
    keys = _crashlogs(ctx, args.name)
    entries = []
    for key in keys:
        stamp, uuid = _parseKey(key)
        entries.append({"key": key, "timestamp": stamp, "time": _when(stamp),
                        "uuid": uuid})
    if not entries and not ctx.json:
        ctx.say("no crashlogs of {}".format(args.name))
        return
    table = Table("timestamp", "time (UTC)", "worker uuid",
                  title="crashlogs of " + args.name)
    for entry in entries:
        table.add_row(text(entry["timestamp"]), text(entry["time"]),
                      text(entry["uuid"]))
    ctx.emit(entries, table)


def crashlogView(ctx, args):
    key = _crashlogKey(ctx, args.name, args.key)
    value = plain(ctx.readValue("crashlogs", key, "crashlog"))
    lines = value if isinstance(value, list) else [value]
    lines = [line if isinstance(line, str) else json.dumps(line)
             for line in lines]
    stamp, uuid = _parseKey(key)
    if ctx.json:
        ctx.emit({"app": args.name, "key": key, "timestamp": stamp,
                  "time": _when(stamp), "uuid": uuid, "lines": lines})
        return
    out = ctx.console.file
    for line in lines:
        out.write(line.rstrip("\n") + "\n")
    out.flush()


def crashlogRemove(ctx, args):
    key = _crashlogKey(ctx, args.name, args.key)
    _remove(ctx, "crashlogs", key, "crashlog")
    ctx.emit({"app": args.name, "removed": [key]} if ctx.json
             else "crashlog {} of {} removed".format(key, args.name))


def crashlogClean(ctx, args):
    if args.keep < 0:
        raise ToolError("--keep must be >= 0")
    keys = _crashlogs(ctx, args.name)
    doomed = keys[:len(keys) - args.keep] if args.keep else keys
    removed = []
    for key in doomed:
        try:
            ctx.storage.remove("crashlogs", key)
        except KeyNotFound:
            continue
        removed.append(key)
    ctx.emit({"app": args.name, "removed": removed} if ctx.json
             else "{} crashlog{} of {} removed".format(
                 len(removed), "" if len(removed) == 1 else "s", args.name))


# -- keys ---------------------------------------------------------------------


def _registerKeys(subparsers):
    commands = _commands(
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
    _names(ctx, "keys", KEY_TAGS, "users")


def keysAdd(ctx, args):
    data = _readInput(args.pem, "key")
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
    _remove(ctx, "keys", args.name, "key of user")
    ctx.emit({"user": args.name, "removed": True} if ctx.json
             else "key of {} removed".format(args.name))
