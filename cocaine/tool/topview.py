# -*- test-case-name: tests.tool.test_top -*-
"""
How C{cocaine-tool top} shows a L{cocaine.tool.sampler.Snapshot}: the
full-screen view (L{render}), one plain line per app (L{appLine}) or one
JSON object per refresh (L{snapshotJSON}), the last two written by
L{LineOutput}.
"""

import json

from cocaine.tool.sampler import textOf


def _number(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, float):
        return "{:.{}f}".format(value, digits)
    return str(value)


def _pool(info):
    pool = info.get("pool") or {}
    active = pool.get("active") or 0
    idle = pool.get("idle") or 0
    starting = pool.get("starting") or 0
    return active, idle, starting, pool.get("capacity")


def appLine(snapshot, name, info):
    """
    The plain line of one app in one refresh.
    """
    stamp = snapshot.time.isoformat()
    state = info.get("state", "?")
    if "pool" not in info:
        return "{} {} {}".format(stamp, name, state)
    active, idle, starting, capacity = _pool(info)
    queue = info.get("queue") or {}
    requests = info.get("requests") or {}
    rates = info.get("per-second") or {}
    return (
        "{stamp} {name} {state} workers={workers}/{capacity} active={active} "
        "idle={idle} starting={starting} queue={depth}/{limit} req/s={rate} "
        "accepted={accepted} rejected={rejected} rejected/s={rejectedRate} "
        "crashlogs={crashlogs}").format(
            stamp=stamp, name=name, state=state,
            workers=active + idle + starting, capacity=_number(capacity),
            active=active, idle=idle, starting=starting,
            depth=_number(queue.get("depth")),
            limit=_number(queue.get("capacity")),
            rate=_number(rates.get("accepted")),
            accepted=_number(requests.get("accepted")),
            rejected=_number(requests.get("rejected")),
            rejectedRate=_number(rates.get("rejected")),
            crashlogs=_number(info.get("crashlogs")))


def snapshotJSON(snapshot):
    """
    The JSON object of one refresh:

        {"time": "2026-11-23T15:00:00", "node": "127.0.0.1:10053",
         "uuid": "...", "reachable": true, "error": null, "total": 1,
         "apps": {"echo": {<the info map>,
                           "per-second": {"accepted": 12.5,
                                          "rejected": 0.0}}}}
    """
    return {"time": snapshot.time.isoformat(), "node": snapshot.node,
            "uuid": snapshot.uuid, "reachable": snapshot.reachable,
            "error": snapshot.error, "total": snapshot.total,
            "apps": dict(snapshot.apps)}


