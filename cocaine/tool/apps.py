# -*- test-case-name: tests.tool.test_apps -*-
"""
C{cocaine-tool app ...}: view, start, stop, restart, remove and check
apps (C{app upload} is L{cocaine.tool.upload}, C{app list}
L{cocaine.tool.applist}).

Apps live in storage as the Cocaine tools keep them (PROTOCOL.md section
7): the archive in C{apps}, the manifest in C{manifests} (both tagged
C{app}), every value msgpack-packed; C{node.start_app(name, profile)} runs
one.

    cocaine-tool app upload examples/apps/echo
    cocaine-tool app start echo --profile default
    cocaine-tool app list
"""

import json

from cocaine.errors import AppNotRunning, KeyNotFound
from cocaine.tool import peers, upload
from cocaine.tool.applist import listApps, runningApps
from cocaine.tool.context import ToolError, plain

def register(subparsers):
    """
    Add the C{app} commands to the tool's commands.
    """
    app = subparsers.add_parser(
        "app", help="upload, start, stop and inspect apps",
        description="Apps in storage (apps, manifests) and on the node.")
    commands = app.add_subparsers(title="app commands", dest="_app",
                                  metavar="COMMAND")

    upload.register(commands)

    p = commands.add_parser(
        "list", help="apps in storage and on the node (and its cluster)",
        description="Apps uploaded to storage and apps running on the "
        "node, with their state. When the node is linked with others "
        "(locator cluster), also the apps they run and the nodes that run "
        "each; a node that does not answer within --timeout is named on "
        "standard error.")
    p.set_defaults(func=listApps)

    p = commands.add_parser("view", help="an app's manifest",
                            description="The manifest of an uploaded app.")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=view)

    p = commands.add_parser(
        "start", help="start an uploaded app",
        description="node.start_app(NAME, PROFILE). The profile is read "
        "from storage; the profile \"default\" may be missing, then the "
        "defaults apply. The node records the app in its runlist.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--profile", "-r", default="default",
                   help="a profile in storage (default: default)")
    p.add_argument("--cluster", action="store_true",
                   help="on every node of the cluster too: "
                   "node.start_app_cluster copies the app to each peer")
    p.set_defaults(func=start)

    p = commands.add_parser(
        "stop", help="stop a running app",
        description="node.pause_app(NAME): accepted requests finish first; "
        "the app leaves the runlist.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--cluster", action="store_true",
                   help="on every node of the cluster too "
                   "(node.pause_app_cluster)")
    p.set_defaults(func=stop)

    p = commands.add_parser(
        "restart", help="stop (if running) and start an app",
        description="Stop the app if it runs, then start it with --profile, "
        "else with the profile of its runlist entry or the one it ran with, "
        "else \"default\".")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--profile", "-r", default=None,
                   help="the profile to start with")
    p.set_defaults(func=restart)

    p = commands.add_parser(
        "remove", help="remove an app from storage",
        description="Remove the app's archive and manifest from storage and "
        "its entries from the runlists. A running app keeps running until "
        "`app stop`.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--cluster", action="store_true",
                   help="from the storage of every node the locator's "
                   "cluster() lists too")
    p.set_defaults(func=remove)

    p = commands.add_parser(
        "check", help="whether an app is running",
        description="The app's state on the node. Exit status 0 when it is "
        "running, 1 otherwise.")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=check)


# -- list, view, start, stop, restart, remove, check --------------------------


def view(ctx, args):
    """
    C{app view NAME}: the manifest of an uploaded app.
    """
    manifest = plain(ctx.readValue("manifests", args.name, "app"))
    from rich.json import JSON
    ctx.emit(manifest, JSON.from_data(manifest))


def _profileFor(ctx, profile):
    """
    What to pass to C{start_app} for profile name C{profile}: the name when
    it is in storage, an empty map for a missing C{default}.
    """
    try:
        ctx.storage.read("profiles", profile)
    except KeyNotFound:
        if profile == "default":
            return {}
        raise ToolError("no profile {!r} in storage (profiles/{})".format(
            profile, profile))
    return profile


def _start(ctx, name, profile):
    # unpacking a large archive on the node may take longer than --timeout
    ctx.node.start_app(name, _profileFor(ctx, profile)
                       if isinstance(profile, str) else profile,
                       timeout=ctx.longTimeout())


def _profileText(profile):
    if isinstance(profile, str):
        return profile
    return json.dumps(plain(profile), separators=(",", ":"))


def _clusterResult(ctx, name, state, nodes):
    nodes = plain(nodes)
    if ctx.json:
        ctx.emit({"app": name, "state": state, "nodes": nodes})
        return
    failed = {u: r for u, r in nodes.items() if r != "ok"}
    ctx.say("app {} {} on {} node{}".format(
        name, state, len(nodes) - len(failed), "" if len(nodes) - len(
            failed) == 1 else "s"))
    for uuid, reason in sorted(failed.items()):
        ctx.warn("{}: {}".format(uuid, reason))
    if failed:
        raise ToolError("app {} not {} on {} node{}".format(
            name, state, len(failed), "" if len(failed) == 1 else "s"))


def start(ctx, args):
    """
    C{app start NAME}: C{node.start_app} (with C{--cluster},
    C{node.start_app_cluster}).
    """
    if getattr(args, "cluster", False):
        profile = _profileFor(ctx, args.profile)
        nodes = ctx.node.start_app_cluster(args.name, profile,
                                           timeout=ctx.longTimeout())
        _clusterResult(ctx, args.name, "running", nodes)
        return
    _start(ctx, args.name, args.profile)
    ctx.emit({"app": args.name, "profile": args.profile, "state": "running"}
             if ctx.json else "app {} started with profile {}".format(
                 args.name, args.profile))


