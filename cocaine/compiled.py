# -*- test-case-name: tests.test_compiled -*-
"""
The modules built with Cython from their own Python source, and the
switch that runs that source instead.

A module listed in L{MODULES} is compiled when the package is installed
on a machine with a C compiler (C{pyproject.toml}'s C{ext-modules}); a
C{.pxd} file beside it declares the types that make it fast. The C{.py}
file stays the source of truth: without a compiler it is what runs, and
the tests run on both (C{tests/protocol/test_framing.py}).

Set C{COCAINE_PURE_PYTHON=1} to run every listed module from its Python
source although it was compiled: for a profiler that sees Python frames
only, a debugger, or to measure what the compiled module buys
(C{python -m bench.paths --pure}). The node passes the variable on to its
workers.

A build older than its source is not run: a listed module whose C{.py}
file, or the C{.pxd} beside it, was changed after it was compiled (an
edit, a checkout) runs from its Python source, with a warning that names
the changed file, until the package is built again (C{make install}).
Otherwise an edit to, say, the server protocol would not be what the
node and the tests run.
"""

import importlib.machinery
import importlib.util
import os
import re
import sys
import warnings

#: The modules compiled when a C compiler is there (C{pyproject.toml}
#: lists the same): the codec and the IDL, the server protocol and its
#: writes, the app engine's per-request modules, and the worker SDK's
#: request path. A module that defines an Automat machine keeps its
#: input protocol in a Python module of its own (Automat finds a
#: protocol's inputs with C{inspect.isfunction}, which a compiled
#: function is not): L{cocaine.engine.sessioninputs} and
#: L{cocaine.engine.workerinputs}; the engine's machine stays Python.
#: Compiled as they are, untyped but for the decoder: 7% fewer
#: instructions a request in the node, 9% in a worker
#: (docs/performance.md, sixteenth round). A C{.pxd} beside a few makes
#: a class an extension type (the decoder, L{cocaine.rpc.upstream.Upstream},
#: L{cocaine.engine.pool.Pool}, L{cocaine.engine.session.Session} on
#: L{cocaine.engine.answer.SessionAnswer},
#: L{cocaine.engine.worker.Worker}, L{cocaine.engine.stats.AppStats},
#: the engine's L{cocaine.engine.admission.Admission}, the server
#: connection's L{cocaine.rpc.server.ServerState}, the
#: worker SDK's C{Request} and C{Response}): the compiled code's attribute
#: lookups on Python objects were an eighth of the node's samples on real
#: sockets (twentieth round).
MODULES = (
    "cocaine.protocol.framing", "cocaine.protocol.idl",
    "cocaine.protocol.relay",
    "cocaine.rpc.channels", "cocaine.rpc.flow", "cocaine.rpc.identity",
    "cocaine.rpc.server",
    "cocaine.rpc.upstream", "cocaine.rpc.writes",
    "cocaine.engine.admission", "cocaine.engine.answer",
    "cocaine.engine.connection", "cocaine.engine.pacing",
    "cocaine.engine.pool", "cocaine.engine.service", "cocaine.engine.session",
    "cocaine.engine.stats", "cocaine.engine.worker",
    "cocaine.worker.connection", "cocaine.worker.eager",
    "cocaine.worker.flow", "cocaine.worker.stream", "cocaine.worker.worker",
)

#: C{1} runs the listed modules from their Python source; C{0} or unset
#: runs what was built.
ENV_PURE = "COCAINE_PURE_PYTHON"


