# -*- test-case-name: tests.tool.test_services -*-
"""
Commands about services: C{locate}, C{cluster}, C{uuid} and C{call}.

    cocaine-tool locate storage
    cocaine-tool call storage.write c k '"value"' '["tag"]'
    cocaine-tool call storage.read c k
    cocaine-tool call echo.enqueue echo --stdin < file
"""

import json
import sys
import threading
import time

from rich.table import Table
from rich.tree import Tree

from cocaine.errors import ProtocolViolation
from cocaine.tool.context import ToolError, plain, text

#: The most bytes of standard input per request chunk with C{call --stdin}.
STDIN_CHUNK = 64 * 1024


def register(subparsers):
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

    parser = subparsers.add_parser(
        "call", help="call any method of any service",
        description="Call SERVICE.METHOD with ARGS and print what it "
        "answers: a value, or the chunks of a stream as they arrive (bytes "
        "raw, other values as JSON, one per line). Each ARG is parsed as "
        "JSON; a word that is not JSON is a string; @FILE is the file's "
        "bytes (@- reads standard input).",
        epilog="Examples: call storage.read apps echo; call locator.resolve "
        "storage; call echo.enqueue echo --stdin < file; call node.control "
        "echo --write 2")
    parser.add_argument("target", metavar="SERVICE.METHOD")
    parser.add_argument("arguments", nargs="*", metavar="ARG")
    parser.add_argument(
        "--stdin", action="store_true",
        help="stream standard input as request chunks (up to 64 KiB each, "
        "sent as they are read), then close the request")
    parser.add_argument(
        "-w", "--write", action="append", default=[], metavar="CHUNK",
        help="send CHUNK (parsed like ARG) as a request chunk; repeatable")
    parser.set_defaults(func=call)


# -- locate, cluster, uuid --------------------------------------------------


def locate(ctx, args):
    endpoints, version, graph = ctx.locator.resolve(args.name)
    endpoints = [[plain(e[0]), e[1]] for e in endpoints]
    if ctx.json:
        ctx.emit({"name": args.name, "endpoints": endpoints,
                  "version": version, "graph": graph})
        return
    tree = Tree(text(args.name))
    points = tree.add("endpoints")
    for host, port in endpoints:
        points.add(text(_address(host, port)))
    tree.add(text("version {}".format(version)))
    protocol = tree.add("protocol")
    _addMessages(protocol, graph, root=True)
    ctx.emit(None, tree)


def _address(host, port):
    return "[{}]:{}".format(host, port) if ":" in host else "{}:{}".format(
        host, port)


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


def _score(app):
    capacity = (app.get("capacity") or 0) * (app.get("concurrency") or 1)
    if not capacity:
        return None
    return (app.get("sessions", 0) + app.get("queue", 0)) / float(capacity)


def _nodeLoad(ctx, host, port):
    """
    Node C{host:port}'s services and load report, first-hand: its locator's
    C{connect} stream with C{{"load": true}} (docs/cluster.md), read up to
    the first load report and closed.

    @return: C{(uuid, services, load)}; C{load} is L{None} for a node that
        sends no report (no cluster section, or not ours).
    """
    from cocaine.tool.context import ToolContext
    peer = ToolContext(host, port, ctx.timeout, console=ctx.console)
    try:
        channel = peer.locator.connect("cocaine-tool", {"load": True})
        try:
            first = plain(channel.read(timeout=ctx.callTimeout))
            uuid, services = first[0], dict(first[1])
            load = None
            deadline = time.monotonic() + min(ctx.callTimeout, 3.0)
            while load is None and time.monotonic() < deadline:
                try:
                    chunk = plain(channel.read(
                        timeout=max(0.1, deadline - time.monotonic())))
                except Exception:
                    break
                if len(chunk) > 2 and isinstance(chunk[2], dict):
                    load = chunk[2].get("load")
                else:
                    for name, entry in chunk[1].items():
                        if entry and entry[0]:
                            services[name] = entry
                        else:
                            services.pop(name, None)
            return uuid, sorted(services), load
        finally:
            try:
                channel.close()
            except Exception:
                pass
    finally:
        for service in peer._services.values():
            service.close()


def _clusterLoad(ctx, nodes):
    own = plain(ctx.locator.uuid())
    everyone = [(own, [ctx.host, ctx.port])] + sorted(nodes.items())
    result = {}
    table = Table("uuid", "endpoint", "cpu %", "apps (sessions+queue / "
                  "capacity)", "services", title="cluster nodes")
    for uuid, (host, port) in everyone:
        try:
            _, services, load = _nodeLoad(ctx, host, port)
        except Exception as e:
            result[uuid] = {"endpoint": [host, port],
                            "error": "{}: {}".format(type(e).__name__, e)}
            table.add_row(text(uuid), text(_address(host, port)), "-",
                          text("unreachable: {}".format(e)), "")
            continue
        apps = (load or {}).get("apps") or {}
        result[uuid] = {"endpoint": [host, port], "self": uuid == own,
                        "cpu": (load or {}).get("cpu"),
                        "apps": {name: dict(app, score=_score(app))
                                 for name, app in apps.items()},
                        "services": services}
        cells = []
        for name, app in sorted(apps.items()):
            score = _score(app)
            cells.append("{} {}+{}/{}{}".format(
                name, app.get("sessions", 0), app.get("queue", 0),
                (app.get("capacity") or 0) * (app.get("concurrency") or 1),
                "" if score is None else " ({:.2f})".format(score)))
        cpu = (load or {}).get("cpu")
        table.add_row(text(uuid + (" (this node)" if uuid == own else "")),
                      text(_address(host, port)),
                      "-" if cpu is None else "{:.0f}".format(cpu),
                      text(", ".join(cells) or "-"),
                      text(", ".join(services)))
    ctx.emit(result, table)


