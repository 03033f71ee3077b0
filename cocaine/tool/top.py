# -*- test-case-name: tests.tool.test_top -*-
"""
C{cocaine-tool top}: a live view of a node's apps.

    cocaine-tool top                      # full screen, refreshing each second
    cocaine-tool top --app echo           # one app and its workers
    cocaine-tool top --interval 5 > log   # not a terminal: plain lines
    cocaine-tool --json top               # one JSON object per refresh

Each refresh asks the locator for the node's uuid, the node service for its
apps (C{node.list}) and each app's info map (C{node.info}, PROTOCOL.md
section 5). Requests per second are the change of C{requests.accepted}
between two refreshes divided by the real time between the two info calls;
the rejected rate is computed the same way from C{requests.rejected}. The
first refresh (and the first one after the node restarted, that is after
its uuid changed) has no rate yet.

Three outputs:

  - stdout is a terminal: a full-screen view on the alternate screen
    (rich C{Live}), redrawn each refresh and when the terminal is resized.
    C{q} quits; keys are read from stdin in cbreak mode with C{select}, and
    the terminal is restored however the view ends (q, Ctrl-C, SIGTERM, an
    error). The view is plain ASCII (any terminal, any locale, over SSH);
    a narrow terminal crops the right end of the tables rather than
    squeezing their columns. No mouse.
  - stdout is not a terminal: one line per app per refresh,
    C{2026-11-23T15:00:00 echo running workers=1/4 active=0 idle=1
    starting=0 queue=0/100 req/s=12.5 accepted=120 rejected=0 rejected/s=0.0
    crashlogs=0} (C{workers} counts active, idle and starting workers
    against the pool limit; C{-} where there is no rate yet), or C{<time>
    no apps}; with C{--app} an app the node does not run gives C{<time>
    NAME not running}.
  - C{--json}: one JSON object per refresh, one line each (see
    L{snapshotJSON}).

A node that cannot be reached does not end the view: the screen says "node
unreachable" and the next refresh tries again; plain mode prints one line
when the node becomes unreachable and one when it is back; JSON mode gives
C{"reachable": false} objects.

Each call waits at most the tool's C{--timeout}, capped at the larger of
5 s and two intervals, so a stuck node shows as unreachable instead of
freezing the view.

Exit status: 0 when the view ends (q, Ctrl-C, SIGTERM, or after
C{--iterations} refreshes) having reached the node at least once; 1
(L{EXIT_UNREACHABLE}) when no refresh ever reached it.
"""

import argparse
import datetime
import errno
import json
import os
import select
import signal
import sys
import time

from cocaine.errors import (
    AppNotRunning, CallTimeout, CocaineError, NotConnected)

#: The exit status when no refresh reached the node.
EXIT_UNREACHABLE = 1

_QUIT_KEYS = b"qQ"


def register(subparsers):
    """
    Add the C{top} command to the tool's subcommands.
    """
    parser = subparsers.add_parser(
        "top", help="a live view of the node's apps and workers",
        description="A live view of the node's apps: state, workers, queue, "
        "requests/s, errors and crashlogs, and each app's workers with pid, "
        "load, CPU and RSS. Full screen on a terminal (q or Ctrl-C quits); "
        "one line per app per refresh when stdout is not a terminal; one "
        "JSON object per refresh with --json. Exits 0, or 1 when the node "
        "was never reached.")
    parser.add_argument(
        "--interval", type=_positiveFloat, default=1.0, metavar="SECONDS",
        help="seconds between refreshes (default: 1)")
    parser.add_argument(
        "--iterations", type=_nonNegativeInt, default=0, metavar="N",
        help="stop after N refreshes (default: 0, until q or Ctrl-C)")
    parser.add_argument(
        "--app", metavar="NAME", default=None,
        help="show only this app (and its workers)")
    parser.set_defaults(func=run)
    return parser


