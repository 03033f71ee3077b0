# -*- test-case-name: tests.tool.test_apps -*-
"""
C{cocaine-tool info}: the node's running apps as a table, or one app's
pool, queue, requests, profile and workers, from C{node.info} (PROTOCOL.md
section 5).

    cocaine-tool info
    cocaine-tool info echo
"""

from rich.console import Group
from rich.table import Table

from cocaine.errors import AppNotRunning
from cocaine.tool.applist import runningApps
from cocaine.tool.context import plain, text


def register(subparsers):
    """
    Add the C{info} command to the tool's commands.
    """
    p = subparsers.add_parser(
        "info", help="the node's apps, or one app, as tables",
        description="Without APP: every running app with state, workers, "
        "queue and requests. With APP: its pool, queue, requests, profile "
        "and workers (pid, state, load, RSS, CPU).")
    p.add_argument("name", metavar="APP", nargs="?")
    p.set_defaults(func=info)


def _ratio(part, whole):
    return "{}/{}".format("-" if part is None else part,
                          "-" if whole is None else whole)


def info(ctx, args):
    """
    C{info [APP]}: the node's running apps, or one app, as tables.
    """
    if args.name:
        return _appInfo(ctx, args.name)
    uuid = plain(ctx.locator.uuid())
    apps = {}
    for name in runningApps(ctx):
        try:
            apps[name] = plain(ctx.node.info(name))
        except AppNotRunning:
            continue
    if ctx.json:
        ctx.emit({"node": {"uuid": uuid, "locator": ctx.address},
                  "apps": apps})
        return
    table = Table("app", "state", "workers", "active", "idle", "queue",
                  "pending", "accepted", "rejected", "crashlogs",
                  title="node {} at {}".format(uuid, ctx.address))
    for name, app in sorted(apps.items()):
        pool = app.get("pool") or {}
        queue = app.get("queue") or {}
        requests = app.get("requests") or {}
        live = (pool.get("active") or 0) + (pool.get("idle") or 0)
        table.add_row(
            text(name), text(app.get("state")),
            text(_ratio(live, pool.get("capacity"))),
            text(pool.get("active")), text(pool.get("idle")),
            text(_ratio(queue.get("depth"), queue.get("capacity"))),
            text((app.get("sessions") or {}).get("pending")),
            text(requests.get("accepted")), text(requests.get("rejected")),
            text(app.get("crashlogs")))
    if not apps:
        ctx.console.print(text("node {} at {}: no apps running".format(
            uuid, ctx.address)))
        return
    ctx.emit(None, table)


def _appInfo(ctx, name):
    app = plain(ctx.node.info(name))
    if ctx.json:
        ctx.emit(app)
        return
    pool = app.get("pool") or {}
    queue = app.get("queue") or {}
    requests = app.get("requests") or {}
    profile = app.get("profile") or {}
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    rows = [
        ("state", app.get("state")),
        ("profile", profile.get("name") if isinstance(profile, dict)
         else profile),
        ("pool", "{} active, {} idle, {} starting, capacity {}{}".format(
            pool.get("active", 0), pool.get("idle", 0),
            pool.get("starting", 0), pool.get("capacity"),
            ", pinned at {}".format(pool["pinned"])
            if pool.get("pinned") is not None else "")),
        ("queue", "{} of {}".format(queue.get("depth", 0),
                                    queue.get("capacity"))),
        ("sessions", "{} pending".format(
            (app.get("sessions") or {}).get("pending", 0))),
        ("requests", "{} accepted, {} rejected".format(
            requests.get("accepted", 0), requests.get("rejected", 0))),
        ("load median", app.get("load-median")),
        ("crashlogs", app.get("crashlogs")),
    ]
    for key, value in rows:
        summary.add_row(text(key), text(value))
    workers = Table("uuid", "pid", "state", "load", "RSS MB", "CPU %",
                    "accepted", title="workers")
    for worker in app.get("workers") or []:
        rss = worker.get("rss")
        workers.add_row(
            text(worker.get("uuid")), text(worker.get("pid")),
            text(worker.get("state")), text(worker.get("load")),
            text(None if rss is None else "{:.1f}".format(rss / 1048576.0)),
            text(worker.get("cpu")), text(worker.get("accepted")))
    if not app.get("workers"):
        workers = text("no workers")
    title = text("app {}".format(name))
    title.stylize("bold")
    ctx.emit(app, Group(title, summary, workers))
