# -*- test-case-name: tests.tool.test_top -*-
"""
C{cocaine-tool top}: a live view of a node's apps.

    cocaine-tool top                      # full screen, refreshing each second
    cocaine-tool top --app echo           # one app and its workers
    cocaine-tool top --interval 5 > log   # not a terminal: plain lines
    cocaine-tool --json top               # one JSON object per refresh

Each refresh asks the locator for the node's uuid, the node service for
its apps (C{node.list}) and each app's info map (C{node.info}, PROTOCOL.md
section 5). Requests per second are the change of C{requests.accepted}
between two refreshes divided by the real time between the two info calls;
the rejected rate is computed the same way from C{requests.rejected}. The
first refresh (and the first one after the node restarted, that is after
its uuid changed) has no rate yet. L{cocaine.tool.sampler} samples,
L{cocaine.tool.topview} draws and L{cocaine.tool.terminal} reads the keys.

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
    L{cocaine.tool.topview.snapshotJSON}).

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
import errno
import os
import signal
import sys
import time

from cocaine.tool import topview
from cocaine.tool.sampler import Sampler
from cocaine.tool.terminal import Keys

#: The exit status when no refresh reached the node.
EXIT_UNREACHABLE = 1


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
        with Keys(sys.stdin) as keys, Live(
                console=console, screen=True, auto_refresh=False,
                redirect_stdout=False, redirect_stderr=False,
                transient=False) as live:
            while True:
                started = time.monotonic()
                snapshot = sampler.sample()
                refreshes += 1
                if snapshot.reachable:
                    last = snapshot
                frame = topview.render(snapshot, args.interval, last)
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
    output = topview.LineOutput(stream, ctx.json)
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