def _positiveFloat(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number: {!r}".format(text))
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(
            "must be a positive number of seconds: {!r}".format(text))
    return value


def _nonNegativeInt(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an integer: {!r}".format(text))
    if value < 0:
        raise argparse.ArgumentTypeError(
            "must be 0 or more: {!r}".format(text))
    return value


# -- sampling -----------------------------------------------------------------


class Snapshot:
    """
    What one refresh saw.

    @ivar time: the local wall-clock time of the refresh (a datetime).
    @ivar node: C{"host:port"} of the locator asked.
    @ivar uuid: the node's uuid, or L{None} when it could not be asked.
    @ivar reachable: whether the node answered.
    @ivar error: L{None}, or a one-line description of what failed.
    @ivar apps: C{[(name, info)]} in the node's order, where C{info} is the
        node's info map plus C{"per-second": {"accepted", "rejected"}}
        (floats, or L{None} without a previous refresh), or C{{"state": "not
        running"}} for a C{--app} the node does not run.
    @ivar total: how many apps the node runs.
    """

    def __init__(self, time, node):
        self.time = time
        self.node = node
        self.uuid = None
        self.reachable = False
        self.error = None
        self.apps = []
        self.total = 0


def _unreachableErrors():
    from twisted.internet.defer import TimeoutError as DeferredTimeout
    from twisted.internet.error import ConnectError
    return (NotConnected, CallTimeout, ConnectError, DeferredTimeout,
            OSError)


#: What a call raises when the node cannot be reached or does not answer.
_UNREACHABLE = _unreachableErrors()


class Sampler:
    """
    Takes L{Snapshot}s of a node through the tool context's blocking
    services, remembering the previous counters to compute rates.
    """

    def __init__(self, ctx, app=None, callTimeout=None, clock=time.monotonic,
                 now=datetime.datetime.now):
        self.ctx = ctx
        self.app = app
        self.node = "{}:{}".format(ctx.host, ctx.port)
        self.callTimeout = callTimeout
        self.reached = False
        self._clock = clock
        self._now = now
        self._services = {}
        self._uuid = None
        self._previous = {}

    def _service(self, name):
        service = self._services.get(name)
        if service is None:
            service = self._services[name] = self.ctx.service(name)
        return service

    def _call(self, service, method, *args):
        method = getattr(self._service(service), method)
        if self.callTimeout is None:
            return method(*args)
        return method(*args, timeout=self.callTimeout)

    def sample(self):
        """
        One refresh.

        @return: a L{Snapshot}; failures are in it, never raised (except
            programming errors).
        """
        snapshot = Snapshot(self._now().replace(microsecond=0), self.node)
        try:
            uuid = self._call("locator", "uuid")
            if isinstance(uuid, bytes):
                uuid = uuid.decode("utf-8", "replace")
            snapshot.uuid = uuid
            snapshot.reachable = True
            self.reached = True
            if uuid != self._uuid:
                # Another node (or the same one restarted): its counters
                # started again, so the previous ones mean nothing.
                self._uuid = uuid
                self._previous.clear()
            names = [_text(name) for name in self._call("node", "list")]
            snapshot.total = len(names)
            wanted = [self.app] if self.app is not None else names
            for name in wanted:
                if name not in names:
                    snapshot.apps.append((name, {"state": "not running"}))
                    self._previous.pop(name, None)
                    continue
                try:
                    info = self._call("node", "info", name)
                except AppNotRunning:
                    # stopped between list and info
                    if self.app is not None:
                        snapshot.apps.append(
                            (name, {"state": "not running"}))
                    self._previous.pop(name, None)
                    continue
                snapshot.apps.append((name, self._withRates(name, info)))
        except _UNREACHABLE as e:
            snapshot.reachable = False
            snapshot.apps = []
            snapshot.error = "node unreachable at {} ({})".format(
                self.node, _unreachableReason(e))
        except CocaineError as e:
            snapshot.error = "{}: {}".format(type(e).__name__, _oneLine(e))
        return snapshot

    def _withRates(self, name, info):
        info = dict(info)
        requests = info.get("requests") or {}
        accepted = requests.get("accepted")
        rejected = requests.get("rejected")
        now = self._clock()
        rates = {"accepted": None, "rejected": None}
        previous = self._previous.get(name)
        if previous is not None:
            then, accepted0, rejected0 = previous
            elapsed = now - then
            if elapsed > 0:
                rates["accepted"] = _rate(accepted0, accepted, elapsed)
                rates["rejected"] = _rate(rejected0, rejected, elapsed)
        self._previous[name] = (now, accepted, rejected)
        info["per-second"] = rates
        return info


def _rate(before, after, elapsed):
    if not isinstance(before, (int, float)) or not isinstance(
            after, (int, float)) or after < before:
        return None   # unknown, or the counter started again
    return (after - before) / elapsed


def _unreachableReason(error):
    """
    Why the node could not be reached, short: C{connection refused},
    C{no answer within 5s}, or the client's message without its prefix.
    """
    message = _oneLine(error)
    if isinstance(error, CallTimeout):
        return message
    lowered = message.lower()
    if "refused" in lowered:
        return "connection refused"
    if "timed out" in lowered or "timeout" in lowered:
        return "connection timed out"
    prefix = "cannot connect to locator at "
    if message.startswith(prefix) and ": " in message[len(prefix):]:
        message = message[len(prefix):].split(": ", 1)[1]
    return message.rstrip(".") or type(error).__name__


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _oneLine(error):
    text = str(error) or type(error).__name__
    return " ".join(text.split())


# -- plain and JSON output ------------------------------------------------------


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


class _LineOutput:
    """
    Plain lines or JSON lines on the console's file, flushed each refresh.
    """

    def __init__(self, stream, asJSON):
        self.stream = stream
        self.asJSON = asJSON
        self._reachable = None     # not known before the first refresh

    def show(self, snapshot, interval):
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


# -- the full-screen view --------------------------------------------------------


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
                    _text(worker.get("uuid", "-"))[:8],
                    _number(worker.get("pid")),
                    _text(worker.get("state", "-")),
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


class _Keys:
    """
    The terminal's keys, in cbreak mode while in use; always restored.

    C{wait(timeout)} returns C{"quit"} when q was pressed, C{"resize"} when
    the terminal was resized, L{None} when the timeout passed.
    """

    def __init__(self, stream):
        self.fd = None
        self._saved = None
        self._pipe = None
        self._oldWakeup = None
        self._oldWinch = None
        self.resized = False
        try:
            fd = stream.fileno()
        except (AttributeError, ValueError, OSError):
            return
        if os.isatty(fd):
            self.fd = fd

    def __enter__(self):
        if self.fd is not None:
            import termios
            import tty
            try:
                self._saved = termios.tcgetattr(self.fd)
                tty.setcbreak(self.fd, termios.TCSANOW)
            except termios.error:
                self.fd = None
        self._watchResize()
        return self

    def _watchResize(self):
        # A SIGWINCH wakes the select through a wakeup pipe, so the view is
        # redrawn at the new size at once rather than at the next refresh.
        if not hasattr(signal, "SIGWINCH"):
            return
        read, write = os.pipe()
        try:
            os.set_blocking(read, False)
            os.set_blocking(write, False)
            oldWakeup = signal.set_wakeup_fd(write)
        except (ValueError, OSError):   # not the main thread
            os.close(read)
            os.close(write)
            return
        self._oldWakeup = oldWakeup
        self._oldWinch = signal.signal(signal.SIGWINCH, self._onResize)
        self._pipe = (read, write)

    def _onResize(self, signum, frame):
        self.resized = True

    def __exit__(self, *exc):
        if self._pipe is not None:
            signal.set_wakeup_fd(self._oldWakeup)
            signal.signal(signal.SIGWINCH, self._oldWinch)
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None
        if self._saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None
        return False

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if self.resized:
                self.resized = False
                return "resize"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            fds = [fd for fd in (self.fd, self._pipe and self._pipe[0])
                   if fd is not None]
            if not fds:
                time.sleep(remaining)
                continue
            ready, _, _ = select.select(fds, [], [], remaining)
            if self._pipe is not None and self._pipe[0] in ready:
                try:
                    while os.read(self._pipe[0], 512):
                        pass
                except BlockingIOError:
                    pass
            if self.fd is not None and self.fd in ready:
                data = os.read(self.fd, 1024)
                if not data:          # end of input: no more keys
                    self.fd = None
                elif any(key in data for key in _QUIT_KEYS):
                    return "quit"


class _Quit(Exception):
    """
    SIGTERM while the full-screen view is up.
    """


def _onTerm(signum, frame):
    raise _Quit()


def _runScreen(ctx, sampler, args):
    from rich.live import Live

    console = ctx.console
    last = None
    snapshot = None
    frame = None
    refreshes = 0
    finished = False
    try:
        oldTerm = signal.signal(signal.SIGTERM, _onTerm)
    except ValueError:     # not the main thread
        oldTerm = None
    try:
        with _Keys(sys.stdin) as keys, Live(
                console=console, screen=True, auto_refresh=False,
                redirect_stdout=False, redirect_stderr=False,
                transient=False) as live:
            while True:
                started = time.monotonic()
                snapshot = sampler.sample()
                refreshes += 1
                if snapshot.reachable:
                    last = snapshot
                frame = render(snapshot, args.interval, last)
                live.update(frame, refresh=True)
                if args.iterations and refreshes >= args.iterations:
                    finished = True
                    break
                while True:
                    remaining = args.interval - (time.monotonic() - started)
                    event = keys.wait(max(0.0, remaining))
                    if event == "resize":
                        live.refresh()
                        continue
                    break
                if event == "quit":
                    break
    except (KeyboardInterrupt, _Quit):
        pass
    finally:
        if oldTerm is not None:
            signal.signal(signal.SIGTERM, oldTerm)
    if finished and frame is not None:
        # Leaving the alternate screen wipes the view: leave the last
        # refresh in the scrollback, as `top -n` does.
        console.print(frame)
    return 0 if sampler.reached else EXIT_UNREACHABLE


def _runLines(ctx, sampler, args):
    stream = ctx.console.file
    output = _LineOutput(stream, ctx.json)
    refreshes = 0
    try:
        while True:
            started = time.monotonic()
            snapshot = sampler.sample()
            refreshes += 1
            output.show(snapshot, args.interval)
            if args.iterations and refreshes >= args.iterations:
                break
            remaining = args.interval - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # `cocaine-tool top | head`: the reader left; so do we, quietly.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
        except (AttributeError, ValueError, OSError):
            pass
    except OSError as e:
        if e.errno != errno.EPIPE:
            raise
    return 0 if sampler.reached else EXIT_UNREACHABLE


def run(ctx, args):
    """
    Run the view until q, Ctrl-C, or C{args.iterations} refreshes.

    @return: 0, or L{EXIT_UNREACHABLE} when no refresh reached the node.
    """
    interval = getattr(args, "interval", 1.0)
    iterations = getattr(args, "iterations", 0)
    app = getattr(args, "app", None)
    args = argparse.Namespace(interval=interval, iterations=iterations,
                              app=app)
    # A refresh must not hang on a stuck node for the tool's whole
    # --timeout: cap each call so the view keeps answering keys.
    callTimeout = max(5.0, 2 * interval)
    if ctx.timeout:
        callTimeout = min(ctx.timeout, callTimeout)
    sampler = Sampler(ctx, app=app, callTimeout=callTimeout)
    if not getattr(ctx, "json", False) and _fullScreen(ctx.console):
        return _runScreen(ctx, sampler, args)
    return _runLines(ctx, sampler, args)


def _fullScreen(console):
    """
    Whether the console is a real terminal that takes escape sequences:
    rich's own test, which FORCE_COLOR or TTY_COMPATIBLE=1 make true for a
    pipe too, and an actual tty (a full screen into a log file is no use).
    """
    if not console.is_terminal or console.is_dumb_terminal:
        return False
    try:
        return os.isatty(console.file.fileno())
    except (AttributeError, ValueError, OSError):
        return False