def cluster(ctx, args):
    nodes = ctx.locator.cluster() or {}
    nodes = {plain(k): [plain(v[0]), v[1]] for k, v in nodes.items()}
    if getattr(args, "load", False):
        return _clusterLoad(ctx, nodes)
    table = Table("uuid", "endpoint", title="linked nodes")
    for uuid, (host, port) in sorted(nodes.items()):
        table.add_row(text(uuid), text(_address(host, port)))
    if not nodes and not ctx.json:
        ctx.say("no linked nodes")
        return
    ctx.emit(nodes, table)


def uuid(ctx, args):
    value = plain(ctx.locator.uuid())
    ctx.emit({"uuid": value} if ctx.json else value)


# -- call ---------------------------------------------------------------------


def parseArgument(word):
    """
    One C{call} argument: C{@FILE} → the file's bytes (C{@-}: standard
    input), JSON → its value, anything else → the word as a string.
    """
    if word.startswith("@") and len(word) > 1:
        path = word[1:]
        try:
            if path == "-":
                return sys.stdin.buffer.read()
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise ToolError("cannot read {}: {}".format(
                path, e.strerror or e))
    try:
        return json.loads(word)
    except ValueError:
        return word


def call(ctx, args):
    service, dot, method = args.target.rpartition(".")
    if not dot or not service or not method:
        raise ToolError("expected SERVICE.METHOD, got {!r}".format(
            args.target), what="call")
    what = ctx.command = "call " + args.target
    arguments = [parseArgument(word) for word in args.arguments]
    chunks = [parseArgument(word) for word in args.write]
    result = getattr(ctx.service(service), method)(*arguments)
    from cocaine.client.blocking import BlockingChannel
    if not isinstance(result, BlockingChannel):
        if chunks or args.stdin:
            ctx.warn("{} answers at once and takes no request stream; "
                     "--stdin and --write were ignored".format(args.target))
        if ctx.json:
            ctx.emit(result)
        else:
            _show(ctx, result, stream=False)
            _endLine(ctx)
        return None
    return _stream(ctx, args, result, chunks, what)


def _stream(ctx, args, channel, chunks, what):
    """
    Send the request stream (C{--write} chunks, then standard input with
    C{--stdin}, then close) in a thread while printing what comes back.
    """
    failure = []
    sending = threading.Event()
    sending.set()

    def send():
        try:
            for chunk in chunks:
                channel.write(chunk)
            if args.stdin:
                # read1: what is there, up to a chunk, so that a terminal
                # or a slow pipe is sent as it comes
                stream = sys.stdin.buffer
                while True:
                    data = stream.read1(STDIN_CHUNK)
                    if not data:
                        break
                    channel.write(data)
            try:
                channel.close()
            except ProtocolViolation:
                if chunks or args.stdin:
                    raise
        except ProtocolViolation:
            failure.append(ToolError(
                "{} takes no request stream".format(args.target), what))
        except BaseException as e:
            failure.append(e)
        finally:
            sending.clear()

    if chunks or args.stdin:
        threading.Thread(target=send, name="cocaine-tool-stdin",
                         daemon=True).start()
    else:
        send()
    from cocaine.rpc.client import ChannelClosed
    from twisted.internet.defer import TimeoutError as DeferredTimeout
    step = min(1.0, ctx.timeout) if ctx.timeout else 1.0
    lastActivity = time.monotonic()
    while True:
        if failure:
            raise failure[0]
        try:
            value = channel.read(timeout=step)
        except ChannelClosed:
            break
        except DeferredTimeout:
            # Waiting is fine while the request is still being sent; after
            # that the answer has --timeout seconds to come.
            now = time.monotonic()
            if sending.is_set():
                lastActivity = now
            elif ctx.timeout and now - lastActivity >= ctx.timeout:
                raise ToolError("no answer within {:g}s".format(ctx.timeout),
                                what)
            continue
        lastActivity = time.monotonic()
        if ctx.json:
            ctx.emit(value, line=True)
        else:
            _show(ctx, value, stream=True)
    if failure:
        raise failure[0]
    _endLine(ctx)
    return None


def _endLine(ctx):
    """
    On a terminal, end raw output that did not end a line, so the prompt
    starts on its own line.
    """
    if ctx.json or not getattr(ctx, "_rawPending", False):
        return
    out = ctx.console.file
    if hasattr(out, "isatty") and out.isatty():
        out.write("\n")
        out.flush()


def _show(ctx, value, stream):
    """
    Print one value for people: bytes raw, text as a line, anything else
    as JSON.
    """
    out = ctx.console.file
    if isinstance(value, bytes):
        out.flush()
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            buffer.write(value)
            buffer.flush()
        else:
            out.write(value.decode("utf-8", "replace"))
            out.flush()
        if value:
            ctx._rawPending = not value.endswith(b"\n")
        return
    if value is None:
        return
    ctx._rawPending = False
    if isinstance(value, str):
        out.write(value + "\n")
    else:
        out.write(json.dumps(plain(value), ensure_ascii=False,
                             indent=None if stream else 2, default=str)
                  + "\n")
    out.flush()