def stop(ctx, args):
    """
    C{app stop NAME}: C{node.pause_app} (with C{--cluster},
    C{node.pause_app_cluster}).
    """
    if getattr(args, "cluster", False):
        nodes = ctx.node.pause_app_cluster(args.name,
                                           timeout=ctx.longTimeout())
        _clusterResult(ctx, args.name, "stopped", nodes)
        return
    ctx.node.pause_app(args.name, timeout=ctx.longTimeout())
    ctx.emit({"app": args.name, "state": "stopped"} if ctx.json
             else "app {} stopped".format(args.name))


def _runlistProfile(ctx, name):
    """
    The profile the runlists give app C{name} (the node's default runlist
    first), or L{None}.
    """
    runlists = ctx.find("runlists", ["runlist"])
    for runlist in sorted(runlists, key=lambda r: (r != "default", r)):
        try:
            value = ctx.readValue("runlists", runlist)
        except (KeyNotFound, ToolError):
            continue
        if isinstance(value, dict):
            for app, profile in value.items():
                if plain(app) == name:
                    return plain(profile)
    return None


def restart(ctx, args):
    """
    C{app restart NAME}: stop the app if it runs, then start it with
    C{--profile}, its runlist's profile, the one it ran with, or
    C{default}.
    """
    name = args.name
    profile = args.profile
    running = name in runningApps(ctx)
    if profile is None:
        profile = _runlistProfile(ctx, name)
        if profile == {}:
            # what `app start` records for a missing "default" profile
            profile = "default"
    if profile is None and running:
        try:
            ran = plain(ctx.node.info(name)).get("profile", {})
        except AppNotRunning:
            ran = {}
        ranName = ran.get("name") if isinstance(ran, dict) else None
        if isinstance(ranName, str) and not ranName.startswith("<"):
            profile = ranName
    if profile is None:
        profile = "default"
    if running and name not in ctx.find("apps", ["app"]):
        # a local app (run from a directory) could not be started again
        raise ToolError("app {!r} runs from a directory on the node, not "
                        "from storage; it cannot be restarted from here"
                        .format(name))
    if running:
        try:
            ctx.node.pause_app(name, timeout=ctx.longTimeout())
        except AppNotRunning:
            pass
    _start(ctx, name, profile)
    ctx.emit({"app": name, "profile": profile, "state": "running",
              "was-running": running} if ctx.json
             else "app {} {} with profile {}".format(
                 name, "restarted" if running else "started",
                 _profileText(profile)))


def _removeFrom(ctx, name):
    """
    Remove app C{name} from the storage of C{ctx}'s node.

    @return: the collections it was removed from, the runlists it left,
        whether it still runs there.
    """
    removed = []
    for collection in ("apps", "manifests"):
        try:
            ctx.storage.remove(collection, name)
            removed.append(collection)
        except KeyNotFound:
            pass
    runlists = []
    for runlist in ctx.find("runlists", ["runlist"]):
        try:
            value = ctx.readValue("runlists", runlist)
        except (KeyNotFound, ToolError):
            continue
        if not isinstance(value, dict):
            continue
        kept = {k: v for k, v in value.items() if plain(k) != name}
        if len(kept) != len(value):
            ctx.writeValue("runlists", runlist, kept, ["runlist"])
            runlists.append(runlist)
    return removed, runlists, name in runningApps(ctx)


def _removeCluster(ctx, name):
    nodes = peers.linkedNodes(ctx)
    nodes[plain(ctx.locator.uuid())] = (ctx.host, ctx.port)
    results = {}
    for uuid, (host, port) in sorted(nodes.items()):
        with peers.peerContext(ctx, host, port) as peer:
            removed, runlists, running = _removeFrom(peer, name)
        results[uuid] = {"removed": removed, "runlists": runlists,
                         "running": running}
    if not any(r["removed"] or r["runlists"] for r in results.values()):
        raise ToolError("no app {!r} in the storage of any node".format(
            name))
    if ctx.json:
        ctx.emit({"app": name, "nodes": results})
        return
    ctx.say("app {} removed from {} of {} node{}".format(
        name, sum(1 for r in results.values() if r["removed"]),
        len(results), "" if len(results) == 1 else "s"))
    still = sorted(u for u, r in results.items() if r["running"])
    if still:
        ctx.warn("app {} is still running on {}; `cocaine-tool app stop {} "
                 "--cluster` stops it".format(name, ", ".join(still), name))


def remove(ctx, args):
    """
    C{app remove NAME}: the app's archive, manifest and runlist entries
    out of storage (with C{--cluster}, of every linked node's too).
    """
    name = args.name
    if getattr(args, "cluster", False):
        _removeCluster(ctx, name)
        return
    removed, runlists, running = _removeFrom(ctx, name)
    if not removed and not runlists:
        raise ToolError("no app {!r} in storage".format(name))
    if ctx.json:
        ctx.emit({"app": name, "removed": removed, "runlists": runlists,
                  "running": running})
        return
    ctx.say("app {} removed{}".format(name, " (and from runlist {})".format(
        ", ".join(runlists)) if runlists else ""))
    if running:
        ctx.warn("app {} is still running; `cocaine-tool app stop {}` stops "
                 "it".format(name, name))


def check(ctx, args):
    """
    C{app check NAME}: the app's state on the node.

    @return: 0 when it is running, 1 otherwise.
    """
    name = args.name
    try:
        state = plain(ctx.node.info(name)).get("state", "running")
    except AppNotRunning:
        if name not in ctx.find("apps", ["app"]):
            raise ToolError("no app {!r}: not running and not uploaded"
                            .format(name))
        state = "stopped"
    ctx.emit({"app": name, "state": state} if ctx.json
             else "{}: {}".format(name, state))
    return 0 if state == "running" else 1