def _jsonDefault(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class LineOutput:
    """
    Plain lines or JSON lines on the console's file, flushed each refresh.
    """

    def __init__(self, stream, asJSON):
        self.stream = stream
        self.asJSON = asJSON
        self._reachable = None     # not known before the first refresh

    def show(self, snapshot, interval):
        """
        Write one refresh.
        """
        if self.asJSON:
            lines = [json.dumps(snapshotJSON(snapshot), default=_jsonDefault)]
        else:
            lines = self._plain(snapshot, interval)
        if lines:
            self.stream.write("".join(line + "\n" for line in lines))
            self.stream.flush()

    def _plain(self, snapshot, interval):
        stamp = snapshot.time.isoformat()
        lines = []
        if not snapshot.reachable:
            # one line when the node becomes unreachable, not one a refresh
            if self._reachable is not False:
                lines.append("{} {}; retrying every {}s".format(
                    stamp, snapshot.error, _number(interval)))
            self._reachable = False
            return lines
        if self._reachable is False:
            lines.append("{} node reachable again at {} (uuid {})".format(
                stamp, snapshot.node, snapshot.uuid))
        self._reachable = True
        if snapshot.error:
            lines.append("{} error: {}".format(stamp, snapshot.error))
        elif not snapshot.apps:
            lines.append("{} no apps".format(stamp))
        for name, info in snapshot.apps:
            lines.append(appLine(snapshot, name, info))
        return lines


def render(snapshot, interval, last=None, showWorkers=True):
    """
    The full-screen view of a refresh as a rich renderable.

    @param last: the last snapshot that reached the node, shown (marked as
        such) while the node is unreachable.
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    asciiHead = _asciiHead()
    # The most useful first: a narrow terminal crops the end of the line.
    header = Text()
    header.append("cocaine top", style="bold")
    header.append("  node {}".format(snapshot.node))
    header.append("  {}".format(snapshot.time.strftime("%Y-%m-%d %H:%M:%S")))
    header.append("  apps {}".format(
        snapshot.total if snapshot.reachable else
        (last.total if last is not None else "-")))
    header.append("  uuid {}".format(
        snapshot.uuid or (last.uuid if last is not None else None) or "-"))
    header.no_wrap = True
    header.overflow = "crop"
    parts = [header]
    hint = "refresh {}s; q quits".format(_number(interval))
    shown = snapshot
    if not snapshot.reachable:
        parts.append(Text("{}; retrying every {}s".format(
            snapshot.error, _number(interval)), style="bold red"))
        if last is None:
            parts.append(Text(hint, style="dim"))
            return Group(*parts)
        parts.append(Text("last seen at {}:".format(
            last.time.strftime("%H:%M:%S")), style="dim"))
        shown = last
    elif snapshot.error:
        parts.append(Text(snapshot.error, style="bold red"))
    parts.append(Text(""))

    apps = Table(box=asciiHead, show_edge=False, pad_edge=False,
                 padding=(0, 2, 0, 0))
    for column, justify in [
            ("APP", "left"), ("STATE", "left"), ("WORKERS", "right"),
            ("QUEUE", "right"), ("REQ/S", "right"), ("ACCEPTED", "right"),
            ("REJECTED", "right"), ("REJ/S", "right"),
            ("CRASHLOGS", "right")]:
        apps.add_column(column, justify=justify, no_wrap=True)
    for name, info in shown.apps:
        state = info.get("state", "?")
        style = {"running": "green", "broken": "bold red",
                 "not running": "yellow"}.get(state, "yellow")
        if "pool" not in info:
            apps.add_row(name, Text(state, style=style))
            continue
        active, idle, starting, capacity = _pool(info)
        queue = info.get("queue") or {}
        requests = info.get("requests") or {}
        rates = info.get("per-second") or {}
        rejected = requests.get("rejected") or 0
        apps.add_row(
            name, Text(state, style=style),
            "{}/{}/{} of {}".format(active, idle, starting,
                                    _number(capacity)),
            "{}/{}".format(_number(queue.get("depth")),
                           _number(queue.get("capacity"))),
            _number(rates.get("accepted")),
            _number(requests.get("accepted")),
            Text(_number(requests.get("rejected")),
                 style="red" if rejected else ""),
            _number(rates.get("rejected")),
            _number(info.get("crashlogs")))
    if not shown.apps:
        parts.append(Text("no apps running; " + hint, style="dim"))
    else:
        parts.append(_Cropped(apps))
        parts.append(Text(_LEGEND + "; " + hint, style="dim"))

    if showWorkers:
        for name, info in shown.apps:
            workers = info.get("workers")
            if workers is None:
                continue
            parts.append(Text(""))
            table = Table(title="{} workers".format(name),
                          title_justify="left", title_style="bold",
                          box=asciiHead, show_edge=False, pad_edge=False,
                          padding=(0, 2, 0, 0))
            for column, justify in [
                    ("UUID", "left"), ("PID", "right"), ("STATE", "left"),
                    ("LOAD", "right"), ("CPU %", "right"),
                    ("RSS MB", "right"), ("ACCEPTED", "right")]:
                table.add_column(column, justify=justify, no_wrap=True)
            for worker in workers:
                rss = worker.get("rss")
                table.add_row(
                    textOf(worker.get("uuid", "-"))[:8],
                    _number(worker.get("pid")),
                    textOf(worker.get("state", "-")),
                    _number(worker.get("load")),
                    _number(worker.get("cpu")),
                    "-" if rss is None else "{:.1f}".format(rss / 1048576.0),
                    _number(worker.get("accepted")))
            if not workers:
                table.add_row("(none)", "", "", "", "", "", "")
            parts.append(_Cropped(table))
    return Group(*parts)


_LEGEND = "workers: active/idle/starting of limit; queue: depth/limit"


class _Cropped:
    """
    A table at its natural width, its right end cropped by a narrow
    terminal, rather than every column squeezed and cut.
    """

    def __init__(self, renderable):
        self.renderable = renderable

    def __rich_console__(self, console, options):
        from rich.measure import Measurement
        from rich.segment import Segment
        natural = Measurement.get(
            console, options.update_width(10000), self.renderable).maximum
        width = max(options.max_width, natural)
        lines = console.render_lines(
            self.renderable, options.update_width(width), pad=False)
        for line in lines:
            yield from Segment.adjust_line_length(
                line, options.max_width, pad=False)
            yield Segment.line()


def _asciiHead():
    from rich.box import Box
    # rich's SIMPLE_HEAD (a rule under the header, nothing else) in ASCII,
    # so the view needs no Unicode from the terminal.
    return Box("    \n    \n -- \n    \n    \n    \n    \n    \n",
               ascii=True)
