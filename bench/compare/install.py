# -*- test-case-name: tests.integration.test_bench -*-
"""
Everything the comparison needs, installed outside the repository: cote
with npm (where the interop tests keep it), zerorpc, Nameko and matplotlib
in virtualenvs under C{$COCAINE_BENCH_HOME} (L{bench.peers.python_peers}),
RabbitMQ and Redis from Debian with their services left stopped.

    python -m bench.compare.install
"""

import json
import os
import platform
import subprocess
import sys

from bench.compare import sides as S
from bench.compare.processes import Unavailable, aptInstall


def _output(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cote():
    from bench.mesh import COTE_MODULES, Unavailable as Missing, ensureCote
    try:
        ensureCote()
    except Missing as e:
        raise Unavailable(str(e))
    return COTE_MODULES


def ensureAll(wanted=lambda key: True):
    """
    Install what the wanted sides need.

    @param wanted: tells whether a side's key is part of this run.
    @return: C{{"sides": [Side, ...], "skipped": {key: reason},
        "versions": {name: version}, "charts": python or None}}.
    """
    import twisted
    import cocaine
    from cocaine.compiled import describeBuild
    versions = {"ours": "cocaine {} ({})".format(cocaine.__version__,
                                                 describeBuild()),
                "python": platform.python_version(),
                "twisted": twisted.__version__}
    sides, skipped, charts = [], {}, None
    python = {}
    # matplotlib (for the charts) comes with the Python peers' venvs
    try:
        from bench.peers import benchHome
        from bench.peers.python_peers import ensure
        python = ensure(benchHome())
        versions.update(python.get("versions", {}))
        charts = python.get("charts")
    except Exception as e:          # any failure: those peers skip
        reason = "{}: {}".format(type(e).__name__, e)
        skipped.update({"zerorpc": reason, "nameko": reason,
                        "charts": reason})
    if wanted("ours"):
        sides.append(S.Ours())
    if wanted("ours-auth"):
        sides.append(S.OursAuth())
    if wanted("zerorpc") and python.get("zerorpc"):
        sides.append(S.ZeroRPC(python["zerorpc"]))
    if wanted("nameko") and python.get("nameko"):
        try:
            from bench.peers.rabbitmq import ensureInstalled
            ensureInstalled()
            versions["rabbitmq"] = _output(
                ["dpkg-query", "-W", "-f", "${Version}", "rabbitmq-server"])
            sides.append(S.Nameko(python["nameko"]))
        except Exception as e:
            skipped["nameko"] = "RabbitMQ: {}".format(e)
    if wanted("cote"):
        try:
            sides.append(S.Cote(_cote()))
            versions["node"] = _output(["node", "--version"])
            with open(os.path.join(sides[-1].modules, "cote",
                                   "package.json")) as f:
                versions["cote"] = json.load(f)["version"]
        except (Unavailable, OSError, ValueError) as e:
            skipped["cote"] = str(e)
    if wanted("floor"):
        sides.append(S.Floor())
    if wanted("relay"):
        sides.append(S.Relay())
    if wanted("redis"):
        try:
            aptInstall(["redis-server", "redis-tools"],
                       ["redis-server", "redis-benchmark"])
            versions["redis"] = _output(["redis-server", "--version"]).split(
                " sha=")[0]
        except Unavailable as e:
            skipped["redis"] = str(e)
    for key, reason in skipped.items():
        print("  {} skipped: {}".format(key, reason), flush=True)
    return {"sides": sides, "skipped": skipped, "versions": versions,
            "charts": charts}


def main():
    found = ensureAll()
    print(json.dumps({"sides": [side.key for side in found["sides"]],
                      "skipped": found["skipped"],
                      "versions": found["versions"],
                      "charts": found["charts"]}, indent=1))
    return 1 if found["skipped"] else 0


if __name__ == "__main__":
    sys.exit(main())
