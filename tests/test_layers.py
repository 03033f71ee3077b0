"""
The layers of ARCHITECTURE.md, held against the imports: a module imports
only from its own layer or below, packages import each other without a
cycle, the worker SDK stands on the protocol alone, and plugin modules stay
thin; and docs/architecture.md lists the same layers.
"""

import ast
import os
import re
import sys

from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The layers, lowest first: the packages and top-level modules of
#: cocaine/ in each.
LAYERS = [
    ["cocaine", "compiled", "heap", "errors", "interfaces", "config",
     "context", "ordered", "statemachine", "observers", "reactor",
     "nodereactor", "backoff"],
    ["protocol"],
    ["rpc", "client"],
    ["plugins", "auth"],
    ["locator", "storage", "log", "cluster", "metrics", "redis", "cache",
     "elliptics", "urlfetch", "chrono", "notifications", "jabber",
     "health", "unicorn"],
    ["engine", "isolate", "driver", "zeromq"],
    ["node", "management", "mesh", "http", "admin"],
    ["runtime", "tap", "testing", "diagrams"],
    ["worker", "tool"],
]

LEVEL = {part: level for level, parts in enumerate(LAYERS)
         for part in parts}

#: What the worker SDK may import of ours: it runs in app processes,
#: without Twisted.
WORKER_MAY_USE = {"worker", "protocol", "errors", "cocaine", "compiled",
                  "heap"}


def _modules(top):
    for directory, _, files in os.walk(os.path.join(ROOT, top)):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                module = os.path.relpath(path, ROOT)[:-3].replace(
                    os.sep, ".")
                if module.endswith(".__init__"):
                    module = module[:-len(".__init__")]
                yield module, path


def _imports(module, path, everywhere=True):
    """
    @return: C{(imported module, line)} of every import in the file (in
        functions too, unless C{everywhere} is false).
    """
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    nodes = ast.walk(tree) if everywhere else tree.body
    package = module if path.endswith("__init__.py") else (
        module.rpartition(".")[0])
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split("."))
                                           - node.level + 1]
                name = ".".join(base + ([node.module] if node.module
                                        else []))
            else:
                name = node.module
            yield name, node.lineno


def _part(module):
    """
    The layer part of a module of ours: C{cocaine.engine.worker} is
    C{engine}, C{cocaine.errors} is C{errors}; L{None} when not ours.
    """
    parts = module.split(".")
    if parts[0] != "cocaine":
        return None
    return parts[1] if len(parts) > 1 else "cocaine"


def _documentedLayers(path):
    """
    The layers as the table under C{## Layers} in C{path} lists them.

    @return: C{{layer number: sorted names}}; a package's trailing C{/}
        is dropped.
    """
    with open(path) as f:
        section = f.read().partition("\n## Layers\n")[2].partition(
            "\n## ")[0]
    layers = {}
    for match in re.finditer(r"^\| (\d+) \| ([^|]*) \|", section, re.M):
        layers[int(match.group(1))] = sorted(
            name.rstrip("/") for name in re.findall(r"`([^`]+)`",
                                                    match.group(2)))
    return layers


def _edges():
    edges = {}
    for module, path in _modules("cocaine"):
        here = _part(module)
        for imported, line in _imports(module, path):
            there = _part(imported)
            if there is not None and there != here:
                edges.setdefault((here, there), []).append(
                    "{}:{}".format(os.path.relpath(path, ROOT), line))
    return edges


class LayerTests(SynchronousTestCase):

    def test_everyPartHasALayer(self):
        parts = {_part(module) for module, _ in _modules("cocaine")}
        self.assertEqual(sorted(parts - set(LEVEL)), [])

    def test_documented(self):
        """
        C{docs/architecture.md} lists the same layers, each with the same
        packages and modules.
        """
        self.assertEqual(
            _documentedLayers(os.path.join(ROOT, "docs", "architecture.md")),
            {level: sorted(parts) for level, parts in enumerate(LAYERS)})

    def test_noUpwardImports(self):
        """
        A module imports only from its own layer or below.
        """
        upward = ["{} ({}) imports {} ({}): {}".format(
            here, LEVEL[here], there, LEVEL[there], ", ".join(where))
            for (here, there), where in sorted(_edges().items())
            if LEVEL[there] > LEVEL[here]]
        self.assertEqual(upward, [])

    def test_noPackageCycles(self):
        """
        No cycle between packages, in functions included.
        """
        graph = {}
        for here, there in _edges():
            graph.setdefault(here, set()).add(there)
        cycles = []

        def visit(node, path):
            for following in sorted(graph.get(node, ())):
                if following in path:
                    cycle = path[path.index(following):] + [following]
                    if min(cycle[:-1]) == cycle[0]:
                        cycles.append(" -> ".join(cycle))
                else:
                    visit(following, path + [following])
        for node in sorted(graph):
            visit(node, [node])
        self.assertEqual(cycles, [])

    def test_workerOnTheProtocolAlone(self):
        """
        The worker SDK imports of ours only the protocol and the errors.
        """
        used = {there for (here, there) in _edges() if here == "worker"}
        self.assertEqual(sorted(used - WORKER_MAY_USE), [])

    def test_pluginsThin(self):
        """
        Plugin modules import, at module level, only what finding them
        needs (the plugin system and our interfaces); their logic is
        imported when used.
        """
        allowed = {"twisted.plugin", "twisted.application.service",
                   "twisted.application.reactors", "zope.interface",
                   "cocaine.interfaces"}
        heavy = []
        for top in ("services", "drivers", "twisted"):
            for module, path in _modules(top):
                for imported, line in _imports(module, path,
                                               everywhere=False):
                    if (imported not in allowed
                            and imported.split(".")[0] not in
                            sys.stdlib_module_names):
                        heavy.append("{}:{} {}".format(
                            os.path.relpath(path, ROOT), line, imported))
        self.assertEqual(heavy, [])
