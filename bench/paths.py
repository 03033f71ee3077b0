# -*- test-case-name: tests.bench.test_paths,tests.integration.test_bench -*-
"""
What one request costs on the node's hot paths, in CPU instructions,
side by side with another revision of this repository.

    python -m bench.paths [--against REV | --pure] [--requests N] [--quick]
                          [--only WORKLOAD ...]

Each workload of L{bench.pathload} (an app request through the server
protocol and the engine, a storage read, the worker SDK serving a ping,
the same on its real event loop over a UNIX socket, both serving the echo
app's coroutine handler, and the client SDK's
side of an app echo and of a storage read; with C{--only}, also the
app workload with token auth on (C{app-auth}), and the app workload's
requests through a bare forwarder, the two-hop floor in memory, alone
and with a session machine and the engine's accounting)
runs in a process of its own under C{valgrind --tool=callgrind}, twice:
with C{N} and with C{3N} requests; the difference over C{2N} is the
instructions per request, without start-up and imports. Instruction
counts do not depend on what else the machine is doing, so two revisions
compare on a shared, noisy machine where request rates do not (the wall
clock figures of L{bench.apps} and L{bench.rpc} drift by tens of percent
between runs here). C{REV} is checked out into a temporary worktree,
removed afterwards; as that worktree has no compiled modules, both
revisions then run from their Python source (L{cocaine.compiled}).
C{--pure} compares this tree as built with itself run from the Python
source of its compiled modules: what compiling them buys. Needs
valgrind (Debian's C{valgrind}).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

from bench.rpc import machine
from cocaine.compiled import ENV_PURE, describeBuild

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOAD = os.path.join(ROOT, "bench", "pathload.py")
#: what a run measures unless told (C{--only})
DEFAULT = ("app", "stream", "storage", "worker", "worker-loop",
           "worker-echo", "worker-echo-loop", "client-app",
           "client-request", "client-call")
#: and with C{--only}: the two-hop floor in memory, priced piece by piece
#: (they need this tree's modules: a revision from before 2026-12-05 has
#: no C{cocaine.statemachine.constructor})
WORKLOADS = DEFAULT + ("app-auth", "frames", "forward", "forward-machine",
                       "forward-accounting", "client-stream",
                       "client-consume")


def instructions(tree, workload, requests, pure=False):
    """
    @return: the instructions callgrind counted for C{requests} requests
        of C{workload} with C{tree} first on the path (and its compiled
        modules run from their Python source if C{pure}).
    """
    env = dict(os.environ, PYTHONPATH=tree)
    env[ENV_PURE] = "1" if pure else "0"
    # the figures are of 16 requests a read, whatever the shell set
    env.pop("PATHLOAD_BATCH", None)
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, LOAD, workload, str(requests)],
        cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    match = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or match is None:
        raise RuntimeError("{} on {} failed: {}".format(
            workload, tree, result.stderr.strip().splitlines()[-3:]))
    return int(match.group(1))


def perRequest(tree, workload, requests, pure=False):
    low = instructions(tree, workload, requests, pure)
    high = instructions(tree, workload, 3 * requests, pure)
    return (high - low) / (2.0 * requests)


def checkout(revision):
    """
    @return: a temporary worktree of C{revision}.
    @raise ValueError: C{revision} is not a commit of this repository.
    """
    found = subprocess.run(
        ["git", "-C", ROOT, "rev-parse", "--verify", "--quiet",
         revision + "^{commit}"], capture_output=True, text=True)
    if found.returncode != 0:
        raise ValueError("--against: {!r} is not a commit of this "
                         "repository".format(revision))
    directory = tempfile.mkdtemp(prefix="cocaine-paths-")
    added = subprocess.run(["git", "-C", ROOT, "worktree", "add",
                            "--detach", directory, found.stdout.strip()],
                           capture_output=True, text=True)
    if added.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise ValueError("--against: cannot check out {}: {}".format(
            revision, added.stderr.strip()))
    return directory


def remove(directory):
    subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force",
                    directory], capture_output=True)
    shutil.rmtree(directory, ignore_errors=True)


def revisionOf(tree):
    return subprocess.run(["git", "-C", tree, "rev-parse", "--short",
                           "HEAD"], capture_output=True,
                          text=True).stdout.strip() or "?"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.paths")
    parser.add_argument("--against", metavar="REV",
                        help="a revision to compare with (a commit, tag or "
                        "branch of this repository)")
    parser.add_argument("--pure", action="store_true",
                        help="compare with this tree run from the Python "
                        "source of its compiled modules")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--quick", action="store_true",
                        help="200 requests (a check that it runs)")
    parser.add_argument("--only", metavar="WORKLOAD", nargs="+",
                        choices=WORKLOADS,
                        help="measure only these workloads (of: {})".format(
                            ", ".join(WORKLOADS)))
    args = parser.parse_args(argv)
    if args.quick:
        args.requests = 200
    if args.pure and args.against:
        parser.error("--pure compares this tree with itself: not with "
                     "--against")
    if args.requests < 16:
        parser.error("--requests: at least 16 (a read carries 16), got "
                     "{}".format(args.requests))
    if shutil.which("valgrind") is None:
        print("bench.paths: skipped, it needs valgrind (apt install "
              "valgrind)")
        return 0
    try:
        other = checkout(args.against) if args.against else None
    except ValueError as e:
        sys.stderr.write("bench.paths: {}\n".format(e))
        return 2
    try:
        print("machine: " + machine())
        print("command: python -m bench.paths" + (
            " " + " ".join(argv) if argv else ""))
        print("instructions per request (callgrind; {} and {} requests, "
              "16 a read)".format(args.requests, 3 * args.requests))
        if other:
            # the other revision's worktree has no compiled modules:
            # compare like with like
            print("both revisions from their Python source ({}=1)".format(
                ENV_PURE))
        else:
            print("this tree: " + describeBuild())
        print()
        columns = ["this tree (at {})".format(revisionOf(ROOT))]
        if other:
            columns.insert(0, "{} ({})".format(args.against,
                                               revisionOf(other)))
        elif args.pure:
            columns.insert(0, "its Python source ({}=1)".format(ENV_PURE))
        compared = other or args.pure
        print("| path | " + " | ".join(columns) + (
            " | this/that |" if compared else " |"))
        print("|---|" + "---|" * (len(columns) + (1 if compared else 0)))
        for workload in args.only or DEFAULT:
            ours = perRequest(ROOT, workload, args.requests,
                              pure=bool(other))
            cells = ["{:,.0f}".format(ours)]
            if compared:
                theirs = perRequest(other or ROOT, workload, args.requests,
                                    pure=True)
                cells = ["{:,.0f}".format(theirs)] + cells + [
                    "{:.3f}".format(ours / theirs)]
            print("| {} | {} |".format(workload, " | ".join(cells)))
    finally:
        if other:
            remove(other)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
