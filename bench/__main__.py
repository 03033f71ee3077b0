# -*- test-case-name: tests.integration.test_bench -*-
"""
Run every benchmark: C{python -m bench [--quick]}.

Each benchmark runs in a process of its own (a Twisted reactor runs once
per process): first L{bench.rpc}, then L{bench.apps}, then
L{bench.cluster}, then L{bench.mesh}, then L{bench.compare} (ours beside
zerorpc, Nameko, cote, the Twisted floor and Redis), then L{bench.http}
(the HTTP gateway beside uWSGI) and L{bench.httpservers} (the bare HTTP
layers), then L{bench.auth} (calls with auth off and on), then
L{bench.services} (the platform services beside redis-benchmark and wrk),
then L{bench.paths} (instructions per request on the hot paths), then
L{bench.postgres} (the postgres storage backend's runners), with the same
arguments.
"""

import os
import subprocess
import sys

BENCHMARKS = ["bench.rpc", "bench.apps", "bench.cluster", "bench.mesh",
              "bench.compare", "bench.http", "bench.httpservers",
              "bench.auth", "bench.services", "bench.paths",
              "bench.postgres"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    failed = []
    for index, module in enumerate(BENCHMARKS):
        if index:
            print(flush=True)
        result = subprocess.run([sys.executable, "-m", module] + list(argv),
                                cwd=ROOT, env=env)
        if result.returncode:
            failed.append("{} (exit {})".format(module, result.returncode))
    if failed:
        sys.exit("failed: " + ", ".join(failed))


if __name__ == "__main__":
    main(sys.argv[1:])
