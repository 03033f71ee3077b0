# -*- test-case-name: tests.tool.test_applist -*-
"""
C{cocaine-tool app list}: the apps uploaded to the node's storage and the
apps it runs, with their state.

When the node is linked with others (its locator's C{cluster} method
lists them), the apps they run are listed too, with the nodes that run
each: every linked node's node service is asked for its C{list} at once
(L{cocaine.tool.peers.askEach}), each within C{--timeout}. A node that
does not answer is named in a warning on standard error; the others are
listed all the same. A node without linked nodes lists as it always did.

    $ cocaine-tool app list
    apps
    app    state     uploaded   running on
    echo   running   yes        this node, 127.0.0.1:10054
    big    -         no         127.0.0.1:10055

With C{--json}, a list of C{{"name", "uploaded", "running", "state"}}
(this node's view); in a cluster each also has C{"nodes": {uuid: [host,
port]}}, every node that runs it, this one included.
"""

from rich.table import Table

from cocaine.errors import AppNotRunning
from cocaine.tool import peers
from cocaine.tool.context import plain, text


def runningApps(ctx):
    """
    The names of the apps the node runs, sorted.
    """
    return sorted(plain(ctx.node.list() or []))


def appState(ctx, name):
    """
    The state of app C{name} on the node (C{"stopped"} when it does not
    run there).
    """
    try:
        return plain(ctx.node.info(name)).get("state", "running")
    except AppNotRunning:
        return "stopped"


def _apps(ctx, stored, running, names):
    apps = []
    for name in sorted(names):
        state = appState(ctx, name) if name in running else "stopped"
        apps.append({"name": name, "uploaded": name in stored,
                     "running": state != "stopped", "state": state})
    return apps


def listApps(ctx, args):
    """
    C{app list}: the apps in storage and on the node, and on the nodes
    linked with it.
    """
    stored = set(ctx.find("apps", ["app"]))
    running = set(runningApps(ctx))
    nodes = peers.linkedNodes(ctx)
    if nodes:
        return _listCluster(ctx, stored, running, nodes)
    apps = _apps(ctx, stored, running, stored | running)
    if not apps and not ctx.json:
        ctx.say("no apps")
        return
    table = Table("app", "state", "uploaded", title="apps")
    for app in apps:
        table.add_row(text(app["name"]), text(app["state"]),
                      text("yes" if app["uploaded"] else "no (local)"))
    ctx.emit(apps, table)


def _peerApps(peer):
    return sorted(plain(peer.node.list() or []))


def _listCluster(ctx, stored, running, nodes):
    """
    L{listApps} on a node linked with C{nodes} (C{{uuid: (host, port)}}).
    """
    own = plain(ctx.locator.uuid())
    where = {name: {own: [ctx.host, ctx.port]} for name in running}
    answers = peers.askEach(ctx, nodes, _peerApps)
    for uuid, (names, error) in sorted(answers.items()):
        host, port = nodes[uuid]
        if error is not None:
            ctx.warn("node {} at {} did not answer ({}); its apps are not "
                     "listed".format(uuid, peers.address(host, port), error))
            continue
        for name in names:
            where.setdefault(name, {})[uuid] = [host, port]
    apps = _apps(ctx, stored, running, stored | set(where))
    for app in apps:
        app["nodes"] = where.get(app["name"], {})
    if not apps and not ctx.json:
        ctx.say("no apps on this node or the linked nodes that answered "
                "({} of {})".format(
                    sum(1 for _, error in answers.values() if error is None),
                    len(nodes)))
        return
    table = Table("app", "state", "uploaded", "running on", title="apps")
    for app in apps:
        name = app["name"]
        here = name in running or name in stored
        uploaded = "yes" if app["uploaded"] else (
            "no (local)" if name in running else "no")
        shown = ["this node"] if own in app["nodes"] else []
        shown += sorted(peers.address(host, port)
                        for uuid, (host, port) in app["nodes"].items()
                        if uuid != own)
        table.add_row(text(name), text(app["state"] if here else "-"),
                      text(uploaded), text(", ".join(shown) or "-"))
    ctx.emit(apps, table)

