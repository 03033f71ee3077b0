# -*- test-case-name: tests.engine.test_environment -*-
"""
The environment a worker starts with: never the node's whole environment
(which may hold secrets: tokens, keys, passwords of the operator's
shell), only what a worker needs to run:

  - C{PATH}, with the directory of the node's own interpreter first, so a
    worker starting with C{#!/usr/bin/env python3} runs on the
    installation that has our worker SDK;
  - the locale (C{LANG}, C{LC_*}), C{TZ};
  - C{PYTHONPATH}, where the node found its own packages (the worker SDK,
    the 0.12 framework), set by whoever started the node;
  - the worker SDK's own settings and the CA clients verify a TLS node
    against (L{WORKER_VARIABLES});

then the profile's C{environment} (the operator's) and the manifest's
(the app's), which the pool adds; the app token variables are the
pool's too. A profile C{user} gets its own C{HOME}, C{USER} and
C{LOGNAME}.
"""

import os
import sys

#: Passed through from the node's environment by name.
INHERITED = ("PATH", "LANG", "LANGUAGE", "TZ", "PYTHONPATH")

#: Passed through when set: the worker SDK's timing settings, its choice
#: of event loop and of eager handlers (L{cocaine.worker.worker}), whether
#: compiled modules run from their source (L{cocaine.compiled}), whether
#: start-up is frozen out of garbage collection (L{cocaine.heap}) and the
#: CA (and name) clients check a node with C{network.tls} against
#: (L{cocaine.rpc.tls}, L{cocaine.worker.tls}).
WORKER_VARIABLES = ("COCAINE_HEARTBEAT_INTERVAL", "COCAINE_DISOWN_TIMEOUT",
                    "COCAINE_TERMINATE_GRACE", "COCAINE_WORKER_LOOP",
                    "COCAINE_WORKER_EAGER", "COCAINE_PURE_PYTHON",
                    "COCAINE_GC_FREEZE",
                    # how clients reach a node with network.tls (not the
                    # node's own client certificate: see docs/security.md)
                    "COCAINE_TLS_CA", "COCAINE_TLS_SERVER_NAME")


def workerEnvironment(environ=None):
    """
    The base environment of workers, taken from C{environ} (the node's
    by default).

    @rtype: L{dict}
    """
    environ = os.environ if environ is None else environ
    env = {key: value for key, value in environ.items()
           if key in INHERITED or key in WORKER_VARIABLES
           or key.startswith("LC_")}
    here = os.path.dirname(sys.executable)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    env["PATH"] = os.pathsep.join([here] + [p for p in parts if p != here])
    return env

