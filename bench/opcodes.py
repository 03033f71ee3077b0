# -*- test-case-name: tests.bench.test_opcodes -*-
"""
Python bytecodes and calls per request, by function, for a workload of
L{bench.paths}:

    python -m bench.opcodes WORKLOAD [--requests N] [--top K]

Where C{bench.paths} counts a path's machine instructions (callgrind),
this counts what the interpreter executes: every bytecode of every Python
function, through C{sys.settrace} with opcode events. A figure is the
difference between runs of C{N} and C{3N} requests, halved per request,
so the workload's set-up is left out. It names the functions a request
spends its bytecodes in, which a sampling profiler cannot tell apart on
a path of ~60 calls with none above 10%. Tracing slows the code ~50x:
the counts are exact, the time is not measured.

The count runs in a process of its own with C{COCAINE_PURE_PYTHON=1}:
a compiled module (L{cocaine.compiled}) runs no bytecodes, so its Python
source is what is counted.
"""

import argparse
import collections
import json
import os
import subprocess
import sys

from bench.arguments import positive
from bench.paths import WORKLOADS


class OpcodeCounter:
    """
    Counts the bytecodes and calls of each Python function while it is
    installed (L{run}).

    @ivar opcodes: a L{collections.Counter} of bytecodes by function.
    @ivar calls: a L{collections.Counter} of calls by function.
    """

    def __init__(self, root=""):
        """
        @param root: a path prefix left out of the functions' names.
        """
        self.root = root
        self.opcodes = collections.Counter()
        self.calls = collections.Counter()
        self._names = {}

    def _name(self, code):
        name = self._names.get(code)
        if name is None:
            path = code.co_filename
            if self.root and path.startswith(self.root):
                path = path[len(self.root):].lstrip("/")
            name = self._names[code] = "{}:{}({})".format(
                path, code.co_firstlineno, code.co_name)
        return name

    def _trace(self, frame, event, arg):
        frame.f_trace_opcodes = True
        name = self._name(frame.f_code)
        if event == "call":
            self.calls[name] += 1
        opcodes = self.opcodes

        def local(frame, event, arg):
            if event == "opcode":
                opcodes[name] += 1
            return local
        return local

    def run(self, function, *args):
        """
        Call C{function(*args)} with counting on.
        """
        sys.settrace(self._trace)
        try:
            return function(*args)
        finally:
            sys.settrace(None)


#: the checkout this file is in
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def perRequest(workload, requests, root=""):
    """
    Count C{workload} over C{requests} and C{3 * requests} requests, in a
    process of its own that runs every module from its Python source.

    @return: C{(opcodes, calls)}: two maps of function name to bytecodes
        and to calls per request.
    """
    env = dict(os.environ, COCAINE_PURE_PYTHON="1", PYTHONPATH=ROOT)
    result = subprocess.run(
        [sys.executable, "-c",
         "import json, sys; from bench.opcodes import countHere; "
         "print(json.dumps(countHere(sys.argv[1], int(sys.argv[2]), "
         "sys.argv[3])))", workload, str(requests), root],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if result.returncode:
        raise RuntimeError("bench.opcodes {}: {}".format(
            workload, result.stderr.strip().splitlines()[-3:]))
    return tuple(json.loads(result.stdout.strip().splitlines()[-1]))


def countHere(workload, requests, root=""):
    """
    L{perRequest} in this process, with the modules it has.
    """
    from bench.pathload import WORKLOADS as LOADS
    run = LOADS[workload]
    run(16)  # imports and first-use caches, not counted
    low, high = OpcodeCounter(root), OpcodeCounter(root)
    low.run(run, requests)
    high.run(run, 3 * requests)

    def per(a, b):
        names = set(a) | set(b)
        return {name: (b[name] - a[name]) / (2.0 * requests)
                for name in names if b[name] != a[name]}
    return per(low.opcodes, high.opcodes), per(low.calls, high.calls)


def report(opcodes, calls, top):
    """
    @return: the lines printed: the totals, then the C{top} functions by
        bytecodes per request.
    """
    total = sum(opcodes.values())
    lines = ["{:,.0f} bytecodes and {:.1f} Python calls a request".format(
        total, sum(calls.values())), "",
        "| bytecodes/request | share | calls/request | function |",
        "|---|---|---|---|"]
    ranked = sorted(opcodes.items(), key=lambda item: (-item[1], item[0]))
    for name, count in ranked[:top]:
        lines.append("| {:,.1f} | {:.1%} | {:.2f} | {} |".format(
            count, count / total if total else 0.0, calls.get(name, 0.0),
            name))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("--requests", type=positive, default=800)
    parser.add_argument("--top", type=positive, default=40)
    args = parser.parse_args(argv)
    opcodes, calls = perRequest(args.workload, args.requests, ROOT)
    print("Command: python -m bench.opcodes {} --requests {}".format(
        args.workload, args.requests))
    print()
    for line in report(opcodes, calls, args.top):
        print(line)


if __name__ == "__main__":
    main()
