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
"""

import importlib.machinery
import importlib.util
import os
import sys

#: The modules compiled when a C compiler is there.
MODULES = ("cocaine.protocol.framing",)

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


class SourceFinder:
    """
    A meta path finder that loads the modules of L{MODULES} from their
    Python source.
    """

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name not in MODULES:
            return None
        return sourceSpec(name, path)

    @staticmethod
    def invalidate_caches():
        pass


def usePythonSource():
    """
    From now on, import the modules of L{MODULES} from their Python
    source (those already imported stay as they are).
    """
    if SourceFinder not in sys.meta_path:
        sys.meta_path.insert(0, SourceFinder)