def pureWanted(environ=None):
    """
    @return: whether L{ENV_PURE} asks for the Python source.
    @raise ValueError: it is set to something else than C{0} or C{1}.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_PURE, "0")
    if value not in ("0", "1"):
        raise ValueError("{}={!r}: 0 or 1".format(ENV_PURE, value))
    return value == "1"


def isCompiled(module):
    """
    @return: whether C{module} was loaded from a compiled extension rather
        than from its Python source.
    """
    return isinstance(module.__spec__.loader,
                      importlib.machinery.ExtensionFileLoader)


def sourceSpec(name, path=None):
    """
    @return: the spec that loads module C{name} from its C{.py} file, or
        L{None} when it has none.
    """
    found = importlib.machinery.PathFinder.find_spec(name, path)
    if found is None or found.origin is None:
        return None
    source = os.path.join(os.path.dirname(found.origin),
                          name.rpartition(".")[2] + ".py")
    if not os.path.exists(source):
        return None
    return importlib.util.spec_from_file_location(name, source)


def pythonSource(name):
    """
    A fresh copy of module C{name} run from its Python source, not
    registered in C{sys.modules}: the pure-Python fallback, beside the
    compiled module, for tests and benchmarks.
    """
    spec = sourceSpec(name, _parentPath(name))
    if spec is None:
        raise ImportError("no Python source for {}".format(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parentPath(name):
    parent = name.rpartition(".")[0]
    if not parent:
        return None
    __import__(parent)
    return sys.modules[parent].__path__


#: How much newer than its build a module's source must be to count as
#: changed: installing a wheel writes both files within this.
STALE_AFTER = 2.0


class StaleBuild(RuntimeWarning):
    """
    A compiled module is older than its Python source, which runs
    instead.
    """


def staleBuild(spec):
    """
    @param spec: the spec Python's own finder found for a listed module.
    @return: the path of the module's C{.py} file, or else of the C{.pxd}
        beside it (its declarations, compiled into the build too), or of
        a module its C{.pxd} cimports (whose types the build was compiled
        with, and which runs from its source itself once changed), when
        C{spec} is a compiled build older than that file by more than
        L{STALE_AFTER} seconds; else L{None}.
    """
    if not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
        return None
    stem = os.path.join(os.path.dirname(spec.origin),
                        spec.name.rpartition(".")[2])
    try:
        built = os.stat(spec.origin).st_mtime
    except OSError:
        return None
    for path in _compiledFrom(stem, spec.name):
        try:
            changed = os.stat(path).st_mtime - built
        except OSError:
            continue
        if changed > STALE_AFTER:
            return path
    return None


#: A C{.pxd}'s C{from PACKAGE.MODULE cimport NAME} lines.
_CIMPORT = re.compile(r"^\s*from\s+([\w.]+)\s+cimport\b", re.MULTILINE)


def _compiledFrom(stem, name):
    """
    @param stem: a module's path without its extension.
    @param name: its dotted name.
    @return: the files a build of it was compiled from: its C{.py} and
        C{.pxd}, then those of each module its C{.pxd} cimports, in turn.
    """
    root = os.path.dirname(stem)
    for _ in range(name.count(".")):
        root = os.path.dirname(root)
    paths, stems = [], [stem]
    while stems:
        stem = stems.pop(0)
        paths += [stem + ".py", stem + ".pxd"]
        try:
            with open(stem + ".pxd") as declarations:
                text = declarations.read()
        except OSError:
            continue
        for other in _CIMPORT.findall(text):
            found = os.path.join(root, *other.split("."))
            if found + ".py" not in paths:
                stems.append(found)
    return paths


class SourceFinder:
    """
    A meta path finder for the modules of L{MODULES}: their Python source
    where L{everything} asks for it or where their build is older than
    it (L{staleBuild}); what was built otherwise.

    @cvar everything: whether every listed module runs from its source
        (L{usePythonSource}).
    """

    everything = False

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name not in MODULES:
            return None
        if cls.everything:
            return sourceSpec(name, path)
        found = importlib.machinery.PathFinder.find_spec(name, path)
        if found is None:
            return None
        changed = staleBuild(found)
        if changed is None:
            return found
        warnings.warn(
            "{}: {} changed after it was compiled; running it as Python "
            "until the package is built again (make install)".format(
                name, changed), StaleBuild, stacklevel=2)
        return importlib.util.spec_from_file_location(
            name, os.path.splitext(changed)[0] + ".py")

    @staticmethod
    def invalidate_caches():
        pass


def describeBuild(environ=None):
    """
    What a process started now would run, for a benchmark's report:
    C{"16 of 16 modules compiled"}, or which run from their source and
    why.

    @param environ: the environment it starts with (this one's if
        L{None}).
    """
    if pureWanted(environ):
        return "0 of {} modules compiled ({}=1)".format(
            len(MODULES), ENV_PURE)
    stale, notBuilt = [], []
    for name in MODULES:
        spec = importlib.machinery.PathFinder.find_spec(
            name, _parentPath(name))
        if spec is None or not isinstance(
                spec.loader, importlib.machinery.ExtensionFileLoader):
            notBuilt.append(name)
        elif staleBuild(spec) is not None:
            stale.append(name)
    text = "{} of {} modules compiled".format(
        len(MODULES) - len(stale) - len(notBuilt), len(MODULES))
    reasons = []
    if stale:
        reasons.append("changed since built: " + ", ".join(stale))
    if notBuilt:
        reasons.append("not built: " + ", ".join(notBuilt))
    return text + (" ({})".format("; ".join(reasons)) if reasons else "")


def useBuiltWhereCurrent():
    """
    From now on, import the modules of L{MODULES} from what was built,
    but for those whose source changed since (L{staleBuild}).
    """
    if SourceFinder not in sys.meta_path:
        sys.meta_path.insert(0, SourceFinder)


def usePythonSource():
    """
    From now on, import the modules of L{MODULES} from their Python
    source (those already imported stay as they are).
    """
    SourceFinder.everything = True
    useBuiltWhereCurrent()
