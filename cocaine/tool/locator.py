# -*- test-case-name: tests.tool.test_locator -*-
"""
Commands of the node's locator: C{locate}, C{cluster} and C{uuid}.

C{cluster --load} shows each app's score as
L{cocaine.protocol.load.score} computes it from the node's load report:
the very number the cluster's gateway compares to pick a node.

    cocaine-tool locate storage
    cocaine-tool cluster --load
    cocaine-tool uuid
"""

from rich.table import Table
from rich.tree import Tree

from cocaine.protocol.load import score
from cocaine.tool import peers
from cocaine.tool.context import plain, text
from cocaine.tool.peers import address


def register(subparsers):
    """
    Add C{locate}, C{cluster} and C{uuid} to the tool's commands.
    """
    parser = subparsers.add_parser(
        "locate", help="where a service is and the protocol it speaks",
        description="Resolve a service at the locator: its endpoints, "
        "protocol version and dispatch graph (message id, name, what the "
        "client may send next and what the service answers with).")
    parser.add_argument("name", metavar="NAME", help="a service name")
    parser.set_defaults(func=locate)

    parser = subparsers.add_parser(
        "cluster", help="the remote nodes this node is linked with",
        description="The remote nodes linked with this node (locator "
        "cluster): uuid and locator endpoint of each. With --load, also "
        "this node and each linked one with its CPU, its apps and their "
        "load, read from that node's locator (a connect stream asking for "
        "load reports, closed after the first report).")
    parser.add_argument(
        "--load", action="store_true",
        help="also every node's CPU, apps and their load")
    parser.set_defaults(func=cluster)

    parser = subparsers.add_parser(
        "uuid", help="the node's uuid", description="The node's uuid.")
    parser.set_defaults(func=uuid)


def locate(ctx, args):
    """
    C{locate NAME}: where a service is and the protocol it speaks.
    """
    endpoints, version, graph = ctx.locator.resolve(args.name)
    endpoints = [[plain(e[0]), e[1]] for e in endpoints]
    if ctx.json:
        ctx.emit({"name": args.name, "endpoints": endpoints,
                  "version": version, "graph": graph})
        return
    tree = Tree(text(args.name))
    points = tree.add("endpoints")
    for host, port in endpoints:
        points.add(text(address(host, port)))
    tree.add(text("version {}".format(version)))
    protocol = tree.add("protocol")
    _addMessages(protocol, graph, root=True)
    ctx.emit(None, tree)


_PRIMITIVE = (("value", "{}"), ("error", "{}"))
_STREAMING = (("write", "nil"), ("error", "{}"), ("close", "{}"))


def _messages(protocol):
    """
    C{[(id, name, entry)]} of a protocol map, by id.
    """
    result = []
    for key in sorted(protocol, key=lambda k: (not isinstance(k, int), k)):
        entry = protocol[key]
        result.append((key, plain(entry[0]), entry))
    return result


def _shape(transition):
    if transition is None:
        return "nil"
    if not transition:
        return "{}"
    return tuple((name, _shape(entry[1]))
                 for _, name, entry in _messages(transition))


def _label(transition):
    """
    A short name for a transition, or L{None} when it must be expanded.
    """
    if transition is None:
        return "recurrent (the same messages again)"
    if not isinstance(transition, dict):
        return repr(transition)
    if not transition:
        return "terminal"
    shape = _shape(transition)
    if shape == _PRIMITIVE:
        return "primitive: value | error"
    if shape == _STREAMING:
        return "streaming: write... | error | close"
    return None


def _addTransition(node, title, transition):
    label = _label(transition)
    if label is not None:
        node.add(text("{}: {}".format(title, label)))
        return
    branch = node.add(text(title + ":"))
    _addMessages(branch, transition, root=False)


def _addMessages(node, protocol, root):
    for key, name, entry in _messages(protocol):
        branch = node.add(text("{} {}".format(key, name)))
        if root:
            _addTransition(branch, "dispatch",
                           entry[1] if len(entry) > 1 else {})
            _addTransition(branch, "upstream",
                           entry[2] if len(entry) > 2 else {})
        else:
            _addTransition(branch, "then", entry[1] if len(entry) > 1
                           else {})


def _clusterLoad(ctx, nodes):
    own = plain(ctx.locator.uuid())
    everyone = dict(nodes)
    everyone[own] = (ctx.host, ctx.port)
    answers = peers.askEach(ctx, everyone, peers.nodeLoad)
    result = {}
    table = Table("uuid", "endpoint", "cpu %", "apps (sessions+queue / "
                  "capacity)", "services", title="cluster nodes")
    for uuid in [own] + sorted(nodes):
        host, port = everyone[uuid]
        answer, error = answers[uuid]
        if error is not None:
            result[uuid] = {"endpoint": [host, port], "error": error}
            table.add_row(text(uuid), text(address(host, port)), "-",
                          text("unreachable: {}".format(error)), "")
            continue
        _, services, load = answer
        apps = (load or {}).get("apps") or {}
        result[uuid] = {"endpoint": [host, port], "self": uuid == own,
                        "cpu": (load or {}).get("cpu"),
                        "apps": {name: dict(app, score=score(load, name))
                                 for name, app in apps.items()},
                        "services": services}
        cells = []
        for name, app in sorted(apps.items()):
            value = score(load, name)
            cells.append("{} {}+{}/{}{}".format(
                name, app.get("sessions", 0), app.get("queue", 0),
                (app.get("capacity") or 0) * (app.get("concurrency") or 1),
                "" if value is None else " ({:.2f})".format(value)))
        cpu = (load or {}).get("cpu")
        table.add_row(text(uuid + (" (this node)" if uuid == own else "")),
                      text(address(host, port)),
                      "-" if cpu is None else "{:.0f}".format(cpu),
                      text(", ".join(cells) or "-"),
                      text(", ".join(services)))
    ctx.emit(result, table)


def cluster(ctx, args):
    """
    C{cluster}: the linked nodes; with C{--load}, every node's CPU,
    apps, their load and score, and services.
    """
    nodes = peers.linkedNodes(ctx)
    if getattr(args, "load", False):
        return _clusterLoad(ctx, nodes)
    table = Table("uuid", "endpoint", title="linked nodes")
    for uuid, (host, port) in sorted(nodes.items()):
        table.add_row(text(uuid), text(address(host, port)))
    if not nodes and not ctx.json:
        ctx.say("no linked nodes")
        return
    ctx.emit(nodes, table)


def uuid(ctx, args):
    """
    C{uuid}: the node's uuid.
    """
    value = plain(ctx.locator.uuid())
    ctx.emit({"uuid": value} if ctx.json else value)
